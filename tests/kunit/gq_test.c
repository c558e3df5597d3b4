// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the global run queue (kmod/gq.c): FIFO order across chunks, the
 * all-or-nothing limit, preallocation accounting, and chunk reuse.
 *
 * Each test's queue is guarded by a lock of its own, taken around every
 * operation as inst->lock is in the module, so that the queue's lockdep
 * assertions hold here too.
 */
#include <kunit/test.h>

#include "kgo_internal.h"

/* A queue and the lock that guards it. */
struct locked_gq {
	struct kgo_gq q;
	spinlock_t lock;	/* guards q, as inst->lock does in kgo.ko */
};

static void lgq_init(struct locked_gq *l, u32 limit)
{
	spin_lock_init(&l->lock);
	kgo_gq_init(&l->q, limit, &l->lock);
}

static u64 lgq_pop(struct locked_gq *l)
{
	u64 g;

	spin_lock(&l->lock);
	g = kgo_gq_pop(&l->q);
	spin_unlock(&l->lock);
	return g;
}

static u32 lgq_chunks_needed(struct locked_gq *l, u32 n)
{
	u32 need;

	spin_lock(&l->lock);
	need = kgo_gq_chunks_needed(&l->q, n);
	spin_unlock(&l->lock);
	return need;
}

static int lgq_push(struct locked_gq *l, const u64 *gs, u32 n, struct kgo_gq_prealloc *pa)
{
	int err;

	spin_lock(&l->lock);
	err = kgo_gq_push(&l->q, gs, n, pa);
	spin_unlock(&l->lock);
	return err;
}

static int push_n(struct locked_gq *l, u64 first, u32 n)
{
	struct kgo_gq_prealloc pa = {};
	u64 gs[KGO_RING_SIZE / 2 + 1];	/* what these tests push at most */
	int err;
	u32 i;

	if (n > ARRAY_SIZE(gs))
		return -E2BIG;
	for (i = 0; i < n; i++)
		gs[i] = first + i;
	err = kgo_gq_prealloc_fill(&pa, lgq_chunks_needed(l, n));
	if (!err)
		err = lgq_push(l, gs, n, &pa);
	kgo_gq_prealloc_free(&pa);
	return err;
}

static void gq_fifo_across_chunks(struct kunit *test)
{
	struct locked_gq l;
	u64 g;

	lgq_init(&l, 10000);
	KUNIT_ASSERT_EQ(test, push_n(&l, 1, 100), 0);
	KUNIT_ASSERT_EQ(test, push_n(&l, 101, 129), 0);
	KUNIT_ASSERT_EQ(test, push_n(&l, 230, 71), 0);
	KUNIT_EXPECT_EQ(test, l.q.len, 300);
	for (g = 1; g <= 300; g++)
		KUNIT_EXPECT_EQ(test, lgq_pop(&l), g);
	KUNIT_EXPECT_EQ(test, lgq_pop(&l), 0);
	KUNIT_EXPECT_EQ(test, l.q.len, 0);
	kgo_gq_destroy(&l.q);
}

static void gq_limit_is_all_or_nothing(struct kunit *test)
{
	struct locked_gq l;

	lgq_init(&l, 10);
	KUNIT_EXPECT_EQ(test, push_n(&l, 1, 8), 0);
	KUNIT_EXPECT_EQ(test, push_n(&l, 9, 3), -ENOSPC);
	KUNIT_EXPECT_EQ(test, l.q.len, 8);
	KUNIT_EXPECT_EQ(test, push_n(&l, 9, 2), 0);
	KUNIT_EXPECT_EQ(test, push_n(&l, 11, 1), -ENOSPC);
	KUNIT_EXPECT_EQ(test, l.q.len, 10);
	kgo_gq_destroy(&l.q);
}

static void gq_push_without_chunks_is_refused(struct kunit *test)
{
	struct kgo_gq_prealloc pa = {};
	struct locked_gq l;
	u64 g = 1;

	lgq_init(&l, 1000);
	KUNIT_EXPECT_EQ(test, lgq_chunks_needed(&l, 1), 1);
	KUNIT_EXPECT_EQ(test, lgq_push(&l, &g, 1, &pa), -EAGAIN);
	KUNIT_EXPECT_EQ(test, l.q.len, 0);
	/* A batch spanning a chunk boundary needs two. */
	KUNIT_EXPECT_EQ(test, lgq_chunks_needed(&l, KGO_GQ_CHUNK_SLOTS + 1), 2);
	/* The largest batch, a whole ring and a G, needs three at most. */
	KUNIT_EXPECT_EQ(test, lgq_chunks_needed(&l, KGO_BATCH_MAX), 3);
	KUNIT_EXPECT_EQ(test, kgo_gq_prealloc_fill(&pa, 3), 0);
	KUNIT_EXPECT_EQ(test, kgo_gq_prealloc_count(&pa), 3);
	KUNIT_EXPECT_EQ(test, kgo_gq_prealloc_fill(&pa, 4), -EINVAL);
	kgo_gq_prealloc_free(&pa);
	kgo_gq_destroy(&l.q);
}

static void gq_reuses_spare_chunk(struct kunit *test)
{
	struct locked_gq l;

	lgq_init(&l, 1000);
	KUNIT_ASSERT_EQ(test, push_n(&l, 1, 5), 0);
	while (lgq_pop(&l))
		;
	KUNIT_EXPECT_NOT_NULL(test, l.q.spare);
	/* The spare covers the next chunk: nothing to allocate. */
	KUNIT_EXPECT_EQ(test, lgq_chunks_needed(&l, 5), 0);
	KUNIT_ASSERT_EQ(test, push_n(&l, 6, 5), 0);
	KUNIT_EXPECT_NULL(test, l.q.spare);
	KUNIT_EXPECT_EQ(test, lgq_pop(&l), 6);
	kgo_gq_destroy(&l.q);
}

/* Teardown with Gs still queued frees every chunk (kmemleak checks). */
static void gq_destroy_with_gs_queued(struct kunit *test)
{
	struct locked_gq l;

	lgq_init(&l, 10000);
	KUNIT_ASSERT_EQ(test, push_n(&l, 1, 129), 0);
	KUNIT_ASSERT_EQ(test, push_n(&l, 200, 129), 0);
	KUNIT_EXPECT_EQ(test, lgq_pop(&l), 1);
	kgo_gq_destroy(&l.q);
	KUNIT_EXPECT_EQ(test, l.q.len, 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&l.q.chunks));
	KUNIT_EXPECT_NULL(test, l.q.spare);
}

static struct kunit_case gq_cases[] = {
	KUNIT_CASE(gq_fifo_across_chunks),
	KUNIT_CASE(gq_limit_is_all_or_nothing),
	KUNIT_CASE(gq_push_without_chunks_is_refused),
	KUNIT_CASE(gq_reuses_spare_chunk),
	KUNIT_CASE(gq_destroy_with_gs_queued),
	{}
};

static struct kunit_suite gq_suite = {
	.name = "kgo_gq",
	.test_cases = gq_cases,
};

kunit_test_suite(gq_suite);
