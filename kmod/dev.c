// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kgo: the file operations.  Each open creates an instance owned by
 * the opening process; every ioctl and mmap checks that the caller is a
 * thread of that process in that address space (kgo_current_is_owner), so
 * a forked, vforked or CLONE_VM child, the process after an exec, or a
 * process that received the fd over SCM_RIGHTS gets -EPERM.  Every argument is
 * copied in, checked, and refused with an errno when it makes no sense.
 *
 * Sized arguments (the uapi header says the rules): a command is matched
 * on its type, number and direction (KGO_CMD_BASE), and the size bits of
 * the number are the caller's struct size, which its size field must
 * repeat.  copy_struct_from_user() reads exactly that many bytes: zeroes
 * for a shorter struct's missing tail, -E2BIG for a longer one's non-zero
 * tail.  For a caller of the module's own layout, the hot path (PARK,
 * READY), that is one copy_from_user() and a compare.
 */
#include <linux/bitops.h>
#include <linux/build_bug.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kgo_internal.h"

/*
 * Every sized struct: size first, VER0 within it, no tail padding (so
 * that its layout is the same for a 32-bit caller, through compat).
 */
#define KGO_ABI_CHECK(type, ver0)					\
	static_assert(offsetof(struct type, size) == 0 &&		\
		      (ver0) <= sizeof(struct type) &&			\
		      sizeof(struct type) % sizeof(u64) == 0)
KGO_ABI_CHECK(kgo_version, KGO_VERSION_SIZE_VER0);
KGO_ABI_CHECK(kgo_setup, KGO_SETUP_SIZE_VER0);
KGO_ABI_CHECK(kgo_attach, KGO_ATTACH_SIZE_VER0);
KGO_ABI_CHECK(kgo_park, KGO_PARK_SIZE_VER0);
KGO_ABI_CHECK(kgo_ready, KGO_READY_SIZE_VER0);
KGO_ABI_CHECK(kgo_stats, KGO_STATS_SIZE_VER0);
KGO_ABI_CHECK(kgo_preempt, KGO_PREEMPT_SIZE_VER0);
KGO_ABI_CHECK(kgo_stackmap, KGO_STACKMAP_SIZE_VER0);

/* A command without its size bits: what the dispatch matches. */
#define KGO_CMD_BASE(cmd)	((cmd) & ~IOCSIZE_MASK)

/*
 * kgo_arg_in - copy the sized argument of @cmd into @k, a struct of @ksize
 * bytes whose first layout was @ver0 bytes.  -EINVAL for a size under
 * @ver0 or a size field that is not the number's; -E2BIG, -EFAULT from
 * copy_struct_from_user().
 */
static int kgo_arg_in(void *k, size_t ksize, size_t ver0, unsigned int cmd,
		      const void __user *uarg)
{
	size_t usize = _IOC_SIZE(cmd);
	u32 size;
	int err;

	if (usize < ver0)
		return -EINVAL;
	err = copy_struct_from_user(k, ksize, uarg, usize);
	if (err)
		return err;
	memcpy(&size, k, sizeof(size));
	return size == usize ? 0 : -EINVAL;
}

/* Copy @k back, no further than the caller's struct reaches. */
static int kgo_arg_out(void __user *uarg, unsigned int cmd, const void *k, size_t ksize)
{
	return copy_to_user(uarg, k, min_t(size_t, _IOC_SIZE(cmd), ksize)) ? -EFAULT : 0;
}

/* Whether the @len bytes from @field on are all zero. */
static inline bool kgo_is_zero(const void *field, size_t len)
{
	return !memchr_inv(field, 0, len);
}

static int kgo_dev_open(struct inode *inode, struct file *file)
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

static int kgo_dev_release(struct inode *inode, struct file *file)
{
	kgo_inst_release(file->private_data);
	return 0;
}

static int kgo_dev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kgo_inst *inst = file->private_data;

	if (!kgo_current_is_owner(inst))
		return -EPERM;
	if (vma->vm_pgoff >= KGO_STACKMAP_WINDOW >> PAGE_SHIFT)
		return kgo_stackmap_mmap(inst, vma);
	return kgo_inst_mmap(inst, vma);
}

/* Fill in everything after @v's size. */
static void kgo_version_fill(struct kgo_version *v)
{
	u32 size = v->size;

	memset(v, 0, sizeof(*v));
	v->size = size;
	v->major = KGO_VERSION_MAJOR;
	v->minor = KGO_VERSION_MINOR;
	v->patch = KGO_VERSION_PATCH;
	v->features = KGO_FEAT_SHARED_RUNQ | KGO_FEAT_PROCRESIZE | KGO_FEAT_SYSMON |
		      KGO_FEAT_STACKMAP | KGO_FEAT_SIZED_ARGS | KGO_FEAT_READY_BATCH;
	if (kgo_blockwatch_active())
		v->features |= KGO_FEAT_BLOCK_NOTIFY;
	v->ring_size = KGO_RING_SIZE;
	v->max_procs = kgo_max_procs;
	v->max_ms = kgo_max_ms;
}

#define KGO_PARK_FLAGS	(KGO_PARK_NOWAIT | KGO_PARK_EXITSYSCALL | KGO_PARK_STARTLOCKEDM | \
			 KGO_PARK_YIELDLOCKED | KGO_PARK_RELEASEP)

/* The restart codes: never seen by user space, they re-issue the call. */
static inline bool kgo_is_restart(long err)
{
	return err == -ERESTARTSYS || err == -ERESTARTNOINTR ||
	       err == -ERESTARTNOHAND || err == -ERESTART_RESTARTBLOCK;
}

/*
 * PARK, GLOBRUNQGET and STEAL share an argument and an M check.  PARK
 * takes NOWAIT and at most one other flag, and a token in g only with
 * STARTLOCKEDM; the others take neither flags nor a timeout.
 */
static long kgo_cmd_park(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	bool park = KGO_CMD_BASE(cmd) == KGO_CMD_BASE(KGO_IOC_PARK);
	struct kgo_park a;
	struct kgo_km *m;
	long err;

	err = kgo_arg_in(&a, sizeof(a), KGO_PARK_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	if (a.p || (a.flags & ~KGO_PARK_FLAGS) ||
	    hweight32(a.flags & ~KGO_PARK_NOWAIT) > 1 ||
	    (!(a.flags & KGO_PARK_STARTLOCKEDM) && a.g) ||
	    (!park && (a.flags || a.timeout_ns)))
		return -EINVAL;
	m = kgo_m_lookup(inst, a.m);
	if (!m)
		return -ESRCH;
	kgo_m_enter(inst, m);
	if (park)
		err = kgo_ioc_park(inst, m, a.flags, a.timeout_ns, &a.g);
	else if (KGO_CMD_BASE(cmd) == KGO_CMD_BASE(KGO_IOC_GLOBRUNQGET))
		err = kgo_ioc_globrunqget(inst, m, &a.g);
	else
		err = kgo_ioc_steal(inst, m, &a.g);
	a.p = m->p ? m->p->id : KGO_NO_P;
	kgo_m_leave(m);
	/*
	 * The token was served (or dropped) before any sleep: a restart of
	 * this call after a signal is a plain PARK.
	 */
	a.flags &= ~KGO_PARK_STARTLOCKEDM;
	if (err)
		a.g = 0;
	/* The P is reported even on failure: the M may have lost it. */
	if (kgo_arg_out(uarg, cmd, &a, sizeof(a)))
		return -EFAULT;
	/*
	 * p now holds output, which a restarted call would read back as
	 * input: the caller sees the signal and asks again (uapi header).
	 */
	return kgo_is_restart(err) ? -EINTR : err;
}

/*
 * READY with a batch: g and the nr tokens at gs, copied in whole before
 * anything is queued (kgo_ioc_ready_batch checks them).
 */
static long kgo_cmd_ready_batch(struct kgo_inst *inst, const struct kgo_ready *a)
{
	u64 *gs;
	long err;

	gs = kmalloc_array(a->nr + 1, sizeof(*gs), KGO_GFP);
	if (!gs)
		return -ENOMEM;
	gs[0] = a->g;
	err = -EFAULT;
	if (!copy_from_user(gs + 1, u64_to_user_ptr(a->gs), a->nr * sizeof(*gs)))
		err = kgo_ioc_ready_batch(inst, gs, a->nr + 1);
	kfree(gs);
	return err;
}

/* READY and RUNQPUTSLOW; only RUNQPUTSLOW names an M. */
static long kgo_cmd_ready(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	bool ready = KGO_CMD_BASE(cmd) == KGO_CMD_BASE(KGO_IOC_READY);
	struct kgo_ready a;
	struct kgo_km *m;
	int err;

	err = kgo_arg_in(&a, sizeof(a), KGO_READY_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	if (a.flags || a.reserved || a.reserved1 || (ready && a.m) ||
	    (!ready && (a.gs || a.nr)) || a.nr > KGO_READY_BATCH_MAX)
		return -EINVAL;
	if (ready && a.nr)
		return kgo_cmd_ready_batch(inst, &a);
	if (ready)
		return kgo_ioc_ready(inst, a.g);
	m = kgo_m_lookup(inst, a.m);
	if (!m)
		return -ESRCH;
	kgo_m_enter(inst, m);
	err = kgo_ioc_runqputslow(inst, m, a.g);
	kgo_m_leave(m);
	return err;
}

static long kgo_cmd_attach(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_attach a;
	struct kgo_km *m;
	int err;

	err = kgo_arg_in(&a, sizeof(a), KGO_ATTACH_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	if (a.m || a.p || (a.flags & ~KGO_ATTACH_ACQUIRE_P))
		return -EINVAL;
	m = kgo_m_attach(inst, a.flags & KGO_ATTACH_ACQUIRE_P);
	if (IS_ERR(m))
		return PTR_ERR(m);
	a.m = m->id;
	a.p = m->p ? m->p->id : KGO_NO_P;
	if (kgo_arg_out(uarg, cmd, &a, sizeof(a))) {
		kgo_m_enter(inst, m);
		kgo_m_detach(inst, m);
		return -EFAULT;
	}
	return 0;
}

static long kgo_cmd_version(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_version v;
	int err;

	err = kgo_arg_in(&v, sizeof(v), KGO_VERSION_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	if (!kgo_is_zero(&v.major, sizeof(v) - offsetof(struct kgo_version, major)))
		return -EINVAL;
	kgo_version_fill(&v);
	return kgo_arg_out(uarg, cmd, &v, sizeof(v));
}

static long kgo_cmd_setup(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_setup s;
	int err;

	err = kgo_arg_in(&s, sizeof(s), KGO_SETUP_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	/* The outs; kgo_inst_setup checks the rest. */
	if (s.ring_size || s.map_size || s.sched_off || s.p_off || s.p_stride ||
	    s.m_off || s.m_stride)
		return -EINVAL;
	err = kgo_inst_setup(inst, &s);
	if (err)
		return err;
	return kgo_arg_out(uarg, cmd, &s, sizeof(s));
}

static long kgo_cmd_stackmap(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_stackmap sm;
	int err;

	err = kgo_arg_in(&sm, sizeof(sm), KGO_STACKMAP_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	if (sm.offset)
		return -EINVAL;
	err = kgo_stackmap_declare(inst, &sm);
	if (err)
		return err;
	return kgo_arg_out(uarg, cmd, &sm, sizeof(sm));
}

static long kgo_cmd_stats(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_stats st;
	u32 size;
	int err;

	err = kgo_arg_in(&st, sizeof(st), KGO_STATS_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	if (!kgo_is_zero(&st.nprocs, sizeof(st) - offsetof(struct kgo_stats, nprocs)))
		return -EINVAL;
	size = st.size;
	kgo_ioc_stats(inst, &st);
	st.size = size;
	return kgo_arg_out(uarg, cmd, &st, sizeof(st));
}

static long kgo_cmd_preempt(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_preempt pc;
	int err;

	err = kgo_arg_in(&pc, sizeof(pc), KGO_PREEMPT_SIZE_VER0, cmd, uarg);
	if (err)
		return err;
	return kgo_ioc_set_preempt(inst, &pc);
}

/* The commands without a sized struct: a bare __u32, or nothing. */
static long kgo_cmd_detach(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	struct kgo_km *m;
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

static long kgo_cmd_set_nprocs(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	u32 n;

	if (get_user(n, (u32 __user *)uarg))
		return -EFAULT;
	return kgo_ioc_set_nprocs(inst, n);
}

static long kgo_cmd_wakep(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	kgo_ioc_wakep(inst);
	return 0;
}

static long kgo_cmd_shutdown(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	kgo_ioc_shutdown(inst);
	return 0;
}

static long kgo_cmd_wantm(struct kgo_inst *inst, unsigned int cmd, void __user *uarg)
{
	return kgo_ioc_wantm(inst);
}

/*
 * Every command, once.  A sized one is matched without its size bits (its
 * handler takes the size from the number); the others must match exactly.
 * All but VERSION, SETUP and STACKMAP need the Ps (SETUP done).  The hot
 * path, PARK and READY, comes first.
 */
static const struct kgo_cmd {
	unsigned int cmd;
	bool sized;
	bool needs_setup;
	long (*fn)(struct kgo_inst *inst, unsigned int cmd, void __user *uarg);
} kgo_cmds[] = {
	{ KGO_IOC_PARK,		true,	true,	kgo_cmd_park },
	{ KGO_IOC_READY,	true,	true,	kgo_cmd_ready },
	{ KGO_IOC_GLOBRUNQGET,	true,	true,	kgo_cmd_park },
	{ KGO_IOC_STEAL,	true,	true,	kgo_cmd_park },
	{ KGO_IOC_RUNQPUTSLOW,	true,	true,	kgo_cmd_ready },
	{ KGO_IOC_VERSION,	true,	false,	kgo_cmd_version },
	{ KGO_IOC_SETUP,	true,	false,	kgo_cmd_setup },
	{ KGO_IOC_STACKMAP,	true,	false,	kgo_cmd_stackmap },
	{ KGO_IOC_ATTACH,	true,	true,	kgo_cmd_attach },
	{ KGO_IOC_STATS,	true,	true,	kgo_cmd_stats },
	{ KGO_IOC_SET_PREEMPT,	true,	true,	kgo_cmd_preempt },
	{ KGO_IOC_DETACH,	false,	true,	kgo_cmd_detach },
	{ KGO_IOC_SET_NPROCS,	false,	true,	kgo_cmd_set_nprocs },
	{ KGO_IOC_WAKEP,	false,	true,	kgo_cmd_wakep },
	{ KGO_IOC_SHUTDOWN,	false,	true,	kgo_cmd_shutdown },
	{ KGO_IOC_WANTM,	false,	true,	kgo_cmd_wantm },
};

static long kgo_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kgo_inst *inst = file->private_data;
	const struct kgo_cmd *c;

	if (!kgo_current_is_owner(inst))
		return -EPERM;
	atomic64_inc(&inst->stats.ioctls);

	for (c = kgo_cmds; c < kgo_cmds + ARRAY_SIZE(kgo_cmds); c++) {
		if (c->sized ? KGO_CMD_BASE(cmd) != KGO_CMD_BASE(c->cmd) : cmd != c->cmd)
			continue;
		/* Acquire: pairs with kgo_inst_setup's release of ready. */
		if (c->needs_setup && !smp_load_acquire(&inst->ready))
			return -EBADFD;
		return c->fn(inst, cmd, (void __user *)arg);
	}
	return -ENOTTY;
}

static const struct file_operations kgo_dev_fops = {
	.owner = THIS_MODULE,
	.open = kgo_dev_open,
	.release = kgo_dev_release,
	.mmap = kgo_dev_mmap,
	.unlocked_ioctl = kgo_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

struct miscdevice kgo_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kgo",
	.fops = &kgo_dev_fops,
	.mode = 0600,	/* root only; the udev rule gives group kgo 0660 */
};
