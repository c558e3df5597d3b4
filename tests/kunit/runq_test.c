// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: one P's run queue, uapi/kgo_runq_ops.h as the module builds it,
 * through kmod/runq.c's wrappers and, for what only libkgo calls (the
 * owner's view of a corrupt ring, the runnext undo), directly: runnext
 * and FIFO order, the full ring, grab and steal taking half, free-running
 * index wraparound, corrupt indices, and an owner racing stealers on real
 * threads.  tests/user/lib_runq tests the library's build of the same code.
 */
#include <kunit/test.h>
#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/slab.h>

#include "kgo_internal.h"
#include "../../uapi/kgo_runq_ops.h"

static struct kgo_shared_p *new_p(struct kunit *test)
{
	struct kgo_shared_p *p = kunit_kzalloc(test, sizeof(*p), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	return p;
}

static void put(struct kunit *test, struct kgo_shared_p *p, u64 g, bool next)
{
	u64 left;

	KUNIT_ASSERT_TRUE(test, kgo_runqput(p, g, next, &left));
	KUNIT_ASSERT_EQ(test, left, 0);
}

/* Takes from @p in turn and expects @want's Gs, in order (0: empty). */
static void expect_gets(struct kunit *test, struct kgo_shared_p *p, const u64 *want,
			size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ_MSG(test, kgo_runqget(p), want[i], "get #%zu", i);
}

#define EXPECT_GETS(test, p, ...)					\
	expect_gets(test, p, (const u64[]){ __VA_ARGS__ },		\
		    ARRAY_SIZE(((const u64[]){ __VA_ARGS__ })))

static void runq_runnext_first_then_fifo(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);

	put(test, p, 1, false);
	put(test, p, 2, false);
	put(test, p, 3, false);
	put(test, p, 4, true);
	EXPECT_GETS(test, p, 4, 1, 2, 3, 0);
}

static void runq_runnext_kicks_old_to_tail(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);

	put(test, p, 10, false);
	put(test, p, 11, true);
	put(test, p, 12, true);	/* 11 is kicked behind 10 */
	KUNIT_EXPECT_EQ(test, p->runnext, 12);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), 2);
	EXPECT_GETS(test, p, 12, 10, 11);
}

static void runq_full_ring_returns_leftover(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 left, g;

	for (g = 1; g <= KGO_RING_SIZE; g++)
		put(test, p, g, false);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), KGO_RING_SIZE);
	KUNIT_EXPECT_FALSE(test, kgo_runqput(p, 999, false, &left));
	KUNIT_EXPECT_EQ(test, left, 999);
	/* With runnext set, the kicked runnext is what needs a place. */
	put(test, p, 500, true);
	KUNIT_EXPECT_FALSE(test, kgo_runqput(p, 501, true, &left));
	KUNIT_EXPECT_EQ(test, left, 500);
	KUNIT_EXPECT_EQ(test, p->runnext, 501);
}

static void runq_empty_counts_runnext(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);

	KUNIT_EXPECT_TRUE(test, kgo_runqempty(p));
	put(test, p, 7, true);
	KUNIT_EXPECT_FALSE(test, kgo_runqempty(p));
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqget(p), 7);
	KUNIT_EXPECT_TRUE(test, kgo_runqempty(p));
}

static void runq_grab_takes_half_rounded_up(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 *buf = kunit_kcalloc(test, KGO_RING_SIZE, sizeof(u64), GFP_KERNEL);
	u64 g;

	for (g = 1; g <= 11; g++)
		put(test, p, g, false);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 6);
	KUNIT_EXPECT_EQ(test, buf[0], 1);
	KUNIT_EXPECT_EQ(test, buf[5], 6);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), 5);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 3);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 1);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 1);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 0);
}

static void runq_grab_runnext_only_when_asked(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 *buf = kunit_kcalloc(test, KGO_RING_SIZE, sizeof(u64), GFP_KERNEL);

	put(test, p, 42, true);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 0);
	KUNIT_EXPECT_EQ(test, p->runnext, 42);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, true), 1);
	KUNIT_EXPECT_EQ(test, buf[0], 42);
	KUNIT_EXPECT_EQ(test, p->runnext, 0);
	/* The ring is preferred over runnext even on a last pass. */
	put(test, p, 43, true);
	put(test, p, 44, false);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, true), 1);
	KUNIT_EXPECT_EQ(test, buf[0], 44);
}

static void runq_steal_half_into_dst(struct kunit *test)
{
	struct kgo_shared_p *src = new_p(test), *dst = new_p(test);
	u64 g;

	for (g = 1; g <= 8; g++)
		put(test, src, g, false);
	/* Half of 8: the last stolen is returned, the other 3 are queued. */
	KUNIT_EXPECT_EQ(test, kgo_runqsteal(dst, src, false), 4);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(dst), 3);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(src), 4);
	KUNIT_EXPECT_EQ(test, kgo_runqget(dst), 1);
	KUNIT_EXPECT_EQ(test, kgo_runqget(src), 5);
}

static void runq_steal_needs_room(struct kunit *test)
{
	struct kgo_shared_p *src = new_p(test), *dst = new_p(test);
	u64 g;

	for (g = 1; g <= KGO_RING_SIZE / 2 + 1; g++)
		put(test, dst, g, false);
	put(test, src, 1000, false);
	KUNIT_EXPECT_EQ(test, kgo_runqsteal(dst, src, true), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(src), 1);
}

static void runq_indices_wrap(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 g;

	p->head = 0xfffffff0;
	p->tail = 0xfffffff0;
	for (g = 1; g <= 40; g++)
		put(test, p, g, false);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), 40);
	for (g = 1; g <= 40; g++)
		KUNIT_EXPECT_EQ(test, kgo_runqget(p), g);
	KUNIT_EXPECT_EQ(test, p->head, 0x18);
}

static void runq_corrupt_indices_read_empty(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 *buf = kunit_kcalloc(test, KGO_RING_SIZE, sizeof(u64), GFP_KERNEL);
	u64 left;

	p->head = 5;
	p->tail = 5 + KGO_RING_SIZE + 1;	/* more than a ring: garbage */
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), 0);
	KUNIT_EXPECT_TRUE(test, kgo_runqempty(p));
	KUNIT_EXPECT_EQ(test, kgo_runqget(p), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqgrab(p, buf, 0, false), 0);
	KUNIT_EXPECT_EQ(test, kgo_runqputbatch(p, buf, 4), 0);
	/* A put into a "full" ring refuses rather than overwriting. */
	KUNIT_EXPECT_FALSE(test, kgo_runqput(p, 9, false, &left));
	KUNIT_EXPECT_EQ(test, left, 9);
}

/* The owner's get reports a corrupt ring, bounded or not; libkgo dies of it. */
static void runq_corrupt_reported_to_owner(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	bool corrupt = false;

	p->head = 5;
	p->tail = 5 + KGO_RING_SIZE + 1;
	KUNIT_EXPECT_EQ(test, kgo_rq_get(p, KGO_RUNQ_TRIES, &corrupt), 0);
	KUNIT_EXPECT_TRUE(test, corrupt);
	corrupt = false;
	KUNIT_EXPECT_EQ(test, kgo_rq_get(p, KGO_RUNQ_UNBOUNDED, &corrupt), 0);
	KUNIT_EXPECT_TRUE(test, corrupt);
	/* A sound ring, empty or not, is not reported. */
	p->tail = 5;
	corrupt = false;
	KUNIT_EXPECT_EQ(test, kgo_rq_get(p, KGO_RUNQ_UNBOUNDED, &corrupt), 0);
	put(test, p, 8, false);
	KUNIT_EXPECT_EQ(test, kgo_rq_get(p, KGO_RUNQ_UNBOUNDED, &corrupt), 8);
	KUNIT_EXPECT_FALSE(test, corrupt);
}

/* kgo_go's undo of a put into runnext whose kicked G found no room. */
static void runq_cas_next_undoes_put(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 left, g;

	for (g = 1; g <= KGO_RING_SIZE; g++)
		put(test, p, g, false);
	put(test, p, 500, true);
	KUNIT_EXPECT_FALSE(test, kgo_runqput(p, 501, true, &left));
	KUNIT_EXPECT_EQ(test, left, 500);
	KUNIT_EXPECT_FALSE(test, kgo_rq_cas_next(p, 500, 777));
	KUNIT_EXPECT_EQ(test, p->runnext, 501);
	KUNIT_EXPECT_TRUE(test, kgo_rq_cas_next(p, 500, 501));
	KUNIT_EXPECT_EQ(test, p->runnext, 500);
	EXPECT_GETS(test, p, 500, 1);
}

static void runq_putbatch_limited_by_room(struct kunit *test)
{
	struct kgo_shared_p *p = new_p(test);
	u64 *gs = kunit_kcalloc(test, KGO_RING_SIZE, sizeof(u64), GFP_KERNEL);
	u32 i;

	for (i = 0; i < KGO_RING_SIZE; i++)
		gs[i] = i + 1;
	KUNIT_EXPECT_EQ(test, kgo_runqputbatch(p, gs, 200), 200);
	KUNIT_EXPECT_EQ(test, kgo_runqputbatch(p, gs, 200), KGO_RING_SIZE - 200);
	KUNIT_EXPECT_EQ(test, kgo_runqlen(p), KGO_RING_SIZE);
	KUNIT_EXPECT_EQ(test, kgo_runqget(p), 1);
}

/* ---- an owner racing stealers ---- */

#define STRESS_TOKENS	200000
#define STRESS_STEALERS	2

struct stress {
	struct kgo_shared_p *owner;
	struct kgo_shared_p *thief[STRESS_STEALERS];
	unsigned long *seen;
	atomic_t dups, taken;
	bool done;
	struct completion finished[STRESS_STEALERS];
};

static void stress_take(struct stress *s, u64 g)
{
	if (g < 1 || g > STRESS_TOKENS || test_and_set_bit(g - 1, s->seen))
		atomic_inc(&s->dups);
	atomic_inc(&s->taken);
}

/* One G from @p's runq into the tally; false when it had none. */
static bool stress_get(struct stress *s, struct kgo_shared_p *p)
{
	u64 g = kgo_runqget(p);

	if (g)
		stress_take(s, g);
	return g;
}

struct stealer {
	struct stress *s;
	int me;
};

static int stress_stealer(void *arg)
{
	struct stealer *st = arg;
	struct stress *s = st->s;
	u64 g;

	while (!READ_ONCE(s->done) || !kgo_runqempty(s->owner)) {
		g = kgo_runqsteal(s->thief[st->me], s->owner, true);
		if (g) {
			stress_take(s, g);
			while (stress_get(s, s->thief[st->me]))
				;
		}
		cond_resched();
	}
	complete(&s->finished[st->me]);
	return 0;
}

static void runq_owner_vs_stealers_exactly_once(struct kunit *test)
{
	struct stress *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	struct stealer st[STRESS_STEALERS];
	struct task_struct *t;
	u64 g, left;
	int i;

	KUNIT_ASSERT_NOT_NULL(test, s);
	s->owner = new_p(test);
	s->seen = kunit_kcalloc(test, BITS_TO_LONGS(STRESS_TOKENS), sizeof(long), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s->seen);
	for (i = 0; i < STRESS_STEALERS; i++) {
		s->thief[i] = new_p(test);
		init_completion(&s->finished[i]);
		st[i].s = s;
		st[i].me = i;
		t = kthread_run(stress_stealer, &st[i], "kgo-stealer-%d", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	}
	/* The owner produces, mixing runnext and ring, and consumes too. */
	for (g = 1; g <= STRESS_TOKENS; g++) {
		u64 pending = g;
		bool next = g % 7 == 0;

		while (!kgo_runqput(s->owner, pending, next, &left)) {
			stress_get(s, s->owner);
			pending = left;
			next = false;
		}
		if (g % 3 == 0)
			stress_get(s, s->owner);
		if (g % 1024 == 0)
			cond_resched();
	}
	WRITE_ONCE(s->done, true);
	for (i = 0; i < STRESS_STEALERS; i++)
		wait_for_completion(&s->finished[i]);
	while (stress_get(s, s->owner))
		;
	KUNIT_EXPECT_EQ(test, atomic_read(&s->dups), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&s->taken), STRESS_TOKENS);
	KUNIT_EXPECT_EQ(test, bitmap_weight(s->seen, STRESS_TOKENS), STRESS_TOKENS);
}

static struct kunit_case runq_cases[] = {
	KUNIT_CASE(runq_runnext_first_then_fifo),
	KUNIT_CASE(runq_runnext_kicks_old_to_tail),
	KUNIT_CASE(runq_full_ring_returns_leftover),
	KUNIT_CASE(runq_empty_counts_runnext),
	KUNIT_CASE(runq_grab_takes_half_rounded_up),
	KUNIT_CASE(runq_grab_runnext_only_when_asked),
	KUNIT_CASE(runq_steal_half_into_dst),
	KUNIT_CASE(runq_steal_needs_room),
	KUNIT_CASE(runq_indices_wrap),
	KUNIT_CASE(runq_corrupt_indices_read_empty),
	KUNIT_CASE(runq_corrupt_reported_to_owner),
	KUNIT_CASE(runq_cas_next_undoes_put),
	KUNIT_CASE(runq_putbatch_limited_by_room),
	KUNIT_CASE_SLOW(runq_owner_vs_stealers_exactly_once),
	{}
};

static struct kunit_suite runq_suite = {
	.name = "kgo_runq",
	.test_cases = runq_cases,
};

kunit_test_suite(runq_suite);
