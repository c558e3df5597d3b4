// SPDX-License-Identifier: GPL-2.0
/*
 * The sized ioctl arguments (uapi/linux/kgo.h, KGO_FEAT_SIZED_ARGS), from
 * user space without libkgo: a caller of the first layout (VER0) gets the
 * defaults for what it lacks and no byte past its struct is written; a
 * larger struct works when its tail is zero and gets E2BIG when it is not;
 * a size under VER0, or a size field that is not the number's, is EINVAL;
 * every reserved and out-only field must come in zero (READY's m too);
 * the bare-__u32 and argument-less commands keep their exact numbers.
 */
#include <stddef.h>
#include <stdio.h>

#include "dev_util.h"
#include "tap.h"

#define CANARY	0xa5

/* A struct of any size, with room past the module's largest. */
static union {
	struct kgo_version v;
	struct kgo_setup s;
	struct kgo_attach a;
	struct kgo_park pk;
	struct kgo_ready r;
	struct kgo_stats st;
	struct kgo_preempt pc;
	struct kgo_stackmap sm;
	unsigned char b[512];
} u;

/* u zeroed up to @size, the canary after; the size field set to @size. */
static void arg_init(uint32_t size)
{
	memset(u.b, CANARY, sizeof(u.b));
	memset(u.b, 0, size);
	if (size >= sizeof(uint32_t))
		memcpy(u.b, &size, sizeof(size));
}

/* Whether u's bytes from @from on are still the canary. */
static bool canary_kept(size_t from)
{
	size_t i;

	for (i = from; i < sizeof(u.b); i++)
		if (u.b[i] != CANARY)
			return false;
	return true;
}

/* @cmd for a struct of @size bytes, with u as the argument. */
static int sized_ioctl(int fd, unsigned long cmd, uint32_t size)
{
	return xioctl(fd, KGO_IOC_SIZED(cmd, size), u.b);
}

/*
 * SETUP of the first layout: no max_ms, m_off or m_stride.  It gets the
 * default M slots (the same region as a full SETUP with max_ms 0, unlike
 * one with max_ms 1), and nothing past VER0 is written.
 */
static void t_setup_ver0(void)
{
	struct inst full, one;
	uint64_t ver0_size;
	bool ok = true;
	int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);

	arg_init(KGO_SETUP_SIZE_VER0);
	u.s.nprocs = 2;
	ok &= TAP_CHECK(sized_ioctl(fd, KGO_IOC_SETUP, KGO_SETUP_SIZE_VER0) == 0);
	ok &= TAP_CHECK(u.s.size == KGO_SETUP_SIZE_VER0 && u.s.max_procs == 2 &&
			u.s.ring_size == KGO_RING_SIZE && u.s.map_size > 0);
	ok &= TAP_CHECK(canary_kept(KGO_SETUP_SIZE_VER0));
	ver0_size = u.s.map_size;
	ok &= TAP_CHECK(inst_open(&full, 2, 0) == 0);
	ok &= TAP_CHECK(full.s.map_size == ver0_size);
	/* max_ms 1 must make another region, or the check above proves nothing. */
	memset(&one, 0, sizeof(one));
	one.fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	one.s.size = sizeof(one.s);
	one.s.nprocs = 2;
	one.s.max_ms = 1;
	ok &= TAP_CHECK(xioctl(one.fd, KGO_IOC_SETUP, &one.s) == 0 && one.s.map_size < ver0_size);
	tap_ok_fmt(ok, "SETUP of the first layout gets the default M slots (region %llu bytes), "
		   "nothing written past its %d bytes", (unsigned long long)ver0_size,
		   KGO_SETUP_SIZE_VER0);
	close(one.fd);
	inst_close(&full);
	close(fd);
}

/* Output stops at the caller's size: STATS of the first layout. */
static void t_stats_truncated(struct inst *in)
{
	bool ok = true;

	arg_init(KGO_STATS_SIZE_VER0);
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_STATS, KGO_STATS_SIZE_VER0) == 0);
	ok &= TAP_CHECK(u.st.size == KGO_STATS_SIZE_VER0 && u.st.nprocs == 2 && u.st.ioctls > 0);
	ok &= TAP_CHECK(canary_kept(KGO_STATS_SIZE_VER0));
	/* And one that ends inside a field. */
	arg_init(KGO_STATS_SIZE_VER0 + 4);
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_STATS, KGO_STATS_SIZE_VER0 + 4) == 0);
	ok &= TAP_CHECK(canary_kept(KGO_STATS_SIZE_VER0 + 4));
	tap_ok(ok, "STATS of a smaller struct: filled up to its size, not a byte further");
}

/* A newer caller's larger struct: fine with a zero tail, E2BIG without. */
static void t_larger(struct inst *in, uint32_t m)
{
	uint32_t big = sizeof(struct kgo_park) + 24;
	bool ok = true;

	/* PARK, the hot path: finds the G READY (larger too) queued. */
	arg_init(sizeof(struct kgo_ready) + 40);
	u.r.g = 0x77;
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_READY, sizeof(struct kgo_ready) + 40) == 0);
	arg_init(big);
	u.pk.m = m;
	u.pk.flags = KGO_PARK_NOWAIT;
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_PARK, big) == 0 && u.pk.g == 0x77 &&
			u.pk.p != KGO_NO_P && u.pk.size == big);
	/* The module wrote its struct only: the zero tail is still zero. */
	ok &= TAP_CHECK(!memchr(u.b + sizeof(struct kgo_park), CANARY, 24) &&
			canary_kept(big));
	/* One non-zero byte in the tail, anywhere: E2BIG, nothing done. */
	arg_init(big);
	u.pk.m = m;
	u.pk.flags = KGO_PARK_NOWAIT;
	u.b[big - 1] = 1;
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_PARK, big) == -E2BIG);
	arg_init(sizeof(struct kgo_ready) + 8);
	u.r.g = 0x78;
	u.b[sizeof(struct kgo_ready)] = 1;
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_READY, sizeof(struct kgo_ready) + 8) == -E2BIG);
	ok &= TAP_CHECK(in->ss->gq_len == 0);
	arg_init(sizeof(struct kgo_version) + 8);
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_VERSION, sizeof(struct kgo_version) + 8) == 0 &&
			(u.v.features & KGO_FEAT_SIZED_ARGS));
	arg_init(sizeof(struct kgo_version) + 8);
	u.b[sizeof(struct kgo_version) + 7] = 9;
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_VERSION, sizeof(struct kgo_version) + 8) ==
			-E2BIG);
	tap_ok(ok, "a larger struct works with a zero tail (PARK, READY, VERSION), E2BIG with a non-zero one");
}

/* Sizes that do not make a struct, and sizes that disagree. */
static void t_bad_sizes(struct inst *in)
{
	bool ok = true;

	/* Under VER0, even with the size field agreeing. */
	arg_init(KGO_PARK_SIZE_VER0 - 8);
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_PARK, KGO_PARK_SIZE_VER0 - 8) == -EINVAL);
	arg_init(KGO_SETUP_SIZE_VER0 - 8);
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_SETUP, KGO_SETUP_SIZE_VER0 - 8) == -EINVAL);
	arg_init(0);
	ok &= TAP_CHECK(sized_ioctl(in->fd, KGO_IOC_VERSION, 0) == -EINVAL);
	/* The size field must be the number's. */
	arg_init(sizeof(struct kgo_version));
	u.v.size = sizeof(struct kgo_version) + 8;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_VERSION, u.b) == -EINVAL);
	u.v.size = 0;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_VERSION, u.b) == -EINVAL);
	/* The fixed commands keep their exact numbers. */
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_SIZED(KGO_IOC_SET_NPROCS, 8), u.b) == -ENOTTY);
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_SIZED(KGO_IOC_WAKEP, 4), u.b) == -ENOTTY);
	/* So does the direction: the layout before sized arguments is refused. */
	ok &= TAP_CHECK(xioctl(in->fd, _IOR(KGO_IOC_MAGIC, 0x00, uint32_t[8]), u.b) == -ENOTTY);
	ok &= TAP_CHECK(xioctl(in->fd, _IOR(KGO_IOC_MAGIC, 0x0b, struct kgo_stats), u.b) ==
			-ENOTTY);
	tap_ok(ok, "size under VER0 or disagreeing: EINVAL; wrong size on a fixed command, "
	       "or wrong direction: ENOTTY");
}

/* Each out-only or reserved field, set on input: EINVAL. */
static void t_nonzero_in(struct inst *in, uint32_t m)
{
	struct kgo_setup s;
	bool ok = true;
	int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	size_t i;
	static const size_t setup_outs[] = {
		offsetof(struct kgo_setup, ring_size), offsetof(struct kgo_setup, map_size),
		offsetof(struct kgo_setup, sched_off), offsetof(struct kgo_setup, p_off),
		offsetof(struct kgo_setup, p_stride), offsetof(struct kgo_setup, reserved0),
		offsetof(struct kgo_setup, m_off), offsetof(struct kgo_setup, m_stride),
		offsetof(struct kgo_setup, reserved1),
	};

	for (i = 0; i < sizeof(setup_outs) / sizeof(setup_outs[0]); i++) {
		memset(&s, 0, sizeof(s));
		s.size = sizeof(s);
		s.nprocs = 1;
		((unsigned char *)&s)[setup_outs[i]] = 1;
		ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == -EINVAL);
	}
	/* None of them set it up. */
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.nprocs = 1;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == 0);
	close(fd);

	arg_init(sizeof(struct kgo_version));
	u.v.features = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_VERSION, u.b) == -EINVAL);
	arg_init(sizeof(struct kgo_version));
	u.v.reserved[1] = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_VERSION, u.b) == -EINVAL);
	arg_init(sizeof(struct kgo_stats));
	u.st.lockedm_starts = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_STATS, u.b) == -EINVAL);
	arg_init(sizeof(struct kgo_attach));
	u.a.p = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_ATTACH, u.b) == -EINVAL);
	arg_init(sizeof(struct kgo_attach));
	u.a.m = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_ATTACH, u.b) == -EINVAL);
	/* PARK: p is out; g goes in only with STARTLOCKEDM. */
	arg_init(sizeof(struct kgo_park));
	u.pk.m = m;
	u.pk.flags = KGO_PARK_NOWAIT;
	u.pk.p = KGO_NO_P;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_PARK, u.b) == -EINVAL);
	u.pk.p = 0;
	u.pk.g = 5;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_PARK, u.b) == -EINVAL);
	/* GLOBRUNQGET and STEAL take no timeout. */
	arg_init(sizeof(struct kgo_park));
	u.pk.m = m;
	u.pk.timeout_ns = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_STEAL, u.b) == -EINVAL);
	arg_init(sizeof(struct kgo_ready));
	u.r.g = 0x99;
	u.r.reserved = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == -EINVAL);
	arg_init(sizeof(struct kgo_stackmap));
	u.sm.stride = 16 * 4096;
	u.sm.guard = 4096;
	u.sm.offset = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_STACKMAP, u.b) == -EINVAL);
	u.sm.offset = 0;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_STACKMAP, u.b) == 0 && u.sm.offset != 0);
	arg_init(sizeof(struct kgo_preempt));
	u.pc.reserved[0] = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_SET_PREEMPT, u.b) == -EINVAL);
	ok &= TAP_CHECK(in->ss->gq_len == 0);
	tap_ok(ok, "every out-only and reserved field must come in zero: EINVAL");
}

/* READY names no M: m must be zero (RUNQPUTSLOW's is the owner). */
static void t_ready_m(struct inst *in, uint32_t m)
{
	bool ok = true;

	arg_init(sizeof(struct kgo_ready));
	u.r.g = 0x55;
	u.r.m = m + 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == -EINVAL);
	ok &= TAP_CHECK(in->ss->gq_len == 0);
	u.r.m = 0;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == 0 && in->ss->gq_len == 1);
	tap_ok(ok, "READY with m set is EINVAL and queues nothing; with m 0 it queues");
}

/*
 * READY with a batch (KGO_FEAT_READY_BATCH): g and nr more tokens from
 * user memory, queued all together or not at all.
 */
static void t_ready_batch(struct inst *in, uint32_t m)
{
	static uint64_t gs[KGO_READY_BATCH_MAX + 1];
	uint32_t before = in->ss->gq_len;
	struct kgo_version v;
	bool ok = true;

	ok &= TAP_CHECK(version(in->fd, &v) == 0 && (v.features & KGO_FEAT_READY_BATCH));
	for (int i = 0; i <= KGO_READY_BATCH_MAX; i++)
		gs[i] = 0x1000 + (uint64_t)i;
	arg_init(sizeof(struct kgo_ready));
	u.r.g = 0x77;
	u.r.gs = (uintptr_t)gs;
	u.r.nr = KGO_READY_BATCH_MAX + 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == -EINVAL);
	u.r.nr = 3;
	gs[2] = 0;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == -EINVAL);
	gs[2] = 0x1002;
	u.r.gs = 8;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == -EFAULT);
	u.r.gs = (uintptr_t)gs;
	u.r.reserved1 = 1;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == -EINVAL);
	u.r.reserved1 = 0;
	u.r.m = m;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_RUNQPUTSLOW, u.b) == -EINVAL);
	u.r.m = 0;
	ok &= TAP_CHECK(in->ss->gq_len == before);
	u.r.nr = KGO_READY_BATCH_MAX;
	ok &= TAP_CHECK(xioctl(in->fd, KGO_IOC_READY, u.b) == 0);
	ok &= TAP_CHECK(in->ss->gq_len == before + KGO_READY_BATCH_MAX + 1);
	tap_ok(ok, "READY with a batch queues g and nr more at once, or nothing: EINVAL past "
		   "KGO_READY_BATCH_MAX, for a zero token or on RUNQPUTSLOW; EFAULT");
}

int main(void)
{
	struct kgo_attach a;
	struct kgo_park pk;
	struct inst in;

	require_module();
	tap_plan(7);
	t_setup_ver0();
	if (inst_open(&in, 2, 0) || attach(&in, KGO_ATTACH_ACQUIRE_P, &a)) {
		printf("# instance: %s\n", strerror(errno));
		return tap_done();
	}
	t_stats_truncated(&in);
	t_larger(&in, a.m);
	t_bad_sizes(&in);
	t_nonzero_in(&in, a.m);
	t_ready_m(&in, a.m);
	t_ready_batch(&in, a.m);
	park(&in, KGO_IOC_PARK, a.m, KGO_PARK_NOWAIT, 0, &pk);
	inst_close(&in);
	return tap_done();
}
