/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_set_nprocs (procresize) while goroutines run: shrinking to one P
 * moves every goroutine onto P 0 once each has been scheduled again (the
 * M holding a removed P parks at its next schedule and the module drains
 * that P into the global queue); growing back brings the Ps back: within
 * GROW_WAIT_NS goroutines run on every one of the three Ps again, and on
 * no other; all the goroutines finish, none lost.  Out-of-range counts are
 * refused.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <kgo.h>

#include "sysmon_util.h"
#include "tap.h"

#define NG	12
#define PHASE	200	/* yields per phase per goroutine, at least */
#define GROW_WAIT_NS	5000000000LL	/* for the new Ps to be used: generous, for TCG */

static atomic_int phase, phase1_done, finished, stray, ps_seen, beyond, reported;
static int64_t grown_at;
static int nprocs_after_shrink, nprocs_after_grow, err_zero, err_big, rc_shrink, rc_grow;
static struct kgo_sema done;

static void worker(void *arg)
{
	(void)arg;
	while (atomic_load(&phase) < 1)
		kgo_yield();
	/* Scheduled again since the shrink: on the one P left from now on. */
	kgo_yield();
	for (int i = 0; i < PHASE; i++) {
		if (kgo_p_id() != 0)
			atomic_fetch_add(&stray, 1);
		kgo_yield();
	}
	atomic_fetch_add(&phase1_done, 1);
	while (atomic_load(&phase) < 2)
		kgo_yield();
	/* Until all three Ps have been seen (or the wait is over). */
	for (int i = 0; i < PHASE || (atomic_load(&ps_seen) != 7 &&
				     now_ns() - grown_at < GROW_WAIT_NS); i++) {
		int p = kgo_p_id();

		if (p >= 0 && p < 3)
			atomic_fetch_or(&ps_seen, 1 << p);
		else
			atomic_fetch_add(&beyond, 1);
		kgo_yield();
	}
	if (atomic_load(&ps_seen) != 7 && !atomic_exchange(&reported, 1)) {
		struct kgo_stats_user st = stats_now();

		printf("# after the wait: nprocs %u, idle Ps %u, Ms %u (idle %u, spinning %u), gq %u, steals %llu, wakeups %llu, parks %llu, preempts %llu, waits %llu\n",
		       st.nprocs, st.npidle, st.nms, st.nmidle, st.nmspinning, st.gq_len,
		       (unsigned long long)st.steals, (unsigned long long)st.wakeups,
		       (unsigned long long)st.parks, (unsigned long long)st.preempts,
		       (unsigned long long)st.lockedm_waits);
	}
	atomic_fetch_add(&finished, 1);
	kgo_sema_release(&done);
}

static void main_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < NG; i++)
		kgo_go(worker, NULL);
	for (int i = 0; i < 50; i++)
		kgo_yield();
	err_zero = kgo_set_nprocs(0);
	err_big = kgo_set_nprocs(100000);
	rc_shrink = kgo_set_nprocs(1);
	nprocs_after_shrink = kgo_nprocs();
	atomic_store(&phase, 1);
	while (atomic_load(&phase1_done) < NG)
		kgo_yield();
	rc_grow = kgo_set_nprocs(3);
	nprocs_after_grow = kgo_nprocs();
	grown_at = now_ns();
	atomic_store(&phase, 2);
	for (int i = 0; i < NG; i++)
		kgo_sema_acquire(&done);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 3 };
	int rc;

	tap_watchdog(300);
	tap_plan(6);
	kgo_sema_init(&done, 0);
	rc = kgo_main(main_fn, NULL, &cfg);
	tap_ok_fmt(rc == 0 && atomic_load(&finished) == NG,
		   "kgo_main returned %d; %d of %d goroutines finished", rc,
		   atomic_load(&finished), NG);
	tap_ok_fmt(err_zero == -EINVAL && err_big == -EINVAL,
		   "0 and 100000 Ps are refused (%d, %d)", err_zero, err_big);
	tap_ok_fmt(rc_shrink == 0 && nprocs_after_shrink == 1,
		   "shrink to 1: rc %d, nprocs %d", rc_shrink, nprocs_after_shrink);
	tap_ok_fmt(atomic_load(&stray) == 0,
		   "after the shrink every goroutine runs on P 0 (%d strays)", atomic_load(&stray));
	tap_ok_fmt(rc_grow == 0 && nprocs_after_grow == 3, "grow back to 3: rc %d, nprocs %d",
		   rc_grow, nprocs_after_grow);
	tap_ok_fmt(atomic_load(&ps_seen) == 7 && !atomic_load(&beyond),
		   "after the grow goroutines run on Ps 0, 1 and 2 (seen: mask %#x), none elsewhere (%d)",
		   atomic_load(&ps_seen), atomic_load(&beyond));
	return tap_done();
}
