// SPDX-License-Identifier: GPL-2.0
/*
 * procresize: changing GOMAXPROCS while the instance runs.  Growing adds
 * idle Ps.  Shrinking marks the Ps past the new count dead: an idle one is
 * drained into the global queue at once; one an M holds is drained when
 * that M next enters the module (the library checks nprocs against its P
 * id at every schedule and parks when its P is gone).
 */
#include <linux/slab.h>

#include "kgo_internal.h"

/*
 * kgo_drainp - move every G of dead @p, runnext included, to the global
 * queue, through the scratch @batch.  No lock held; @p is dead, so no M
 * produces into it.  Gs that do not fit past the global queue's limit are
 * dropped with a warning: the limit is the instance's memory bound.
 */
void kgo_drainp(struct kgo_inst *inst, struct kgo_p *p, u64 *batch)
{
	int rounds;

	/* Each grab takes half; a ring's worth is gone within 10 rounds. */
	for (rounds = 0; rounds < 16; rounds++) {
		u32 n = kgo_runqgrab(p->sh, batch, 0, true);

		if (!n)
			break;
		if (kgo_globrunqputbatch(inst, batch, n))
			pr_warn_ratelimited("procresize: global queue full, %u Gs dropped\n", n);
	}
}

/*
 * kgo_dropdeadp - if @m holds a P that procresize removed, drain it and
 * let go of it.  The M's own thread, inside one of its ioctls (so no
 * handoff moves m->p meanwhile), no lock held.  The status is tested
 * under inst->lock: SET_NPROCS may be marking the P dead or alive again
 * at this moment.  Returns whether it dropped a P (m->p is then NULL).
 */
bool kgo_dropdeadp(struct kgo_inst *inst, struct kgo_km *m)
{
	struct kgo_p *p;

	spin_lock(&inst->lock);
	p = m->p;
	if (p && p->status == KGO_P_DEAD)
		kgo_releasep(m);
	else
		p = NULL;
	spin_unlock(&inst->lock);
	if (!p)
		return false;
	kgo_drainp(inst, p, m->batch);
	kgo_ioc_wakep(inst);
	return true;
}

/*
 * kgo_ioc_set_nprocs - the SET_NPROCS ioctl.  Process context, no lock held.
 * -EINVAL unless 1 <= @n <= the max_procs fixed at SETUP.
 */
int kgo_ioc_set_nprocs(struct kgo_inst *inst, u32 n)
{
	u64 *batch;
	u32 i, old;

	if (n < 1 || n > inst->max_procs)
		return -EINVAL;
	batch = kmalloc_array(KGO_RING_SIZE, sizeof(*batch), KGO_GFP);
	if (!batch)
		return -ENOMEM;

	mutex_lock(&inst->setup_lock);
	spin_lock(&inst->lock);
	old = inst->nprocs;
	for (i = old; i < n; i++) {
		struct kgo_p *p = &inst->ps[i];

		/* A P shrunk away and back before its M noticed stays with it. */
		if (p->m) {
			p->status = KGO_P_RUNNING;
			WRITE_ONCE(p->sh->status, KGO_P_RUNNING);
		} else {
			kgo_pidleput(inst, p);
		}
	}
	for (i = n; i < old; i++) {
		struct kgo_p *p = &inst->ps[i];

		if (p->status == KGO_P_IDLE) {
			list_del_init(&p->idle_link);
			inst->npidle--;
		}
		p->status = KGO_P_DEAD;
		WRITE_ONCE(p->sh->status, KGO_P_DEAD);
	}
	inst->nprocs = n;
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);

	/*
	 * Dead Ps no M holds are drained now, held ones by their M.  Every
	 * dead P is looked at, not only those just removed: one whose M was
	 * abandoned (sysmon) was let go of with its Gs still in it.
	 */
	for (i = n; i < inst->max_procs; i++) {
		struct kgo_p *p = &inst->ps[i];

		if (!READ_ONCE(p->m))
			kgo_drainp(inst, p, batch);
	}
	mutex_unlock(&inst->setup_lock);
	kfree(batch);
	kgo_ioc_wakep(inst);
	return 0;
}
