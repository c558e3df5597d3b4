/*
 * The benchmark workloads on kgo (bench/common.h has the command line and
 * the sizes; bench/go/main.go and bench/pthread.c are the same workloads
 * in Go and on plain threads).
 *
 * Two parts of libkgo were still on their way when this was written, and
 * the workloads that need them are compiled only when the header has them:
 *
 *   HAVE_KGO_CHAN     channels, kgo_waitgroup, kgo_sleep (issue 5),
 *                     detected by KGO_WAITGROUP_INIT
 *   HAVE_KGO_PREEMPT  time-slice preemption and the hand-off of a P from a
 *                     G blocked in a system call (issue 6), detected by
 *                     KGO_SLICE_DEFAULT
 *
 * Without HAVE_KGO_CHAN the wait group is a small one written here on
 * kgo_park/kgo_ready, and pingpong runs on two kgo_semas instead of an
 * unbuffered channel (it says so).  preempt needs both; blocked runs
 * either way (without HAVE_KGO_PREEMPT it shows the whole P stalled).
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <kgo.h>

#include "common.h"

#ifdef KGO_WAITGROUP_INIT
#define HAVE_KGO_CHAN 1
#endif
#ifdef KGO_SLICE_DEFAULT
#define HAVE_KGO_PREEMPT 1
#endif

#define IMPL "kgo"

static void die(const char *what, int err)
{
	fprintf(stderr, "kgo-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* ---- a wait group: the library's, or a minimal one on park/ready ---- */

#ifdef HAVE_KGO_CHAN
typedef struct kgo_waitgroup wg_t;
static void wg_init(wg_t *w) { *w = (wg_t)KGO_WAITGROUP_INIT; }
static void wg_add(wg_t *w, long n) { kgo_waitgroup_add(w, n); }
static void wg_done(wg_t *w) { kgo_waitgroup_done(w); }
static void wg_wait(wg_t *w) { kgo_waitgroup_wait(w); }
#else
/*
 * The count changes under the lock, and wg_done's unlock is its last touch
 * of the wait group: a waiter that sees the count reach 0 may return at
 * once and free it (they live on the waiter's stack here).
 */
typedef struct {
	long n;
	atomic_uint lock;
	struct kgo_g *waiter;	/* one waiter at most, as used here */
} wg_t;

static void wg_lock(wg_t *w)
{
	while (atomic_exchange_explicit(&w->lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&w->lock, memory_order_relaxed))
			__builtin_ia32_pause();
}

static bool wg_unlock(void *arg)
{
	wg_t *w = arg;

	atomic_store_explicit(&w->lock, 0, memory_order_release);
	return true;
}

static void wg_init(wg_t *w)
{
	w->n = 0;
	atomic_init(&w->lock, 0);
	w->waiter = NULL;
}

static void wg_add(wg_t *w, long n)
{
	wg_lock(w);
	w->n += n;
	wg_unlock(w);
}

static void wg_done(wg_t *w)
{
	struct kgo_g *g = NULL;

	wg_lock(w);
	if (--w->n == 0) {
		g = w->waiter;
		w->waiter = NULL;
	}
	wg_unlock(w);
	if (g)
		kgo_ready(g);
}

static void wg_wait(wg_t *w)
{
	wg_lock(w);
	if (w->n == 0) {
		wg_unlock(w);
		return;
	}
	w->waiter = kgo_self();
	kgo_park(wg_unlock, w);	/* the last wg_done readies us */
}
#endif

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

/* ---- the workloads: each runs once with a count of operations and
 *      returns its figure (in the workload's unit) ---- */

static wg_t wg;

/* 1. yield: two Gs yielding to each other on one P. ns per switch. */
static void yielder(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++)
		kgo_yield();
	wg_done(&wg);
}

static double run_yield(long scale, long long *ops)
{
	long n = YIELD_SWITCHES / 2 * scale;
	int64_t t0 = bench_now();

	wg_add(&wg, 2);
	go(yielder, (void *)n);
	go(yielder, (void *)n);
	wg_wait(&wg);
	*ops = 2 * n;
	return (double)(bench_now() - t0) / (double)*ops;
}

/* 2. spawn: create and finish Gs, in batches.  ns per G. */
static void spawnee(void *arg)
{
	(void)arg;
	wg_done(&wg);
}

static double run_spawn(long scale, long long *ops)
{
	long batches = SPAWN_BATCHES * scale;
	int64_t t0 = bench_now();

	for (long b = 0; b < batches; b++) {
		wg_add(&wg, SPAWN_BATCH);
		for (int i = 0; i < SPAWN_BATCH; i++)
			go(spawnee, NULL);
		wg_wait(&wg);
	}
	*ops = (long long)batches * SPAWN_BATCH;
	return (double)(bench_now() - t0) / (double)*ops;
}

/* 3. pingpong: a round trip over unbuffered channels.  ns per round trip. */
#ifdef HAVE_KGO_CHAN
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
	wg_done(&wg);
}

static double run_pingpong(long scale, long long *ops)
{
	long n = PINGPONG_ROUNDS * scale, v;
	int64_t t0;

	ping_c = kgo_chan_new(sizeof(long), 0);
	pong_c = kgo_chan_new(sizeof(long), 0);
	if (!ping_c || !pong_c)
		die("kgo_chan_new", ENOMEM);
	t0 = bench_now();
	wg_add(&wg, 1);
	go(ponger, (void *)n);
	for (long i = 0; i < n; i++) {
		if (kgo_chan_send(ping_c, &i))
			die("kgo_chan_send", EPIPE);
		if (kgo_chan_recv(pong_c, &v) != 1 || v != i)
			die("kgo_chan_recv", EPROTO);
	}
	wg_wait(&wg);
	*ops = n;
	t0 = bench_now() - t0;
	kgo_chan_free(ping_c);
	kgo_chan_free(pong_c);
	return (double)t0 / (double)n;
}
#else
static struct kgo_sema ping_s, pong_s;

static void ponger(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++) {
		kgo_sema_acquire(&ping_s);
		kgo_sema_release(&pong_s);
	}
	wg_done(&wg);
}

static double run_pingpong(long scale, long long *ops)
{
	long n = PINGPONG_ROUNDS * scale;
	int64_t t0 = bench_now();

	kgo_sema_init(&ping_s, 0);
	kgo_sema_init(&pong_s, 0);
	wg_add(&wg, 1);
	go(ponger, (void *)n);
	for (long i = 0; i < n; i++) {
		kgo_sema_release(&ping_s);
		kgo_sema_acquire(&pong_s);
	}
	wg_wait(&wg);
	*ops = n;
	return (double)(bench_now() - t0) / (double)n;
}
#endif

/* 4. skynet: a tree of Gs, fan-out 10, 10^6 leaves, summing their
 *    numbers.  ms. */
struct sky_node {
	atomic_llong sum;
	wg_t wg;
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
		wg_done(&a.parent->wg);
		return;
	}
	atomic_init(&me.sum, 0);
	wg_init(&me.wg);
	wg_add(&me.wg, SKYNET_FANOUT);
	sub = a.size / SKYNET_FANOUT;
	for (int i = 0; i < SKYNET_FANOUT; i++) {
		struct sky_arg c = { a.num + i * sub, sub, &me };

		go_args(skynet, &c, sizeof(c));
	}
	wg_wait(&me.wg);
	atomic_fetch_add_explicit(&a.parent->sum, atomic_load(&me.sum), memory_order_relaxed);
	wg_done(&a.parent->wg);
}

static double run_skynet(long scale, long long *ops)
{
	struct sky_node root;
	struct sky_arg a = { 0, SKYNET_SIZE, &root };
	int64_t t0;

	(void)scale;
	atomic_init(&root.sum, 0);
	wg_init(&root.wg);
	t0 = bench_now();
	wg_add(&root.wg, 1);
	go_args(skynet, &a, sizeof(a));
	wg_wait(&root.wg);
	t0 = bench_now() - t0;
	if (atomic_load(&root.sum) != SKYNET_SUM) {
		fprintf(stderr, "kgo-bench: skynet summed %lld, not %lld\n",
			(long long)atomic_load(&root.sum), SKYNET_SUM);
		exit(1);
	}
	*ops = 1;
	return (double)t0 / 1e6;
}

/* 5. fib: fork-join fib(27), a G for fib(n-1) at each call above the
 *    cutoff.  ms. */
struct fib_arg {
	int n;
	long *out;
	wg_t *wg;
};

static long fib_par(int n);

static void fib_g(void *p)
{
	struct fib_arg a = *(struct fib_arg *)p;

	*a.out = fib_par(a.n);
	wg_done(a.wg);
}

static long fib_par(int n)
{
	struct fib_arg a;
	long x, y;
	wg_t w;

	if (n <= FIB_CUTOFF)
		return fib_serial(n);
	wg_init(&w);
	wg_add(&w, 1);
	a = (struct fib_arg){ n - 1, &x, &w };
	go_args(fib_g, &a, sizeof(a));
	y = fib_par(n - 2);
	wg_wait(&w);
	return x + y;
}

static double run_fib(long scale, long long *ops)
{
	int64_t t0 = bench_now();
	long r = fib_par(FIB_N);

	(void)scale;
	t0 = bench_now() - t0;
	if (r != FIB_RESULT) {
		fprintf(stderr, "kgo-bench: fib(%d) = %ld, not %d\n", FIB_N, r, FIB_RESULT);
		exit(1);
	}
	*ops = 1;
	return (double)t0 / 1e6;
}

/* 6. mem: resident bytes per parked G, 100,000 of them.  bytes. */
static wg_t mem_started;
#ifdef HAVE_KGO_CHAN
static struct kgo_chan *mem_gate;

static void parked(void *arg)
{
	(void)arg;
	wg_done(&mem_started);
	kgo_chan_recv(mem_gate, NULL);	/* until the gate closes */
}
#else
static struct kgo_sema mem_gate;

static void parked(void *arg)
{
	(void)arg;
	wg_done(&mem_started);
	kgo_sema_acquire(&mem_gate);
}
#endif

static double run_mem(long scale, long long *ops)
{
	long long before, after;

	(void)scale;
#ifdef HAVE_KGO_CHAN
	mem_gate = kgo_chan_new(0, 0);
	if (!mem_gate)
		die("kgo_chan_new", ENOMEM);
#else
	kgo_sema_init(&mem_gate, 0);
#endif
	wg_init(&mem_started);
	before = bench_vmrss();
	wg_add(&mem_started, MEM_GS);
	for (int i = 0; i < MEM_GS; i++)
		go(parked, NULL);
	wg_wait(&mem_started);
	after = bench_vmrss();
	if (before < 0 || after < 0)
		die("reading /proc/self/status", EIO);
	/* Let them go, so that kgo_main ends with nothing blocked. */
#ifdef HAVE_KGO_CHAN
	kgo_chan_close(mem_gate);
#else
	for (int i = 0; i < MEM_GS; i++)
		kgo_sema_release(&mem_gate);
#endif
	*ops = MEM_GS;
	return (double)(after - before) / MEM_GS;
}

/* 7. preempt: worst lateness of a 1 ms sleeper next to a spinning G, on
 *    one P.  ms. */
static atomic_int stop, ticks;
static int64_t worst;

#if defined(HAVE_KGO_CHAN) && defined(HAVE_KGO_PREEMPT)
static void spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		;
	wg_done(&wg);
}

static void sleeper(void *arg)
{
	(void)arg;
	for (int i = 0; i < PREEMPT_SLEEPS; i++) {
		int64_t t0 = bench_now(), late;

		kgo_sleep(PREEMPT_SLEEP_NS);
		late = bench_now() - t0 - PREEMPT_SLEEP_NS;
		if (late > worst)
			worst = late;
	}
	atomic_store(&stop, 1);
	wg_done(&wg);
}

static double run_preempt(long scale, long long *ops)
{
	(void)scale;
	worst = 0;
	atomic_store(&stop, 0);
	wg_add(&wg, 2);
	go(spinner, NULL);
	go(sleeper, NULL);
	wg_wait(&wg);
	*ops = PREEMPT_SLEEPS;
	return (double)worst / 1e6;
}
#endif

/* 8. blocked: worst stall of a ticking G while another G sleeps 50 ms in
 *    a raw nanosleep system call, on one P.  ms. */
static void raw_sleeper(void *arg)
{
	struct timespec ts = { 0, BLOCKED_SLEEP_NS };

	(void)arg;
	while (atomic_load(&ticks) < 10)	/* the ticker is ticking */
		kgo_yield();
	for (int i = 0; i < BLOCKED_SLEEPS; i++) {
		syscall(SYS_nanosleep, &ts, NULL);
		kgo_yield();
	}
	atomic_store(&stop, 1);
	wg_done(&wg);
}

static void ticker(void *arg)
{
	int64_t last = bench_now();

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int64_t t = bench_now();

		if (t - last > worst)
			worst = t - last;
		last = t;
		atomic_fetch_add_explicit(&ticks, 1, memory_order_relaxed);
		kgo_yield();
	}
	wg_done(&wg);
}

static double run_blocked(long scale, long long *ops)
{
	(void)scale;
	worst = 0;
	atomic_store(&stop, 0);
	atomic_store(&ticks, 0);
	wg_add(&wg, 2);
	go(raw_sleeper, NULL);
	go(ticker, NULL);
	wg_wait(&wg);
	*ops = BLOCKED_SLEEPS;
	return (double)worst / 1e6;
}

/* ---- the table of workloads ---- */

struct workload {
	const char *name;
	const char *unit;
	double (*run)(long scale, long long *ops);
	bool fresh;		/* one measurement per process, no warm-up */
	bool count_ioctls;	/* report the module's ioctls per operation */
	const char *skip;	/* why this build cannot run it, or NULL */
};

static const struct workload workloads[] = {
	{ "yield", "ns", run_yield, false, true, NULL },
	{ "spawn", "ns", run_spawn, false, true, NULL },
	{ "pingpong", "ns", run_pingpong, false, true, NULL },
	{ "skynet", "ms", run_skynet, false, false, NULL },
	{ "fib", "ms", run_fib, false, false, NULL },
	{ "mem", "bytes", run_mem, true, false, NULL },
#if defined(HAVE_KGO_CHAN) && defined(HAVE_KGO_PREEMPT)
	{ "preempt", "ms", run_preempt, false, false, NULL },
#else
	{ "preempt", "ms", NULL, false, false,
	  "needs kgo_sleep (issue 5) and preemption (issue 6) in libkgo" },
#endif
	{ "blocked", "ms", run_blocked, false, false, NULL },
};

static const struct workload *wl;

static void bench_main(void *arg)
{
	long long ops;

	(void)arg;
	wg_init(&wg);
	if (args.reps == 0) {
		if (!wl->fresh)
			wl->run(1, &ops);	/* the same warm-up as timed runs */
		wl->run(args.scale, &ops);
		bench_ops(wl->name, ops);
		return;
	}
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
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (!strcmp(workloads[i].name, args.workload))
			wl = &workloads[i];
	if (!wl) {
		fprintf(stderr, "kgo-bench: unknown workload %s\n", args.workload);
		return 2;
	}
	if (wl->skip) {
		bench_skip(wl->name, IMPL, wl->skip);
		return 0;
	}
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
