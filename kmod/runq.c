// SPDX-License-Identifier: GPL-2.0
/*
 * The module's side of a P's run queue (runnext and a KGO_RING_SIZE-slot
 * ring, in the region shared with the process); the library's side is
 * userlib/src/runq.c, and a name both use means the same operation.  The
 * operations themselves are uapi/kgo_runq_ops.h, the code libkgo compiles
 * too; the protocol is docs/design.md, "The run-queue rules".  Here they
 * are bound to what the module may assume.
 *
 * Who may call what:
 *  - Producer operations (kgo_runqput, kgo_runqputbatch, and the
 *    destination side of kgo_runqsteal) run only on behalf of the P's
 *    owner: inside an ioctl of the M that holds the P (that thread is then
 *    not running user code), or on a P that no M holds.
 *  - Consumer operations (kgo_runqget, kgo_runqgrab) may run on any number
 *    of threads at once, while the library in user space does the same.
 *
 * Everything here is untrusted: user space can write any value into head,
 * tail, runnext and the slots at any moment.  So every consumer gives up
 * after KGO_RUNQ_TRIES lost races, and a ring whose indices make no sense
 * reads as empty (the library's side dies instead).  A corrupt ring can
 * only lose or repeat the owning process's own tokens; it can never make
 * the kernel misbehave.
 */
#include <linux/atomic.h>

#include "kgo_internal.h"
#include "../uapi/kgo_runq_ops.h"

/*
 * kgo_runqlen - how many Gs the ring holds (not counting runnext).
 * Any thread.  Returns 0 for a ring whose indices are corrupt.
 */
u32 kgo_runqlen(const struct kgo_shared_p *p)
{
	return kgo_rq_len(p);
}

/* kgo_runqempty - whether the P has no G, runnext included (kgo_rq_empty). */
bool kgo_runqempty(const struct kgo_shared_p *p)
{
	return kgo_rq_empty(p);
}

/*
 * kgo_runqput - put g on the P's queue: in runnext if @next, kicking the
 * old runnext to the ring's tail; else at the ring's tail.
 * Owner only.  Returns false when the ring is full, with *@leftover set to
 * the G that still needs a place (the caller does runqputslow); true with
 * *@leftover = 0 otherwise.
 */
bool kgo_runqput(struct kgo_shared_p *p, u64 g, bool next, u64 *leftover)
{
	*leftover = kgo_rq_put(p, g, next);
	return !*leftover;
}

/*
 * kgo_runqputbatch - append up to @n Gs to the ring, as many as fit.
 * Owner only.  Returns how many were placed.
 */
u32 kgo_runqputbatch(struct kgo_shared_p *p, const u64 *gs, u32 n)
{
	return kgo_rq_putbatch(p, gs, n);
}

/*
 * kgo_runqget - take the next G: runnext first, then the ring's head.
 * Owner only (a stealer uses kgo_runqgrab).  Returns 0 when empty, when
 * the ring is corrupt, or after KGO_RUNQ_TRIES lost races.
 */
u64 kgo_runqget(struct kgo_shared_p *p)
{
	return kgo_rq_get(p, KGO_RUNQ_TRIES, NULL);
}

/* kgo_runqgrab - half of @src's Gs (see kgo_rq_grab).  Any thread. */
u32 kgo_runqgrab(struct kgo_shared_p *src, u64 *ring, u32 pos, bool steal_runnext)
{
	return kgo_rq_grab(src, ring, pos, steal_runnext, false);
}

/*
 * kgo_runqgrab_all - every G in @src's ring (not runnext) into @buf, a
 * buffer of KGO_RING_SIZE slots.  Any thread.  Returns how many.
 */
u32 kgo_runqgrab_all(struct kgo_shared_p *src, u64 *buf)
{
	return kgo_rq_grab(src, buf, 0, false, true);
}

/*
 * kgo_runqsteal - steal half of @src's Gs into @dst; return one to run
 * (see kgo_rq_steal).  On behalf of @dst's owner.
 */
u64 kgo_runqsteal(struct kgo_shared_p *dst, struct kgo_shared_p *src, bool steal_runnext)
{
	return kgo_rq_steal(dst, src, steal_runnext);
}
