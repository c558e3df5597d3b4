// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the global run queue (kmod/gq.c): FIFO order across chunks, the
 * all-or-nothing limit, preallocation accounting, and chunk reuse.
 */
#include <kunit/test.h>

#include "kgo.h"

static int push_n(struct kgo_gq *q, u64 first, u32 n)
{
	struct kgo_gq_prealloc pa = {};
	u64 gs[KGO_RING_SIZE / 2 + 1];	/* what these tests push at most */
	int err;
	u32 i;

	if (n > ARRAY_SIZE(gs))
		return -E2BIG;
	for (i = 0; i < n; i++)
		gs[i] = first + i;
	err = kgo_gq_prealloc_fill(&pa, kgo_gq_chunks_needed(q, n));
	if (!err)
		err = kgo_gq_push(q, gs, n, &pa);
	kgo_gq_prealloc_free(&pa);
	return err;
}

static void gq_fifo_across_chunks(struct kunit *test)
{
	struct kgo_gq q;
	u64 g;

	kgo_gq_init(&q, 10000);
	KUNIT_ASSERT_EQ(test, push_n(&q, 1, 100), 0);
	KUNIT_ASSERT_EQ(test, push_n(&q, 101, 129), 0);
	KUNIT_ASSERT_EQ(test, push_n(&q, 230, 71), 0);
	KUNIT_EXPECT_EQ(test, q.len, 300);
	for (g = 1; g <= 300; g++)
		KUNIT_EXPECT_EQ(test, kgo_gq_pop(&q), g);
	KUNIT_EXPECT_EQ(test, kgo_gq_pop(&q), 0);
	KUNIT_EXPECT_EQ(test, q.len, 0);
	kgo_gq_destroy(&q);
}

static void gq_limit_is_all_or_nothing(struct kunit *test)
{
	struct kgo_gq q;

	kgo_gq_init(&q, 10);
	KUNIT_EXPECT_EQ(test, push_n(&q, 1, 8), 0);
	KUNIT_EXPECT_EQ(test, push_n(&q, 9, 3), -ENOSPC);
	KUNIT_EXPECT_EQ(test, q.len, 8);
	KUNIT_EXPECT_EQ(test, push_n(&q, 9, 2), 0);
	KUNIT_EXPECT_EQ(test, push_n(&q, 11, 1), -ENOSPC);
	KUNIT_EXPECT_EQ(test, q.len, 10);
	kgo_gq_destroy(&q);
}

static void gq_push_without_chunks_is_refused(struct kunit *test)
{
	struct kgo_gq_prealloc pa = {};
	struct kgo_gq q;
	u64 g = 1;

	kgo_gq_init(&q, 1000);
	KUNIT_EXPECT_EQ(test, kgo_gq_chunks_needed(&q, 1), 1);
	KUNIT_EXPECT_EQ(test, kgo_gq_push(&q, &g, 1, &pa), -EAGAIN);
	KUNIT_EXPECT_EQ(test, q.len, 0);
	/* A batch spanning a chunk boundary needs two. */
	KUNIT_EXPECT_EQ(test, kgo_gq_chunks_needed(&q, KGO_GQ_CHUNK_SLOTS + 1), 2);
	/* The largest batch, a whole ring and a G, needs three at most. */
	KUNIT_EXPECT_EQ(test, kgo_gq_chunks_needed(&q, KGO_BATCH_MAX), 3);
	KUNIT_EXPECT_EQ(test, kgo_gq_prealloc_fill(&pa, 3), 0);
	KUNIT_EXPECT_EQ(test, kgo_gq_prealloc_count(&pa), 3);
	KUNIT_EXPECT_EQ(test, kgo_gq_prealloc_fill(&pa, 4), -EINVAL);
	kgo_gq_prealloc_free(&pa);
	kgo_gq_destroy(&q);
}

static void gq_reuses_spare_chunk(struct kunit *test)
{
	struct kgo_gq q;

	kgo_gq_init(&q, 1000);
	KUNIT_ASSERT_EQ(test, push_n(&q, 1, 5), 0);
	while (kgo_gq_pop(&q))
		;
	KUNIT_EXPECT_NOT_NULL(test, q.spare);
	/* The spare covers the next chunk: nothing to allocate. */
	KUNIT_EXPECT_EQ(test, kgo_gq_chunks_needed(&q, 5), 0);
	KUNIT_ASSERT_EQ(test, push_n(&q, 6, 5), 0);
	KUNIT_EXPECT_NULL(test, q.spare);
	KUNIT_EXPECT_EQ(test, kgo_gq_pop(&q), 6);
	kgo_gq_destroy(&q);
}

/* Teardown with Gs still queued frees every chunk (kmemleak checks). */
static void gq_destroy_with_gs_queued(struct kunit *test)
{
	struct kgo_gq q;

	kgo_gq_init(&q, 10000);
	KUNIT_ASSERT_EQ(test, push_n(&q, 1, 129), 0);
	KUNIT_ASSERT_EQ(test, push_n(&q, 200, 129), 0);
	KUNIT_EXPECT_EQ(test, kgo_gq_pop(&q), 1);
	kgo_gq_destroy(&q);
	KUNIT_EXPECT_EQ(test, q.len, 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&q.chunks));
	KUNIT_EXPECT_NULL(test, q.spare);
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
