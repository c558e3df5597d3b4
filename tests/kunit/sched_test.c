// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the instance-level scheduler (kmod/sched.c, m.c, procresize.c,
 * instance.c) with kthreads as Ms: SETUP's checks, ATTACH, PARK's order
 * (local, global, steal), Go's global batch sizes, runqputslow's exact
 * counts, the global queue limit, wakep with and without idle Ms, a relay
 * of thousands of READYs to sleeping Ms with no lost wakeup, SHUTDOWN and
 * teardown with Ms asleep, and procresize with a held P.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/slab.h>

#include "kgo_internal.h"

static struct kgo_inst *new_inst(struct kunit *test, u32 nprocs, u32 gq_limit)
{
	struct kgo_setup s = { .nprocs = nprocs, .gq_limit = gq_limit };
	struct kgo_inst *inst = kgo_inst_alloc();

	KUNIT_ASSERT_NOT_NULL(test, inst);
	KUNIT_ASSERT_EQ(test, kgo_inst_setup(inst, &s), 0);
	return inst;
}

/* As the file's release does; then waits until it is really freed. */
static void free_inst(struct kgo_inst *inst)
{
	kgo_inst_release(inst);
	kgo_instances_flush();
}

static struct kgo_km *attach(struct kunit *test, struct kgo_inst *inst, bool p)
{
	struct kgo_km *m = kgo_m_attach(inst, p);

	KUNIT_ASSERT_FALSE(test, IS_ERR(m));
	return m;
}

static void fill_ring(struct kgo_shared_p *sh, u64 first, u32 n)
{
	u64 left;
	u32 i;

	for (i = 0; i < n; i++)
		kgo_runqput(sh, first + i, false, &left);
}

static void sched_setup_validates(struct kunit *test)
{
	struct kgo_inst *inst = kgo_inst_alloc();
	struct kgo_setup s = {};

	KUNIT_ASSERT_NOT_NULL(test, inst);
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EINVAL);
	s.nprocs = 1;
	s.max_ms = kgo_max_ms + 1;
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EINVAL);
	s.max_ms = 0;
	s.reserved0 = 1;
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EINVAL);
	s.reserved0 = 0;
	s.reserved1 = 1;
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EINVAL);
	s.reserved1 = 0;
	s.nprocs = kgo_max_procs + 1;
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EINVAL);
	s.nprocs = 2;
	s.gq_limit = kgo_gq_limit + 1;
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EINVAL);
	s.gq_limit = 0;
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), 0);
	KUNIT_EXPECT_EQ(test, s.gq_limit, kgo_gq_limit);
	KUNIT_EXPECT_EQ(test, kgo_inst_setup(inst, &s), -EEXIST);
	KUNIT_EXPECT_EQ(test, inst->npidle, 2);
	free_inst(inst);
}

static void sched_attach_takes_idle_ps(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 2, 0);
	struct kgo_km *a = attach(test, inst, true), *b = attach(test, inst, true);

	KUNIT_EXPECT_EQ(test, a->p->id, 0);
	KUNIT_EXPECT_EQ(test, b->p->id, 1);
	KUNIT_EXPECT_EQ(test, PTR_ERR(kgo_m_attach(inst, true)), -EBUSY);
	KUNIT_EXPECT_EQ(test, inst->npidle, 0);
	KUNIT_EXPECT_EQ(test, inst->ss->npidle, 0);
	KUNIT_EXPECT_EQ(test, kgo_m_detach(inst, b), 0);
	KUNIT_EXPECT_EQ(test, inst->npidle, 1);
	KUNIT_EXPECT_EQ(test, inst->nms, 1);
	free_inst(inst);
}

static void sched_park_order_local_global(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 1, 0);
	struct kgo_km *m = attach(test, inst, true);
	u64 g, left;

	KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, 50), 0);
	KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, 51), 0);
	kgo_runqput(m->p->sh, 10, false, &left);
	kgo_runqput(m->p->sh, 11, true, &left);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, m, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 11);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, m, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 10);
	/* Then the global queue: a batch of len/nprocs + 1 = 2. */
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, m, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 50);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(m->p->sh), 1);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, m, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 51);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, m, KGO_PARK_NOWAIT, 0, &g), -EAGAIN);
	KUNIT_EXPECT_NULL(test, m->p);
	KUNIT_EXPECT_EQ(test, inst->npidle, 1);
	free_inst(inst);
}

static void sched_globrunqget_batch_sizes(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 4, 0);
	struct kgo_km *m = attach(test, inst, true);
	u64 g;
	int i;

	for (i = 1; i <= 100; i++)
		KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, i), 0);
	/* 100 / 4 + 1 = 26: one returned, 25 queued locally. */
	KUNIT_EXPECT_EQ(test, kgo_ioc_globrunqget(inst, m, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 1);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(m->p->sh), 25);
	KUNIT_EXPECT_EQ(test, inst->gq.len, 74);
	free_inst(inst);

	inst = new_inst(test, 1, 0);
	m = attach(test, inst, true);
	for (i = 1; i <= 1000; i++)
		KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, i), 0);
	/*
	 * 1000 / 1 + 1, capped by the room in the ring: one returned and a
	 * whole ring queued (not half a ring as in Go: KGO_BATCH_MAX).
	 */
	KUNIT_EXPECT_EQ(test, kgo_ioc_globrunqget(inst, m, &g), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(m->p->sh), KGO_RING_SIZE);
	KUNIT_EXPECT_EQ(test, inst->gq.len, 1000 - KGO_RING_SIZE - 1);
	/* With 3 places left, one returned and 3 queued. */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_NE(test, kgo_runqget(m->p->sh), 0);
	KUNIT_EXPECT_EQ(test, kgo_ioc_globrunqget(inst, m, &g), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(m->p->sh), KGO_RING_SIZE);
	KUNIT_EXPECT_EQ(test, inst->gq.len, 1000 - KGO_RING_SIZE - 1 - 4);
	free_inst(inst);
}

static void sched_runqputslow_exact(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 1, 0);
	struct kgo_km *m = attach(test, inst, true);
	u64 g;

	fill_ring(m->p->sh, 1, KGO_RING_SIZE);
	KUNIT_EXPECT_EQ(test, kgo_ioc_runqputslow(inst, m, 999), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(m->p->sh), 0);
	KUNIT_EXPECT_EQ(test, inst->gq.len, KGO_RING_SIZE + 1);
	/* The whole ring went, in order, then the new G: three chunks. */
	spin_lock(&inst->lock);
	for (g = 1; g <= KGO_RING_SIZE; g++)
		KUNIT_EXPECT_EQ(test, kgo_gq_pop(&inst->gq), g);
	KUNIT_EXPECT_EQ(test, kgo_gq_pop(&inst->gq), 999);
	KUNIT_EXPECT_EQ(test, kgo_gq_pop(&inst->gq), 0);
	spin_unlock(&inst->lock);
	/* Again with the global queue's tail chunk full. */
	for (g = 1; g <= KGO_GQ_CHUNK_SLOTS; g++)
		KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, 5000 + g), 0);
	fill_ring(m->p->sh, 1, KGO_RING_SIZE);
	KUNIT_EXPECT_EQ(test, kgo_ioc_runqputslow(inst, m, 999), 0);
	KUNIT_EXPECT_EQ(test, inst->gq.len, KGO_GQ_CHUNK_SLOTS + KGO_RING_SIZE + 1);
	KUNIT_EXPECT_EQ(test, kgo_ioc_runqputslow(inst, m, 0), -EINVAL);
	free_inst(inst);
}

static void sched_gq_limit_enospc(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 1, 200);
	struct kgo_km *m = attach(test, inst, true);
	int i;

	for (i = 1; i <= 100; i++)
		KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, i), 0);
	fill_ring(m->p->sh, 1000, KGO_RING_SIZE);
	/* 257 more would pass 200: refused, and the ring is left whole. */
	KUNIT_EXPECT_EQ(test, kgo_ioc_runqputslow(inst, m, 7), -ENOSPC);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(m->p->sh), KGO_RING_SIZE);
	KUNIT_EXPECT_EQ(test, inst->gq.len, 100);
	for (i = 101; i <= 200; i++)
		KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, i), 0);
	KUNIT_EXPECT_EQ(test, kgo_ioc_ready(inst, 201), -ENOSPC);
	KUNIT_EXPECT_EQ(test, kgo_ioc_ready(inst, 0), -EINVAL);
	free_inst(inst);
}

static void sched_steal_half_then_runnext(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 2, 0);
	struct kgo_km *a = attach(test, inst, true), *b = attach(test, inst, true);
	u64 g, left;

	fill_ring(b->p->sh, 1, 6);
	kgo_runqput(b->p->sh, 100, true, &left);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, a, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 3);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(a->p->sh), 2);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(b->p->sh), 3);
	/* Drain both rings: only then is b's runnext taken. */
	while (kgo_runqget(a->p->sh))
		;
	while (kgo_runqlen(b->p->sh))
		kgo_runqgrab(b->p->sh, a->batch, 0, false);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, a, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 100);
	KUNIT_EXPECT_EQ(test, b->p->sh->runnext, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&inst->stats.steals), 2);
	free_inst(inst);
}

/* A wakep with an idle P but no idle M is not lost: the next M takes it. */
static void sched_wakep_pending_without_m(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 1, 0);
	struct kgo_km *m;
	u64 g = 0;

	KUNIT_ASSERT_EQ(test, kgo_ioc_ready(inst, 42), 0);
	KUNIT_EXPECT_TRUE(test, inst->wakep_pending);
	KUNIT_EXPECT_EQ(test, atomic_read(kgo_nmspinning(inst)), 0);
	m = attach(test, inst, false);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, m, 0, NSEC_PER_SEC, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 42);
	KUNIT_EXPECT_FALSE(test, inst->wakep_pending);
	free_inst(inst);
}

/*
 * Go's limit: an M only starts stealing while fewer than half the busy Ps
 * have a spinning M.  nmspinning lives in shared memory, so the test can
 * set it the way a process could, and see it only affects that process.
 */
static void sched_spinning_limit(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 4, 0);
	struct kgo_km *a = attach(test, inst, true), *b = attach(test, inst, true);
	atomic_t *spinning = kgo_nmspinning(inst);
	u64 g;

	fill_ring(b->p->sh, 1, 4);
	/* Busy Ps = 2; with 1 spinner already, 2 * 1 < 2 fails: no steal. */
	atomic_set(spinning, 1);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, a, KGO_PARK_NOWAIT, 0, &g), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(b->p->sh), 4);
	KUNIT_EXPECT_EQ(test, atomic_read(spinning), 1);
	atomic_set(spinning, 0);
	spin_lock(&inst->lock);
	kgo_acquirep(a, kgo_pidleget(inst));
	spin_unlock(&inst->lock);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, a, KGO_PARK_NOWAIT, 0, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 2);
	/* Finding work resets spinning, and the wakep after it found no M. */
	KUNIT_EXPECT_EQ(test, atomic_read(spinning), 0);
	KUNIT_EXPECT_TRUE(test, inst->wakep_pending);
	free_inst(inst);
}

static void sched_detach_hands_on_work(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 1, 0);
	struct kgo_km *a = attach(test, inst, true), *b;
	u64 g;

	fill_ring(a->p->sh, 1, 2);
	KUNIT_EXPECT_EQ(test, kgo_m_detach(inst, a), 0);
	KUNIT_EXPECT_EQ(test, inst->npidle, 1);
	/* The P went idle with Gs: the next M must find them, not sleep. */
	KUNIT_EXPECT_TRUE(test, inst->wakep_pending);
	b = attach(test, inst, false);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, b, 0, NSEC_PER_SEC, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 1);
	free_inst(inst);
}

/* ---- kthreads as Ms ---- */

#define RELAY_ROUNDS	2000
#define RELAY_MS	3

struct relay {
	struct kgo_inst *inst;
	atomic_t consumed, lost, dups, errors;
	bool stop;
	u8 seen[RELAY_ROUNDS + 1];
	struct completion done[RELAY_MS];
	int first_err;
};

struct relay_arg {
	struct relay *r;
	int idx;
};

static int relay_m(void *arg)
{
	struct relay_arg *ra = arg;
	struct relay *r = ra->r;
	struct kgo_km *m = kgo_m_attach(r->inst, false);
	u64 g;

	if (IS_ERR(m)) {
		atomic_inc(&r->errors);
		kthread_complete_and_exit(&r->done[ra->idx], 0);
	}
	while (!READ_ONCE(r->stop)) {
		/* No timeout: a lost wakeup must show as a G nobody takes. */
		int err = kgo_ioc_park(r->inst, m, 0, 0, &g);

		if (err) {
			if (err != -ESHUTDOWN) {
				r->first_err = err;
				atomic_inc(&r->errors);
			}
			break;
		}
		if (g < 1 || g > RELAY_ROUNDS || xchg(&r->seen[g], 1))
			atomic_inc(&r->dups);
		atomic_inc(&r->consumed);
	}
	kthread_complete_and_exit(&r->done[ra->idx], 0);
}

static void sched_relay_no_lost_wakeup(struct kunit *test)
{
	struct relay *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	struct relay_arg ra[RELAY_MS];
	unsigned long deadline;
	int i, g;

	KUNIT_ASSERT_NOT_NULL(test, r);
	r->inst = new_inst(test, 2, 0);
	for (i = 0; i < RELAY_MS; i++) {
		init_completion(&r->done[i]);
		ra[i].r = r;
		ra[i].idx = i;
		KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(relay_m, &ra[i], "kgo-relay-%d", i)));
	}
	/*
	 * One G at a time, readied while the Ms are asleep.  A G still not
	 * taken after 10 s (ages, even under TCG) is a lost wakeup.
	 */
	for (g = 1; g <= RELAY_ROUNDS && !atomic_read(&r->lost); g++) {
		KUNIT_ASSERT_EQ(test, kgo_ioc_ready(r->inst, g), 0);
		deadline = jiffies + 10 * HZ;
		while (atomic_read(&r->consumed) < g) {
			if (time_after(jiffies, deadline)) {
				atomic_inc(&r->lost);
				break;
			}
			usleep_range(10, 50);
		}
	}
	WRITE_ONCE(r->stop, true);
	kgo_ioc_shutdown(r->inst);
	for (i = 0; i < RELAY_MS; i++)
		wait_for_completion(&r->done[i]);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->lost), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->errors), 0);
	KUNIT_EXPECT_EQ(test, r->first_err, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->dups), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->consumed), RELAY_ROUNDS);
	KUNIT_EXPECT_GT(test, atomic64_read(&r->inst->stats.wakeups), 0);
	/* Teardown with Ms still attached (never detached): all freed. */
	free_inst(r->inst);
}

struct sleeper {
	struct kgo_inst *inst;
	int err;
	struct completion done;
};

static int sleeper_m(void *arg)
{
	struct sleeper *s = arg;
	struct kgo_km *m = kgo_m_attach(s->inst, false);
	u64 g;

	s->err = IS_ERR(m) ? PTR_ERR(m) : kgo_ioc_park(s->inst, m, 0, 0, &g);
	kthread_complete_and_exit(&s->done, 0);
}

static void sched_shutdown_wakes_sleepers(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 2, 0);
	struct sleeper *s = kunit_kcalloc(test, 3, sizeof(*s), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, s);
	for (i = 0; i < 3; i++) {
		s[i].inst = inst;
		init_completion(&s[i].done);
		KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(sleeper_m, &s[i],
							    "kgo-sleeper-%d", i)));
	}
	for (i = 0; i < 250 && READ_ONCE(inst->nmidle) < 3; i++)
		msleep(20);
	KUNIT_EXPECT_EQ(test, READ_ONCE(inst->nmidle), 3);
	kgo_ioc_shutdown(inst);
	for (i = 0; i < 3; i++) {
		wait_for_completion(&s[i].done);
		KUNIT_EXPECT_EQ(test, s[i].err, -ESHUTDOWN);
	}
	KUNIT_EXPECT_EQ(test, inst->nmidle, 0);
	free_inst(inst);
}

static void sched_procresize_held_p(struct kunit *test)
{
	struct kgo_inst *inst = new_inst(test, 2, 0);
	struct kgo_km *a = attach(test, inst, true), *b = attach(test, inst, true);
	u64 g;

	fill_ring(b->p->sh, 1, 3);
	KUNIT_EXPECT_EQ(test, kgo_ioc_set_nprocs(inst, 3), -EINVAL);
	KUNIT_EXPECT_EQ(test, kgo_ioc_set_nprocs(inst, 1), 0);
	KUNIT_EXPECT_EQ(test, inst->ss->nprocs, 1);
	KUNIT_EXPECT_EQ(test, b->p->status, KGO_P_DEAD);
	/* a gives up P0; b's next park drains dead P1 and takes P0. */
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, a, KGO_PARK_NOWAIT, 0, &g), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kgo_ioc_park(inst, b, 0, NSEC_PER_SEC, &g), 0);
	KUNIT_EXPECT_EQ(test, g, 1);
	KUNIT_EXPECT_EQ(test, b->p->id, 0);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(b->p->sh) + inst->gq.len, 2);
	free_inst(inst);
}

static struct kunit_case sched_cases[] = {
	KUNIT_CASE(sched_setup_validates),
	KUNIT_CASE(sched_attach_takes_idle_ps),
	KUNIT_CASE(sched_park_order_local_global),
	KUNIT_CASE(sched_globrunqget_batch_sizes),
	KUNIT_CASE(sched_runqputslow_exact),
	KUNIT_CASE(sched_gq_limit_enospc),
	KUNIT_CASE(sched_steal_half_then_runnext),
	KUNIT_CASE(sched_wakep_pending_without_m),
	KUNIT_CASE(sched_spinning_limit),
	KUNIT_CASE(sched_detach_hands_on_work),
	KUNIT_CASE_SLOW(sched_relay_no_lost_wakeup),
	KUNIT_CASE(sched_shutdown_wakes_sleepers),
	KUNIT_CASE(sched_procresize_held_p),
	{}
};

static int sched_suite_init(struct kunit_suite *suite)
{
	return kgo_instances_init();
}

static void sched_suite_exit(struct kunit_suite *suite)
{
	kgo_instances_exit();
}

static struct kunit_suite sched_suite = {
	.name = "kgo_sched",
	.suite_init = sched_suite_init,
	.suite_exit = sched_suite_exit,
	.test_cases = sched_cases,
};

kunit_test_suite(sched_suite);
