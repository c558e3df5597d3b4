/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_lock_thread and kgo_preempt_disable (issue 16).
 *
 * Lock round: 8 goroutines on 2 Ps with a 1 ms slice.  Four lock their
 * thread (twice: the calls nest), publish its gettid(), and then 10 times
 * kgo_yield, kgo_sleep(1 ms), compute three slices (preempted) and sleep
 * raw 3 ms (handed off), checking gettid() after each; then unlock twice.
 * The other four do the same unlocked and, after each step, check that
 * the thread they are on is not one a locked goroutine has published (no
 * other goroutine runs on a locked thread).
 *
 * Disable round: 2 Ps, 1 ms slice.  One goroutine spins 50 ms with
 * preemption disabled (twice, then enabled once: it nests) while four
 * others want a P (they kgo_yield in a loop, never running long enough to
 * be preempted themselves): kgo_stats' preempts does not move, nor does
 * its thread.  Then it spins 50 ms with preemption enabled: preempts moves.
 *
 * Each round is a forked child (csafe_util.h).  Results: lock round
 * ended; lock and unlock returned 0; the thread kept across kgo_yield,
 * across kgo_sleep, across a preemption and a handoff; no other goroutine
 * on a locked thread.  Disable round ended; no preemption and the same
 * thread over the disabled spin; preemptions over the enabled spin.
 */
#include "csafe_util.h"

#define LOCKED		4
#define STEPS		10
#define SPIN_NS		50000000
#define YIELDERS	4

enum {
	LOCK_RC_BAD, KEPT_YIELD_BAD, KEPT_SLEEP_BAD, KEPT_STRETCH_BAD, INTRUDED, STEPS_DONE,
	DIS_PREEMPTS, DIS_MOVED, EN_PREEMPTS, SPINS_DONE, NCOUNT
};

static pid_t locked_tid[LOCKED];	/* published while locked, else 0 */
static int spinner_done;
static int yielders_in;		/* yielders running with preemption off */

static bool on_locked_thread(void)
{
	pid_t me = csafe_tid();

	for (int i = 0; i < LOCKED; i++)
		if (__atomic_load_n(&locked_tid[i], __ATOMIC_ACQUIRE) == me)
			return true;
	return false;
}

/* After a step: @tid kept if locked, or not on a locked thread if not. */
static void after_step(int id, pid_t tid, int bad)
{
	if (id < LOCKED) {
		if (csafe_tid() != tid)
			csafe_add(bad, 1);
	} else if (on_locked_thread()) {
		csafe_add(INTRUDED, 1);
	}
}

static void lock_body(int id)
{
	pid_t tid = 0;

	if (id < LOCKED) {
		if (kgo_lock_thread() != 0 || kgo_lock_thread() != 0)
			csafe_add(LOCK_RC_BAD, 1);
		tid = csafe_tid();
		__atomic_store_n(&locked_tid[id], tid, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < STEPS; i++) {
		kgo_yield();
		after_step(id, tid, KEPT_YIELD_BAD);
		kgo_sleep(1000000);
		after_step(id, tid, KEPT_SLEEP_BAD);
		csafe_compute(CSAFE_COMPUTE_NS);
		after_step(id, tid, KEPT_STRETCH_BAD);
		csafe_raw_sleep(CSAFE_SLEEP_NS);
		after_step(id, tid, KEPT_STRETCH_BAD);
		csafe_add(STEPS_DONE, 1);
	}
	if (id < LOCKED) {
		__atomic_store_n(&locked_tid[id], 0, __ATOMIC_RELEASE);
		if (kgo_unlock_thread() != 0 || kgo_unlock_thread() != 0)
			csafe_add(LOCK_RC_BAD, 1);
	}
}

static void lock_child(void)
{
	csafe_round(lock_body, CSAFE_GOROUTINES);
}

static uint64_t preempts_now(void)
{
	struct kgo_stats_user st;

	memset(&st, 0, sizeof(st));
	kgo_stats(&st);
	return st.preempts;
}

static void disable_body(int id)
{
	uint64_t p0, p1;
	pid_t tid;

	if (id > 0) {
		/*
		 * They yield all the time anyway; with preemption off they
		 * are never the preemption counted (a vCPU stalled past the
		 * slice in the middle of a yield would be).
		 */
		kgo_preempt_disable();
		__atomic_fetch_add(&yielders_in, 1, __ATOMIC_RELAXED);
		while (!__atomic_load_n(&spinner_done, __ATOMIC_RELAXED))
			kgo_yield();
		kgo_preempt_enable();
		return;
	}
	/*
	 * Every yielder has preemption off, and the main goroutine, which
	 * started them, has gone to wait: from here only the spinner can be
	 * the preemption counted.  (Without the wait, a main goroutine slowed
	 * past the slice under TCG while it started the yielders was counted,
	 * once in a loaded check.)
	 */
	while (__atomic_load_n(&yielders_in, __ATOMIC_RELAXED) < YIELDERS)
		kgo_yield();
	kgo_sleep(2000000);
	kgo_preempt_disable();
	kgo_preempt_disable();
	kgo_preempt_enable();		/* still disabled: it nests */
	tid = csafe_tid();
	p0 = preempts_now();
	csafe_compute(SPIN_NS);
	p1 = preempts_now();
	if (csafe_tid() != tid)
		csafe_add(DIS_MOVED, 1);
	kgo_preempt_enable();
	csafe_add(DIS_PREEMPTS, (long)(p1 - p0));

	p0 = preempts_now();
	csafe_compute(SPIN_NS);
	p1 = preempts_now();
	csafe_add(EN_PREEMPTS, (long)(p1 - p0));
	csafe_add(SPINS_DONE, 1);
	__atomic_store_n(&spinner_done, 1, __ATOMIC_RELAXED);
}

static void disable_child(void)
{
	csafe_round(disable_body, 1 + YIELDERS);
}

#define PLAN	9

int main(void)
{
	const char *died;

	csafe_need_sysmon(PLAN);
	tap_watchdog(CSAFE_WATCHDOG(2));
	tap_plan(PLAN);

	died = csafe_fork_run(lock_child, CSAFE_ROUND_S);
	csafe_result_ended(died, 1, CSAFE_GOROUTINES);
	csafe_result(died, csafe_get(LOCK_RC_BAD) == 0,
		     "kgo_lock_thread and kgo_unlock_thread, nested twice, returned 0 (%ld did not)",
		     csafe_get(LOCK_RC_BAD));
	csafe_result(died, csafe_get(KEPT_YIELD_BAD) == 0 && csafe_get(STEPS_DONE) > 0,
		     "a locked goroutine keeps its thread across kgo_yield (%ld times it did not)",
		     csafe_get(KEPT_YIELD_BAD));
	csafe_result(died, csafe_get(KEPT_SLEEP_BAD) == 0 && csafe_get(STEPS_DONE) > 0,
		     "a locked goroutine keeps its thread across kgo_sleep (%ld times it did not)",
		     csafe_get(KEPT_SLEEP_BAD));
	csafe_result(died, csafe_get(KEPT_STRETCH_BAD) == 0 && csafe_get(STEPS_DONE) > 0,
		     "a locked goroutine keeps its thread across a preemption and a handoff (%ld times it did not)",
		     csafe_get(KEPT_STRETCH_BAD));
	csafe_result(died, csafe_get(INTRUDED) == 0 && csafe_get(STEPS_DONE) > 0,
		     "no other goroutine runs on a locked thread (%ld steps found one on it)",
		     csafe_get(INTRUDED));

	died = csafe_fork_run(disable_child, CSAFE_ROUND_S);
	csafe_result_ended(died, 2, 1 + YIELDERS);
	csafe_result(died, csafe_get(SPINS_DONE) == 1 && csafe_get(DIS_PREEMPTS) == 0 &&
		     csafe_get(DIS_MOVED) == 0,
		     "kgo_preempt_disable (nested): no preemption over a 50 ms spin while others want the P (%ld), same thread (%s)",
		     csafe_get(DIS_PREEMPTS), csafe_get(DIS_MOVED) ? "no" : "yes");
	csafe_result(died, csafe_get(SPINS_DONE) == 1 && csafe_get(EN_PREEMPTS) > 0,
		     "after kgo_preempt_enable, the same 50 ms spin is preempted (%ld preemptions)",
		     csafe_get(EN_PREEMPTS));
	return tap_done();
}
