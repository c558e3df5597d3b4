// SPDX-License-Identifier: GPL-2.0
/*
 * Ms: threads of the owning process that attach to an instance to run Gs.
 * An M is named in later ioctls by the id ATTACH returned (also the index
 * of its slot in the shared region), and only the thread that attached may
 * use it.  Also here: the spare-M pool's wait (WANTM).
 */
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "kgo_internal.h"

static void kgo_m_free_rcu(struct rcu_head *rcu)
{
	struct kgo_km *m = container_of(rcu, struct kgo_km, rcu);

	put_task_struct(m->task);
	kgo_inst_put(m->inst);
	kfree(m);
}

/* Drops a reference; the last one frees the M after a grace period. */
void kgo_m_put(struct kgo_km *m)
{
	if (refcount_dec_and_test(&m->ref))
		call_rcu(&m->rcu, kgo_m_free_rcu);
}

/*
 * kgo_m_attach - make the calling thread an M; with @acquire_p, give it an
 * idle P at once (how the library's first M gets P 0 for the main G).
 * Process context, no lock held.  ERR_PTR(-EUSERS) past the M limit,
 * -EBUSY when @acquire_p finds no idle P.
 */
struct kgo_km *kgo_m_attach(struct kgo_inst *inst, bool acquire_p)
{
	struct kgo_km *m;
	u32 id;
	int err;

	m = kzalloc(sizeof(*m), KGO_GFP);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->inst = inst;
	m->task = current;
	m->exec_id = current->self_exec_id;
	refcount_set(&m->ref, 1);
	INIT_LIST_HEAD(&m->idle_link);
	INIT_LIST_HEAD(&m->lock_link);
	init_waitqueue_head(&m->wq);

	mutex_lock(&inst->setup_lock);
	err = -EUSERS;
	if (inst->nms >= inst->max_ms)
		goto fail;
	err = xa_alloc(&inst->ms, &id, m, XA_LIMIT(0, inst->max_ms - 1), KGO_GFP);
	if (err)
		goto fail;
	m->id = id;
	m->sh = kgo_inst_shared_m(inst, id);
	WRITE_ONCE(m->sh->state, KGO_MS_LIB);
	WRITE_ONCE(m->sh->p, KGO_NO_P);
	if (acquire_p) {
		struct kgo_p *p;

		spin_lock(&inst->lock);
		p = inst->dying ? NULL : kgo_pidleget(inst);
		if (p)
			kgo_acquirep(m, p);
		kgo_publish_locked(inst);
		spin_unlock(&inst->lock);
		if (!p) {
			xa_erase(&inst->ms, id);
			err = -EBUSY;
			goto fail;
		}
	} else {
		/* Its next call is PARK: the spare pool counts it from now. */
		spin_lock(&inst->lock);
		kgo_stopping_begin_locked(inst, m);
		spin_unlock(&inst->lock);
	}
	get_task_struct(m->task);
	kgo_inst_get(inst);
	kgo_blockwatch_add(m);
	inst->nms++;
	if (inst->m_starting)
		inst->m_starting--;
	mutex_unlock(&inst->setup_lock);
	return m;
fail:
	mutex_unlock(&inst->setup_lock);
	kfree(m);
	return ERR_PTR(err);
}

/*
 * kgo_m_task_is_ours - whether @m's thread is still the one that attached:
 * in the instance's address space, in the exec generation it had then.
 * exec replaces the mm (exec_mmap) before it bumps self_exec_id, and exit
 * clears the mm, so once either test fails the thread no longer runs the
 * owner's program and must never again be redirected or given a P.
 * Any context: lockless reads of another task's fields, only compared,
 * never dereferenced; the mm cannot be a recycled address (the instance
 * holds it with mmgrab).  A stale "yes" from sysmon is caught by the
 * redirect, which asks again on the thread itself, where both are stable.
 */
bool kgo_m_task_is_ours(struct kgo_km *m)
{
	struct task_struct *t = m->task;

	return READ_ONCE(t->mm) == m->inst->mm &&
	       READ_ONCE(t->self_exec_id) == m->exec_id;
}

/*
 * kgo_m_enter - @m's thread begins one of the M's ioctls, which use m->p
 * without inst->lock; until kgo_m_leave(), sysmon does not hand that P
 * off (it tests in_ioctl under the lock).  The library never is in an
 * ioctl with its slot saying G, so this only refuses what a process that
 * writes its slot by hand asks for.  The M's own thread, no lock held.
 */
void kgo_m_enter(struct kgo_inst *inst, struct kgo_km *m)
{
	spin_lock(&inst->lock);
	m->in_ioctl = true;
	spin_unlock(&inst->lock);
}

/*
 * kgo_m_leave - the end of kgo_m_enter()'s section.  The release orders
 * every use of the P before the flag clears; sysmon reading a stale "in
 * an ioctl" only puts its handoff off to a later pass.  The M's own
 * thread.
 */
void kgo_m_leave(struct kgo_km *m)
{
	/* Orders the ioctl's uses of m->p before sysmon may take it. */
	smp_store_release(&m->in_ioctl, false);
}

/*
 * kgo_m_lookup - the M named @id, if the calling thread is that M.
 * Any thread.  The result stays valid while the caller is in its ioctl:
 * only the M's own thread can detach it.
 */
struct kgo_km *kgo_m_lookup(struct kgo_inst *inst, u32 id)
{
	struct kgo_km *m;

	rcu_read_lock();
	m = xa_load(&inst->ms, id);
	if (m && m->task != current)
		m = NULL;
	rcu_read_unlock();
	return m;
}

/* Takes @m out of the table and drops the table's reference. setup_lock held. */
static void kgo_m_unlink(struct kgo_inst *inst, struct kgo_km *m)
{
	lockdep_assert_held(&inst->setup_lock);
	xa_erase(&inst->ms, m->id);
	kgo_blockwatch_del(m);
	WRITE_ONCE(m->detached, true);
	inst->nms--;
	kgo_m_put(m);
}

/*
 * kgo_m_detach - the M's thread is leaving: its P goes back to the idle
 * list (and another M is woken if the P still has Gs), then the M is freed.
 * The M's own thread, inside kgo_m_enter(), no lock held.
 */
int kgo_m_detach(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_p *p, *dead = NULL;
	bool wake = false;

	kgo_dropdeadp(inst, m);
	mutex_lock(&inst->setup_lock);
	spin_lock(&inst->lock);
	p = kgo_releasep(m);
	/*
	 * A thread that leaves in the middle of a wait for a P (lockedm.c,
	 * only a process driving the ioctls by hand does): a P already
	 * handed to it goes back like its own, and its token goes stale.
	 */
	if (!p && m->lockwait && m->woken) {
		p = m->nextp;
		m->nextp = NULL;
		m->woken = false;
	}
	kgo_lockwait_end_locked(m);
	kgo_stopping_end_locked(inst, m);
	/* SET_NPROCS may have removed it since kgo_dropdeadp looked. */
	if (p && p->status == KGO_P_DEAD) {
		dead = p;
	} else if (p) {
		kgo_pidleput(inst, p);
		wake = !kgo_runqempty(p->sh);
	}
	if (m->spinning) {
		m->spinning = false;
		atomic_dec(kgo_nmspinning(inst));
	}
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);
	if (dead)
		kgo_drainp(inst, dead, m->batch);
	kgo_m_unlink(inst, m);
	mutex_unlock(&inst->setup_lock);
	if (wake)
		kgo_ioc_wakep(inst);
	kgo_wantm_kick(inst);
	return 0;
}

/* Teardown: drop every M still in the table.  No ioctl is running. */
void kgo_m_drop_all(struct kgo_inst *inst)
{
	unsigned long id;
	struct kgo_km *m;

	mutex_lock(&inst->setup_lock);
	xa_for_each(&inst->ms, id, m)
		kgo_m_unlink(inst, m);
	mutex_unlock(&inst->setup_lock);
}

/* How many more Ms the spare pool wants now.  Any context; racy by design. */
static int kgo_ms_wanted(struct kgo_inst *inst)
{
	int have = READ_ONCE(inst->nmidle) + READ_ONCE(inst->nmstopping) +
		   READ_ONCE(inst->m_starting);
	int want = (int)READ_ONCE(inst->preempt.spare_ms) - have;
	int room = (int)inst->max_ms - (int)READ_ONCE(inst->nms) -
		   (int)READ_ONCE(inst->m_starting);

	return max(min(want, room), 0);
}

/*
 * kgo_ioc_wantm - the WANTM ioctl: the library's spawner thread sleeps until
 * fewer Ms are idle than the spare pool wants (SET_PREEMPT's spare_ms),
 * and returns how many to start.  Any thread of the owner.  -ESHUTDOWN
 * once the instance is finished, -ERESTARTSYS on a signal.
 *
 * The caller has settled its previous answer before it asks again: every
 * M it started has attached (and was taken off m_starting then), and any
 * it could not start never will.  Those are forgotten here; counted on,
 * a failed thread start (RLIMIT_NPROC, memory) would shrink the pool for
 * good.  A process that asks from two threads at once only miscounts its
 * own pool.
 */
int kgo_ioc_wantm(struct kgo_inst *inst)
{
	int want, err;

	mutex_lock(&inst->setup_lock);
	inst->m_starting = 0;
	mutex_unlock(&inst->setup_lock);
	err = wait_event_interruptible(inst->wantm_wq,
				       READ_ONCE(inst->dying) || kgo_ms_wanted(inst) > 0);
	if (err)
		return err;
	if (READ_ONCE(inst->dying))
		return -ESHUTDOWN;
	mutex_lock(&inst->setup_lock);
	want = kgo_ms_wanted(inst);
	/* Counted as idle-to-be until they attach, so they are asked for once. */
	inst->m_starting += want;
	mutex_unlock(&inst->setup_lock);
	return want;
}

/* Someone took an idle M or an M left: the spawner may have work.  Any context. */
void kgo_wantm_kick(struct kgo_inst *inst)
{
	if (wq_has_sleeper(&inst->wantm_wq))
		wake_up(&inst->wantm_wq);
}
