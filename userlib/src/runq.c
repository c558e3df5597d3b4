/* SPDX-License-Identifier: MIT */
/*
 * The owner's half of a P's run queue (runnext + KGO_RING_SIZE-slot ring)
 * in the region shared with kgo.ko; the module's half is kmod/runq.c.
 * The protocol is described once, in docs/design.md, "The run-queue
 * rules".  In short: only the P's owner produces (here, or the module
 * inside an ioctl of the M that holds the P), filling slots past tail and
 * then store-releasing tail; any number of consumers (this owner, other
 * Ms inside the module) load-acquire head and tail, read slots, and
 * commit with a fully ordered compare-and-swap of head; runnext is taken
 * by compare-and-swap, and the owner swaps a new G in.
 *
 * Every shared field is accessed with __atomic builtins (internal.h says
 * why); each access names the access it pairs with.  Unlike the module,
 * this half retries without bound (it races only with the module's
 * consumers) and a corrupt ring is fatal.
 */
#include "internal.h"

/*
 * kgo_runqput - put g on P @p's queue: in runnext if @next (kicking the old
 * runnext to the ring's tail), else at the ring's tail.
 * Owner only.  false when the ring is full: *@leftover is the G that still
 * needs a place (the caller does runqputslow).
 */
bool kgo_runqput(struct kgo_shared_p *p, uint64_t g, bool next, uint64_t *leftover)
{
	uint32_t h, t;

	*leftover = 0;
	if (next) {
		/*
		 * Fully ordered exchange: pairs with a stealer's cmpxchg of
		 * runnext (kgo_runqgrab), so the G's state written before is
		 * visible to whoever takes it from runnext.
		 */
		g = __atomic_exchange_n(&p->runnext, g, __ATOMIC_SEQ_CST);
		if (!g)
			return true;
	}
	/*
	 * Acquire: pairs with the consumers' cmpxchg of head, so their reads
	 * of the slots we are about to reuse are finished.
	 */
	h = __atomic_load_n(&p->head, __ATOMIC_ACQUIRE);
	/* Only the owner writes tail: our own last store, no ordering needed. */
	t = __atomic_load_n(&p->tail, __ATOMIC_RELAXED);
	if (t - h < KGO_RING_SIZE) {
		/* Relaxed: a stale consumer may read the slot at once, and its
		 * cmpxchg of head will fail; the release below publishes it. */
		__atomic_store_n(&p->ring[t & KGO_RING_MASK], g, __ATOMIC_RELAXED);
		/* Release: publishes the slot and the G's state; pairs with the
		 * consumers' load-acquire of tail. */
		__atomic_store_n(&p->tail, t + 1, __ATOMIC_RELEASE);
		return true;
	}
	*leftover = g;
	return false;
}

/*
 * kgo_runqget - take the next G: runnext first, then the ring's head.
 * Owner only.  0 when empty.
 */
uint64_t kgo_runqget(struct kgo_shared_p *p)
{
	/* Relaxed: only a hint; the cmpxchg below decides. */
	uint64_t next = __atomic_load_n(&p->runnext, __ATOMIC_RELAXED);

	/*
	 * A stealer may take runnext at the same moment: claim it with a
	 * fully ordered cmpxchg, which pairs with the producer's exchange
	 * (the G's state is visible) and with a stealer's cmpxchg (one wins).
	 */
	if (next && __atomic_compare_exchange_n(&p->runnext, &next, 0, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return next;

	for (;;) {
		/* Acquire: pairs with other consumers' cmpxchg of head. */
		uint32_t h = __atomic_load_n(&p->head, __ATOMIC_ACQUIRE);
		/* Acquire: pairs with the producer's store-release of tail
		 * (ours, or the module's inside our GLOBRUNQGET/STEAL ioctl). */
		uint32_t t = __atomic_load_n(&p->tail, __ATOMIC_ACQUIRE);
		uint64_t g;

		if (t == h)
			return 0;
		if (t - h > KGO_RING_SIZE)
			kgo_fatal("P run queue corrupt (head %u, tail %u)", h, t);
		/* Relaxed: the cmpxchg below validates the read. */
		g = __atomic_load_n(&p->ring[h & KGO_RING_MASK], __ATOMIC_RELAXED);
		/*
		 * Fully ordered cmpxchg commits the consume after the slot
		 * read; pairs with the producer's load-acquire of head (it may
		 * then reuse the slot) and with other consumers' loads of head.
		 */
		if (__atomic_compare_exchange_n(&p->head, &h, h + 1, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return g;
	}
}

/*
 * kgo_runqlen - how many Gs the ring holds (runnext not counted).  Owner
 * only: a hint, as consumers may take some at any time.  Corrupt indices
 * read as 0.
 */
uint32_t kgo_runqlen(struct kgo_shared_p *p)
{
	/* Acquire: pairs with consumers' cmpxchg of head. */
	uint32_t h = __atomic_load_n(&p->head, __ATOMIC_ACQUIRE);
	/* Only the owner (us, or the module inside our ioctl) writes tail. */
	uint32_t t = __atomic_load_n(&p->tail, __ATOMIC_RELAXED);

	return t - h > KGO_RING_SIZE ? 0 : t - h;
}

/*
 * kgo_runqcas_next - put @old back into runnext if it still holds @new.
 * Owner only; used to undo a kgo_runqput(next) whose kicked G found no
 * room anywhere.  Fully ordered, pairing as kgo_runqget's cmpxchg.
 */
bool kgo_runqcas_next(struct kgo_shared_p *p, uint64_t old, uint64_t new)
{
	return __atomic_compare_exchange_n(&p->runnext, &new, old, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}
