// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: KGO_IOC_STACKMAP's declarations (kmod/stackmap.c): every bad
 * layout refused, a layout declared twice gets the same offset, distinct
 * ones distinct windows, and no more than KGO_STACKMAP_LAYOUTS of them.
 */
#include <kunit/test.h>
#include <linux/slab.h>

#include "kgo_internal.h"

static struct kgo_inst *fake_inst(struct kunit *test)
{
	struct kgo_inst *inst = kunit_kzalloc(test, sizeof(*inst), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, inst);
	mutex_init(&inst->setup_lock);
	return inst;
}

static int declare(struct kgo_inst *inst, u64 stride, u64 guard, u64 *offset)
{
	struct kgo_stackmap sm = { .stride = stride, .guard = guard };
	int err = kgo_stackmap_declare(inst, &sm);

	if (offset)
		*offset = sm.offset;
	return err;
}

static void stackmap_refuses_bad_layouts(struct kunit *test)
{
	struct kgo_inst *inst = fake_inst(test);
	struct kgo_stackmap sm = { .stride = 8 * PAGE_SIZE, .guard = PAGE_SIZE };

	KUNIT_EXPECT_EQ(test, declare(inst, 0, PAGE_SIZE, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, 8 * PAGE_SIZE, 0, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, 8 * PAGE_SIZE, 8 * PAGE_SIZE, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, 8 * PAGE_SIZE, 9 * PAGE_SIZE, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, 8 * PAGE_SIZE + 1, PAGE_SIZE, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, 8 * PAGE_SIZE, PAGE_SIZE - 1, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, KGO_STACKMAP_STRIDE_MAX + PAGE_SIZE,
				      PAGE_SIZE, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, declare(inst, U64_MAX & PAGE_MASK, PAGE_SIZE, NULL), -EINVAL);
	sm.flags = 1;
	KUNIT_EXPECT_EQ(test, kgo_stackmap_declare(inst, &sm), -EINVAL);
	sm.flags = 0;
	KUNIT_EXPECT_EQ(test, inst->stackmaps.count, 0);
	KUNIT_EXPECT_NULL(test, inst->stackmaps.zero);
}

static void stackmap_same_layout_same_offset(struct kunit *test)
{
	struct kgo_inst *inst = fake_inst(test);
	u64 a = 0, b = 0, c = 0;

	KUNIT_ASSERT_EQ(test, declare(inst, 22 * PAGE_SIZE, 4 * PAGE_SIZE, &a), 0);
	KUNIT_EXPECT_EQ(test, a, KGO_STACKMAP_WINDOW);
	KUNIT_EXPECT_NOT_NULL(test, inst->stackmaps.zero);
	KUNIT_ASSERT_EQ(test, declare(inst, 22 * PAGE_SIZE, 4 * PAGE_SIZE, &b), 0);
	KUNIT_EXPECT_EQ(test, b, a);
	KUNIT_ASSERT_EQ(test, declare(inst, 22 * PAGE_SIZE, 2 * PAGE_SIZE, &c), 0);
	KUNIT_EXPECT_EQ(test, c, 2 * KGO_STACKMAP_WINDOW);
	KUNIT_EXPECT_EQ(test, inst->stackmaps.count, 2);
	KUNIT_EXPECT_EQ(test, inst->stackmaps.layouts[0].stride_pages, 22);
	KUNIT_EXPECT_EQ(test, inst->stackmaps.layouts[0].guard_pages, 4);
	kgo_stackmap_free(inst);
	KUNIT_EXPECT_NULL(test, inst->stackmaps.zero);
}

static void stackmap_layouts_are_bounded(struct kunit *test)
{
	struct kgo_inst *inst = fake_inst(test);
	u64 off = 0;
	u32 i;

	for (i = 0; i < KGO_STACKMAP_LAYOUTS; i++) {
		KUNIT_ASSERT_EQ(test, declare(inst, (i + 2) * PAGE_SIZE, PAGE_SIZE, &off), 0);
		KUNIT_EXPECT_EQ(test, off, (u64)(i + 1) << KGO_STACKMAP_WINDOW_SHIFT);
	}
	KUNIT_EXPECT_EQ(test, declare(inst, 100 * PAGE_SIZE, PAGE_SIZE, NULL), -ENOSPC);
	/* One already declared is still found. */
	KUNIT_EXPECT_EQ(test, declare(inst, 2 * PAGE_SIZE, PAGE_SIZE, &off), 0);
	KUNIT_EXPECT_EQ(test, off, KGO_STACKMAP_WINDOW);
	kgo_stackmap_free(inst);
}

static struct kunit_case stackmap_cases[] = {
	KUNIT_CASE(stackmap_refuses_bad_layouts),
	KUNIT_CASE(stackmap_same_layout_same_offset),
	KUNIT_CASE(stackmap_layouts_are_bounded),
	{}
};

static struct kunit_suite stackmap_suite = {
	.name = "kgo_stackmap",
	.test_cases = stackmap_cases,
};

kunit_test_suite(stackmap_suite);
