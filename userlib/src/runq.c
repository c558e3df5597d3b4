/* SPDX-License-Identifier: MIT */
/*
 * The library's side of a P's run queue (runnext + KGO_RING_SIZE-slot
 * ring, shared with kgo.ko): the owner's put, get and runnext undo, and
 * the length.  The module's side is kmod/runq.c, and a name both use
 * means the same operation.  The operations themselves are
 * uapi/kgo_runq_ops.h, the code the module compiles too, built here
 * through katomic.h's mapping of the kernel's atomics; the protocol is
 * docs/design.md, "The run-queue rules".
 *
 * What is the library's own: it races only with the module's consumers,
 * so kgo_runqget retries without bound, and as the owner it knows a ring
 * whose tail - head exceeds KGO_RING_SIZE is corrupt (in the module, such
 * a ring reads as empty), which is fatal.
 */
#include "internal.h"
#include "katomic.h"
#include "kgo_runq_ops.h"

/*
 * kgo_runqput - put g on P @p's queue: in runnext if @next (kicking the old
 * runnext to the ring's tail), else at the ring's tail.
 * Owner only.  false when the ring is full: *@leftover is the G that still
 * needs a place (the caller does runqputslow).
 */
bool kgo_runqput(struct kgo_shared_p *p, uint64_t g, bool next, uint64_t *leftover)
{
	*leftover = kgo_rq_put(p, g, next);
	return !*leftover;
}

/*
 * kgo_runqget - take the next G: runnext first, then the ring's head.
 * Owner only.  0 when empty.
 */
uint64_t kgo_runqget(struct kgo_shared_p *p)
{
	bool corrupt = false;
	uint64_t g = kgo_rq_get(p, KGO_RUNQ_UNBOUNDED, &corrupt);

	if (corrupt)
		kgo_fatal("P run queue corrupt (head %u, tail %u)",
			  READ_ONCE(p->head), READ_ONCE(p->tail));
	return g;
}

/*
 * kgo_runqlen - how many Gs the ring holds (runnext not counted).  Any
 * thread; a hint, as consumers may take some at any time.  Corrupt
 * indices read as 0.
 */
uint32_t kgo_runqlen(struct kgo_shared_p *p)
{
	return kgo_rq_len(p);
}

/*
 * kgo_runqcas_next - put @old back into runnext if it still holds @new.
 * Owner only; used to undo a kgo_runqput(next) whose kicked G found no
 * room anywhere.
 */
bool kgo_runqcas_next(struct kgo_shared_p *p, uint64_t old, uint64_t new)
{
	return kgo_rq_cas_next(p, old, new);
}
