// SPDX-License-Identifier: GPL-2.0
/*
 * One P's local run queue, as in Go's runtime: a runnext slot and a
 * KGO_RING_SIZE-slot ring, living in the region shared with the process.
 * This is the module's half; the library's is userlib/src/runq.c.
 *
 * Who may call what:
 *  - Producer operations (kgo_runqput, kgo_runqputbatch, and the
 *    destination side of kgo_runqsteal) run only on behalf of the P's
 *    owner: inside an ioctl of the M that holds the P (that thread is then
 *    not running user code), or on a P that no M holds.
 *  - Consumer operations (kgo_runqget, kgo_runqgrab) may run on any number
 *    of threads at once, while the library in user space does the same.
 *
 * The protocol (what moves where, and the ordering) is described once, in
 * docs/design.md, "The run-queue rules"; each atomic here names what it
 * pairs with.  In short: the producer fills slots and then store-releases
 * tail; consumers load-acquire head and tail, read the slots, and commit
 * with a fully ordered cmpxchg of head; runnext is taken by cmpxchg.
 *
 * Everything here is untrusted: user space can write any value into head,
 * tail, runnext and the slots at any moment.  Every index is masked, every
 * count bounded, every retry loop bounded, and a ring that makes no sense
 * reads as empty.  A corrupt ring can only lose or repeat the owning
 * process's own tokens; it can never make the kernel misbehave.
 */
#include <linux/atomic.h>
#include <linux/minmax.h>

#include "kgo.h"

/* A consumer racing other consumers retries this often, then gives up. */
#define KGO_RUNQ_TRIES	64

/*
 * kgo_runqlen - how many Gs the ring holds (not counting runnext).
 * Any thread.  Returns 0 for a ring whose indices are corrupt.
 */
u32 kgo_runqlen(const struct kgo_shared_p *p)
{
	/* Pairs with consumers' cmpxchg of head. */
	u32 h = smp_load_acquire(&p->head);
	/* Pairs with the owner's store-release of tail. */
	u32 t = smp_load_acquire(&p->tail);

	return t - h > KGO_RING_SIZE ? 0 : t - h;
}

/*
 * kgo_runqempty - whether the P has no G, runnext included.
 * Any thread.  As in Go, head, tail and runnext are not read atomically
 * together, so tail is read twice to know the snapshot was consistent.  A
 * ring that never gives a consistent snapshot within the bound, or whose
 * indices are corrupt, reads as empty, so that callers' loops terminate.
 */
bool kgo_runqempty(const struct kgo_shared_p *p)
{
	int tries;

	for (tries = 0; tries < KGO_RUNQ_TRIES; tries++) {
		/* Acquires pair as in kgo_runqlen(). */
		u32 h = smp_load_acquire(&p->head);
		/* Pairs with the owner's store-release of tail. */
		u32 t = smp_load_acquire(&p->tail);
		u64 next = READ_ONCE(p->runnext);

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
 * kgo_runqput - put g on the P's queue: in runnext if @next, kicking the
 * old runnext to the ring's tail; else at the ring's tail.
 * Owner only.  Returns false when the ring is full, with *@leftover set to
 * the G that still needs a place (the caller does runqputslow); true with
 * *@leftover = 0 otherwise.
 */
bool kgo_runqput(struct kgo_shared_p *p, u64 g, bool next, u64 *leftover)
{
	u32 h, t;

	*leftover = 0;
	if (next) {
		/* Fully ordered: pairs with a stealer's cmpxchg of runnext. */
		g = xchg(&p->runnext, g);
		if (!g)
			return true;
	}
	/* Pairs with consumers' cmpxchg of head: their reads of slots are done. */
	h = smp_load_acquire(&p->head);
	t = READ_ONCE(p->tail);
	if (t - h < KGO_RING_SIZE) {
		WRITE_ONCE(p->ring[t & KGO_RING_MASK], g);
		/* Publishes the slot; pairs with consumers' load-acquire of tail. */
		smp_store_release(&p->tail, t + 1);
		return true;
	}
	*leftover = g;
	return false;
}

/*
 * kgo_runqputbatch - append up to @n Gs to the ring, as many as fit.
 * Owner only.  Returns how many were placed.
 */
u32 kgo_runqputbatch(struct kgo_shared_p *p, const u64 *gs, u32 n)
{
	u32 h = smp_load_acquire(&p->head);	/* pairs as in kgo_runqput */
	u32 t = READ_ONCE(p->tail);
	u32 i, room;

	if (t - h > KGO_RING_SIZE)
		return 0;
	room = KGO_RING_SIZE - (t - h);
	n = min(n, room);
	for (i = 0; i < n; i++)
		WRITE_ONCE(p->ring[(t + i) & KGO_RING_MASK], gs[i]);
	smp_store_release(&p->tail, t + n);	/* publishes the slots */
	return n;
}

/*
 * kgo_runqget - take the next G: runnext first, then the ring's head.
 * Owner only (a stealer uses kgo_runqgrab).  Returns 0 when empty.
 */
u64 kgo_runqget(struct kgo_shared_p *p)
{
	u64 next = READ_ONCE(p->runnext);
	int tries;

	/* A stealer may take runnext at the same moment: claim it by cmpxchg. */
	if (next && cmpxchg(&p->runnext, next, 0) == next)
		return next;

	for (tries = 0; tries < KGO_RUNQ_TRIES; tries++) {
		u32 h = smp_load_acquire(&p->head);	/* pairs with other consumers */
		u32 t = smp_load_acquire(&p->tail);	/* pairs with the producer */
		u64 g;

		if (t == h || t - h > KGO_RING_SIZE)
			return 0;
		g = READ_ONCE(p->ring[h & KGO_RING_MASK]);
		/* Commits the consume; fully ordered, so the slot read is done. */
		if (cmpxchg(&p->head, h, h + 1) == h)
			return g;
	}
	return 0;
}

/*
 * kgo_runqgrab_some - take half of @src's Gs (rounded up), or all of them
 * if @all, into @ring at positions @pos, @pos + 1, ... (masked).  When the
 * ring is empty and @steal_runnext is set, take src's runnext instead: Go
 * does that only on a stealer's last pass, since runnext is about to run
 * on its own P.
 * Any thread.  @ring is either the destination P's ring, whose slots past
 * its tail are invisible to consumers until the owner publishes them, or a
 * private buffer of KGO_RING_SIZE slots.  Returns how many were taken.
 */
static u32 kgo_runqgrab_some(struct kgo_shared_p *src, u64 *ring, u32 pos,
			     bool steal_runnext, bool all)
{
	u32 most = all ? KGO_RING_SIZE : KGO_RING_SIZE / 2;
	int tries;

	for (tries = 0; tries < KGO_RUNQ_TRIES; tries++) {
		u32 h = smp_load_acquire(&src->head);	/* pairs with other consumers */
		u32 t = smp_load_acquire(&src->tail);	/* pairs with the producer */
		u32 n = t - h, i;

		if (!all)
			n -= n / 2;
		if (n == 0) {
			u64 next;

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

/* kgo_runqgrab - half of @src's Gs (see kgo_runqgrab_some).  Any thread. */
u32 kgo_runqgrab(struct kgo_shared_p *src, u64 *ring, u32 pos, bool steal_runnext)
{
	return kgo_runqgrab_some(src, ring, pos, steal_runnext, false);
}

/*
 * kgo_runqgrab_all - every G in @src's ring (not runnext) into @buf, a
 * buffer of KGO_RING_SIZE slots.  Any thread.  Returns how many.
 */
u32 kgo_runqgrab_all(struct kgo_shared_p *src, u64 *buf)
{
	return kgo_runqgrab_some(src, buf, 0, false, true);
}

/*
 * kgo_runqsteal - steal half of @src's Gs into @dst; return one to run.
 * Called on behalf of @dst's owner, for whom the rest stays queued in dst.
 * Returns 0 when nothing was stolen, or when dst lacks room for half a
 * ring (Go only steals into an empty ring; an explicit steal may not be).
 */
u64 kgo_runqsteal(struct kgo_shared_p *dst, struct kgo_shared_p *src, bool steal_runnext)
{
	u32 t = READ_ONCE(dst->tail);
	u32 h = smp_load_acquire(&dst->head);	/* pairs with dst's consumers */
	u32 n;
	u64 g;

	if (t - h > KGO_RING_SIZE / 2)
		return 0;
	n = kgo_runqgrab(src, dst->ring, t, steal_runnext);
	if (n == 0)
		return 0;
	n--;
	g = READ_ONCE(dst->ring[(t + n) & KGO_RING_MASK]);
	if (n)
		/* Publishes the stolen slots to dst's consumers. */
		smp_store_release(&dst->tail, t + n);
	return g;
}
