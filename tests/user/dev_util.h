/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the tests that drive /dev/kgo directly, without libkgo:
 * open and set up an instance, map it, and act on a P's ring through the
 * shared memory with the same protocol the library uses; and write the
 * kernel's cgroup and tracefs files.
 */
#ifndef KGO_TESTS_DEV_UTIL_H
#define KGO_TESTS_DEV_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <linux/kgo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "file_util.h"

struct inst {
	int fd;
	struct kgo_setup s;
	void *map;
	struct kgo_shared_sched *ss;
};

/* ioctl that returns -errno instead of -1. */
static inline int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int inst_open(struct inst *in, uint32_t nprocs, uint32_t gq_limit)
{
	int err;

	memset(in, 0, sizeof(*in));
	in->fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	if (in->fd < 0)
		return -errno;
	in->s.size = sizeof(in->s);
	in->s.nprocs = nprocs;
	in->s.gq_limit = gq_limit;
	err = xioctl(in->fd, KGO_IOC_SETUP, &in->s);
	if (err)
		return err;
	in->map = mmap(NULL, in->s.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, in->fd, 0);
	if (in->map == MAP_FAILED)
		return -errno;
	in->ss = (struct kgo_shared_sched *)((char *)in->map + in->s.sched_off);
	return 0;
}

static inline void inst_close(struct inst *in)
{
	if (in->map && in->map != MAP_FAILED)
		munmap(in->map, in->s.map_size);
	close(in->fd);
}

static inline struct kgo_shared_p *inst_p(struct inst *in, uint32_t id)
{
	return (struct kgo_shared_p *)((char *)in->map + in->s.p_off + (size_t)id * in->s.p_stride);
}

static inline uint32_t ld(uint32_t *x)
{
	return __atomic_load_n(x, __ATOMIC_ACQUIRE);
}

/* The owner's runqput at the tail (no runnext); 0 when the ring is full. */
static inline int ring_put(struct kgo_shared_p *p, uint64_t g)
{
	uint32_t h = ld(&p->head), t = p->tail;

	if (t - h >= KGO_RING_SIZE)
		return 0;
	p->ring[t % KGO_RING_SIZE] = g;
	__atomic_store_n(&p->tail, t + 1, __ATOMIC_RELEASE);
	return 1;
}

static inline uint32_t ring_len(struct kgo_shared_p *p)
{
	return ld(&p->tail) - ld(&p->head);
}

static inline int attach(struct inst *in, uint32_t flags, struct kgo_attach *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = flags;
	return xioctl(in->fd, KGO_IOC_ATTACH, a);
}

static inline int park(struct inst *in, unsigned long cmd, uint32_t m, uint32_t flags,
		       uint64_t timeout_ns, struct kgo_park *pk)
{
	memset(pk, 0, sizeof(*pk));
	pk->size = sizeof(*pk);
	pk->m = m;
	pk->flags = flags;
	pk->timeout_ns = timeout_ns;
	return xioctl(in->fd, cmd, pk);
}

static inline int ready(struct inst *in, unsigned long cmd, uint32_t m, uint64_t g)
{
	struct kgo_ready r = { .size = sizeof(r), .g = g, .m = m };

	return xioctl(in->fd, cmd, &r);
}

/* VERSION and STATS: size in, everything else zero in and out. */
static inline int version(int fd, struct kgo_version *v)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	return xioctl(fd, KGO_IOC_VERSION, v);
}

static inline int stats(int fd, struct kgo_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return xioctl(fd, KGO_IOC_STATS, st);
}

/* Exits with kselftest's skip status when the module is not loaded. */
static inline void require_module(void)
{
	if (access(KGO_DEVICE, F_OK)) {
		printf("1..0 # SKIP %s missing: is kgo.ko loaded?\n", KGO_DEVICE);
		exit(4);
	}
}

#endif /* KGO_TESTS_DEV_UTIL_H */
