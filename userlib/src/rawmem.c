/* SPDX-License-Identifier: MIT */
/*
 * Memory for the library's own tables that grow while goroutines run (the
 * timer heap, netpoll's descriptor chunks), taken from the kernel with
 * mmap/mremap and never from malloc.
 *
 * Why: that code runs in the library's state (KGO_MS_LIB), holding a P
 * that sysmon never takes, and sometimes under kgo_tm.lock.  A goroutine
 * keeps its thread when it is preempted or its call outlasts the handoff
 * delay, so it may wait for a P while it holds one of malloc's arena
 * locks.  Had the library called malloc there, it would block on that
 * lock with its P, and once every P was held that way nothing could give
 * the waiting goroutine a P: the whole program stopped (net_http's server
 * did, in 1 of about 5 runs on a loaded host).  The kernel's mmap lock is
 * never held across a return to user space, so these calls cannot wait
 * for a goroutine.
 *
 * Sizes are rounded up to whole pages; the memory reads as zeroes.
 */
#include <sys/mman.h>

#include "internal.h"

size_t kgo_rawmem_round(size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (bytes + page - 1) / page * page;
}

/* @bytes (rounded up to pages) of zeroes, or NULL. */
void *kgo_rawmem_alloc(size_t bytes)
{
	void *p = mmap(NULL, kgo_rawmem_round(bytes), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * @p (of @old bytes, or NULL) grown to @bytes, its contents kept, maybe
 * moved; NULL (and @p untouched) when there is no room.
 */
void *kgo_rawmem_grow(void *p, size_t old, size_t bytes)
{
	void *q;

	if (!p)
		return kgo_rawmem_alloc(bytes);
	q = mremap(p, kgo_rawmem_round(old), kgo_rawmem_round(bytes), MREMAP_MAYMOVE);
	return q == MAP_FAILED ? NULL : q;
}

void kgo_rawmem_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, kgo_rawmem_round(bytes));
}
