/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One P's run queue without the module: the operations of
 * uapi/kgo_runq_ops.h, the one copy kgo.ko and libkgo both compile, here
 * built through libkgo's katomic.h.  Two ways in: libkgo's own wrappers
 * (userlib/src/runq.c: unbounded retries, a corrupt ring is fatal), and
 * the operations called directly as kmod/runq.c calls them (bounded, a
 * corrupt ring reads as empty).  Order (runnext, FIFO, the kick to the
 * tail), a full ring's leftover and its undo, putbatch, grab and steal
 * taking half, index wraparound, corrupt indices both ways, and an owner
 * racing two stealers on real threads, every token taken exactly once.
 * It needs no /dev/kgo: a host test (host.list, under ASan and UBSan),
 * and the one program make check runs under TSan (tsan.list).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#include "../../userlib/src/internal.h"
#include "../../userlib/src/katomic.h"
#include "kgo_runq_ops.h"

static struct kgo_shared_p *new_p(void)
{
	struct kgo_shared_p *p = calloc(1, sizeof(*p));

	if (!p) {
		perror("calloc");
		exit(1);
	}
	return p;
}

/* libkgo's put, which must find a place. */
static bool put(struct kgo_shared_p *p, uint64_t g, bool next)
{
	uint64_t left = 12345;

	return kgo_runqput(p, g, next, &left) && left == 0;
}

/* libkgo's gets, in turn, expecting @want (0: empty), @n of them. */
static bool gets(struct kgo_shared_p *p, const uint64_t *want, size_t n)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < n; i++)
		ok &= TAP_CHECK(kgo_runqget(p) == want[i]);
	return ok;
}

#define GETS(p, ...)							\
	gets(p, (const uint64_t[]){ __VA_ARGS__ },			\
	     sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t))

/* The module's get: bounded, a corrupt ring reads as empty. */
static uint64_t kget(struct kgo_shared_p *p)
{
	return kgo_rq_get(p, KGO_RUNQ_TRIES, NULL);
}

static void t_order(void)
{
	struct kgo_shared_p *p = new_p();
	bool ok = true;

	ok &= TAP_CHECK(put(p, 1, false) && put(p, 2, false) && put(p, 3, false));
	ok &= TAP_CHECK(put(p, 4, true));
	ok &= TAP_CHECK(kgo_runqlen(p) == 3 && kgo_rq_len(p) == 3);
	ok &= TAP_CHECK(!kgo_rq_empty(p));
	ok &= GETS(p, 4, 1, 2, 3, 0);
	ok &= TAP_CHECK(kgo_rq_empty(p));
	tap_ok(ok, "runnext first, then the ring in FIFO order; empty after");
	free(p);
}

static void t_kick(void)
{
	struct kgo_shared_p *p = new_p();
	bool ok = true;

	ok &= TAP_CHECK(put(p, 10, false) && put(p, 11, true));
	ok &= TAP_CHECK(put(p, 12, true));	/* 11 is kicked behind 10 */
	ok &= TAP_CHECK(p->runnext == 12 && kgo_runqlen(p) == 2);
	ok &= GETS(p, 12, 10, 11, 0);
	/* The module's get sees the same queue. */
	ok &= TAP_CHECK(put(p, 20, false) && put(p, 21, true) && put(p, 22, true));
	ok &= TAP_CHECK(kget(p) == 22 && kget(p) == 20 && kget(p) == 21 && kget(p) == 0);
	tap_ok(ok, "a put into runnext kicks the old runnext to the ring's tail");
	free(p);
}

static void t_full(void)
{
	struct kgo_shared_p *p = new_p();
	uint64_t g, left = 0;
	bool ok = true;

	for (g = 1; g <= KGO_RING_SIZE; g++)
		ok &= TAP_CHECK(put(p, g, false));
	ok &= TAP_CHECK(kgo_runqlen(p) == KGO_RING_SIZE);
	ok &= TAP_CHECK(!kgo_runqput(p, 999, false, &left) && left == 999);
	ok &= TAP_CHECK(kgo_runqlen(p) == KGO_RING_SIZE && p->runnext == 0);
	/* With runnext set, the kicked runnext is what needs a place. */
	ok &= TAP_CHECK(put(p, 500, true));
	ok &= TAP_CHECK(!kgo_runqput(p, 501, true, &left) && left == 500);
	ok &= TAP_CHECK(p->runnext == 501);
	/* The undo (kgo_go's): only while runnext still holds the new G. */
	ok &= TAP_CHECK(!kgo_runqcas_next(p, 500, 777) && p->runnext == 501);
	ok &= TAP_CHECK(kgo_runqcas_next(p, 500, 501) && p->runnext == 500);
	ok &= TAP_CHECK(kgo_runqget(p) == 500 && kgo_runqget(p) == 1);
	ok &= TAP_CHECK(put(p, 999, false) && kgo_runqlen(p) == KGO_RING_SIZE);
	tap_ok(ok, "a full ring returns the leftover G; runnext's undo");
	free(p);
}

static void t_putbatch(void)
{
	struct kgo_shared_p *p = new_p();
	__u64 gs[KGO_RING_SIZE];
	bool ok = true;
	uint32_t i;

	for (i = 0; i < KGO_RING_SIZE; i++)
		gs[i] = i + 1;
	ok &= TAP_CHECK(put(p, 1000, false));
	ok &= TAP_CHECK(kgo_rq_putbatch(p, gs, 200) == 200);
	ok &= TAP_CHECK(kgo_rq_putbatch(p, gs, 200) == KGO_RING_SIZE - 201);
	ok &= TAP_CHECK(kgo_runqlen(p) == KGO_RING_SIZE);
	ok &= TAP_CHECK(kgo_rq_putbatch(p, gs, 1) == 0);
	ok &= GETS(p, 1000, 1, 2);
	for (i = 3; i < 200; i++)
		ok &= TAP_CHECK(kgo_runqget(p) == i);
	ok &= TAP_CHECK(kgo_runqget(p) == 200 && kgo_runqget(p) == 1);
	tap_ok(ok, "putbatch appends as many as fit, in order");
	free(p);
}

static void t_grab(void)
{
	struct kgo_shared_p *p = new_p();
	__u64 buf[KGO_RING_SIZE];
	bool ok = true;
	uint64_t g;

	for (g = 1; g <= 11; g++)
		ok &= TAP_CHECK(put(p, g, false));
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 6);
	ok &= TAP_CHECK(buf[0] == 1 && buf[5] == 6 && kgo_runqlen(p) == 5);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 3);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 1);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 1 && buf[0] == 11);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 0);
	/* All of it (runqputslow's grab), written at a masked position. */
	for (g = 1; g <= 5; g++)
		ok &= TAP_CHECK(put(p, g, false));
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, KGO_RING_SIZE - 2, false, true) == 5);
	ok &= TAP_CHECK(buf[KGO_RING_SIZE - 2] == 1 && buf[KGO_RING_SIZE - 1] == 2 &&
			buf[0] == 3 && buf[2] == 5 && kgo_runqlen(p) == 0);
	tap_ok(ok, "grab takes half, rounded up, in order; or all of it");
	free(p);
}

static void t_grab_runnext(void)
{
	struct kgo_shared_p *p = new_p();
	__u64 buf[KGO_RING_SIZE];
	bool ok = true;

	ok &= TAP_CHECK(put(p, 42, true));
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 0 && p->runnext == 42);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, true, false) == 1 && buf[0] == 42);
	ok &= TAP_CHECK(p->runnext == 0 && kgo_runqget(p) == 0);
	/* The ring is preferred over runnext even on a last pass. */
	ok &= TAP_CHECK(put(p, 43, true) && put(p, 44, false));
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, true, false) == 1 && buf[0] == 44);
	ok &= GETS(p, 43, 0);
	tap_ok(ok, "grab takes runnext only when asked, and only from an empty ring");
	free(p);
}

static void t_steal(void)
{
	struct kgo_shared_p *src = new_p(), *dst = new_p();
	bool ok = true;
	uint64_t g;

	for (g = 1; g <= 8; g++)
		ok &= TAP_CHECK(put(src, g, false));
	/* Half of 8: the last stolen is returned, the other 3 are queued. */
	ok &= TAP_CHECK(kgo_rq_steal(dst, src, false) == 4);
	ok &= TAP_CHECK(kgo_runqlen(dst) == 3 && kgo_runqlen(src) == 4);
	ok &= GETS(dst, 1, 2, 3, 0);
	ok &= TAP_CHECK(kgo_runqget(src) == 5);
	/* Only into a ring with room for half a ring. */
	for (g = 1; g <= KGO_RING_SIZE / 2 + 1; g++)
		ok &= TAP_CHECK(put(dst, 100 + g, false));
	ok &= TAP_CHECK(kgo_rq_steal(dst, src, true) == 0 && kgo_runqlen(src) == 3);
	tap_ok(ok, "steal moves half into the thief's ring, one to run; needs room");
	free(src);
	free(dst);
}

static void t_wrap(void)
{
	struct kgo_shared_p *p = new_p();
	bool ok = true;
	uint64_t g;

	p->head = 0xfffffff0;
	p->tail = 0xfffffff0;
	for (g = 1; g <= 40; g++)
		ok &= TAP_CHECK(put(p, g, false));
	ok &= TAP_CHECK(kgo_runqlen(p) == 40);
	for (g = 1; g <= 40; g++)
		ok &= TAP_CHECK(kgo_runqget(p) == g);
	ok &= TAP_CHECK(p->head == 0x18 && p->tail == 0x18);
	tap_ok(ok, "free-running indices wrap around 2^32");
	free(p);
}

/* head 5, tail past a whole ring: garbage a process could write. */
static struct kgo_shared_p *corrupt_p(void)
{
	struct kgo_shared_p *p = new_p();

	p->head = 5;
	p->tail = 5 + KGO_RING_SIZE + 1;
	return p;
}

static void t_corrupt_bounded(void)
{
	struct kgo_shared_p *p = corrupt_p();
	__u64 buf[KGO_RING_SIZE] = { 0 };
	bool ok = true, corrupt = false;

	ok &= TAP_CHECK(kgo_rq_len(p) == 0 && kgo_rq_empty(p));
	ok &= TAP_CHECK(kget(p) == 0);
	ok &= TAP_CHECK(kgo_rq_get(p, KGO_RUNQ_TRIES, &corrupt) == 0 && corrupt);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, false) == 0);
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, false, true) == 0);
	ok &= TAP_CHECK(kgo_rq_putbatch(p, buf, 4) == 0);
	/* A put into a "full" ring refuses rather than overwriting. */
	ok &= TAP_CHECK(kgo_rq_put(p, 9, false) == 9);
	ok &= TAP_CHECK(p->head == 5 && p->tail == 5 + KGO_RING_SIZE + 1);
	/*
	 * runnext is still put and taken by its owner, but the P reads as
	 * empty to the others, and a stealer takes nothing.
	 */
	ok &= TAP_CHECK(kgo_rq_put(p, 7, true) == 0 && kgo_rq_empty(p));
	ok &= TAP_CHECK(kgo_rq_grab(p, buf, 0, true, false) == 0 && p->runnext == 7);
	ok &= TAP_CHECK(kget(p) == 7 && kget(p) == 0);
	tap_ok(ok, "bounded (the module's way): corrupt indices read as empty, change nothing");
	free(p);
}

static void t_corrupt_library(void)
{
	struct kgo_shared_p *p = corrupt_p();
	bool ok = true, corrupt = false;
	int fds[2], status = 0;
	char msg[256] = "";
	uint64_t left = 0;
	ssize_t n;
	pid_t pid;

	ok &= TAP_CHECK(kgo_runqlen(p) == 0);
	ok &= TAP_CHECK(!kgo_runqput(p, 9, false, &left) && left == 9);
	ok &= TAP_CHECK(kgo_rq_get(p, KGO_RUNQ_UNBOUNDED, &corrupt) == 0 && corrupt);
	/* libkgo's kgo_runqget dies saying so: in a child, stderr to a pipe. */
	ok &= TAP_CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(fds[1], 2);
		close(fds[0]);
		kgo_runqget(p);
		_exit(0);
	}
	close(fds[1]);
	ok &= TAP_CHECK(pid > 0);
	n = read(fds[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	close(fds[0]);
	ok &= TAP_CHECK(waitpid(pid, &status, 0) == pid);
	ok &= TAP_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	ok &= TAP_CHECK(strstr(msg, "P run queue corrupt (head 5, tail 262)") != NULL);
	if (!ok)
		printf("# child said: %s", msg);
	tap_ok(ok, "libkgo: corrupt indices are reported, and kgo_runqget is fatal");
	free(p);
}

/* ---- the owner (libkgo's wrappers) racing stealers (the module's way) ---- */

#define IDS		4096	/* tokens; each is queued again once taken */
#define STEALERS	2
#define STRESS_MS	300	/* the race runs at least this long */
#define STRESS_PUTS	100000	/* and for at least this many puts */

static struct kgo_shared_p *owner;
/*
 * 1 while a token is queued: set by the owner before the put (relaxed, so
 * that only the queue's own ordering carries it to the taker), cleared by
 * the taker.  A taker that finds 0 took a token twice.
 */
static atomic_uchar queued[IDS + 1];
/*
 * Written plainly by the owner before each put of a token, read plainly by
 * its taker: only the put's release and the take's acquire order the two,
 * and ThreadSanitizer (the KGO_TSAN flavour) reports them if they do not.
 */
static uint64_t payload[IDS + 1];
static atomic_ulong takes, dups, bad, stolen;
static atomic_int done;
static pthread_barrier_t go;

static void take(uint64_t g)
{
	atomic_fetch_add(&takes, 1);
	if (g < 1 || g > IDS) {
		atomic_fetch_add(&bad, 1);
		return;
	}
	if (payload[g] != g)
		atomic_fetch_add(&bad, 1);
	/* Release: the read above is done before the owner reuses it. */
	if (atomic_exchange_explicit(&queued[g], 0, memory_order_release) != 1)
		atomic_fetch_add(&dups, 1);
}

static bool owner_get(void)
{
	uint64_t g = kgo_runqget(owner);

	if (g)
		take(g);
	return g;
}

static void *stealer(void *arg)
{
	struct kgo_shared_p *mine = arg;
	unsigned int misses = 0;
	bool corrupt = false;
	uint64_t g;

	pthread_barrier_wait(&go);
	while (!atomic_load(&done) || !kgo_rq_empty(owner)) {
		g = kgo_rq_steal(mine, owner, true);
		if (!g) {
			/* Spin, to race the owner; but let it run on one CPU. */
			if (++misses % 1024 == 0)
				sched_yield();
			continue;
		}
		atomic_fetch_add(&stolen, 1);
		take(g);
		while ((g = kgo_rq_get(mine, KGO_RUNQ_TRIES, &corrupt)))
			take(g);
	}
	if (corrupt)
		atomic_fetch_add(&bad, 1);
	return NULL;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void t_stress(void)
{
	struct kgo_shared_p *thief[STEALERS];
	pthread_t t[STEALERS];
	struct timespec t0;
	unsigned long puts;
	uint64_t g, left;
	int i, started = 0;
	bool ok = true;

	owner = new_p();
	for (i = 0; i < STEALERS; i++) {
		thief[i] = new_p();
		if (pthread_create(&t[i], NULL, stealer, thief[i]) == 0)
			started++;
	}
	if (started < STEALERS) {
		tap_ok(false, "pthread_create");
		exit(tap_done());
	}
	pthread_barrier_wait(&go);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The owner produces, mixing runnext and ring, and consumes too. */
	for (puts = 0; puts < STRESS_PUTS || puts % 1024 || ms_since(&t0) < STRESS_MS; puts++) {
		uint64_t pending = puts % IDS + 1;
		bool next = puts % 7 == 0;

		/* Acquire: pairs with the taker's release of the token. */
		while (atomic_load_explicit(&queued[pending], memory_order_acquire))
			if (!owner_get())
				sched_yield();
		payload[pending] = pending;
		atomic_store_explicit(&queued[pending], 1, memory_order_relaxed);
		while (!kgo_runqput(owner, pending, next, &left)) {
			owner_get();
			pending = left;
			next = false;
		}
		if (puts % 3 == 0)
			owner_get();
	}
	atomic_store(&done, 1);
	while (owner_get())
		;
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	while (owner_get())
		;
	for (i = 0; i < STEALERS; i++) {
		while ((g = kgo_rq_get(thief[i], KGO_RUNQ_UNBOUNDED, NULL)))
			take(g);
		free(thief[i]);
	}
	ok &= TAP_CHECK(atomic_load(&dups) == 0 && atomic_load(&bad) == 0);
	ok &= TAP_CHECK(atomic_load(&takes) == puts);
	for (g = 1; g <= IDS; g++)
		ok &= TAP_CHECK(atomic_load(&queued[g]) == 0);
	/* The stealers did race the owner. */
	ok &= TAP_CHECK(atomic_load(&stolen) > 0);
	printf("# %lu puts, %lu steals in %ld ms\n", puts, atomic_load(&stolen), ms_since(&t0));
	tap_ok_fmt(ok, "owner vs %d stealers: every token taken exactly once (%lu twice, %lu bad)",
		   STEALERS, atomic_load(&dups), atomic_load(&bad));
	free(owner);
}

int main(void)
{
	tap_plan(11);
	tap_watchdog(120);
	pthread_barrier_init(&go, NULL, STEALERS + 1);
	t_order();
	t_kick();
	t_full();
	t_putbatch();
	t_grab();
	t_grab_runnext();
	t_steal();
	t_wrap();
	t_corrupt_bounded();
	t_corrupt_library();
	t_stress();
	return tap_done();
}
