// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the kernel alone decides which M holds which P.  sysmon's
 * handoff is refused while the M is inside one of its ioctls, for a dead
 * P, and for a P the M no longer holds, whatever the slot's state says;
 * an abandoned M lets go of a dead P without idling it, and the next
 * SET_NPROCS revives it consistently.  The idle-P list is checked after
 * each step (npidle against a walk of the list).
 */
#include <kunit/test.h>
#include <linux/list.h>

#include "kgo_internal.h"

static u32 pidle_walk(struct kgo_inst *inst)
{
	struct kgo_p *p;
	u32 n = 0;

	spin_lock(&inst->lock);
	list_for_each_entry(p, &inst->pidle, idle_link)
		n++;
	spin_unlock(&inst->lock);
	return n;
}

static void trust_handoff_refusals(struct kunit *test)
{
	struct kgo_setup s = { .nprocs = 2 };
	struct kgo_inst *inst = kgo_inst_alloc();
	struct kgo_km *m0, *m1;
	struct kgo_p *p0, *p1;

	KUNIT_ASSERT_NOT_NULL(test, inst);
	KUNIT_ASSERT_EQ(test, kgo_inst_setup(inst, &s), 0);
	m0 = kgo_m_attach(inst, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(m0));
	m1 = kgo_m_attach(inst, true);
	KUNIT_ASSERT_FALSE(test, IS_ERR(m1));
	p0 = m0->p;
	p1 = m1->p;
	KUNIT_ASSERT_NOT_NULL(test, p0);
	KUNIT_ASSERT_NOT_NULL(test, p1);
	KUNIT_EXPECT_EQ(test, p1->id, 1U);

	/* Inside an ioctl: the slot saying G does not matter. */
	WRITE_ONCE(m0->sh->state, KGO_MS_G);
	kgo_m_enter(inst, m0);
	KUNIT_EXPECT_FALSE(test, kgo_handoffp(inst, m0, p0));
	KUNIT_EXPECT_PTR_EQ(test, m0->p, p0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(m0->sh->state), (u32)KGO_MS_G);
	kgo_m_leave(m0);

	/* A dead P is never handed off (so never idled or started). */
	KUNIT_ASSERT_EQ(test, kgo_ioc_set_nprocs(inst, 1), 0);
	KUNIT_EXPECT_EQ(test, p1->status, (u32)KGO_P_DEAD);
	WRITE_ONCE(m1->sh->state, KGO_MS_G);
	KUNIT_EXPECT_FALSE(test, kgo_handoffp(inst, m1, p1));
	KUNIT_EXPECT_PTR_EQ(test, m1->p, p1);
	KUNIT_EXPECT_EQ(test, inst->npidle, 0U);
	KUNIT_EXPECT_EQ(test, pidle_walk(inst), 0U);

	/* Out of the ioctl, alive, slot G: handed off, P idle once. */
	KUNIT_EXPECT_TRUE(test, kgo_handoffp(inst, m0, p0));
	KUNIT_EXPECT_NULL(test, m0->p);
	KUNIT_EXPECT_EQ(test, p0->status, (u32)KGO_P_IDLE);
	KUNIT_EXPECT_EQ(test, READ_ONCE(m0->sh->state), (u32)KGO_MS_LOST);
	KUNIT_EXPECT_EQ(test, inst->npidle, 1U);
	/* Asked again (slot G again): m0 holds no P, nothing happens. */
	WRITE_ONCE(m0->sh->state, KGO_MS_G);
	KUNIT_EXPECT_FALSE(test, kgo_handoffp(inst, m0, p0));
	KUNIT_EXPECT_EQ(test, inst->npidle, 1U);
	KUNIT_EXPECT_EQ(test, pidle_walk(inst), 1U);

	/* An abandoned M lets go of its dead P; it stays dead, off the list. */
	kgo_m_abandon(inst, m1, p1);
	KUNIT_EXPECT_TRUE(test, m1->abandoned);
	KUNIT_EXPECT_NULL(test, m1->p);
	KUNIT_EXPECT_EQ(test, p1->status, (u32)KGO_P_DEAD);
	KUNIT_EXPECT_EQ(test, pidle_walk(inst), 1U);
	/* Growing revives it once: two idle Ps, each on the list once. */
	KUNIT_ASSERT_EQ(test, kgo_ioc_set_nprocs(inst, 2), 0);
	KUNIT_EXPECT_EQ(test, p1->status, (u32)KGO_P_IDLE);
	KUNIT_EXPECT_EQ(test, inst->npidle, 2U);
	KUNIT_EXPECT_EQ(test, pidle_walk(inst), 2U);

	kgo_inst_release(inst);
	kgo_instances_flush();
}

static struct kunit_case trust_cases[] = {
	KUNIT_CASE(trust_handoff_refusals),
	{}
};

static int trust_suite_init(struct kunit_suite *suite)
{
	return kgo_instances_init();
}

static void trust_suite_exit(struct kunit_suite *suite)
{
	kgo_instances_exit();
}

static struct kunit_suite trust_suite = {
	.name = "kgo_trust",
	.suite_init = trust_suite_init,
	.suite_exit = trust_suite_exit,
	.test_cases = trust_cases,
};

kunit_test_suite(trust_suite);
