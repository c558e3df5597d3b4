/* SPDX-License-Identifier: GPL-2.0 */
/*
 * park/ready ping-pong with no lost wakeup, on 2 Ps: 1,000,000 rounds in
 * all ($KGO_PINGPONG_ROUNDS to change).  Each side waits on its own
 * "baton": a spinlock, a flag and a waiting G.  The waiter queues itself
 * and parks with the spinlock's release as the unlock function; the other
 * side takes the waiter under the lock and readies it.  A wakeup lost
 * anywhere (library or module) hangs the test, which a watchdog reports.
 *
 * Readying puts the partner in the waker's runnext, so a pair tends to
 * share one M, as in Go; the other P's M, woken by wakep, steals it now
 * and then.  To make sure the handoffs also cross Ms, phase 1 runs one
 * pair alone (with an idle P to steal from it), and phase 2 runs one pair
 * per P, plus one more pair, so that both Ms stay busy and work moves
 * between them.  Every resume on another M than the park is counted.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define MAXPAIRS	8

struct baton {
	atomic_uint lock;
	bool signaled;
	struct kgo_g *waiter;
};

struct pair {
	struct baton b[2];
	long rounds;
	atomic_long done[2];
	atomic_long migrations;
};

static struct pair pairs[MAXPAIRS];
static struct kgo_sema finished;

static void lock(struct baton *b)
{
	while (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&b->lock, memory_order_relaxed))
			;
}

static bool unlock(void *arg)
{
	struct baton *b = arg;

	atomic_store_explicit(&b->lock, 0, memory_order_release);
	return true;
}

static void wait_baton(struct baton *b)
{
	lock(b);
	if (b->signaled) {
		b->signaled = false;
		unlock(b);
		return;
	}
	b->waiter = kgo_self();
	kgo_park(unlock, b);	/* the poster cleared waiter and readied us */
}

static void post_baton(struct baton *b)
{
	struct kgo_g *g;

	lock(b);
	g = b->waiter;
	b->waiter = NULL;
	if (!g)
		b->signaled = true;
	unlock(b);
	if (g)
		kgo_ready(g);
}

struct side {
	struct pair *p;
	int me;
};

static void player(void *arg)
{
	struct side s = *(struct side *)arg;
	struct pair *p = s.p;
	int me = s.me;

	for (long i = 0; i < p->rounds; i++) {
		int m;

		if (me == 0)
			post_baton(&p->b[1]);
		m = kgo_m_id();
		wait_baton(&p->b[me]);
		if (kgo_m_id() != m)
			atomic_fetch_add_explicit(&p->migrations, 1, memory_order_relaxed);
		if (me == 1)
			post_baton(&p->b[0]);
		atomic_store_explicit(&p->done[me], i + 1, memory_order_relaxed);
	}
	kgo_sema_release(&finished);
}

static int npairs;

static void main_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < npairs; i++) {
		for (int me = 0; me < 2; me++) {
			struct side s = { &pairs[i], me };

			kgo_go_args(player, &s, sizeof(s));
		}
	}
	for (int i = 0; i < 2 * npairs; i++)
		kgo_sema_acquire(&finished);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void timeout(int sig)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "not ok - timed out: lost wakeup? pair 0 at %ld/%ld\n",
			 atomic_load(&pairs[0].done[0]), atomic_load(&pairs[0].done[1]));

	(void)sig;
	if (write(1, msg, (size_t)n) < 0)
		_exit(1);
	_exit(1);
}

static long run(int np, long rounds_each)
{
	struct kgo_config cfg = { .nprocs = 2 };
	struct kgo_stats_user st0 = { 0 };
	long migrations = 0, ok = 0;
	double t0 = now_s();
	int rc;

	npairs = np;
	kgo_sema_init(&finished, 0);
	for (int i = 0; i < np; i++) {
		pairs[i] = (struct pair){ .rounds = rounds_each };
	}
	rc = kgo_main(main_fn, NULL, &cfg);
	for (int i = 0; i < np; i++) {
		migrations += atomic_load(&pairs[i].migrations);
		ok += atomic_load(&pairs[i].done[0]) == rounds_each &&
		      atomic_load(&pairs[i].done[1]) == rounds_each;
	}
	(void)st0;
	tap_ok_fmt(rc == 0 && ok == np, "%d pair(s) x %ld rounds on 2 Ps: all done", np, rounds_each);
	printf("# %d pair(s): %.2f s, %.0f ns per round, %ld resumes on another M\n",
	       np, now_s() - t0, (now_s() - t0) * 1e9 / ((double)np * rounds_each), migrations);
	return migrations;
}

int main(void)
{
	const char *env = getenv("KGO_PINGPONG_ROUNDS");
	long total = env ? atol(env) : 1000000, m1, m2;

	if (total < 6)
		total = 6;
	signal(SIGALRM, timeout);
	alarm(600);
	tap_plan(3);
	/* Half the rounds with one pair, half spread over three. */
	m1 = run(1, total / 2);
	m2 = run(3, total / 6);
	tap_ok_fmt(m1 + m2 > 0, "handoffs crossed Ms (%ld times)", m1 + m2);
	return tap_done();
}
