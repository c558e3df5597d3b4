// SPDX-License-Identifier: GPL-2.0
/*
 * Ms: threads of the owning process that attach to an instance to run Gs.
 * An M is named in later ioctls by the id ATTACH returned, and only the
 * thread that attached may use it.
 */
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "kgo.h"

/*
 * kgo_m_attach - make the calling thread an M; with @acquire_p, give it an
 * idle P at once (how the library's first M gets P 0 for the main G).
 * Process context, no lock held.  ERR_PTR(-EUSERS) past the M limit,
 * -EBUSY when @acquire_p finds no idle P.
 */
struct kgo_m *kgo_m_attach(struct kgo_inst *inst, bool acquire_p)
{
	struct kgo_m *m;
	u32 id;
	int err;

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->task = current;
	INIT_LIST_HEAD(&m->idle_link);
	init_waitqueue_head(&m->wq);

	mutex_lock(&inst->setup_lock);
	if (inst->nms >= kgo_max_ms) {
		err = -EUSERS;
		goto fail;
	}
	err = xa_alloc(&inst->ms, &id, m, XA_LIMIT(0, kgo_max_ms - 1), GFP_KERNEL_ACCOUNT);
	if (err)
		goto fail;
	m->id = id;
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
	}
	inst->nms++;
	mutex_unlock(&inst->setup_lock);
	return m;
fail:
	mutex_unlock(&inst->setup_lock);
	kfree(m);
	return ERR_PTR(err);
}

/*
 * kgo_m_lookup - the M named @id, if the calling thread is that M.
 * Any thread.  The result stays valid while the caller is in its ioctl:
 * only the M's own thread can detach it.
 */
struct kgo_m *kgo_m_lookup(struct kgo_inst *inst, u32 id)
{
	struct kgo_m *m;

	rcu_read_lock();
	m = xa_load(&inst->ms, id);
	if (m && m->task != current)
		m = NULL;
	rcu_read_unlock();
	return m;
}

/*
 * kgo_m_detach - the M's thread is leaving: its P goes back to the idle
 * list (and another M is woken if the P still has Gs), then the M is freed.
 * The M's own thread, no lock held.
 */
int kgo_m_detach(struct kgo_inst *inst, struct kgo_m *m)
{
	bool wake = false;
	struct kgo_p *p;

	if (m->p && m->p->status == KGO_P_DEAD)
		kgo_dropdeadp(inst, m);
	mutex_lock(&inst->setup_lock);
	spin_lock(&inst->lock);
	p = kgo_releasep(m);
	if (p) {
		kgo_pidleput(inst, p);
		wake = !kgo_runqempty(p->sh);
	}
	if (m->spinning) {
		m->spinning = false;
		atomic_dec((atomic_t *)&inst->ss->nmspinning);
	}
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);
	xa_erase(&inst->ms, m->id);
	inst->nms--;
	mutex_unlock(&inst->setup_lock);
	kfree_rcu(m, rcu);
	if (wake)
		kgo_wakep(inst);
	return 0;
}
