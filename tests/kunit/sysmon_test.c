// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: sysmon's pure logic (kmod/sysmon.c): the backoff between passes,
 * and the retake decision for one M holding a P; and blockwatch's test of
 * whether a thread is still in the block it was stamped with.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/sched/task.h>

#include "kgo_internal.h"

static void sysmon_backoff_starts_at_20us(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, kgo_sysmon_next_delay(0, 0, true), KGO_SYSMON_MIN_NS);
	KUNIT_EXPECT_EQ(test, kgo_sysmon_next_delay(5 * NSEC_PER_MSEC, 0, true),
			KGO_SYSMON_MIN_NS);
	/* Within the first 50 idle passes the delay stays put. */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_next_delay(KGO_SYSMON_MIN_NS, 50, false),
			KGO_SYSMON_MIN_NS);
}

static void sysmon_backoff_doubles_to_caps(struct kunit *test)
{
	u64 d = KGO_SYSMON_MIN_NS;
	int i;

	KUNIT_EXPECT_EQ(test, kgo_sysmon_next_delay(d, 51, false), 2 * d);
	for (i = 0; i < 20; i++)
		d = kgo_sysmon_next_delay(d, 51 + i, false);
	KUNIT_EXPECT_EQ(test, d, KGO_SYSMON_IDLE_MAX_NS);
	/* While a P runs, the cap is the busy one (the slice's resolution). */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_next_delay(d, 100, true), KGO_SYSMON_BUSY_MAX_NS);
	/* Acting on anything resets it. */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_next_delay(d, 0, false), KGO_SYSMON_MIN_NS);
}

static void sysmon_duty_cycle_bounded(struct kunit *test)
{
	/* Cheap passes: the backoff alone decides. */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_sleep_ns(KGO_SYSMON_MIN_NS, 2 * NSEC_PER_USEC),
			KGO_SYSMON_MIN_NS);
	KUNIT_EXPECT_EQ(test, kgo_sysmon_sleep_ns(KGO_SYSMON_BUSY_MAX_NS, 0),
			KGO_SYSMON_BUSY_MAX_NS);
	/* A slow pass: sysmon sleeps long enough to stay under a fifth of a CPU. */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_sleep_ns(KGO_SYSMON_MIN_NS, 130 * NSEC_PER_USEC),
			KGO_SYSMON_DUTY * 130 * NSEC_PER_USEC);
	KUNIT_EXPECT_GE(test, kgo_sysmon_sleep_ns(KGO_SYSMON_MIN_NS, 130 * NSEC_PER_USEC),
			4 * 130 * NSEC_PER_USEC);
}

static void sysmon_cost_ignores_one_slow_pass(struct kunit *test)
{
	u64 est = 130 * NSEC_PER_USEC;
	int i;

	/* Down at once. */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_cost_est(est, 2 * NSEC_PER_USEC), 2 * NSEC_PER_USEC);
	/* A pass that took 40 ms (the CPU was away) moves it by a quarter. */
	KUNIT_EXPECT_EQ(test, kgo_sysmon_cost_est(est, 40 * NSEC_PER_MSEC),
			est + est / 4 + NSEC_PER_USEC);
	/* Passes that stay slow are counted in full before long. */
	for (i = 0; i < 20; i++)
		est = kgo_sysmon_cost_est(est, 1 * NSEC_PER_MSEC);
	KUNIT_EXPECT_EQ(test, est, 1 * NSEC_PER_MSEC);
	/* From nothing, it still grows. */
	KUNIT_EXPECT_GT(test, kgo_sysmon_cost_est(0, NSEC_PER_MSEC), 0ULL);
}

static void retake_needs_g_state(struct kunit *test)
{
	struct kgo_retake_sample s = {
		.blocked = true, .same_block = true, .p_has_work = true,
		.m_state = KGO_MS_LIB,
	};

	/* Never take a P from an M that is in the library. */
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	s.m_state = KGO_MS_LOST;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	s.m_state = KGO_MS_G;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_HANDOFF);
}

static void retake_handoff_rules(struct kunit *test)
{
	struct kgo_retake_sample s = { .blocked = true, .m_state = KGO_MS_G };

	/* A block seen once may be momentary: look again soon, if it matters. */
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	s.p_has_work = true;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_RECHECK);
	s.same_block = true;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_HANDOFF);
	/* Nobody needs the P: keep it, unless nothing else can run or it is long. */
	s.p_has_work = false;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	s.no_spare = true;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_HANDOFF);
	s.no_spare = false;
	s.blocked_ns = KGO_HANDOFF_ALWAYS_NS;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_HANDOFF);
}

static void retake_preempt_rules(struct kunit *test)
{
	struct kgo_retake_sample s = { .m_state = KGO_MS_G, .slice_ns = 10 * NSEC_PER_MSEC,
				       .work_waiting = true };

	s.g_ran_ns = 9 * NSEC_PER_MSEC;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	s.g_ran_ns = 10 * NSEC_PER_MSEC;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_PREEMPT);
	/* No G waits anywhere: a preemption would pin a thread for nothing. */
	s.work_waiting = false;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	s.work_waiting = true;
	/* A blocked G is handed off, not preempted. */
	s.blocked = true;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
	/* Slice 0 turns preemption off. */
	s.blocked = false;
	s.slice_ns = 0;
	s.g_ran_ns = U64_MAX;
	KUNIT_EXPECT_EQ(test, kgo_retake_decide(&s), KGO_RETAKE_NONE);
}

static int blockwatch_sleeper(void *arg)
{
	wait_for_completion(arg);
	return 0;
}

/* Stamps @m with @t's counts now, as the probe does when @t blocks. */
static void blockwatch_stamp(struct kgo_km *m, struct task_struct *t)
{
	m->notify_at_ns = ktime_get_ns();
	m->notify_nvcsw = READ_ONCE(t->nvcsw);
	m->notify_nivcsw = READ_ONCE(t->nivcsw);
}

static void blockwatch_since_rules(struct kunit *test)
{
	struct kgo_km *m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	struct task_struct *t;
	DECLARE_COMPLETION_ONSTACK(go);
	u64 at;
	int i;

	KUNIT_ASSERT_NOT_NULL(test, m);
	m->task = current;

	/* Never stamped: no block to speak of. */
	KUNIT_EXPECT_FALSE(test, kgo_blockwatch_since(m, current->nvcsw, &at));
	/* Stamped, counts as they are, but on its CPU (this very thread). */
	blockwatch_stamp(m, current);
	KUNIT_EXPECT_FALSE(test, kgo_blockwatch_since(m, current->nvcsw, &at));

	t = kthread_run(blockwatch_sleeper, &go, "kgo_kunit_sleeper");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	get_task_struct(t);
	m->task = t;
	/* Until it has left its CPU, asleep in wait_for_completion. */
	for (i = 0; i < 1000 && (READ_ONCE(t->on_cpu) ||
				 READ_ONCE(t->__state) == TASK_RUNNING); i++)
		usleep_range(1000, 2000);
	blockwatch_stamp(m, t);
	KUNIT_EXPECT_TRUE(test, kgo_blockwatch_since(m, t->nvcsw, &at));
	KUNIT_EXPECT_EQ(test, at, m->notify_at_ns);
	/* Another voluntary switch since the stamp: another block. */
	KUNIT_EXPECT_FALSE(test, kgo_blockwatch_since(m, t->nvcsw + 1, &at));
	/* Switched out involuntarily since: it ran after the stamped block. */
	m->notify_nivcsw--;
	KUNIT_EXPECT_FALSE(test, kgo_blockwatch_since(m, t->nvcsw, &at));
	complete(&go);
	kthread_stop(t);
	put_task_struct(t);
}

static struct kunit_case sysmon_cases[] = {
	KUNIT_CASE(sysmon_backoff_starts_at_20us),
	KUNIT_CASE(sysmon_backoff_doubles_to_caps),
	KUNIT_CASE(sysmon_duty_cycle_bounded),
	KUNIT_CASE(sysmon_cost_ignores_one_slow_pass),
	KUNIT_CASE(retake_needs_g_state),
	KUNIT_CASE(retake_handoff_rules),
	KUNIT_CASE(retake_preempt_rules),
	KUNIT_CASE(blockwatch_since_rules),
	{}
};

static struct kunit_suite sysmon_suite = {
	.name = "kgo_sysmon",
	.test_cases = sysmon_cases,
};

kunit_test_suite(sysmon_suite);
