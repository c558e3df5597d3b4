/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * One P's run queue (struct kgo_shared_p: runnext and a KGO_RING_SIZE-slot
 * ring, in the region kgo.ko shares with the process): the operations, in
 * the one copy that both halves compile.  kgo.ko wraps them in
 * kmod/runq.c, libkgo in userlib/src/runq.c; each wrapper says how its
 * half uses them.  Dual-licensed so that the module takes it as GPL-2.0
 * and libkgo as MIT.
 *
 * Not a uapi header: nothing installs it and a program has no use for it.
 * It sits beside uapi/linux/kgo.h because it is the other half of that
 * interface, and because everything that builds the module (Kbuild, DKMS,
 * scripts/build-module) and the library (-Iuapi) already reads uapi/.
 *
 * It is written with the kernel's atomics: smp_load_acquire,
 * smp_store_release, READ_ONCE, WRITE_ONCE, cmpxchg and xchg.  The
 * includer provides them: the kernel's own (<linux/atomic.h>), or
 * userlib/src/katomic.h, which maps each to a GCC __atomic builtin with
 * the same ordering or a stronger one.  Include one of the two first.
 *
 * The protocol (what moves where, who may call what, and the ordering) is
 * described once, in docs/design.md, "The run-queue rules"; each atomic
 * here names what it pairs with.  In short: only the P's owner produces,
 * filling slots past tail and then store-releasing tail; any number of
 * consumers load-acquire head and tail, read the slots and commit with a
 * fully ordered cmpxchg of head; the owner puts into runnext with xchg,
 * and anyone takes from it with cmpxchg.
 *
 * Nothing read from the region is trusted: every index is masked, every
 * count bounded, and a ring whose tail - head exceeds KGO_RING_SIZE is
 * corrupt.  Where the halves differ, a parameter says so: kgo_rq_get's
 * @tries (the module gives up after KGO_RUNQ_TRIES, the library retries
 * without bound) and @corrupt (the module reads a corrupt ring as empty,
 * the library dies).  The operations only the module uses (kgo_rq_empty,
 * kgo_rq_grab, kgo_rq_steal) run on any thread, where a stale snapshot
 * looks like a corrupt ring, so they are always bounded.
 */
#ifndef _KGO_RUNQ_OPS_H
#define _KGO_RUNQ_OPS_H

#include "linux/kgo.h"

#if !defined(smp_load_acquire) || !defined(smp_store_release) || \
	!defined(READ_ONCE) || !defined(WRITE_ONCE) || !defined(cmpxchg) || !defined(xchg)
#error "include <linux/atomic.h> (kernel) or katomic.h (libkgo) before kgo_runq_ops.h"
#endif

#define KGO_RING_MASK		(KGO_RING_SIZE - 1)

/*
 * The module's bound: a consumer racing other consumers retries this
 * often, then gives up (as if the queue were empty).
 */
#define KGO_RUNQ_TRIES		64
/* kgo_rq_get's @tries for the library's owner: no bound. */
#define KGO_RUNQ_UNBOUNDED	0

/*
 * kgo_rq_len - how many Gs the ring holds (not counting runnext).
 * Any thread; a hint, as consumers may take some at any time.  0 for
 * corrupt indices.
 */
static inline __u32 kgo_rq_len(const struct kgo_shared_p *p)
{
	/* Pairs with consumers' cmpxchg of head. */
	__u32 h = smp_load_acquire(&p->head);
	/* Pairs with the owner's store-release of tail. */
	__u32 t = smp_load_acquire(&p->tail);

	return t - h > KGO_RING_SIZE ? 0 : t - h;
}

/*
 * kgo_rq_empty - whether the P has no G, runnext included.
 * Any thread.  As in Go, head, tail and runnext are not read atomically
 * together, so tail is read twice to know the snapshot was consistent.  A
 * ring that never gives a consistent snapshot within KGO_RUNQ_TRIES, or
 * whose indices are corrupt, reads as empty, so that callers' loops
 * terminate.
 */
static inline bool kgo_rq_empty(const struct kgo_shared_p *p)
{
	int tries;

	for (tries = 0; tries < KGO_RUNQ_TRIES; tries++) {
		/* Pairs with consumers' cmpxchg of head. */
		__u32 h = smp_load_acquire(&p->head);
		/* Pairs with the owner's store-release of tail. */
		__u32 t = smp_load_acquire(&p->tail);
		__u64 next = READ_ONCE(p->runnext);

		/* Re-read: the same pairing; tail unchanged means consistent. */
		if (smp_load_acquire(&p->tail) != t)
			continue;
		if (t - h > KGO_RING_SIZE)
			return true;
		return h == t && !next;
	}
	return true;
}

/*
 * kgo_rq_put - put @g (non-zero) on the P's queue: in runnext if @next,
 * kicking the old runnext to the ring's tail; else at the ring's tail.
 * Owner only.  Returns 0 once every G has a place, else the G that still
 * needs one (@g, or with @next the kicked runnext): the ring is full, or
 * corrupt, and the caller does runqputslow.
 */
static inline __u64 kgo_rq_put(struct kgo_shared_p *p, __u64 g, bool next)
{
	__u32 h, t;

	if (next) {
		/*
		 * Fully ordered: pairs with a consumer's cmpxchg of runnext
		 * (kgo_rq_get, kgo_rq_grab), so the G's state written before
		 * is visible to whoever takes it from runnext.
		 */
		g = xchg(&p->runnext, g);
		if (!g)
			return 0;
	}
	/*
	 * Acquire: pairs with consumers' cmpxchg of head, so their reads of
	 * the slots about to be reused are finished.
	 */
	h = smp_load_acquire(&p->head);
	/* Only the owner writes tail: its own last store, no ordering needed. */
	t = READ_ONCE(p->tail);
	if (t - h < KGO_RING_SIZE) {
		/*
		 * A stale consumer may read the slot at once: its cmpxchg of
		 * head fails.  The release below publishes the slot.
		 */
		WRITE_ONCE(p->ring[t & KGO_RING_MASK], g);
		/*
		 * Publishes the slot and the G's state; pairs with consumers'
		 * load-acquire of tail.
		 */
		smp_store_release(&p->tail, t + 1);
		return 0;
	}
	return g;
}

/*
 * kgo_rq_putbatch - append up to @n Gs to the ring, as many as fit.
 * Owner only.  Returns how many were placed: none into a corrupt ring.
 */
static inline __u32 kgo_rq_putbatch(struct kgo_shared_p *p, const __u64 *gs, __u32 n)
{
	__u32 h = smp_load_acquire(&p->head);	/* pairs as in kgo_rq_put */
	__u32 t = READ_ONCE(p->tail);
	__u32 i, room;

	if (t - h > KGO_RING_SIZE)
		return 0;
	room = KGO_RING_SIZE - (t - h);
	if (n > room)
		n = room;
	for (i = 0; i < n; i++)
		WRITE_ONCE(p->ring[(t + i) & KGO_RING_MASK], gs[i]);
	smp_store_release(&p->tail, t + n);	/* publishes the slots */
	return n;
}

/*
 * kgo_rq_get - take the next G: runnext first, then the ring's head.
 * Owner only (a stealer uses kgo_rq_grab), which is what lets it tell a
 * corrupt ring from a stale snapshot: nobody else moves tail meanwhile.
 * Gives up after @tries lost races (KGO_RUNQ_UNBOUNDED: never).  Returns
 * 0 when empty; on corrupt indices sets *@corrupt, if @corrupt is given,
 * and returns 0.
 */
static inline __u64 kgo_rq_get(struct kgo_shared_p *p, unsigned int tries, bool *corrupt)
{
	/* Only a hint; the cmpxchg below decides. */
	__u64 next = READ_ONCE(p->runnext);
	unsigned int i;

	/*
	 * A stealer may take runnext at the same moment: claim it with a
	 * fully ordered cmpxchg, which pairs with the owner's xchg (the G's
	 * state is visible) and with a stealer's cmpxchg (one wins).
	 */
	if (next && cmpxchg(&p->runnext, next, 0) == next)
		return next;

	for (i = 0; tries == KGO_RUNQ_UNBOUNDED || i < tries; i++) {
		/* Pairs with other consumers' cmpxchg of head. */
		__u32 h = smp_load_acquire(&p->head);
		/*
		 * Pairs with the producer's store-release of tail (the
		 * library's, or the module's inside an ioctl of the owner).
		 */
		__u32 t = smp_load_acquire(&p->tail);
		__u64 g;

		if (t == h)
			return 0;
		if (t - h > KGO_RING_SIZE) {
			if (corrupt)
				*corrupt = true;
			return 0;
		}
		/* The cmpxchg below validates the read. */
		g = READ_ONCE(p->ring[h & KGO_RING_MASK]);
		/*
		 * Commits the consume, fully ordered, after the slot read;
		 * pairs with the producer's load-acquire of head (it may then
		 * reuse the slot) and with other consumers' loads of head.
		 */
		if (cmpxchg(&p->head, h, h + 1) == h)
			return g;
	}
	return 0;
}

/*
 * kgo_rq_grab - take half of @src's Gs (rounded up), or all of them if
 * @all, into @ring at positions @pos, @pos + 1, ... (masked).  When the
 * ring is empty and @steal_runnext is set, take src's runnext instead: Go
 * does that only on a stealer's last pass, since runnext is about to run
 * on its own P.
 * Any thread.  @ring is either the destination P's ring, whose slots past
 * its tail are invisible to consumers until the owner publishes them, or a
 * private buffer of KGO_RING_SIZE slots.  Returns how many were taken.
 */
static inline __u32 kgo_rq_grab(struct kgo_shared_p *src, __u64 *ring, __u32 pos,
				bool steal_runnext, bool all)
{
	__u32 most = all ? KGO_RING_SIZE : KGO_RING_SIZE / 2;
	int tries;

	for (tries = 0; tries < KGO_RUNQ_TRIES; tries++) {
		__u32 h = smp_load_acquire(&src->head);	/* pairs with other consumers */
		__u32 t = smp_load_acquire(&src->tail);	/* pairs with the producer */
		__u32 n = t - h, i;

		if (!all)
			n -= n / 2;
		if (n == 0) {
			__u64 next;

			if (!steal_runnext)
				return 0;
			next = READ_ONCE(src->runnext);
			/* Pairs with the owner's xchg/cmpxchg of runnext. */
			if (!next || cmpxchg(&src->runnext, next, 0) != next)
				return 0;
			WRITE_ONCE(ring[pos & KGO_RING_MASK], next);
			return 1;
		}
		/* Head and tail read at different moments, or corrupt. */
		if (n > most)
			continue;
		for (i = 0; i < n; i++)
			WRITE_ONCE(ring[(pos + i) & KGO_RING_MASK],
				   READ_ONCE(src->ring[(h + i) & KGO_RING_MASK]));
		/* Commits the consume; fully ordered, after the slot reads. */
		if (cmpxchg(&src->head, h, h + n) == h)
			return n;
	}
	return 0;
}

/*
 * kgo_rq_steal - steal half of @src's Gs into @dst; return one to run.
 * Called on behalf of @dst's owner, for whom the rest stays queued in dst.
 * Returns 0 when nothing was stolen, or when dst lacks room for half a
 * ring (Go only steals into an empty ring; an explicit steal may not be).
 */
static inline __u64 kgo_rq_steal(struct kgo_shared_p *dst, struct kgo_shared_p *src,
				 bool steal_runnext)
{
	__u32 t = READ_ONCE(dst->tail);
	__u32 h = smp_load_acquire(&dst->head);	/* pairs with dst's consumers */
	__u32 n;
	__u64 g;

	if (t - h > KGO_RING_SIZE / 2)
		return 0;
	n = kgo_rq_grab(src, dst->ring, t, steal_runnext, false);
	if (n == 0)
		return 0;
	n--;
	g = READ_ONCE(dst->ring[(t + n) & KGO_RING_MASK]);
	if (n)
		/* Publishes the stolen slots to dst's consumers. */
		smp_store_release(&dst->tail, t + n);
	return g;
}

/*
 * kgo_rq_cas_next - put @old back into runnext if it still holds @new:
 * undoes a kgo_rq_put(next) whose kicked G found no room anywhere.
 * Owner only.  Fully ordered, pairing as kgo_rq_get's cmpxchg.
 */
static inline bool kgo_rq_cas_next(struct kgo_shared_p *p, __u64 old, __u64 new)
{
	return cmpxchg(&p->runnext, new, old) == new;
}

#endif /* _KGO_RUNQ_OPS_H */
