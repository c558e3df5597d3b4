/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_sleep and timers.  300 goroutines sleep 1..50 ms at once, on 2 and
 * on 4 Ps: none wakes before its deadline (CLOCK_MONOTONIC), all wake,
 * and no thread is made per sleeper.  While everything sleeps the Ms
 * sleep in the kernel: a 300 ms sleep costs the process little CPU time.
 * Timers: a function timer runs once, after its deadline; a stopped one
 * never runs; a channel timer delivers its firing time, and stop/reset
 * report whether it was armed and drop a stale value; 500 timers at once
 * each fire once, none early.  Reports the lateness.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <kgo.h>

#include "sysmon_util.h"
#include "tap.h"

#define NS	300
#define MS	1000000ull
#define NT	500

static struct kgo_waitgroup wg;
static atomic_int early, woke;
static atomic_ullong late_sum, late_max;
static int threads_seen;
static uint64_t handoffs_seen;

static void note_late(uint64_t late)
{
	unsigned long long m = atomic_load(&late_max);

	atomic_fetch_add(&late_sum, late);
	while (late > m && !atomic_compare_exchange_weak(&late_max, &m, late))
		;
}

static void sleeper(void *arg)
{
	uint64_t d = (1 + (uint64_t)(intptr_t)arg * 7 % 50) * MS;
	uint64_t t0 = kgo_nanotime(), t1;

	kgo_sleep(d);
	t1 = kgo_nanotime();
	if (t1 < t0 + d)
		atomic_fetch_add(&early, 1);
	else
		note_late(t1 - t0 - d);
	atomic_fetch_add(&woke, 1);
	kgo_waitgroup_done(&wg);
}

static void sleepers_main(void *arg)
{
	(void)arg;
	kgo_waitgroup_add(&wg, NS);
	for (int i = 0; i < NS; i++)
		kgo_go(sleeper, (void *)(intptr_t)i);
	struct kgo_stats_user st;

	kgo_sleep(MS / 2);
	threads_seen = count_threads();
	/* Read after the count: every stop that made a thread seen. */
	handoffs_seen = kgo_stats(&st) == 0 ? st.handoffs + st.preempts : 0;
	kgo_waitgroup_wait(&wg);
}

static void sleepers(int nprocs)
{
	struct kgo_config cfg = { .nprocs = nprocs };
	int rc;

	atomic_store(&early, 0);
	atomic_store(&woke, 0);
	atomic_store(&late_sum, 0);
	atomic_store(&late_max, 0);
	rc = kgo_main(sleepers_main, NULL, &cfg);
	tap_ok_fmt(rc == 0 && atomic_load(&early) == 0 && atomic_load(&woke) == NS,
		   "%d Ps: %d sleepers of 1..50 ms all woke, %d early", nprocs,
		   atomic_load(&woke), atomic_load(&early));
	/*
	 * An M per P, the spare-M spawner's pool of two idle Ms, the
	 * spawner, the poller and the stack scavenger: nprocs + 5.  One
	 * more M per P that sysmon took from an M blocked in the kernel (a
	 * slow system call, as under ASan) or from a G it preempted (slow
	 * code): that M keeps its G, and the spare that took the P over is
	 * replaced.  And one of slack, for an M caught between two states.
	 * Nothing per sleeper.  (Before the module counted Ms on their way
	 * to stopm as spares, 4 Ps reached 10 and 11 threads here with no
	 * handoff at all.)
	 */
	tap_ok_fmt(threads_seen > 0 && (uint64_t)threads_seen <= nprocs + 6 + handoffs_seen,
		   "%d Ps: %d threads while %d goroutines sleep (bound %d Ps + 6 + %llu handoffs and preemptions)",
		   nprocs, threads_seen, NS, nprocs, (unsigned long long)handoffs_seen);
	printf("# %d Ps: sleep lateness mean %.3f ms, max %.3f ms\n", nprocs,
	       (double)atomic_load(&late_sum) / NS / 1e6, (double)atomic_load(&late_max) / 1e6);
}

/* ---- idle ---- */

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void idle_main(void *arg)
{
	struct kgo_stats_user s0, s1;
	uint64_t t0;
	double c0, cpu;

	(void)arg;
	kgo_stats(&s0);
	c0 = cpu_s();
	t0 = kgo_nanotime();
	kgo_sleep(300 * MS);
	cpu = cpu_s() - c0;
	t0 = kgo_nanotime() - t0;
	kgo_stats(&s1);
	tap_ok_fmt(t0 >= 300 * MS && cpu < 0.15 && s1.parks > s0.parks,
		   "a lone 300 ms sleep: %.1f ms, %.1f ms of CPU, %llu M sleeps in the kernel",
		   t0 / 1e6, cpu * 1e3, (unsigned long long)(s1.parks - s0.parks));
}

/* ---- timers ---- */

struct fired {
	uint64_t deadline;
	atomic_int runs;
	atomic_int early;
};

static void on_fire(void *arg)
{
	struct fired *f = arg;

	if (kgo_nanotime() < f->deadline)
		atomic_fetch_add(&f->early, 1);
	atomic_fetch_add(&f->runs, 1);
	kgo_waitgroup_done(&wg);
}

static void never_fire(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static struct fired many[NT];
static struct kgo_timer *many_t[NT];

static void timers_main(void *arg)
{
	struct fired f;
	struct kgo_timer *t;
	atomic_int never = 0;
	uint64_t v, t0;
	bool ok = true;
	int runs = 0, earlies = 0;

	(void)arg;
	/* A function timer. */
	atomic_init(&f.runs, 0);
	atomic_init(&f.early, 0);
	f.deadline = kgo_nanotime() + 20 * MS;
	kgo_waitgroup_add(&wg, 1);
	t = kgo_timer_new(20 * MS, on_fire, &f);
	kgo_waitgroup_wait(&wg);
	kgo_sleep(20 * MS);
	ok &= TAP_CHECK(atomic_load(&f.runs) == 1 && atomic_load(&f.early) == 0);
	ok &= TAP_CHECK(!kgo_timer_stop(t));
	kgo_timer_free(t);

	/* Stopped before it fires: never runs. */
	t = kgo_timer_new(40 * MS, never_fire, &never);
	ok &= TAP_CHECK(kgo_timer_stop(t));
	ok &= TAP_CHECK(!kgo_timer_stop(t));
	kgo_sleep(80 * MS);
	ok &= TAP_CHECK(atomic_load(&never) == 0);
	kgo_timer_free(t);
	tap_ok(ok, "function timers: runs once after its deadline; stopped, never runs");

	/* A channel timer. */
	ok = true;
	t0 = kgo_nanotime();
	t = kgo_timer_new(15 * MS, NULL, NULL);
	ok &= TAP_CHECK(kgo_chan_recv(kgo_timer_chan(t), &v) == 1);
	ok &= TAP_CHECK(v >= t0 + 15 * MS && kgo_nanotime() >= t0 + 15 * MS);
	ok &= TAP_CHECK(!kgo_timer_stop(t));
	t0 = kgo_nanotime();
	ok &= TAP_CHECK(!kgo_timer_reset(t, 10 * MS));
	ok &= TAP_CHECK(kgo_chan_recv(kgo_timer_chan(t), &v) == 1 && v >= t0 + 10 * MS);
	/* Fired, value not yet received: reset drops the stale value. */
	kgo_timer_reset(t, MS);
	kgo_sleep(20 * MS);
	ok &= TAP_CHECK(kgo_chan_len(kgo_timer_chan(t)) == 1);
	t0 = kgo_nanotime();
	ok &= TAP_CHECK(!kgo_timer_reset(t, 30 * MS));
	ok &= TAP_CHECK(kgo_chan_len(kgo_timer_chan(t)) == 0);
	ok &= TAP_CHECK(kgo_timer_reset(t, 30 * MS));	/* armed: true */
	ok &= TAP_CHECK(kgo_chan_recv(kgo_timer_chan(t), &v) == 1 && v >= t0 + 30 * MS);
	kgo_timer_free(t);
	tap_ok(ok, "channel timers: the firing time, after the deadline; stop/reset results; stale value dropped");

	/* Many at once, in no particular order. */
	kgo_waitgroup_add(&wg, NT);
	for (int i = 0; i < NT; i++) {
		uint64_t d = (uint64_t)((i * 7919) % 60) * MS + (uint64_t)i * 1000;

		atomic_init(&many[i].runs, 0);
		atomic_init(&many[i].early, 0);
		many[i].deadline = kgo_nanotime() + d;
		/* Freed after kgo_main returns, which is allowed. */
		many_t[i] = kgo_timer_new(d, on_fire, &many[i]);
	}
	kgo_waitgroup_wait(&wg);
	kgo_sleep(10 * MS);
	for (int i = 0; i < NT; i++) {
		runs += atomic_load(&many[i].runs) == 1;
		earlies += atomic_load(&many[i].early);
	}
	tap_ok_fmt(runs == NT && earlies == 0, "%d timers: %d fired exactly once, %d early",
		   NT, runs, earlies);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(9);
	sleepers(2);
	sleepers(4);
	rc = kgo_main(idle_main, NULL, &cfg);
	rc |= kgo_main(timers_main, NULL, &cfg);
	for (int i = 0; i < NT; i++)
		kgo_timer_free(many_t[i]);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
