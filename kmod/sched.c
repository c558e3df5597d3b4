// SPDX-License-Identifier: GPL-2.0
/*
 * The cross-thread half of the scheduler: findrunnable's slow path (the
 * global queue, then stealing), stopm and startm (sleeping and waking Ms),
 * wakep, and the global queue's batches.  This is where the PARK, READY,
 * WAKEP, RUNQPUTSLOW, GLOBRUNQGET and STEAL ioctls end up (kgo_ioc_park,
 * ...).  The other half, what an M does with its own P, is libkgo's
 * userlib/src/sched.c.
 *
 * Spinning Ms and the lost-wakeup invariant (after Go's proc.go).
 *
 * An M is "spinning" while it looks for work with no G in hand; such Ms are
 * counted in nmspinning, which lives in the shared region so the library
 * reads the very counter the module updates.  Whoever makes a G runnable
 * (the library after a runqput, or READY here) then checks
 * "npidle != 0 && nmspinning == 0" and, if so, calls wakep, which starts
 * one spinning M on an idle P.  At most one M is started that way at a
 * time; a spinning M that finds work and was the last spinner calls wakep
 * itself (kgo_resetspinning), so work fans out one M at a time.
 *
 * The race to close: a spinning M gives up just as a G is queued.  The
 * producer stores the G (tail store-release), executes a full barrier and
 * loads nmspinning; the giving-up M decrements nmspinning (the decrement
 * is followed by a full barrier) and then re-reads every ring and the
 * global queue.  By the store-buffering rule at least one of them sees the
 * other's store: either the producer sees no spinner and calls wakep, or
 * the M sees the G and tries again.  The idle-P count is published under
 * inst->lock before the decrement, so the same argument covers npidle.
 *
 * Two more holes are closed under inst->lock in kgo_mpark: a G put in the
 * global queue by READY before the M got onto the idle list, and a wakep
 * that found an idle P but no idle M (wakep_pending).  In both cases the
 * M takes an idle P instead of sleeping.
 */
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/wait.h>

#include "kgo_internal.h"
#include "trace.h"

/* Mirrors the lock-protected counters into the shared region.  Lock held. */
void kgo_publish_locked(struct kgo_inst *inst)
{
	lockdep_assert_held(&inst->lock);
	WRITE_ONCE(inst->ss->nprocs, inst->nprocs);
	WRITE_ONCE(inst->ss->npidle, inst->npidle);
	WRITE_ONCE(inst->ss->nmidle, inst->nmidle);
	WRITE_ONCE(inst->ss->gq_len, inst->gq.len);
}

/* Puts @p on the idle list.  Lock held; no M holds @p any more. */
void kgo_pidleput(struct kgo_inst *inst, struct kgo_p *p)
{
	lockdep_assert_held(&inst->lock);
	/* Twice on the list would corrupt it: a P is idled from one place. */
	if (WARN_ON_ONCE(!list_empty(&p->idle_link)))
		return;
	p->m = NULL;
	p->status = KGO_P_IDLE;
	WRITE_ONCE(p->sh->status, KGO_P_IDLE);
	list_add(&p->idle_link, &inst->pidle);
	inst->npidle++;
}

/* Takes a P off the idle list, or NULL.  Lock held. */
struct kgo_p *kgo_pidleget(struct kgo_inst *inst)
{
	struct kgo_p *p;

	lockdep_assert_held(&inst->lock);
	p = list_first_entry_or_null(&inst->pidle, struct kgo_p, idle_link);
	if (p) {
		list_del_init(&p->idle_link);
		inst->npidle--;
	}
	return p;
}

/*
 * @m now holds @p.  Lock held.  A P that procresize removed while it was
 * being handed over stays dead, so that kgo_ioc_park drains and drops it.
 */
void kgo_acquirep(struct kgo_km *m, struct kgo_p *p)
{
	lockdep_assert_held(&m->inst->lock);
	p->m = m;
	m->p = p;
	if (p->status != KGO_P_DEAD) {
		p->status = KGO_P_RUNNING;
		WRITE_ONCE(p->sh->status, KGO_P_RUNNING);
	}
	WRITE_ONCE(m->sh->p, p->id);
}

/* @m lets go of its P and returns it.  Lock held. */
struct kgo_p *kgo_releasep(struct kgo_km *m)
{
	struct kgo_p *p = m->p;

	lockdep_assert_held(&m->inst->lock);
	m->p = NULL;
	WRITE_ONCE(m->sh->p, KGO_NO_P);
	if (p)
		p->m = NULL;
	return p;
}

/* @m starts spinning.  Called by the M itself, or by startm for it. */
static void kgo_startspinning(struct kgo_inst *inst, struct kgo_km *m)
{
	if (!m->spinning) {
		m->spinning = true;
		atomic_inc(kgo_nmspinning(inst));
	}
}

/*
 * kgo_stopspinning - @m stops spinning; returns whether it was.
 * The M itself only.  The fully ordered atomic_dec_return is the barrier
 * the lost-wakeup argument above relies on: it orders the decrement (and
 * the idle-P count published before it) before the caller's re-reads of
 * the rings, pairing with the producer's fence between its tail store
 * and its nmspinning load.
 */
static bool kgo_stopspinning(struct kgo_inst *inst, struct kgo_km *m, int *left)
{
	if (!m->spinning)
		return false;
	m->spinning = false;
	*left = atomic_dec_return(kgo_nmspinning(inst));
	return true;
}

/*
 * kgo_resetspinning - a spinning M found work.  If it was the last spinner,
 * start another, in case there is more work (Go's resetspinning).
 * The M itself, no lock held.
 */
static void kgo_resetspinning(struct kgo_inst *inst, struct kgo_km *m)
{
	int left;

	if (kgo_stopspinning(inst, m, &left) && left == 0)
		kgo_ioc_wakep(inst);
}

/*
 * An M that gave its P back in findrunnable, or attached without one, is
 * on its way to stopm's idle list: counted in nmstopping until it gets
 * there (or takes a P, or detaches),
 * so that the spare-M pool (m.c, kgo_ms_wanted) does not start a thread
 * for a gap that closes by itself.  Without it every wakep that found
 * the pool at its size while Ms were between the two locked sections
 * left one M more behind for good.  Lock held.
 */
void kgo_stopping_begin_locked(struct kgo_inst *inst, struct kgo_km *m)
{
	lockdep_assert_held(&inst->lock);
	if (!m->stopping) {
		m->stopping = true;
		WRITE_ONCE(inst->nmstopping, inst->nmstopping + 1);
	}
}

/* @m has arrived in stopm, took a P, or is leaving.  Lock held. */
void kgo_stopping_end_locked(struct kgo_inst *inst, struct kgo_km *m)
{
	lockdep_assert_held(&inst->lock);
	if (m->stopping) {
		m->stopping = false;
		WRITE_ONCE(inst->nmstopping, inst->nmstopping - 1);
	}
}

/* Takes an M off the idle list, or NULL.  Lock held. */
static struct kgo_km *kgo_midleget(struct kgo_inst *inst)
{
	struct kgo_km *m;

	lockdep_assert_held(&inst->lock);
	m = list_first_entry_or_null(&inst->midle, struct kgo_km, idle_link);
	if (m) {
		list_del_init(&m->idle_link);
		m->idle = false;
		inst->nmidle--;
		kgo_wantm_kick(inst);
	}
	return m;
}

/*
 * kgo_startm_locked - hand @p to an idle M and wake it (Go's startm).
 * Lock held (wake_up is fine under a spinlock).  If @spinning, the caller
 * has already counted the M in nmspinning.  Returns false when no M is
 * idle; the caller keeps @p.
 */
bool kgo_startm_locked(struct kgo_inst *inst, struct kgo_p *p, bool spinning)
{
	struct kgo_km *m;

	lockdep_assert_held(&inst->lock);
	m = kgo_midleget(inst);
	if (!m)
		return false;
	m->nextp = p;
	p->m = m;
	p->status = KGO_P_RUNNING;
	WRITE_ONCE(p->sh->status, KGO_P_RUNNING);
	m->spinning = spinning;
	m->woken = true;
	wake_up(&m->wq);
	atomic64_inc(&inst->stats.wakeups);
	return true;
}

/*
 * kgo_ioc_wakep - the WAKEP ioctl, and Go's wakep for the module's own
 * callers: start one spinning M on an idle P, unless an M already spins.
 * Any thread of the owning process (or a test); no lock held.
 */
void kgo_ioc_wakep(struct kgo_inst *inst)
{
	atomic_t *spinning = kgo_nmspinning(inst);
	struct kgo_p *p;

	/* Be conservative: only one M is woken to spin at a time. */
	if (atomic_read(spinning) != 0 || atomic_cmpxchg(spinning, 0, 1) != 0)
		return;
	spin_lock(&inst->lock);
	p = inst->dying ? NULL : kgo_pidleget(inst);
	if (p && !kgo_startm_locked(inst, p, true)) {
		/*
		 * No idle M: an M waiting for a P with its G can run at once
		 * (it spins not).  Else the next M to reach stopm takes it.
		 */
		if (!kgo_startlockedm_any_locked(inst, p)) {
			kgo_pidleput(inst, p);
			inst->wakep_pending = true;
		}
		p = NULL;
	}
	if (!p)
		atomic_dec(spinning);
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);
}

/*
 * kgo_globrunqget_locked - take a batch from the global queue for @m's P:
 * one G to return and up to the rest of the batch into the P's ring.  The
 * batch is Go's, at most len/nprocs + 1 and at most @max if non-zero, but
 * up to as much as the ring has room for, not half a ring: each batch is
 * a system call (KGO_BATCH_MAX).
 * Lock held; @m holds @p and is the calling thread.
 */
static u64 kgo_globrunqget_locked(struct kgo_inst *inst, struct kgo_km *m,
				  struct kgo_p *p, u32 max)
{
	u32 n = inst->gq.len, room, i;
	u64 g;

	lockdep_assert_held(&inst->lock);
	if (!n)
		return 0;
	n = min(n, n / inst->nprocs + 1);
	if (max)
		n = min(n, max);
	g = kgo_gq_pop(&inst->gq);
	room = KGO_RING_SIZE - kgo_runqlen(p->sh);
	n = min(n - 1, room);
	for (i = 0; i < n; i++)
		m->batch[i] = kgo_gq_pop(&inst->gq);
	/*
	 * The owner is inside this ioctl, so room cannot shrink; only a
	 * process corrupting its own ring could make this place fewer.
	 */
	kgo_runqputbatch(p->sh, m->batch, n);
	atomic64_add(n + 1, &inst->stats.gq_gets);
	trace_kgo_global_batch(inst, p, false, n + 1);
	kgo_publish_locked(inst);
	return g;
}

/*
 * kgo_gq_put - append @n Gs (or, with @token, the one locked-M token at
 * @gs, past the limit: kgo_gq_push_token) to the global queue, all or
 * none.  Process context, no lock held (it allocates).
 */
static int kgo_gq_put(struct kgo_inst *inst, const u64 *gs, u32 n, bool token)
{
	struct kgo_gq_prealloc pa = {};
	int err;

	for (;;) {
		u32 need;

		spin_lock(&inst->lock);
		need = kgo_gq_chunks_needed(&inst->gq, n);
		if (need <= kgo_gq_prealloc_count(&pa)) {
			err = token ? kgo_gq_push_token(&inst->gq, gs[0], &pa) :
				      kgo_gq_push(&inst->gq, gs, n, &pa);
			kgo_publish_locked(inst);
			spin_unlock(&inst->lock);
			break;
		}
		spin_unlock(&inst->lock);
		err = kgo_gq_prealloc_fill(&pa, need);
		if (err)
			break;
	}
	kgo_gq_prealloc_free(&pa);
	if (!err)
		atomic64_add(n, &inst->stats.gq_puts);
	return err;
}

/*
 * kgo_globrunqputbatch - append @n Gs to the global queue, all or none
 * (Go's globrunqputbatch).  Process context, no lock held (it allocates).
 * -ENOSPC past the limit.
 */
int kgo_globrunqputbatch(struct kgo_inst *inst, const u64 *gs, u32 n)
{
	return kgo_gq_put(inst, gs, n, false);
}

/*
 * kgo_gq_put_token - a locked-M token back to the global queue, past its
 * limit if need be.  Process context, no lock held.  0 or -ENOMEM.
 */
int kgo_gq_put_token(struct kgo_inst *inst, u64 tok)
{
	return kgo_gq_put(inst, &tok, 1, true);
}

/*
 * How long a stealer leaves a running P's runnext alone before taking it
 * (Go's 3us): a G that was just readied there, typically the partner of a
 * channel handoff, is about to run on its own P when the current G blocks,
 * with its caches warm and without waking anyone.  Taking it at once makes
 * every round trip of a two-P ping-pong cross Ms (a park, a wakeup and a
 * steal per exchange).
 */
#define KGO_RUNNEXT_GRACE_US	3

/*
 * kgo_runnext_grace - on the last stealing pass, wait once before taking
 * runnext from @victim if that looks worth it: the victim's P is running
 * (a racy read of a status written under inst->lock: only a hint), its
 * ring is empty and its runnext holds a G.  Sleeps (an hrtimer, not a
 * busy wait).  The M's own thread, no lock held.  Returns whether it
 * waited, so that a stealing run waits at most once.
 */
static bool kgo_runnext_grace(struct kgo_p *victim)
{
	if (READ_ONCE(victim->status) != KGO_P_RUNNING ||
	    kgo_runqlen(victim->sh) || !READ_ONCE(victim->sh->runnext))
		return false;
	usleep_range(KGO_RUNNEXT_GRACE_US, 2 * KGO_RUNNEXT_GRACE_US);
	return true;
}

/*
 * kgo_stealwork - up to four passes over the other Ps in random order,
 * stealing half of a ring; the last pass may take a runnext, after a
 * grace period (kgo_runnext_grace).
 * The M holding @p, no lock held; may sleep.  Returns a G, or 0.
 */
static u64 kgo_stealwork(struct kgo_inst *inst, struct kgo_p *p)
{
	u32 nprocs = READ_ONCE(inst->nprocs);
	bool waited = false;
	int pass;

	might_sleep();
	for (pass = 0; pass < 4; pass++) {
		u32 start = get_random_u32() % nprocs, i;

		for (i = 0; i < nprocs; i++) {
			struct kgo_p *victim = &inst->ps[(start + i) % nprocs];
			u64 g;

			if (victim == p)
				continue;
			if (pass == 3 && !waited)
				waited = kgo_runnext_grace(victim);
			g = kgo_runqsteal(p->sh, victim->sh, pass == 3);
			if (g) {
				u32 n = kgo_runqlen(p->sh) + 1;

				atomic64_inc(&inst->stats.steals);
				atomic64_add(n, &inst->stats.stolen);
				trace_kgo_steal(inst, p, victim, n, g);
				return g;
			}
		}
	}
	return 0;
}

/* Whether any P's queue or the global queue holds a G.  Any thread; racy. */
bool kgo_anywork(struct kgo_inst *inst)
{
	u32 nprocs = READ_ONCE(inst->nprocs), i;

	if (READ_ONCE(inst->gq.len))
		return true;
	for (i = 0; i < nprocs; i++)
		if (!kgo_runqempty(inst->ps[i].sh))
			return true;
	return false;
}

/*
 * kgo_findrunnable - the slow half of Go's findrunnable for @m, which
 * holds a P whose local queue the library found empty.  Tries the local
 * queue once more, the global queue, then stealing (only while fewer than
 * half the busy Ps have a spinning M).  On failure it releases the P, and
 * if it was spinning re-checks for work (see the top of this file) and
 * goes round again with a new P if there is some.
 * The M's own thread, inside kgo_m_enter() (so m->p, cached in @p, moves
 * only here), no lock held.  Returns a G (m->p set), or 0 (m->p NULL).
 */
static u64 kgo_findrunnable(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_p *p;
	int left;
	u64 g;

top:
	p = m->p;
	g = kgo_runqget(p->sh);
	if (g)
		return g;
	if (READ_ONCE(inst->gq.len)) {
		spin_lock(&inst->lock);
		g = kgo_globrunqget_locked(inst, m, p, 0);
		spin_unlock(&inst->lock);
		if (g)
			return g;
	}
	if (m->spinning || 2 * atomic_read(kgo_nmspinning(inst)) <
	    (int)(READ_ONCE(inst->nprocs) - READ_ONCE(inst->npidle))) {
		kgo_startspinning(inst, m);
		g = kgo_stealwork(inst, p);
		if (g)
			return g;
	}

	spin_lock(&inst->lock);
	if (inst->gq.len && !inst->dying) {
		g = kgo_globrunqget_locked(inst, m, p, 0);
		spin_unlock(&inst->lock);
		return g;
	}
	kgo_releasep(m);
	if (p->status != KGO_P_DEAD)
		kgo_pidleput(inst, p);
	kgo_stopping_begin_locked(inst, m);
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);

	/*
	 * Round again only for a thread that can still use a G: each round
	 * may find the work it saw gone again (or a corrupt ring that only
	 * looks non-empty), so a dying thread must not stay in this loop.
	 */
	if (kgo_stopspinning(inst, m, &left) && kgo_anywork(inst) &&
	    !fatal_signal_pending(current)) {
		spin_lock(&inst->lock);
		p = inst->dying ? NULL : kgo_pidleget(inst);
		if (p) {
			kgo_stopping_end_locked(inst, m);
			kgo_acquirep(m, p);
			kgo_startspinning(inst, m);
		}
		kgo_publish_locked(inst);
		spin_unlock(&inst->lock);
		if (p) {
			cond_resched();
			goto top;
		}
	}
	return 0;
}

/*
 * The condition an M in stopm sleeps on.  Read without the lock: woken and
 * dying are written under inst->lock before the wake_up(), whose barrier
 * orders them before this re-check (the usual waitqueue pairing).
 */
static bool kgo_m_should_wake(struct kgo_inst *inst, struct kgo_km *m)
{
	return READ_ONCE(m->woken) || READ_ONCE(inst->dying);
}

/*
 * kgo_mpark - put @m, which holds no P, to sleep until startm hands it one
 * (Go's stopm, and the mPark in it).  The M's own thread, no lock held;
 * sleeps interruptibly, so a signal (SIGKILL included) wakes it.  Returns
 * 0 with m->p set, -ERESTARTSYS on a signal, -ETIMEDOUT, or -ESHUTDOWN.
 */
static int kgo_mpark(struct kgo_inst *inst, struct kgo_km *m, u64 timeout_ns)
{
	struct kgo_p *p;
	int left;
	long ret;

	/*
	 * An M that goes to sleep spins no more.  One can still count as
	 * spinning here when the P it spun with was removed (kgo_ioc_park drops
	 * a dead P without looking for work): left counted, nmspinning
	 * would keep every wakep away for good.  As a spinner that gives
	 * up, it has another look at the work (the top of this file).
	 */
	if (kgo_stopspinning(inst, m, &left) && !left && kgo_anywork(inst))
		kgo_ioc_wakep(inst);

	spin_lock(&inst->lock);
	kgo_stopping_end_locked(inst, m);
	if (inst->dying) {
		spin_unlock(&inst->lock);
		return -ESHUTDOWN;
	}
	if (inst->gq.len || inst->wakep_pending) {
		p = kgo_pidleget(inst);
		if (p) {
			inst->wakep_pending = false;
			kgo_acquirep(m, p);
			kgo_startspinning(inst, m);
			kgo_publish_locked(inst);
			spin_unlock(&inst->lock);
			return 0;
		}
	}
	m->woken = false;
	m->idle = true;
	list_add(&m->idle_link, &inst->midle);
	inst->nmidle++;
	kgo_publish_locked(inst);
	trace_kgo_park(inst, m);
	spin_unlock(&inst->lock);
	atomic64_inc(&inst->stats.parks);

	/* Past KTIME_MAX (292 years) is no limit, not a negative one. */
	if (timeout_ns && timeout_ns <= (u64)KTIME_MAX)
		ret = wait_event_interruptible_hrtimeout(m->wq, kgo_m_should_wake(inst, m),
							 ns_to_ktime(timeout_ns));
	else
		ret = wait_event_interruptible(m->wq, kgo_m_should_wake(inst, m));

	spin_lock(&inst->lock);
	if (m->woken) {
		/* startm took us off the idle list and counted our spinning. */
		p = m->nextp;
		m->nextp = NULL;
		m->woken = false;
		kgo_acquirep(m, p);
		trace_kgo_unpark(inst, m, p);
		spin_unlock(&inst->lock);
		return 0;
	}
	if (m->idle) {
		list_del_init(&m->idle_link);
		m->idle = false;
		inst->nmidle--;
	}
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);
	if (READ_ONCE(inst->dying))
		return -ESHUTDOWN;
	if (ret == -ETIME)
		return -ETIMEDOUT;
	return ret ? (int)ret : -EINTR;
}

/*
 * kgo_park_locked_flags - the PARK flags for an M that keeps its G
 * (lockedm.c).  EXITSYSCALL and YIELDLOCKED return with a P for the same
 * G; RELEASEP returns without one.  The M's own thread, no lock held.
 */
static int kgo_park_locked_flags(struct kgo_inst *inst, struct kgo_km *m, u32 flags)
{
	int err;

	if (flags & KGO_PARK_RELEASEP) {
		kgo_releasep_handoff(inst, m);
		return 0;
	}
	if ((flags & KGO_PARK_YIELDLOCKED) && m->p)
		kgo_preempt_in_place(inst, m, false);
	if (m->p)
		return 0;
	err = kgo_waitp(inst, m);
	/* The library asked from its own code: it goes on in LIB. */
	if (!err)
		WRITE_ONCE(m->sh->state, KGO_MS_LIB);
	return err;
}

/*
 * kgo_ioc_park - the PARK ioctl: find a G for @m to run, sleeping without a P
 * for as long as there is none.  The M's own thread, no lock held.
 * On success *@g is the G and m->p the P to run it on (possibly another P
 * than the one the M came in with).  A locked-M token found on the way is
 * served here (startlockedm): PARK never returns one.  With
 * KGO_PARK_STARTLOCKEDM, *@g is such a token the library found.  The
 * flags of an M that keeps its G: kgo_park_locked_flags.
 */
int kgo_ioc_park(struct kgo_inst *inst, struct kgo_km *m, u32 flags, u64 timeout_ns, u64 *g)
{
	int err;

	if (flags & (KGO_PARK_EXITSYSCALL | KGO_PARK_YIELDLOCKED | KGO_PARK_RELEASEP)) {
		*g = 0;
		return kgo_park_locked_flags(inst, m, flags);
	}
	if (flags & KGO_PARK_STARTLOCKEDM) {
		kgo_resetspinning(inst, m);
		kgo_startlockedm(inst, m, *g);
		*g = 0;
	}

	for (;;) {
		/* A hint; kgo_dropdeadp decides under the lock. */
		if (m->p && READ_ONCE(m->p->status) == KGO_P_DEAD)
			kgo_dropdeadp(inst, m);
		if (m->p) {
			*g = kgo_findrunnable(inst, m);
			if (*g) {
				kgo_resetspinning(inst, m);
				if (KGO_TOKEN_IS_LOCKEDM(*g)) {
					/* Handed over, or stale: either way, look again. */
					kgo_startlockedm(inst, m, *g);
					*g = 0;
					continue;
				}
				/*
				 * SET_NPROCS may have removed the P while we
				 * looked.  A G made runnable after SET_NPROCS
				 * returned was found through an acquire (the
				 * ring's tail, or inst->lock), which orders
				 * this read after the DEAD mark: such a G never
				 * runs on a removed P.  It goes back to the
				 * global queue; the loop drops the P.
				 */
				if (!m->p || READ_ONCE(m->p->status) != KGO_P_DEAD ||
				    kgo_globrunqputbatch(inst, g, 1))
					return 0;
				continue;
			}
		}
		if (flags & KGO_PARK_NOWAIT) {
			spin_lock(&inst->lock);
			kgo_stopping_end_locked(inst, m);
			spin_unlock(&inst->lock);
			return -EAGAIN;
		}
		err = kgo_mpark(inst, m, timeout_ns);
		if (err)
			return err;
	}
}

/*
 * kgo_ioc_ready - the READY ioctl: make @g runnable from any thread of the
 * process, M or not.  It goes to the global queue, and an idle P is
 * woken for it (Go's injectglist/wakep).  No lock held.
 */
int kgo_ioc_ready(struct kgo_inst *inst, u64 g)
{
	return kgo_ioc_ready_batch(inst, &g, 1);
}

/*
 * kgo_ioc_ready_batch - READY of @n Gs at once (the library's poller
 * readies everything one epoll_wait returned): all to the global queue or
 * none (-ENOSPC), one wakep for them all; the woken M, finding work while
 * spinning, starts the next (kgo_resetspinning), so they fan out as in
 * Go's injectglist.  @gs is a kernel copy of user input, @n at most
 * KGO_BATCH_MAX: a zero token is -EINVAL (nothing queued), any other
 * value is the process's own business.  No lock held.
 */
int kgo_ioc_ready_batch(struct kgo_inst *inst, const u64 *gs, u32 n)
{
	int err;
	u32 i;

	for (i = 0; i < n; i++)
		if (!gs[i])
			return -EINVAL;
	err = kgo_globrunqputbatch(inst, gs, n);
	if (err)
		return err;
	atomic64_inc(&inst->stats.readies);
	trace_kgo_ready(inst, gs[0]);
	kgo_ioc_wakep(inst);
	return 0;
}

/*
 * kgo_ioc_runqputslow - the RUNQPUTSLOW ioctl: @m's ring is full, so move it
 * plus @g to the global queue in one batch (Go's runqputslow, which moves
 * half: see KGO_BATCH_MAX).  The M's own thread, inside kgo_m_enter().
 * If the global queue is full the Gs are put back and -ENOSPC returned:
 * @g was not queued.
 */
int kgo_ioc_runqputslow(struct kgo_inst *inst, struct kgo_km *m, u64 g)
{
	struct kgo_p *p = m->p;	/* stable: inside kgo_m_enter() */
	struct kgo_shared_p *sh;
	int tries, err;
	u64 left;
	u32 n;

	if (!p)
		return -EBADSLT;
	if (!g)
		return -EINVAL;
	sh = p->sh;
	for (tries = 0; tries < 8; tries++) {
		/* Stealers may have made room since the library looked. */
		if (kgo_runqput(sh, g, false, &left))
			return 0;
		n = kgo_runqgrab_all(sh, m->batch);
		if (n)
			break;
	}
	if (!n)
		return -EAGAIN;
	m->batch[n] = g;
	err = kgo_globrunqputbatch(inst, m->batch, n + 1);
	if (err)
		kgo_runqputbatch(sh, m->batch, n);
	else
		trace_kgo_global_batch(inst, p, true, n + 1);
	return err;
}

/* The GLOBRUNQGET ioctl: the 61st-tick rule.  The M's own thread. */
int kgo_ioc_globrunqget(struct kgo_inst *inst, struct kgo_km *m, u64 *g)
{
	struct kgo_p *p = m->p;	/* stable: inside kgo_m_enter() */

	if (!p)
		return -EBADSLT;
	spin_lock(&inst->lock);
	*g = kgo_globrunqget_locked(inst, m, p, 0);
	spin_unlock(&inst->lock);
	return *g ? 0 : -EAGAIN;
}

/* The STEAL ioctl: one stealing run for @m's P.  The M's own thread. */
int kgo_ioc_steal(struct kgo_inst *inst, struct kgo_km *m, u64 *g)
{
	if (!m->p)
		return -EBADSLT;
	*g = kgo_stealwork(inst, m->p);
	return *g ? 0 : -EAGAIN;
}

/*
 * kgo_ioc_shutdown - the SHUTDOWN ioctl, and teardown: every M asleep in park
 * wakes with -ESHUTDOWN, and no M sleeps again.  Any thread.
 */
void kgo_ioc_shutdown(struct kgo_inst *inst)
{
	struct kgo_km *m;

	spin_lock(&inst->lock);
	inst->dying = true;
	list_for_each_entry(m, &inst->midle, idle_link)
		wake_up(&m->wq);
	kgo_lockedm_shutdown_locked(inst);
	spin_unlock(&inst->lock);
	wake_up(&inst->wantm_wq);
}
