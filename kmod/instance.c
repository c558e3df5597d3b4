// SPDX-License-Identifier: GPL-2.0
/*
 * Scheduler instances: one per open of /dev/kgo.  Creation, SETUP (the Ps,
 * the M slots and the region shared with the process), mmap of that
 * region, reference counting, and teardown.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "kgo_internal.h"

/* Frees instances whose last reference went away (maybe in RCU context). */
static struct workqueue_struct *kgo_free_wq;
static DEFINE_IDA(kgo_inst_ida);

static void kgo_inst_free_work(struct work_struct *work);

/*
 * Instances open per user (uid -> count, as xarray value entries), for
 * max_instances_per_user: every set-up instance adds to sysmon's passes,
 * which serve every user, so one user's share is bounded.  Under
 * kgo_user_lock (process context only: open and the free work).
 */
static DEFINE_XARRAY(kgo_user_insts);
static DEFINE_MUTEX(kgo_user_lock);

/*
 * kgo_inst_charge_user - count @inst against the calling user's limit.
 * Open, process context.  -EMFILE past the limit (as inotify's
 * max_user_instances), unless the caller has CAP_SYS_RESOURCE.
 */
int kgo_inst_charge_user(struct kgo_inst *inst)
{
	kuid_t uid = current_uid();
	unsigned long n;
	void *e;
	int err;

	mutex_lock(&kgo_user_lock);
	e = xa_load(&kgo_user_insts, __kuid_val(uid));
	n = e ? xa_to_value(e) : 0;
	err = -EMFILE;
	if (n >= READ_ONCE(kgo_max_insts_per_user) && !capable(CAP_SYS_RESOURCE))
		goto out;
	err = xa_err(xa_store(&kgo_user_insts, __kuid_val(uid), xa_mk_value(n + 1),
			      KGO_GFP));
	if (!err) {
		inst->uid = uid;
		inst->charged = true;
	}
out:
	mutex_unlock(&kgo_user_lock);
	return err;
}

static void kgo_inst_uncharge_user(struct kgo_inst *inst)
{
	unsigned long n;
	void *e;

	if (!inst->charged)
		return;
	mutex_lock(&kgo_user_lock);
	e = xa_load(&kgo_user_insts, __kuid_val(inst->uid));
	n = e ? xa_to_value(e) : 0;
	if (n <= 1)
		xa_erase(&kgo_user_insts, __kuid_val(inst->uid));
	else
		xa_store(&kgo_user_insts, __kuid_val(inst->uid), xa_mk_value(n - 1), GFP_KERNEL);
	mutex_unlock(&kgo_user_lock);
}

/*
 * Process context.  The instance belongs to current's address space.  The
 * caller owns the one reference it starts with.
 */
struct kgo_inst *kgo_inst_alloc(void)
{
	struct kgo_inst *inst = kzalloc(sizeof(*inst), KGO_GFP);
	int id;

	if (!inst)
		return NULL;
	id = ida_alloc(&kgo_inst_ida, KGO_GFP);
	if (id < 0) {
		kfree(inst);
		return NULL;
	}
	inst->id = id;
	inst->owner_tgid = current->tgid;
	inst->owner_pid = get_pid(task_tgid(current));
	refcount_set(&inst->ref, 1);
	INIT_WORK(&inst->free_work, kgo_inst_free_work);
	INIT_LIST_HEAD(&inst->sysmon_link);
	init_waitqueue_head(&inst->wantm_wq);
	__module_get(THIS_MODULE);
	mutex_init(&inst->setup_lock);
	spin_lock_init(&inst->lock);
	INIT_LIST_HEAD(&inst->pidle);
	INIT_LIST_HEAD(&inst->midle);
	INIT_LIST_HEAD(&inst->mlocked);
	xa_init_flags(&inst->ms, XA_FLAGS_ALLOC);
	kgo_gq_init(&inst->gq, kgo_gq_limit, &inst->lock);
	if (current->mm) {
		inst->mm = current->mm;
		mmgrab(inst->mm);	/* pins the mm_struct, so the pointer stays unique */
	}
	return inst;
}

/*
 * kgo_current_is_owner - whether the calling thread belongs to the thread
 * group that opened @inst, in the address space it had then.  A CLONE_VM
 * child (vfork, posix_spawn) shares the mm but not the thread group; a
 * process that has exec'd has another mm; a forked child, or a process
 * that received the fd, has neither.  Comparing struct pids (referenced)
 * and an mm that is mmgrab()ed means neither can be a recycled number or
 * address.  Process context.
 */
bool kgo_current_is_owner(struct kgo_inst *inst)
{
	return current->mm && current->mm == inst->mm &&
	       task_tgid(current) == inst->owner_pid;
}

static int kgo_shared_alloc(struct kgo_inst *inst, size_t size)
{
	unsigned int i;

	inst->npages = DIV_ROUND_UP(size, PAGE_SIZE);
	inst->pages = kvcalloc(inst->npages, sizeof(*inst->pages), KGO_GFP);
	if (!inst->pages)
		return -ENOMEM;
	for (i = 0; i < inst->npages; i++) {
		inst->pages[i] = alloc_page(KGO_GFP | __GFP_ZERO);
		if (!inst->pages[i])
			return -ENOMEM;
	}
	inst->shared = vmap(inst->pages, inst->npages, VM_MAP, PAGE_KERNEL);
	return inst->shared ? 0 : -ENOMEM;
}

static void kgo_shared_free(struct kgo_inst *inst)
{
	unsigned int i;

	if (inst->shared)
		vunmap(inst->shared);
	for (i = 0; inst->pages && i < inst->npages; i++)
		if (inst->pages[i])
			__free_page(inst->pages[i]);
	kvfree(inst->pages);
	inst->pages = NULL;
	inst->shared = NULL;
}

struct kgo_shared_p *kgo_inst_shared_p(struct kgo_inst *inst, u32 id)
{
	return inst->shared + inst->p_off + (size_t)id * inst->p_stride;
}

struct kgo_shared_m *kgo_inst_shared_m(struct kgo_inst *inst, u32 id)
{
	return inst->shared + inst->m_off + (size_t)id * inst->m_stride;
}

/*
 * kgo_inst_setup - the SETUP ioctl: create the Ps (all idle) and the
 * shared region, and report its layout in @s.  Process context, no lock
 * held.  -EEXIST the second time, -EINVAL for counts outside the module's
 * limits or non-zero flags or reserved fields.  (The ioctl checks that the
 * fields only written here came in zero.)
 */
int kgo_inst_setup(struct kgo_inst *inst, struct kgo_setup *s)
{
	u32 max = s->max_procs ? s->max_procs : s->nprocs;
	u32 limit = s->gq_limit ? s->gq_limit : kgo_gq_limit;
	u32 max_ms = s->max_ms ? s->max_ms : min(kgo_default_ms, kgo_max_ms);
	size_t size;
	int err;
	u32 i;

	if (s->flags || s->reserved0 || s->reserved1 || !s->nprocs || s->nprocs > max ||
	    max > kgo_max_procs || limit > kgo_gq_limit || max_ms > kgo_max_ms)
		return -EINVAL;

	mutex_lock(&inst->setup_lock);
	err = -EEXIST;
	if (inst->ready)
		goto out;
	inst->p_off = sizeof(struct kgo_shared_sched);
	inst->p_stride = sizeof(struct kgo_shared_p);
	inst->m_off = inst->p_off + (size_t)max * inst->p_stride;
	inst->m_stride = sizeof(struct kgo_shared_m);
	size = inst->m_off + (size_t)max_ms * inst->m_stride;
	err = -ENOMEM;
	inst->ps = kcalloc(max, sizeof(*inst->ps), KGO_GFP);
	if (!inst->ps)
		goto out;
	err = kgo_shared_alloc(inst, size);
	if (err) {
		kgo_shared_free(inst);
		kfree(inst->ps);
		inst->ps = NULL;
		goto out;
	}
	inst->ss = inst->shared;
	inst->max_procs = max;
	inst->max_ms = max_ms;
	inst->gq.limit = limit;

	spin_lock(&inst->lock);
	inst->nprocs = s->nprocs;
	/* Push in reverse, so that P 0 is the first one taken. */
	for (i = max; i-- > 0;) {
		struct kgo_p *p = &inst->ps[i];

		p->id = i;
		p->sh = kgo_inst_shared_p(inst, i);
		INIT_LIST_HEAD(&p->idle_link);
		if (i < s->nprocs) {
			kgo_pidleput(inst, p);
		} else {
			p->status = KGO_P_DEAD;
			WRITE_ONCE(p->sh->status, KGO_P_DEAD);
		}
	}
	kgo_publish_locked(inst);
	spin_unlock(&inst->lock);

	s->max_procs = max;
	s->gq_limit = limit;
	s->map_size = (u64)inst->npages << PAGE_SHIFT;
	s->sched_off = 0;
	s->p_off = inst->p_off;
	s->p_stride = inst->p_stride;
	s->ring_size = KGO_RING_SIZE;
	s->max_ms = max_ms;
	s->m_off = inst->m_off;
	s->m_stride = inst->m_stride;
	/* Publish the setup last: ioctls read inst->ready without the mutex. */
	smp_store_release(&inst->ready, true);
	kgo_sysmon_register(inst);
	err = 0;
out:
	mutex_unlock(&inst->setup_lock);
	return err;
}

/*
 * kgo_inst_mmap - map the shared region (offset 0, at most its size,
 * never executable, not inherited by fork).  The owner's mmap only.
 *
 * VM_DONTCOPY keeps the region out of a forked child.  VM_IO keeps it
 * there: madvise(MADV_DOFORK) refuses a VM_IO mapping (EINVAL) instead of
 * clearing VM_DONTCOPY, and get_user_pages() (so ptrace peeks, O_DIRECT,
 * futexes, vmsplice) refuses it too, so no one pins or reaches these
 * pages except through this mapping.  VM_DONTEXPAND refuses an mremap()
 * that grows it; VM_DONTDUMP leaves it out of core dumps.
 */
int kgo_inst_mmap(struct kgo_inst *inst, struct vm_area_struct *vma)
{
	unsigned long npages = vma_pages(vma);

	/* Pairs with the store-release of ready at the end of SETUP. */
	if (!smp_load_acquire(&inst->ready))
		return -EBADFD;
	if (vma->vm_pgoff || npages > inst->npages)
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_IO | VM_DONTDUMP);
	return vm_insert_pages(vma, vma->vm_start, inst->pages, &npages);
}

/*
 * kgo_inst_release - the file's release: no ioctl is running and no
 * mapping remains (each holds a reference to the file).  sysmon stops
 * watching, every M is dropped from the table (an M with a redirect still
 * queued on its thread lives until that runs), and the file's reference
 * goes.  Process context.
 */
void kgo_inst_release(struct kgo_inst *inst)
{
	kgo_sysmon_unregister(inst);
	kgo_ioc_shutdown(inst);
	kgo_m_drop_all(inst);
	kgo_inst_put(inst);
}

void kgo_inst_get(struct kgo_inst *inst)
{
	refcount_inc(&inst->ref);
}

/* Any context: the free itself runs from a workqueue. */
void kgo_inst_put(struct kgo_inst *inst)
{
	if (refcount_dec_and_test(&inst->ref))
		queue_work(kgo_free_wq, &inst->free_work);
}

static void kgo_inst_free_work(struct work_struct *work)
{
	struct kgo_inst *inst = container_of(work, struct kgo_inst, free_work);

	kgo_inst_uncharge_user(inst);
	xa_destroy(&inst->ms);
	kgo_gq_destroy(&inst->gq);
	kgo_shared_free(inst);
	kgo_stackmap_free(inst);
	kfree(inst->ps);
	if (inst->mm)
		mmdrop(inst->mm);
	put_pid(inst->owner_pid);
	ida_free(&kgo_inst_ida, inst->id);
	kfree(inst);
	/* The workqueue is destroyed at module exit, after this returns. */
	module_put(THIS_MODULE);
}

int kgo_instances_init(void)
{
	kgo_free_wq = alloc_workqueue("kgo_free", WQ_UNBOUND, 0);
	return kgo_free_wq ? 0 : -ENOMEM;
}

/* Waits until every instance whose last reference is gone has been freed. */
void kgo_instances_flush(void)
{
	rcu_barrier();
	flush_workqueue(kgo_free_wq);
}

/* Waits for every instance still being freed. */
void kgo_instances_exit(void)
{
	rcu_barrier();		/* M frees queued as RCU callbacks */
	destroy_workqueue(kgo_free_wq);
}
