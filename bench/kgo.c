/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The benchmark workloads on kgo (bench/common.h has the command line and
 * the sizes; bench/go/main.go and bench/pthread.c are the same workloads
 * in Go and on plain threads, bench/epoll.c is echo's event loop).
 */
#include <kgo.h>

#include "common.h"
#include "echo.h"

#define IMPL "kgo"

static void die(const char *what, int err)
{
	fprintf(stderr, "kgo-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void go(void (*fn)(void *), void *arg)
{
	int err = kgo_go(fn, arg);

	if (err)
		die("kgo_go", err);
}

static void go_args(void (*fn)(void *), const void *args, size_t size)
{
	int err = kgo_go_args(fn, args, size);

	if (err)
		die("kgo_go_args", err);
}

static struct kgo_waitgroup wg_new(void)
{
	return (struct kgo_waitgroup)KGO_WAITGROUP_INIT;
}

static struct bench_args args;

static struct kgo_stats_user stats_now(void)
{
	struct kgo_stats_user st;

	if (kgo_stats(&st))
		memset(&st, 0, sizeof(st));
	return st;
}

/* The module's counters over one repetition, as a comment line in the log. */
static void print_stats(const struct kgo_stats_user *a, const struct kgo_stats_user *b)
{
	printf("# kgo %s %d: ioctls %llu parks %llu wakeups %llu steals %llu stolen %llu "
	       "gq_puts %llu gq_gets %llu readies %llu\n", args.workload, args.nprocs,
	       (unsigned long long)(b->ioctls - a->ioctls - 1),
	       (unsigned long long)(b->parks - a->parks),
	       (unsigned long long)(b->wakeups - a->wakeups),
	       (unsigned long long)(b->steals - a->steals),
	       (unsigned long long)(b->stolen - a->stolen),
	       (unsigned long long)(b->gq_puts - a->gq_puts),
	       (unsigned long long)(b->gq_gets - a->gq_gets),
	       (unsigned long long)(b->readies - a->readies));
}

/* ---- the workloads (the table at the end) ---- */

static struct kgo_waitgroup wg;
static atomic_llong done;	/* what the Gs of a run did, to check */

/* 1. yield: two Gs yielding to each other on one P.  ns per switch. */
static void yielder(void *arg)
{
	long n = (long)arg, i;

	for (i = 0; i < n; i++)
		kgo_yield();
	atomic_fetch_add(&done, i);
	kgo_waitgroup_done(&wg);
}

static double run_yield(long scale, long long *ops)
{
	long n = bench_sz->yield_switches / 2 * scale;
	int64_t t0 = bench_now();

	atomic_store(&done, 0);
	kgo_waitgroup_add(&wg, 2);
	go(yielder, (void *)n);
	go(yielder, (void *)n);
	kgo_waitgroup_wait(&wg);
	t0 = bench_now() - t0;
	*ops = 2 * n;
	bench_check(atomic_load(&done) == *ops, "yield: %lld of %lld yields done",
		    (long long)atomic_load(&done), *ops);
	return (double)t0 / (double)*ops;
}

/*
 * 1b. yield-global: the same through the global run queue, as Go's
 *     runtime.Gosched does (kgo_yield uses the local ring).  libkgo's
 *     internal kgo_yield_global (userlib/src/sched.c), linked from the
 *     static library; not part of kgo.h.
 */
void kgo_yield_global(void);

static void global_yielder(void *arg)
{
	long n = (long)arg, i;

	for (i = 0; i < n; i++)
		kgo_yield_global();
	atomic_fetch_add(&done, i);
	kgo_waitgroup_done(&wg);
}

static double run_yield_global(long scale, long long *ops)
{
	long n = bench_sz->yield_switches / 2 * scale;
	int64_t t0 = bench_now();

	atomic_store(&done, 0);
	kgo_waitgroup_add(&wg, 2);
	go(global_yielder, (void *)n);
	go(global_yielder, (void *)n);
	kgo_waitgroup_wait(&wg);
	t0 = bench_now() - t0;
	*ops = 2 * n;
	bench_check(atomic_load(&done) == *ops, "yield-global: %lld of %lld yields done",
		    (long long)atomic_load(&done), *ops);
	return (double)t0 / (double)*ops;
}

/* 2. spawn: create and finish Gs, in batches.  ns per G. */
static void spawnee(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
	kgo_waitgroup_done(&wg);
}

static double run_spawn(long scale, long long *ops)
{
	long batches = bench_sz->spawn_batches * scale, batch = bench_sz->spawn_batch;
	int64_t t0 = bench_now();

	atomic_store(&done, 0);
	for (long b = 0; b < batches; b++) {
		kgo_waitgroup_add(&wg, batch);
		for (long i = 0; i < batch; i++)
			go(spawnee, NULL);
		kgo_waitgroup_wait(&wg);
	}
	t0 = bench_now() - t0;
	*ops = (long long)batches * batch;
	bench_check(atomic_load(&done) == *ops, "spawn: %lld of %lld Gs ran",
		    (long long)atomic_load(&done), *ops);
	return (double)t0 / (double)*ops;
}

/* 3. pingpong: a round trip over unbuffered channels.  ns per round trip. */
static struct kgo_chan *ping_c, *pong_c;

static void ponger(void *arg)
{
	long n = (long)arg, v;

	for (long i = 0; i < n; i++) {
		if (kgo_chan_recv(ping_c, &v) != 1)
			die("kgo_chan_recv", EPIPE);
		if (kgo_chan_send(pong_c, &v))
			die("kgo_chan_send", EPIPE);
	}
	kgo_waitgroup_done(&wg);
}

static double run_pingpong(long scale, long long *ops)
{
	long n = bench_sz->pingpong_rounds * scale, v;
	int64_t t0;

	ping_c = kgo_chan_new(sizeof(long), 0);
	pong_c = kgo_chan_new(sizeof(long), 0);
	if (!ping_c || !pong_c)
		die("kgo_chan_new", ENOMEM);
	t0 = bench_now();
	kgo_waitgroup_add(&wg, 1);
	go(ponger, (void *)n);
	for (long i = 0; i < n; i++) {
		if (kgo_chan_send(ping_c, &i))
			die("kgo_chan_send", EPIPE);
		if (kgo_chan_recv(pong_c, &v) != 1)
			die("kgo_chan_recv", EPIPE);
		bench_check(v == i, "pingpong: round %ld came back as %ld", i, v);
	}
	kgo_waitgroup_wait(&wg);
	*ops = n;
	t0 = bench_now() - t0;
	kgo_chan_free(ping_c);
	kgo_chan_free(pong_c);
	return (double)t0 / (double)n;
}

/*
 * 4. skynet: a tree of Gs, fan-out 10, 10^6 leaves, summing their
 *    numbers.  ms.  Two forms: skynet, where each node's children add to
 *    its sum and signal its wait group, and skynet-chan, the classic one,
 *    where each node makes a channel of 10 and receives its children's
 *    sums from it.
 */
struct sky_node {
	atomic_llong sum;
	struct kgo_waitgroup wg;
};

struct sky_arg {
	long long num;
	long size;
	struct sky_node *parent;
};

static void skynet(void *p)
{
	struct sky_arg a = *(struct sky_arg *)p;
	struct sky_node me;
	long sub;

	if (a.size == 1) {
		atomic_fetch_add_explicit(&a.parent->sum, a.num, memory_order_relaxed);
		kgo_waitgroup_done(&a.parent->wg);
		return;
	}
	atomic_init(&me.sum, 0);
	me.wg = wg_new();
	kgo_waitgroup_add(&me.wg, SKYNET_FANOUT);
	sub = a.size / SKYNET_FANOUT;
	for (int i = 0; i < SKYNET_FANOUT; i++) {
		struct sky_arg c = { a.num + i * sub, sub, &me };

		go_args(skynet, &c, sizeof(c));
	}
	kgo_waitgroup_wait(&me.wg);
	atomic_fetch_add_explicit(&a.parent->sum, atomic_load(&me.sum), memory_order_relaxed);
	kgo_waitgroup_done(&a.parent->wg);
}

/* The tree of @n leaves under a wait group; its sum. */
static long long skynet_wg_tree(long n)
{
	struct sky_node root;
	struct sky_arg a = { 0, n, &root };

	atomic_init(&root.sum, 0);
	root.wg = wg_new();
	kgo_waitgroup_add(&root.wg, 1);
	go_args(skynet, &a, sizeof(a));
	kgo_waitgroup_wait(&root.wg);
	return atomic_load(&root.sum);
}

struct skychan_arg {
	long long num;
	long size;
	struct kgo_chan *out;	/* the parent's: where this node's sum goes */
};

static void chan_put(struct kgo_chan *c, long long v)
{
	if (kgo_chan_send(c, &v))
		die("kgo_chan_send", EPIPE);
}

static long long chan_get(struct kgo_chan *c)
{
	long long v;

	if (kgo_chan_recv(c, &v) != 1)
		die("kgo_chan_recv", EPIPE);
	return v;
}

static struct kgo_chan *chan_make(size_t cap)
{
	struct kgo_chan *c = kgo_chan_new(sizeof(long long), cap);

	if (!c)
		die("kgo_chan_new", ENOMEM);
	return c;
}

static void skynet_chan(void *p)
{
	struct skychan_arg a = *(struct skychan_arg *)p;
	struct kgo_chan *c;
	long long sum = 0;
	long sub;

	if (a.size == 1) {
		chan_put(a.out, a.num);
		return;
	}
	c = chan_make(SKYNET_FANOUT);
	sub = a.size / SKYNET_FANOUT;
	for (int i = 0; i < SKYNET_FANOUT; i++) {
		struct skychan_arg k = { a.num + i * sub, sub, c };

		go_args(skynet_chan, &k, sizeof(k));
	}
	for (int i = 0; i < SKYNET_FANOUT; i++)
		sum += chan_get(c);
	kgo_chan_free(c);	/* every child has sent: none is blocked on it */
	chan_put(a.out, sum);
}

/* The tree of @n leaves over channels; its sum. */
static long long skynet_chan_tree(long n)
{
	struct kgo_chan *c = chan_make(1);
	struct skychan_arg a = { 0, n, c };
	long long sum;

	go_args(skynet_chan, &a, sizeof(a));
	sum = chan_get(c);
	kgo_chan_free(c);
	return sum;
}

/* Either form: the tree, timed, and its sum checked. */
static double skynet_run(const char *name, long long (*tree)(long n), long long *ops)
{
	long n = bench_sz->skynet_size;
	long long want = (long long)n * (n - 1) / 2, sum;	/* of the leaves' numbers */
	int64_t t0 = bench_now();

	sum = tree(n);
	t0 = bench_now() - t0;
	bench_check(sum == want, "%s: summed %lld, not %lld", name, sum, want);
	*ops = 1;
	return (double)t0 / 1e6;
}

static double run_skynet(long scale, long long *ops)
{
	(void)scale;
	return skynet_run("skynet", skynet_wg_tree, ops);
}

static double run_skynet_chan(long scale, long long *ops)
{
	(void)scale;
	return skynet_run("skynet-chan", skynet_chan_tree, ops);
}

/* 5. fib (run and checked by common.h's bench_run_fib): the fork-join,
 *    a G for fib(n-1) at each call above the cutoff. */
struct fib_arg {
	int n;
	long *out;
	struct kgo_waitgroup *wg;
};

static void fib_g(void *p)
{
	struct fib_arg a = *(struct fib_arg *)p;

	*a.out = fib_par(a.n);
	kgo_waitgroup_done(a.wg);
}

static long fib_par(int n)
{
	struct kgo_waitgroup w;
	struct fib_arg a;
	long x, y;

	if (n <= bench_sz->fib_cutoff)
		return fib_serial(n);
	w = wg_new();
	kgo_waitgroup_add(&w, 1);
	a = (struct fib_arg){ n - 1, &x, &w };
	go_args(fib_g, &a, sizeof(a));
	y = fib_par(n - 2);
	kgo_waitgroup_wait(&w);
	return x + y;
}

/* 6. mem: resident bytes per parked G, 100,000 of them (mem-1m: a
 *    million).  bytes. */
static struct kgo_waitgroup mem_started;
static struct kgo_chan *mem_gate;
static atomic_llong released;

static void parked(void *arg)
{
	(void)arg;
	atomic_fetch_add(&done, 1);
	kgo_waitgroup_done(&mem_started);
	if (kgo_chan_recv(mem_gate, NULL) == 0)	/* until the gate closes */
		atomic_fetch_add(&released, 1);
	kgo_waitgroup_done(&wg);
}

/* @gs Gs parked at once: VmRSS grown, over @gs. */
static double mem_parked(const char *name, long long gs, long long *ops)
{
	long long before, after;

	mem_gate = kgo_chan_new(0, 0);
	if (!mem_gate)
		die("kgo_chan_new", ENOMEM);
	mem_started = wg_new();
	atomic_store(&done, 0);
	atomic_store(&released, 0);
	before = bench_vmrss();
	kgo_waitgroup_add(&mem_started, gs);
	kgo_waitgroup_add(&wg, gs);
	for (long long i = 0; i < gs; i++)
		go(parked, NULL);
	kgo_waitgroup_wait(&mem_started);
	after = bench_vmrss();
	if (before < 0 || after < 0)
		die("reading /proc/self/status", EIO);
	bench_check(atomic_load(&done) == gs, "%s: %lld of %lld Gs started", name,
		    (long long)atomic_load(&done), gs);
	bench_check(after > before, "%s: VmRSS went from %lld to %lld bytes", name, before,
		    after);
	/* Let them go, and see that every one ends. */
	kgo_chan_close(mem_gate);
	kgo_waitgroup_wait(&wg);
	bench_check(atomic_load(&released) == gs, "%s: %lld of %lld parked Gs released", name,
		    (long long)atomic_load(&released), gs);
	kgo_chan_free(mem_gate);
	*ops = gs;
	return (double)(after - before) / (double)gs;
}

static double run_mem(long scale, long long *ops)
{
	(void)scale;
	return mem_parked("mem", bench_sz->mem_gs, ops);
}

static double run_mem_1m(long scale, long long *ops)
{
	(void)scale;
	return mem_parked("mem-1m", bench_sz->mem_1m_gs, ops);
}

/* 7. preempt and 8. blocked (in common.h): a pair of Gs on one P. */
static void bench_yield(void)
{
	kgo_yield();
}

static void bench_sleep(int64_t ns)
{
	kgo_sleep(ns);
}

static void pair_g(void *p)
{
	void (*fn)(void) = *(void (**)(void))p;

	fn();
	kgo_waitgroup_done(&wg);
}

static void bench_run_pair(void (*a)(void), void (*b)(void))
{
	kgo_waitgroup_add(&wg, 2);
	go_args(pair_g, &a, sizeof(a));
	go_args(pair_g, &b, sizeof(b));
	kgo_waitgroup_wait(&wg);
}

/* 10. echo: a goroutine per connection on kgo_read/kgo_write, accepted
 *     by a goroutine in kgo_accept (bench/echo.h).  Round trips per
 *     second (and the p99 latency, echo-p99). */
static int echo_fd = -1, echo_port;
static atomic_long echo_accepted;
static struct kgo_waitgroup echo_open = KGO_WAITGROUP_INIT;	/* not yet closed */

static void echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_BUF];
	ssize_t n;

	while ((n = kgo_read(fd, buf, sizeof(buf))) > 0)
		if (kgo_write(fd, buf, (size_t)n) != n)
			break;		/* the client is gone */
	kgo_close(fd);
	kgo_waitgroup_done(&echo_open);
}

static void echo_acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = kgo_accept(echo_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			die("kgo_accept", fd);
		echo_nodelay(fd);
		atomic_fetch_add(&echo_accepted, 1);
		kgo_waitgroup_add(&echo_open, 1);
		go(echo_conn, (void *)(intptr_t)fd);
	}
}

static double run_echo(long scale, long long *ops)
{
	long conns = bench_sz->echo_conns, before = atomic_load(&echo_accepted);
	struct echo_figures f;

	if (echo_fd < 0) {
		echo_fd = echo_listen(true, &echo_port);
		go(echo_acceptor, NULL);
	}
	/* kgo_read on the client's pipe: this G parks, its M runs others. */
	echo_run_client(echo_port, conns, bench_sz->echo_roundtrips * scale, true, kgo_read, &f);
	bench_check(atomic_load(&echo_accepted) - before == conns,
		    "echo: %ld connections accepted, not %ld", atomic_load(&echo_accepted) - before,
		    conns);
	kgo_waitgroup_wait(&echo_open);	/* every connection closed before the next run */
	*ops = f.roundtrips;
	bench_also("echo-p99", "us", (double)f.p99_ns / 1e3);
	return (double)f.roundtrips / ((double)f.ns / 1e9);
}

/* ---- the table of workloads ---- */

static const struct bench_workload workloads[] = {
	{ "yield", "ns", run_yield, false, true, NULL },
	{ "yield-global", "ns", run_yield_global, false, true, NULL },
	{ "spawn", "ns", run_spawn, false, true, NULL },
	{ "pingpong", "ns", run_pingpong, false, true, NULL },
	{ "skynet", "ms", run_skynet, false, false, NULL },
	{ "skynet-chan", "ms", run_skynet_chan, false, false, NULL },
	{ "fib", "ms", bench_run_fib, false, false, NULL },
	{ "mem", "bytes", run_mem, true, false, NULL },
	{ "mem-1m", "bytes", run_mem_1m, true, false, NULL },
	{ "preempt", "ms", bench_run_preempt, false, false, NULL },
	{ "blocked", "ms", bench_run_blocked, false, false, NULL },
	{ "echo", "rt/s", run_echo, false, true, NULL },
};

static const struct bench_workload *wl;

static void bench_main(void *arg)
{
	long long ops;

	(void)arg;
	wg = wg_new();
	if (bench_unmeasured(wl, &args, IMPL))
		return;
	if (!wl->fresh)
		wl->run(1, &ops);	/* warm-up: stacks, free lists, caches */
	for (int r = 0; r < args.reps; r++) {
		struct kgo_stats_user s0 = stats_now();
		double v = wl->run(1, &ops);
		struct kgo_stats_user s1 = stats_now();

		bench_result(wl->name, args.nprocs, IMPL, wl->unit, v);
		print_stats(&s0, &s1);
		/* The STATS ioctl of s1 counted itself: not the workload's. */
		if (wl->count_ioctls)
			printf("STAT %s %d %s ioctls_per_op %.6g\n", wl->name, args.nprocs,
			       IMPL, (double)(s1.ioctls - s0.ioctls - 1) / (double)ops);
	}
}

int main(int argc, char **argv)
{
	struct kgo_config cfg = { 0 };
	int rc;

	bench_parse(argc, argv, &args);
	wl = bench_lookup(workloads, sizeof(workloads) / sizeof(workloads[0]), &args, IMPL);
	if (wl->fresh && args.reps > 1)
		args.reps = 1;	/* the runner starts a process per repetition */
	cfg.nprocs = args.nprocs;
	rc = kgo_main(bench_main, NULL, &cfg);
	if (rc) {
		fprintf(stderr, "kgo-bench: kgo_main: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
