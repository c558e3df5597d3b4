// SPDX-License-Identifier: GPL-2.0
/*
 * Locked Ms: an M that has no P but keeps its G, and waits on its own
 * thread for a P to go on with it (Go's stoplockedm and startlockedm).
 *
 * This is how a goroutine keeps its thread between two kgo calls.  C code
 * keeps per-thread state that a switch of threads would corrupt (malloc's
 * cache, stdio's recursive locks, errno's and every __thread variable's
 * address, pthread mutex owners, the signal mask, rseq), so a G whose P
 * is taken from it is not moved: its thread stops where it is and waits.
 * An M gets here three ways:
 *  - a handoff: sysmon took the P while the thread was blocked in the
 *    kernel; when the call returns, the thread's resume work (preempt.c)
 *    waits for a P before the G's code goes on (kgo_waitp);
 *  - a preemption: the G ran past its slice while others waited; the
 *    resume work, on the thread, gives the P to an idle M and waits
 *    (kgo_preempt_in_place);
 *  - the library, for a G wired to its thread (kgo_lock_thread): the
 *    PARK ioctl's EXITSYSCALL, YIELDLOCKED and RELEASEP flags.
 *
 * The wait.  If a P is idle (the one the M had first), the M takes it at
 * once.  Otherwise the M's locked-M token (uapi) goes to the tail of the
 * global queue, where a preempted G goes in Go, and the thread sleeps.
 * Whoever takes the token from a run queue, the library's schedule or
 * findrunnable here, hands its own P to the M (kgo_startlockedm) and
 * parks.  The token carries the wait's number (lock_seq): a token whose M
 * no longer waits under that number, or that names no M (a process
 * writing its own queues), is stale and is dropped.
 *
 * Threads: each waiting M is a thread that keeps a G.  They count against
 * the instance's max_ms like every M.  A preemption needs an idle M to
 * take the P; with none (the spare pool is empty and the spawner cannot
 * start more), it is put off, never failed, and counted
 * (preempt_deferrals); sysmon asks again a slice later.
 *
 * Signals.  The thread sleeps interruptibly and freezably.  A signal
 * ends the sleep without ending the wait: the thread returns to user mode
 * to take it, without a P, its token still queued.  Its handler and then
 * its G's code run there until the P arrives (startlockedm then kicks the
 * thread, whose resume work takes it) or the G makes its next kgo call
 * (the library's entry finds the slot LOST and waits with EXITSYSCALL).
 * A fatal signal ends the wait: its token goes stale.
 *
 * Locking: every field of a wait (lockwait, lock_sleeping, lock_seq,
 * woken, nextp) is under inst->lock, which is also what makes "no idle P,
 * so queue the token" one step against a P going idle.
 */
#include <linux/freezer.h>
#include <linux/sched/signal.h>
#include <linux/wait.h>

#include "kgo_internal.h"

#define KGO_LOCK_SEQ_MASK	0x7fffffffU

/* The token of @m's current wait.  inst->lock held. */
static u64 kgo_lockedm_token(struct kgo_km *m)
{
	lockdep_assert_held(&m->inst->lock);
	return KGO_TOKEN_LOCKEDM | (u64)(m->lock_seq & KGO_LOCK_SEQ_MASK) << 32 | m->id;
}

/*
 * kgo_p_wanted - whether a G waits to run that @p could run: in its ring,
 * the global queue, or another P's ring (which the M given @p would steal
 * from).  Any context; racy (a hint for sysmon and preemption, which look
 * again later).
 */
bool kgo_p_wanted(struct kgo_inst *inst, struct kgo_p *p)
{
	return !kgo_runqempty(p->sh) || kgo_anywork(inst);
}

/*
 * The P an M that lost its own takes back without waiting: that one if it
 * is idle, else any idle P (Go's exitsyscallfast).  inst->lock held.
 */
static struct kgo_p *kgo_exitsyscall_pidleget(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_p *p = m->oldp;

	lockdep_assert_held(&inst->lock);
	m->oldp = NULL;
	if (p && p->status == KGO_P_IDLE && !list_empty(&p->idle_link)) {
		list_del_init(&p->idle_link);
		inst->npidle--;
		return p;
	}
	return kgo_pidleget(inst);
}

/*
 * kgo_lockwait_queue_locked - @m, which has no P, starts a wait: a new
 * wait number, its token to the global queue's tail.  inst->lock held,
 * @pa holding what kgo_gq_chunks_needed(q, 1) asks for (else -EAGAIN and
 * nothing changed).
 */
static int kgo_lockwait_queue_locked(struct kgo_inst *inst, struct kgo_km *m,
				     struct kgo_gq_prealloc *pa)
{
	int err;

	lockdep_assert_held(&inst->lock);
	m->lock_seq++;
	err = kgo_gq_push_token(&inst->gq, kgo_lockedm_token(m), pa);
	if (err) {
		m->lock_seq--;
		return err;
	}
	m->lockwait = true;
	m->woken = false;
	m->nextp = NULL;
	list_add_tail(&m->lock_link, &inst->mlocked);
	atomic64_inc(&inst->stats.lockedm_waits);
	kgo_publish_locked(inst);
	return 0;
}

/*
 * kgo_lockwait_end_locked - @m's wait is over without a P (shutdown, a
 * fatal signal, the thread leaving): off the list, its token stale.
 * inst->lock held.
 */
void kgo_lockwait_end_locked(struct kgo_km *m)
{
	lockdep_assert_held(&m->inst->lock);
	m->lockwait = false;
	list_del_init(&m->lock_link);
}

/*
 * kgo_lockwait_hand_locked - hand @p to @t, which waits for a P (startm
 * for a locked M).  inst->lock held; @p held by nobody now.  Returns @t,
 * referenced, if it is not asleep in the wait (it went to take a signal
 * without its P): the caller queues its resume work and kicks it, which
 * takes the P at its next return to user mode, and puts the reference.
 */
static struct kgo_km *kgo_lockwait_hand_locked(struct kgo_inst *inst, struct kgo_km *t,
					       struct kgo_p *p)
{
	lockdep_assert_held(&inst->lock);
	list_del_init(&t->lock_link);
	t->nextp = p;
	p->m = t;
	p->status = KGO_P_RUNNING;
	WRITE_ONCE(p->sh->status, KGO_P_RUNNING);
	t->woken = true;
	wake_up(&t->wq);
	atomic64_inc(&inst->stats.lockedm_starts);
	if (!t->lock_sleeping && refcount_inc_not_zero(&t->ref))
		return t;
	return NULL;
}

/* Queue the resume work on @t and kick it; drops the reference. */
static void kgo_lockwait_kick(struct kgo_km *t)
{
	if (kgo_m_queue_resume_work(t))
		kick_process(t->task);
	kgo_m_put(t);
}

/*
 * kgo_startlockedm_any_locked - @p, which nobody holds, finds no idle M
 * to run it (handoffp, wakep): hand it to the M that has waited longest
 * for a P, G in hand, if any.  Such an M can run at once; leaving @p idle
 * instead could leave every M blocked (behind a lock that M holds, say)
 * and nobody to run the token that M queued.  inst->lock held.  Returns
 * whether @p was handed over.
 */
bool kgo_startlockedm_any_locked(struct kgo_inst *inst, struct kgo_p *p)
{
	struct kgo_km *t, *kick;

	lockdep_assert_held(&inst->lock);
	t = list_first_entry_or_null(&inst->mlocked, struct kgo_km, lock_link);
	if (!t || inst->dying || p->status == KGO_P_DEAD)
		return false;
	kick = kgo_lockwait_hand_locked(inst, t, p);
	/* Under the lock: queueing a task_work and an IPI do not sleep. */
	if (kick)
		kgo_lockwait_kick(kick);
	return true;
}

/*
 * kgo_lockwait_sleep - the wait itself, once @m's token is queued: sleep
 * until startlockedm hands a P over, the instance shuts down, or a signal
 * comes.  The M's own thread, no lock held.  0 with m->p set;
 * -ESHUTDOWN or -EINTR (a fatal signal), the wait over; -ERESTARTSYS, a
 * signal to take first, the wait still on.
 */
static int kgo_lockwait_sleep(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_p *p;
	int err;

	/*
	 * A P may have gone idle after the caller looked and before the
	 * token was queued, with no M spinning: have one look.
	 */
	kgo_ioc_wakep(inst);
	/* woken and dying are set under inst->lock before the wake_up. */
	wait_event_freezable(m->wq, READ_ONCE(m->woken) || READ_ONCE(inst->dying));

	spin_lock(&inst->lock);
	m->lock_sleeping = false;
	if (m->woken) {
		p = m->nextp;
		m->nextp = NULL;
		m->woken = false;
		m->lockwait = false;
		kgo_acquirep(m, p);
		err = 0;
	} else if (inst->dying) {
		kgo_lockwait_end_locked(m);
		err = -ESHUTDOWN;
	} else if (fatal_signal_pending(current)) {
		kgo_lockwait_end_locked(m);	/* the token goes stale */
		err = -EINTR;
	} else {
		err = -ERESTARTSYS;
	}
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);
	return err;
}

/*
 * kgo_waitp - @m has no P and keeps its G: get a P to go on with it (Go's
 * exitsyscall, and stoplockedm when none is idle).  Also how a wait goes
 * on after a signal: the token is already queued.
 * The M's own thread, no lock held; may sleep.  Returns 0 with m->p set
 * (the slot's state is the caller's to set), -ERESTARTSYS, -EINTR,
 * -ESHUTDOWN (see kgo_lockwait_sleep) or -ENOMEM (nothing queued).
 */
int kgo_waitp(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_gq_prealloc pa = {};
	struct kgo_p *p;
	int err = 0;

	for (;;) {
		u32 need;

		spin_lock(&inst->lock);
		if (m->p)
			goto out_unlock;	/* nothing was taken after all */
		if (inst->dying) {
			kgo_lockwait_end_locked(m);
			err = -ESHUTDOWN;
			goto out_unlock;
		}
		if (m->lockwait)
			break;			/* after a signal: wait on */
		p = kgo_exitsyscall_pidleget(inst, m);
		if (p) {
			kgo_acquirep(m, p);
			kgo_publish_locked(inst);
			goto out_unlock;
		}
		need = kgo_gq_chunks_needed(&inst->gq, 1);
		if (need <= kgo_gq_prealloc_count(&pa) &&
		    !kgo_lockwait_queue_locked(inst, m, &pa))
			break;
		spin_unlock(&inst->lock);
		err = kgo_gq_prealloc_fill(&pa, need);
		if (err)
			goto out;
	}
	m->lock_sleeping = true;
	spin_unlock(&inst->lock);
	kgo_gq_prealloc_free(&pa);
	return kgo_lockwait_sleep(inst, m);

out_unlock:
	spin_unlock(&inst->lock);
out:
	kgo_gq_prealloc_free(&pa);
	return err;
}

/*
 * kgo_preempt_in_place - @m's G has run long enough: if anyone waits for
 * its P and an idle M can take it, the G stays where it is, its token goes
 * to the global queue, the P to the idle M, and the thread then waits for
 * a P (kgo_waitp).  @by_sysmon: sysmon asked, and the slot must still say
 * G (it becomes LOST); else the library asked (YIELDLOCKED), in LIB.
 * The M's own thread (its resume work, or its ioctl), no lock held.
 * Returns whether the P was given away.
 */
bool kgo_preempt_in_place(struct kgo_inst *inst, struct kgo_km *m, bool by_sysmon)
{
	struct kgo_gq_prealloc pa = {};
	bool gave = false;
	struct kgo_p *p;

	for (;;) {
		u32 need;

		spin_lock(&inst->lock);
		p = m->p;
		if (!p || inst->dying || m->abandoned || m->lockwait ||
		    p->status == KGO_P_DEAD || !kgo_p_wanted(inst, p))
			break;
		/*
		 * The P goes to an idle M, or else to the M that has waited
		 * longest with its G (the two threads swap); with neither,
		 * later, and the spawner starts more spares.
		 */
		if (list_empty(&inst->midle) && list_empty(&inst->mlocked)) {
			atomic64_inc(&inst->stats.preempt_deferrals);
			break;
		}
		need = kgo_gq_chunks_needed(&inst->gq, 1);
		if (need > kgo_gq_prealloc_count(&pa)) {
			spin_unlock(&inst->lock);
			if (kgo_gq_prealloc_fill(&pa, need))
				goto out;
			continue;
		}
		/*
		 * Fully ordered: the library's entry (G -> LIB) and this
		 * cannot both succeed, so its P is never taken from under
		 * the library.
		 */
		if (by_sysmon && cmpxchg(&m->sh->state, KGO_MS_G, KGO_MS_LOST) != KGO_MS_G)
			break;
		if (kgo_lockwait_queue_locked(inst, m, &pa)) {
			if (by_sysmon)
				WRITE_ONCE(m->sh->state, KGO_MS_G);
			break;
		}
		m->oldp = p;
		kgo_releasep(m);
		/* One of the two lists is not empty: this cannot fail. */
		if (!kgo_startm_locked(inst, p, false))
			kgo_startlockedm_any_locked(inst, p);
		m->lock_sleeping = true;
		kgo_publish_locked(inst);
		gave = true;
		break;
	}
	spin_unlock(&inst->lock);
out:
	kgo_gq_prealloc_free(&pa);
	kgo_wantm_kick(inst);
	return gave;
}

/*
 * kgo_startlockedm - @m took @tok, a locked-M token, from a run queue:
 * hand @m's P to the M it names, if that M still waits under that number
 * (Go's startlockedm).  The caller then has no P and parks.  A valid
 * token that cannot be served now (@m's P is dead, or @m has none) goes
 * back to the global queue.  The M's own thread, no lock held, not
 * spinning.  Returns whether the P was handed over.
 */
bool kgo_startlockedm(struct kgo_inst *inst, struct kgo_km *m, u64 tok)
{
	u32 id = lower_32_bits(tok), seq = upper_32_bits(tok) & KGO_LOCK_SEQ_MASK;
	struct kgo_km *t, *kick = NULL;
	bool handed = false, requeue = false;
	struct kgo_p *p;

	if (!KGO_TOKEN_IS_LOCKEDM(tok))
		return false;
	spin_lock(&inst->lock);
	t = xa_load(&inst->ms, id);
	if (!t || t == m || !t->lockwait || t->woken || READ_ONCE(t->detached) ||
	    (t->lock_seq & KGO_LOCK_SEQ_MASK) != seq || inst->dying)
		goto out;
	p = m->p;
	if (!p || p->status == KGO_P_DEAD) {
		requeue = true;
		goto out;
	}
	kgo_releasep(m);
	kick = kgo_lockwait_hand_locked(inst, t, p);
	kgo_publish_locked(inst);
	handed = true;
out:
	spin_unlock(&inst->lock);
	if (kick)
		kgo_lockwait_kick(kick);
	if (requeue)
		kgo_gq_put_token(inst, tok);
	return handed;
}

/*
 * kgo_releasep_handoff - the RELEASEP flag: @m keeps its G, which waits,
 * and gives its P away: to an idle M if the P has work, else to the idle
 * list (handoffp).  The P it had is the one it asks for first later.
 * The M's own thread, inside kgo_m_enter(), not spinning, no lock held.
 */
void kgo_releasep_handoff(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_p *p;

	/* A P removed by SET_NPROCS is drained and dropped, not handed. */
	kgo_dropdeadp(inst, m);
	spin_lock(&inst->lock);
	p = m->p;
	if (p && p->status != KGO_P_DEAD) {
		m->oldp = p;
		kgo_handoffp_locked(inst, m, p);
	}
	spin_unlock(&inst->lock);
	kgo_wantm_kick(inst);
}

/*
 * kgo_lockedm_shutdown_locked - SHUTDOWN: every waiting M wakes; one that
 * went to take a signal is kicked, so that its resume work sends its G
 * away for good (preempt.c).  inst->lock held, dying set.
 */
void kgo_lockedm_shutdown_locked(struct kgo_inst *inst)
{
	struct kgo_km *m;

	lockdep_assert_held(&inst->lock);
	list_for_each_entry(m, &inst->mlocked, lock_link) {
		wake_up(&m->wq);
		if (!m->lock_sleeping && kgo_m_queue_resume_work(m))
			kick_process(m->task);
	}
}
