/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo.ko's internal types: the instance (one per open of /dev/kgo), its Ps
 * and Ms, the global run queue, and the functions the files share.  (Not
 * to be confused with uapi/linux/kgo.h, the interface, or libkgo's public
 * userlib/include/kgo.h.)
 *
 * Names (docs/design.md, "Names"): what a command does is
 * kgo_ioc_<command> (kgo_ioc_park is PARK), reached through dev.c's
 * kgo_cmd_* argument checks; the module's own helpers take Go's names
 * (kgo_findrunnable, kgo_startm_locked), but never one that libkgo uses
 * for something else.
 *
 * Locking, in the manner of Go's sched.lock:
 *   inst->setup_lock (mutex)  serialises SETUP, SET_NPROCS, M attach/detach and
 *                             STACKMAP declarations.
 *   inst->lock (spinlock)     is sched.lock: the global queue, the idle-P and
 *                             idle-M lists, and which M holds which P.
 *                             Never held while sleeping or touching user memory.
 *   kgo_sysmon_lock (mutex)   the list of instances sysmon watches (sysmon.c).
 * The per-P rings are lock-free (runq.c).  nmspinning is an atomic that
 * lives in the shared region itself, so that the library's wakep check and
 * the module's see the same counter (sched.c explains the pairing).
 */
#ifndef KGO_KMOD_KGO_INTERNAL_H
#define KGO_KMOD_KGO_INTERNAL_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/math.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

struct vm_area_struct;

#include "../uapi/linux/kgo.h"

/*
 * Every allocation a process can cause: charged to its memory cgroup, and
 * failing with ENOMEM at the cgroup's limit (no OOM kill, no warning in
 * the log that a hostile process could use to flood it).
 */
#define KGO_GFP	(GFP_KERNEL_ACCOUNT | __GFP_NORETRY | __GFP_NOWARN)
/*
 * Gs moved by one overflow: the whole ring plus the one being put.  Go
 * moves half, under a lock that costs tens of nanoseconds; here each move
 * is a system call, so it moves as much as it can at once.
 */
#define KGO_BATCH_MAX		(KGO_RING_SIZE + 1)

/* ---- runq.c: one P's ring, in shared memory; all inputs untrusted ---- */

bool kgo_runqput(struct kgo_shared_p *p, u64 g, bool next, u64 *leftover);
u64 kgo_runqget(struct kgo_shared_p *p);
u32 kgo_runqgrab(struct kgo_shared_p *src, u64 *ring, u32 pos, bool steal_runnext);
u32 kgo_runqgrab_all(struct kgo_shared_p *src, u64 *buf);
u64 kgo_runqsteal(struct kgo_shared_p *dst, struct kgo_shared_p *src, bool steal_runnext);
u32 kgo_runqlen(const struct kgo_shared_p *p);
bool kgo_runqempty(const struct kgo_shared_p *p);
u32 kgo_runqputbatch(struct kgo_shared_p *p, const u64 *gs, u32 n);

/* ---- gq.c: the global run queue, bounded; caller holds q->lock ---- */

#define KGO_GQ_CHUNK_SLOTS	126

struct kgo_gq_chunk {
	struct list_head link;
	u32 head;		/* next slot to pop */
	u32 tail;		/* next slot to fill */
	u64 g[KGO_GQ_CHUNK_SLOTS];
};

struct kgo_gq {
	struct list_head chunks;	/* oldest first */
	struct kgo_gq_chunk *spare;	/* one empty chunk kept for reuse */
	u32 len;
	u32 limit;
	spinlock_t *lock;		/* the lock that guards it: inst->lock */
};

/*
 * Chunks a caller allocates, outside the lock, before kgo_gq_push(): as
 * many as the largest batch can need when the tail chunk is full.
 */
struct kgo_gq_prealloc {
	struct kgo_gq_chunk *c[DIV_ROUND_UP(KGO_BATCH_MAX, KGO_GQ_CHUNK_SLOTS)];
};

void kgo_gq_init(struct kgo_gq *q, u32 limit, spinlock_t *lock);
void kgo_gq_destroy(struct kgo_gq *q);
u32 kgo_gq_chunks_needed(const struct kgo_gq *q, u32 n);
int kgo_gq_prealloc_fill(struct kgo_gq_prealloc *pa, u32 want);
u32 kgo_gq_prealloc_count(const struct kgo_gq_prealloc *pa);
void kgo_gq_prealloc_free(struct kgo_gq_prealloc *pa);
int kgo_gq_push(struct kgo_gq *q, const u64 *gs, u32 n, struct kgo_gq_prealloc *pa);
int kgo_gq_push_token(struct kgo_gq *q, u64 tok, struct kgo_gq_prealloc *pa);
u64 kgo_gq_pop(struct kgo_gq *q);

/* ---- the instance ---- */

struct kgo_km;

struct kgo_p {
	struct kgo_shared_p *sh;	/* this P's ring in the shared region */
	struct kgo_km *m;		/* holder, or NULL; under inst->lock */
	struct list_head idle_link;	/* on inst->pidle while idle */
	u32 id;
	u32 status;			/* KGO_P_*; under inst->lock */
};

/*
 * An M, as the module sees it: struct kgo_km ("k" for the kernel's half;
 * libkgo's struct kgo_m is the user-space half).  Lifetime: a reference
 * for the instance's table (dropped at DETACH or teardown) and one per
 * pending task_work; the M holds a reference on its instance and on its
 * task.  It is freed after an RCU grace period, since sysmon looks at Ms
 * under rcu_read_lock().
 */
struct kgo_km {
	struct kgo_inst *inst;
	struct task_struct *task;	/* the attached thread (referenced) */
	struct kgo_shared_m *sh;	/* this M's slot in the shared region */
	struct kgo_p *p;		/* held P; written under inst->lock */
	struct kgo_p *nextp;		/* P handed over by startm; under inst->lock */
	struct kgo_p *oldp;		/* the P lost to a handoff; under inst->lock */
	struct list_head idle_link;	/* on inst->midle while asleep */
	wait_queue_head_t wq;		/* where this M sleeps in stopm */
	bool woken;			/* startm handed a P; under inst->lock */
	bool idle;			/* on inst->midle; under inst->lock */
	bool stopping;			/* counted in nmstopping; under inst->lock */
	bool spinning;			/* counted in nmspinning; see sched.c */
	bool detached;			/* out of the table; task_work does nothing */
	bool in_ioctl;			/* in an M ioctl: no handoff (m.c); lock */
	bool abandoned;			/* thread exec'd/exited (sysmon.c); lock */
	/*
	 * A locked M (lockedm.c): it keeps its G and waits for a P, its
	 * token (lock_seq) in a run queue; startlockedm hands it one through
	 * nextp/woken.  lock_sleeping: in the wait itself, not on its way
	 * to or from it.  All under inst->lock.
	 */
	bool lockwait;
	bool lock_sleeping;
	u32 lock_seq;
	struct list_head lock_link;	/* on inst->mlocked while waiting */
	u64 exec_id;			/* the thread's self_exec_id at ATTACH */
	u32 id;
	refcount_t ref;
	unsigned long twork_flags;	/* KGO_TWORK_* bits, atomic bitops */
	struct callback_head twork;	/* the resume work (preempt.c) */

	/* sysmon's samples; written by the sysmon thread only */
	u64 last_switches;
	u64 g_since_ns;			/* when last_switches was seen to change */
	unsigned long last_nvcsw;
	bool saw_blocked;
	u64 blocked_since_ns;

	/*
	 * blockwatch.c: the probe's stamp of the M's last block, written by
	 * the CPU that switched the thread out, read by sysmon
	 * (kgo_blockwatch_since); watch_link is in kgo_blockwatch_ms.
	 */
	struct hlist_node watch_link;
	u64 notify_at_ns;
	unsigned long notify_nvcsw, notify_nivcsw;

	struct rcu_head rcu;
	u64 batch[KGO_BATCH_MAX];	/* scratch for this M's own ioctls */
};

/* m->twork_flags */
#define KGO_TWORK_QUEUED	0	/* twork is queued on the task */
#define KGO_TWORK_PREEMPT	1	/* sysmon asks for a preemption */

struct kgo_inst_stats {
	atomic64_t parks, wakeups, steals, stolen, gq_puts, gq_gets, readies, ioctls;
	atomic64_t handoffs, preempts, exitsyscalls, sysmon_wakeps;
	atomic64_t preempt_deferrals, lockedm_waits, lockedm_starts;
	atomic64_t handoffs_notified;
};

/* What the library told SET_PREEMPT; fields read with READ_ONCE(). */
struct kgo_preempt_cfg {
	unsigned long trampoline, text_start, text_end;
	u64 slice_ns;
	u32 spare_ms;
};

/*
 * Layouts of goroutine stacks (stackmap.c), in pages.  Written under
 * setup_lock before count covers them, never changed after.
 */
struct kgo_stackmap_layout {
	unsigned long stride_pages;
	unsigned long guard_pages;
};

struct kgo_stackmaps {
	struct kgo_stackmap_layout layouts[KGO_STACKMAP_LAYOUTS];
	u32 count;			/* store-release under setup_lock */
	struct page *zero;		/* read by faults; set before count > 0 */
};

/*
 * An instance.  Lifetime: one reference for the open file and one per M;
 * the last put frees it from a workqueue (it may come from an RCU
 * callback).  The instance holds a reference on the module.
 */
struct kgo_inst {
	struct mm_struct *mm;		/* owner; mmgrab()ed */
	pid_t owner_tgid;		/* for traces and debugfs */
	struct pid *owner_pid;		/* the owner's thread group (referenced) */
	u32 id;				/* for traces and debugfs */
	kuid_t uid;			/* charged to (max_instances_per_user) */
	bool charged;
	refcount_t ref;
	struct work_struct free_work;
	struct list_head sysmon_link;	/* under kgo_sysmon_lock */
	struct mutex setup_lock;
	spinlock_t lock;		/* sched.lock */

	/* Shared region: page array, its kernel mapping, and where things are. */
	struct page **pages;
	unsigned int npages;
	void *shared;
	struct kgo_shared_sched *ss;
	size_t p_off, p_stride, m_off, m_stride;

	struct kgo_p *ps;		/* max_procs of them, fixed at setup */
	u32 max_procs;
	u32 nprocs;			/* under lock (written also under setup_lock) */
	bool ready;			/* SETUP done; then ps/shared never change */
	bool dying;			/* SHUTDOWN or teardown; under lock */

	struct list_head pidle;		/* idle Ps; under lock */
	u32 npidle;
	struct list_head midle;		/* Ms asleep in stopm; under lock */
	u32 nmidle;
	u32 nmstopping;			/* Ms on their way to stopm (sched.c); lock */
	bool wakep_pending;		/* a wakep found an idle P but no idle M */
	struct list_head mlocked;	/* Ms waiting for a P, G in hand; lock */

	struct xarray ms;		/* id -> struct kgo_km */
	u32 nms;			/* under setup_lock */
	u32 max_ms;			/* M slots, fixed at setup */
	u32 m_starting;			/* asked of the spawner, not attached yet */
	wait_queue_head_t wantm_wq;	/* the library's spawner waits here */

	struct kgo_preempt_cfg preempt;	/* written under setup_lock */

	struct kgo_gq gq;		/* under lock */
	u32 steal_seed;
	struct kgo_inst_stats stats;
	struct kgo_stackmaps stackmaps;	/* stackmap.c */
};

/*
 * nmspinning, the counter in the shared region that the module and the
 * library both update: the module uses the shared u32 as an atomic_t.
 */
static inline atomic_t *kgo_nmspinning(struct kgo_inst *inst)
{
	return (atomic_t *)&inst->ss->nmspinning;
}

/* instance.c */
struct kgo_inst *kgo_inst_alloc(void);
int kgo_inst_charge_user(struct kgo_inst *inst);
int kgo_inst_setup(struct kgo_inst *inst, struct kgo_setup *s);
void kgo_inst_release(struct kgo_inst *inst);
void kgo_inst_get(struct kgo_inst *inst);
void kgo_inst_put(struct kgo_inst *inst);
int kgo_instances_init(void);
void kgo_instances_flush(void);
void kgo_instances_exit(void);
int kgo_inst_mmap(struct kgo_inst *inst, struct vm_area_struct *vma);
struct kgo_shared_m *kgo_inst_shared_m(struct kgo_inst *inst, u32 id);
struct kgo_shared_p *kgo_inst_shared_p(struct kgo_inst *inst, u32 id);
bool kgo_current_is_owner(struct kgo_inst *inst);

/* stackmap.c */
int kgo_stackmap_declare(struct kgo_inst *inst, struct kgo_stackmap *sm);
int kgo_stackmap_mmap(struct kgo_inst *inst, struct vm_area_struct *vma);
void kgo_stackmap_free(struct kgo_inst *inst);

/* m.c: Ms (attach, detach, lookup, ioctl entry) and the spare-M wait */
struct kgo_km *kgo_m_attach(struct kgo_inst *inst, bool acquire_p);
int kgo_m_detach(struct kgo_inst *inst, struct kgo_km *m);
struct kgo_km *kgo_m_lookup(struct kgo_inst *inst, u32 id);
void kgo_m_put(struct kgo_km *m);
void kgo_m_drop_all(struct kgo_inst *inst);
bool kgo_m_task_is_ours(struct kgo_km *m);
void kgo_m_enter(struct kgo_inst *inst, struct kgo_km *m);
void kgo_m_leave(struct kgo_km *m);
void kgo_stopping_begin_locked(struct kgo_inst *inst, struct kgo_km *m);
void kgo_stopping_end_locked(struct kgo_inst *inst, struct kgo_km *m);
int kgo_ioc_wantm(struct kgo_inst *inst);
void kgo_wantm_kick(struct kgo_inst *inst);

/* sched.c: PARK, READY, WAKEP, RUNQPUTSLOW, GLOBRUNQGET, STEAL, SHUTDOWN */
int kgo_ioc_park(struct kgo_inst *inst, struct kgo_km *m, u32 flags, u64 timeout_ns, u64 *g);
int kgo_ioc_ready(struct kgo_inst *inst, u64 g);
int kgo_ioc_ready_batch(struct kgo_inst *inst, const u64 *gs, u32 n);
void kgo_ioc_wakep(struct kgo_inst *inst);
int kgo_ioc_runqputslow(struct kgo_inst *inst, struct kgo_km *m, u64 g);
int kgo_ioc_globrunqget(struct kgo_inst *inst, struct kgo_km *m, u64 *g);
int kgo_ioc_steal(struct kgo_inst *inst, struct kgo_km *m, u64 *g);
void kgo_ioc_shutdown(struct kgo_inst *inst);
int kgo_globrunqputbatch(struct kgo_inst *inst, const u64 *gs, u32 n);
int kgo_gq_put_token(struct kgo_inst *inst, u64 tok);
bool kgo_anywork(struct kgo_inst *inst);

/* sched.c: helpers for the other files; inst->lock held */
void kgo_publish_locked(struct kgo_inst *inst);
void kgo_pidleput(struct kgo_inst *inst, struct kgo_p *p);
struct kgo_p *kgo_pidleget(struct kgo_inst *inst);
void kgo_acquirep(struct kgo_km *m, struct kgo_p *p);
struct kgo_p *kgo_releasep(struct kgo_km *m);
bool kgo_startm_locked(struct kgo_inst *inst, struct kgo_p *p, bool spinning);

/* stats.c */
void kgo_ioc_stats(struct kgo_inst *inst, struct kgo_stats *st);

/* procresize.c */
int kgo_ioc_set_nprocs(struct kgo_inst *inst, u32 n);
bool kgo_dropdeadp(struct kgo_inst *inst, struct kgo_km *m);
void kgo_drainp(struct kgo_inst *inst, struct kgo_p *p, u64 *batch);

/* sysmon.c */
#define KGO_SYSMON_MIN_NS	(20 * NSEC_PER_USEC)
/*
 * While a P runs, at most 500us between passes: a block or an overrun is
 * acted on by the second pass that sees it, so within two periods (and
 * the 1/8 slack), which must stay under the 2 ms the library promises.
 */
#define KGO_SYSMON_BUSY_MAX_NS	(500 * NSEC_PER_USEC)
#define KGO_SYSMON_IDLE_MAX_NS	(10 * NSEC_PER_MSEC)
#define KGO_SYSMON_DUTY		4	/* sleep at least 4x a pass: <= 1/5 of a CPU */
#define KGO_HANDOFF_ALWAYS_NS	(10 * NSEC_PER_MSEC)
/*
 * A block the scheduler told us about (blockwatch.c) is acted on once it
 * has lasted this long: Go's 20 us, below which a handoff (waking another
 * thread, moving the P) costs more than waiting.
 */
#define KGO_BLOCK_NOTIFY_NS	(20 * NSEC_PER_USEC)

/* RECHECK: nothing now, but the next pass soon (a block it may act on). */
enum kgo_retake_action {
	KGO_RETAKE_NONE, KGO_RETAKE_RECHECK, KGO_RETAKE_HANDOFF, KGO_RETAKE_PREEMPT
};

struct kgo_retake_sample {
	bool blocked;		/* the M's thread sleeps in the kernel */
	bool same_block;	/* ... and has since the previous sample */
	bool notified;		/* ... as the scheduler told (blockwatch.c) */
	u64 blocked_ns;		/* for this long */
	bool p_has_work;	/* its P's queue or the global queue has Gs */
	bool no_spare;		/* no idle P and no spinning M anywhere else */
	bool work_waiting;	/* a G waits to run: any ring or the global queue */
	u32 m_state;		/* KGO_MS_* from the M's slot */
	u64 g_ran_ns;		/* how long the current G has run */
	u64 slice_ns;		/* 0: preemption off */
};

/*
 * What sysmon's passes cost (debugfs's kgo/sysmon_*, for the threat
 * model's measurement, tests/user/sysmon_cost.c).  Written by the sysmon
 * thread only, with WRITE_ONCE; read by debugfs without a lock (aligned
 * u64s: a reader sees one value or the other).  Root may write 0 to
 * kgo_sysmon_worst_ns through debugfs to start a new measurement: a store
 * racing with sysmon's loses one of the two, which only shifts the window.
 */
extern u64 kgo_sysmon_passes, kgo_sysmon_pass_ns, kgo_sysmon_worst_ns;

u64 kgo_sysmon_next_delay(u64 delay, u32 idle_cycles, bool busy);
u64 kgo_sysmon_sleep_ns(u64 delay, u64 cost_ns);
u64 kgo_sysmon_cost_est(u64 est, u64 cost_ns);
enum kgo_retake_action kgo_retake_decide(const struct kgo_retake_sample *s);
bool kgo_handoffp(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p);
bool kgo_handoffp_locked(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p);
void kgo_m_abandon(struct kgo_inst *inst, struct kgo_km *m, struct kgo_p *p);
extern struct mutex kgo_sysmon_lock;
extern struct list_head kgo_sysmon_list;
void kgo_sysmon_register(struct kgo_inst *inst);
void kgo_sysmon_unregister(struct kgo_inst *inst);
int kgo_sysmon_start(void);
void kgo_sysmon_stop(void);
void kgo_sysmon_kick(void);
u64 kgo_sysmon_next_ok_ns(void);

/* blockwatch.c */
void kgo_blockwatch_init(void);
void kgo_blockwatch_exit(void);
void kgo_blockwatch_add(struct kgo_km *m);
void kgo_blockwatch_del(struct kgo_km *m);
bool kgo_blockwatch_since(struct kgo_km *m, unsigned long nvcsw, u64 *at);
bool kgo_blockwatch_active(void);

/* preempt.c */
int kgo_ioc_set_preempt(struct kgo_inst *inst, const struct kgo_preempt *pc);
bool kgo_m_queue_resume_work(struct kgo_km *m);

/* Why a thread stopped where it was (the kgo_preempt trace event). */
enum kgo_stop_reason {
	KGO_STOP_SLICE = 1,	/* preempted: ran longer than the slice */
	KGO_STOP_LOST_P,	/* its P was handed off while it blocked */
	KGO_STOP_SHUTDOWN,	/* sent to the library's trampoline for good */
};

/* lockedm.c: Ms that keep their G and wait for a P */
int kgo_waitp(struct kgo_inst *inst, struct kgo_km *m);
bool kgo_preempt_in_place(struct kgo_inst *inst, struct kgo_km *m, bool by_sysmon);
bool kgo_startlockedm(struct kgo_inst *inst, struct kgo_km *m, u64 tok);
void kgo_releasep_handoff(struct kgo_inst *inst, struct kgo_km *m);
void kgo_lockedm_shutdown_locked(struct kgo_inst *inst);
bool kgo_startlockedm_any_locked(struct kgo_inst *inst, struct kgo_p *p);
void kgo_lockwait_end_locked(struct kgo_km *m);
bool kgo_p_wanted(struct kgo_inst *inst, struct kgo_p *p);

/* debugfs.c */
void kgo_debugfs_init(void);
void kgo_debugfs_exit(void);

/* dev.c */
extern struct miscdevice kgo_miscdev;

/* module.c: module parameters */
extern unsigned int kgo_max_procs;
extern unsigned int kgo_max_ms;
extern unsigned int kgo_gq_limit;
extern unsigned int kgo_default_ms;
extern unsigned int kgo_max_insts_per_user;

#endif /* KGO_KMOD_KGO_INTERNAL_H */
