// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kgo: the file operations.  Each open creates an instance owned by
 * the opening process; every ioctl and mmap checks that the caller is a
 * thread of that process in that address space (kgo_current_is_owner), so
 * a forked, vforked or CLONE_VM child, the process after an exec, or a
 * process that received the fd over SCM_RIGHTS gets -EPERM.  Every argument is
 * copied in, checked, and refused with an errno when it makes no sense.
 */
#include <linux/bitops.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kgo.h"

static int kgo_open(struct inode *inode, struct file *file)
{
	struct kgo_inst *inst;
	int err;

	if (!current->mm)
		return -EPERM;
	inst = kgo_inst_alloc();
	if (!inst)
		return -ENOMEM;
	err = kgo_inst_charge_user(inst);
	if (err) {
		kgo_inst_put(inst);
		return err;
	}
	file->private_data = inst;
	return 0;
}

static int kgo_release(struct inode *inode, struct file *file)
{
	kgo_inst_release(file->private_data);
	return 0;
}

static int kgo_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kgo_inst *inst = file->private_data;

	if (!kgo_current_is_owner(inst))
		return -EPERM;
	if (vma->vm_pgoff >= KGO_STACKMAP_WINDOW >> PAGE_SHIFT)
		return kgo_stackmap_mmap(inst, vma);
	return kgo_inst_mmap(inst, vma);
}

static void kgo_version_fill(struct kgo_version *v)
{
	memset(v, 0, sizeof(*v));
	v->major = KGO_VERSION_MAJOR;
	v->minor = KGO_VERSION_MINOR;
	v->patch = KGO_VERSION_PATCH;
	v->features = KGO_FEAT_SHARED_RUNQ | KGO_FEAT_PROCRESIZE | KGO_FEAT_SYSMON |
		      KGO_FEAT_STACKMAP;
	v->ring_size = KGO_RING_SIZE;
	v->max_procs = kgo_max_procs;
	v->max_ms = kgo_max_ms;
}

#define KGO_PARK_FLAGS	(KGO_PARK_NOWAIT | KGO_PARK_EXITSYSCALL | KGO_PARK_STARTLOCKEDM | \
			 KGO_PARK_YIELDLOCKED | KGO_PARK_RELEASEP)

/*
 * PARK, GLOBRUNQGET and STEAL share an argument and an M check.  PARK
 * takes NOWAIT and at most one other flag.
 */
static long kgo_ioctl_park(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_park a;
	struct kgo_m *m;
	long err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.reserved || (a.flags & ~KGO_PARK_FLAGS) ||
	    hweight32(a.flags & ~KGO_PARK_NOWAIT) > 1 ||
	    (cmd != KGO_IOC_PARK && a.flags))
		return -EINVAL;
	m = kgo_m_lookup(inst, a.m);
	if (!m)
		return -ESRCH;
	if (!(a.flags & KGO_PARK_STARTLOCKEDM))
		a.g = 0;
	kgo_m_enter(inst, m);
	if (cmd == KGO_IOC_PARK)
		err = kgo_park(inst, m, a.flags, a.timeout_ns, &a.g);
	else if (cmd == KGO_IOC_GLOBRUNQGET)
		err = kgo_globrunqget_ioctl(inst, m, &a.g);
	else
		err = kgo_steal_ioctl(inst, m, &a.g);
	a.p = m->p ? m->p->id : KGO_NO_P;
	kgo_m_leave(m);
	/*
	 * The token was served (or dropped) before any sleep: a restart of
	 * this call after a signal is a plain PARK.
	 */
	a.flags &= ~KGO_PARK_STARTLOCKEDM;
	/* The P is reported even on failure: the M may have lost it. */
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return err;
}

static long kgo_ioctl_ready(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_ready a;
	struct kgo_m *m;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.flags)
		return -EINVAL;
	if (cmd == KGO_IOC_READY)
		return kgo_ready(inst, a.g);
	m = kgo_m_lookup(inst, a.m);
	if (!m)
		return -ESRCH;
	kgo_m_enter(inst, m);
	err = kgo_runqputslow(inst, m, a.g);
	kgo_m_leave(m);
	return err;
}

static long kgo_ioctl_attach(struct kgo_inst *inst, void __user *uarg)
{
	struct kgo_attach a;
	struct kgo_m *m;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.reserved || (a.flags & ~KGO_ATTACH_ACQUIRE_P))
		return -EINVAL;
	m = kgo_m_attach(inst, a.flags & KGO_ATTACH_ACQUIRE_P);
	if (IS_ERR(m))
		return PTR_ERR(m);
	a.m = m->id;
	a.p = m->p ? m->p->id : KGO_NO_P;
	if (copy_to_user(uarg, &a, sizeof(a))) {
		kgo_m_enter(inst, m);
		kgo_m_detach(inst, m);
		return -EFAULT;
	}
	return 0;
}

static long kgo_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kgo_inst *inst = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (!kgo_current_is_owner(inst))
		return -EPERM;
	atomic64_inc(&inst->stats.ioctls);

	switch (cmd) {
	case KGO_IOC_VERSION: {
		struct kgo_version v;

		kgo_version_fill(&v);
		return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
	}
	case KGO_IOC_SETUP: {
		struct kgo_setup s;
		int err;

		if (copy_from_user(&s, uarg, sizeof(s)))
			return -EFAULT;
		err = kgo_inst_setup(inst, &s);
		if (err)
			return err;
		return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
	}
	case KGO_IOC_STACKMAP: {
		struct kgo_stackmap sm;
		int err;

		if (copy_from_user(&sm, uarg, sizeof(sm)))
			return -EFAULT;
		err = kgo_stackmap_declare(inst, &sm);
		if (err)
			return err;
		return copy_to_user(uarg, &sm, sizeof(sm)) ? -EFAULT : 0;
	}
	case KGO_IOC_ATTACH:
	case KGO_IOC_DETACH:
	case KGO_IOC_PARK:
	case KGO_IOC_GLOBRUNQGET:
	case KGO_IOC_STEAL:
	case KGO_IOC_READY:
	case KGO_IOC_RUNQPUTSLOW:
	case KGO_IOC_WAKEP:
	case KGO_IOC_SET_NPROCS:
	case KGO_IOC_STATS:
	case KGO_IOC_SHUTDOWN:
	case KGO_IOC_SET_PREEMPT:
	case KGO_IOC_WANTM:
		break;
	default:
		return -ENOTTY;
	}

	/* Everything else needs the Ps. */
	if (!smp_load_acquire(&inst->ready))
		return -EBADFD;

	switch (cmd) {
	case KGO_IOC_ATTACH:
		return kgo_ioctl_attach(inst, uarg);
	case KGO_IOC_DETACH: {
		struct kgo_m *m;
		u32 id;

		if (get_user(id, (u32 __user *)uarg))
			return -EFAULT;
		m = kgo_m_lookup(inst, id);
		if (!m)
			return -ESRCH;
		/* No leave: the M is gone when detach returns. */
		kgo_m_enter(inst, m);
		return kgo_m_detach(inst, m);
	}
	case KGO_IOC_PARK:
	case KGO_IOC_GLOBRUNQGET:
	case KGO_IOC_STEAL:
		return kgo_ioctl_park(inst, cmd, uarg);
	case KGO_IOC_READY:
	case KGO_IOC_RUNQPUTSLOW:
		return kgo_ioctl_ready(inst, cmd, uarg);
	case KGO_IOC_WAKEP:
		kgo_wakep(inst);
		return 0;
	case KGO_IOC_SET_NPROCS: {
		u32 n;

		if (get_user(n, (u32 __user *)uarg))
			return -EFAULT;
		return kgo_set_nprocs(inst, n);
	}
	case KGO_IOC_STATS: {
		struct kgo_stats st;

		kgo_stats(inst, &st);
		return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
	}
	case KGO_IOC_SHUTDOWN:
		kgo_shutdown(inst);
		return 0;
	case KGO_IOC_SET_PREEMPT: {
		struct kgo_preempt pc;

		if (copy_from_user(&pc, uarg, sizeof(pc)))
			return -EFAULT;
		return kgo_set_preempt(inst, &pc);
	}
	case KGO_IOC_WANTM:
		return kgo_wantm(inst);
	}
	return -ENOTTY;	/* not reached: unknown commands were refused above */
}

static const struct file_operations kgo_fops = {
	.owner = THIS_MODULE,
	.open = kgo_open,
	.release = kgo_release,
	.mmap = kgo_mmap,
	.unlocked_ioctl = kgo_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

struct miscdevice kgo_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kgo",
	.fops = &kgo_fops,
	.mode = 0600,	/* root only; the udev rule gives group kgo 0660 */
};
