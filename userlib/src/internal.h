/* SPDX-License-Identifier: MIT */
/*
 * libkgo's internal types and the functions its files share: the G, the
 * M, the user-space half of a P, the runtime singleton, and the shared
 * region's accessors.
 *
 * Atomics.  The region shared with kgo.ko is laid out by the uapi header
 * with plain __u32/__u64 fields, which the module accesses with its own
 * atomics.  Casting those fields to _Atomic types would access an object
 * through an lvalue of an incompatible type, so the library uses GCC's
 * __atomic builtins on them instead: they take plain integer objects, have
 * exactly the C11 memory-model semantics (__ATOMIC_ACQUIRE is
 * memory_order_acquire, ...), and compile to the same instructions.  The
 * library's own shared state (G status, the exiting flag, counters) uses
 * <stdatomic.h> _Atomic types.
 *
 * Thread-local state.  A goroutine changes threads only inside a kgo
 * call (a switch through g0: yield, park, the blocking primitives), never
 * between two: a preemption or a handoff stops its thread in the kernel
 * and lets it go on there.  So library code that can run on a G's stack
 * reads the current M only through kgo_getm(), a call the compiler cannot
 * fold or hoist, and never keeps the result across a switch.  The
 * library's thread-locals use the initial-exec model: one %fs-relative
 * load, never a call to __tls_get_addr.
 *
 * The M slot protocol (sysmon, kgo.ko's preempt.c and lockedm.c;
 * preempt.c here).  Each M's struct kgo_shared_m says whether the M runs
 * a G's own code (state KGO_MS_G) or the library (KGO_MS_LIB); only in G
 * may sysmon take the P of a blocked M or preempt it (G -> LOST), and the
 * thread then waits in the kernel for a P before the G goes on, with the
 * state G again and the slot's p saying which P.  So:
 *   - all library code runs in LIB, but for the system calls that may
 *     block, which syscall.h brackets back into G so that sysmon can hand
 *     the P off meanwhile.  A G enters the library through
 *     kgo_enter(), which moves G -> LIB by compare-and-swap and reads its
 *     P from the slot; if it finds LOST (the thread took a signal while it
 *     waited), it waits for a P first (exitsyscall).  Only an entry that
 *     made the move (kgo_enter returned true) ends with kgo_leave(), so
 *     nested entries are free;
 *   - kgo_leave() stores G (release) as the last thing before returning
 *     to the G's code;
 *   - g0 never stores G: it switches into a G in LIB, and the G's side
 *     (kgo_mcall's caller, kgo_gostart) leaves;
 *   - preempt_req, set when a preemption found the M in the library or
 *     the G with preemption off, is honoured at the next safe entry
 *     (kgo_yield, kgo_go, ..., kgo_preempt_enable): the G goes to the
 *     global queue as if preempted.
 */
#ifndef KGO_INTERNAL_H
#define KGO_INTERNAL_H

#include <errno.h>
#include <linux/kgo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kgo.h"

#define KGO_HIDDEN	__attribute__((visibility("hidden")))

/* G status, as Go's _Gidle... */
enum {
	KGO_G_IDLE,		/* on a free list */
	KGO_G_RUNNABLE,		/* in a run queue (or about to be) */
	KGO_G_RUNNING,		/* on an M */
	KGO_G_WAITING,		/* parked */
	KGO_G_DEAD,		/* exited, not yet on a free list */
};

/* What a G asked its M's g0 to do when it switched to it. */
enum {
	KGO_ACT_NONE,
	KGO_ACT_YIELD,
	KGO_ACT_PARK,
	KGO_ACT_EXIT,
	KGO_ACT_PREEMPT,	/* to the global queue (a time slice is over) */
};

/*
 * A goroutine.  It lives at the top of its own stack mapping:
 *   [ guard (PROT_NONE) | usable stack ... | struct kgo_g ]
 * That is a slot of a region (stack.c), or, for a G that kgo_go_opts gave
 * a stack of another size, an anonymous mapping of its own (own_stack).
 */
struct kgo_g {
	void *sp;			/* saved stack pointer while switched out */
	_Atomic uint32_t status;	/* KGO_G_* */
	uint64_t id;			/* goid; 0 while free */
	struct kgo_g *schedlink;	/* free lists */
	struct kgo_g *gfree_next;	/* the global free list's next batch
					 * (kept by a batch's first G) */
	uint32_t gfree_len;		/* that batch's length */
	struct kgo_g *waitlink;		/* kgo_sema wait queues */
	struct kgo_g *alllink;		/* every G of the instance, */
	struct kgo_g *allprev;		/* doubly linked (a scavenged G leaves) */
	uint64_t gfree_time;		/* the scavenger's epoch when the batch
					 * went on the global list */
	char *map;			/* the mapping, guard included */
	size_t map_size;
	char *stack_lo;			/* lowest usable stack byte (above the guard) */
	size_t own_stack;		/* 0: a slot; else the usable bytes asked
					 * for its mapping of its own, which goes
					 * when it ends (never on a free list) */
#ifdef KGO_TSAN
	void *tsan_fiber;		/* ThreadSanitizer's fiber (tsan.h) */
#endif
	struct kgo_ctx *ctx;		/* its current context (ctx.c), or NULL */
	bool foreign;			/* a foreign thread's stand-in (foreign.c) */
	uint32_t preempt_off;		/* kgo_preempt_disable depth */
	uint32_t lockcount;		/* kgo_lock_thread depth */
	struct kgo_m *lockedm;		/* the M it is wired to, while lockcount */
};

/* Guard pages below each stack: several, as a large frame may skip one. */
#define KGO_GUARD_PAGES	4

/* The bytes at the top of a stack mapping taken by the G itself. */
#define KGO_GHDR	((sizeof(struct kgo_g) + 63) & ~(size_t)63)

/* An M: one thread, with g0 being its own (pthread) stack. */
struct kgo_m {
	uint32_t id;			/* the module's M id */
	uint32_t pid;			/* the P held, or KGO_NO_P */
	struct kgo_shared_p *p;		/* that P's shared ring, or NULL */
	struct kgo_g *curg;		/* the G running, NULL on g0 */
	void *g0_sp;			/* g0's saved stack pointer while a G runs */
	int action;			/* KGO_ACT_*, set by the G before switching */
	bool (*unlockf)(void *);	/* KGO_ACT_PARK's unlock and its argument */
	void *lock;
	pthread_t thread;
	bool attached;
	bool is_m0;			/* the thread that called kgo_main */
#ifdef KGO_TSAN
	void *tsan_g0;			/* ThreadSanitizer's fiber of g0 (tsan.h) */
#endif
	struct kgo_g *lockedg;		/* the G wired to this M (lockthread.c) */
	_Atomic uint32_t lockwake;	/* lockthread.c: its G was readied */
	void *altstack;			/* sigaltstack for overflow reports */
	size_t altstack_size;
	struct kgo_shared_m *slot;	/* the module's slot for this M, or own_slot */
	struct kgo_shared_m own_slot;	/* without sysmon: nobody else looks */
};

/* The user-space state of a P, touched only by the M that holds the P. */
struct kgo_pstate {
	uint32_t schedtick;		/* schedules on this P */
	uint32_t globcheck;		/* the schedtick of the next fairness
					 * look at the global queue */
	uint32_t ngfree;
	struct kgo_g *gfree;		/* free Gs with stacks */
} __attribute__((aligned(64)));

/* One scheduler instance: there is at most one per process at a time. */
struct kgo_rt {
	int fd;
	void *region;			/* the mmap()ed shared region */
	size_t region_size;
	struct kgo_shared_sched *ss;
	char *pbase;			/* first struct kgo_shared_p */
	size_t pstride;
	uint32_t max_procs;
	struct kgo_pstate *ps;		/* max_procs of them */

	size_t stack_size;		/* usable bytes + KGO_GHDR + preemption
					   reserve, page multiple */
	size_t stack_asked;		/* the usable bytes, as configured */
	size_t guard_size;

	char *mbase;			/* first struct kgo_shared_m, or NULL */
	size_t mstride;
	uint32_t max_ms;		/* M slots, and the most Ms started */
	uint64_t slice_ns;		/* 0: no time-slice preemption */
	uint32_t features;		/* the module's KGO_FEAT_* */
	bool sysmon;			/* the module has KGO_FEAT_SYSMON */
	bool spawner_started;
	pthread_t spawner;		/* the spare-M spawner (not an M) */

	_Atomic bool active;		/* between start-up and teardown */
	bool forked_child;		/* a fork's child of a process that ran
					   kgo_main, which has not started its own */
	_Atomic bool exiting;		/* the main G has returned */
	_Atomic uint64_t goidgen;
	_Atomic int32_t ngoroutines;	/* made by kgo_newg, not yet dead */
	_Atomic int32_t ms_attaching;	/* M threads started, ATTACH not returned */
	struct kgo_g *main_g;

	pthread_mutex_t lock;		/* the fields below */
	struct kgo_g *gfree;		/* global free list, in batches */
	_Atomic uint32_t ngfree;	/* Gs in it; read without the lock as a hint */
	struct kgo_g *allg;

	/*
	 * The M table, under mlock, not lock: kgo_newm holds it across
	 * calloc and pthread_create, which may wait for malloc's locks and
	 * so for a goroutine that waits for a P (rawmem.c), while Ms in the
	 * library, holding Ps, take lock for the free lists.  No M in the
	 * library takes mlock.
	 */
	pthread_mutex_t mlock;
	struct kgo_m **ms;		/* every M, ms[0] the caller's thread */
	uint32_t nms, ms_cap;
};

extern KGO_HIDDEN struct kgo_rt kgo_rt;

static inline struct kgo_shared_p *kgo_shared_p(uint32_t id)
{
	return (struct kgo_shared_p *)(kgo_rt.pbase + (size_t)id * kgo_rt.pstride);
}

static inline uint64_t kgo_gtok(struct kgo_g *g)
{
	return (uint64_t)(uintptr_t)g;
}

static inline struct kgo_g *kgo_tokg(uint64_t tok)
{
	return (struct kgo_g *)(uintptr_t)tok;
}

/* ctx_amd64.S */
KGO_HIDDEN void kgo_ctx_switch(void **save_sp, void *load_sp);
KGO_HIDDEN void kgo_gostart(void);
KGO_HIDDEN void kgo_goexit_frame(void);

/* preempt_amd64.S: where kgo.ko sends a G still running at shutdown */
KGO_HIDDEN void kgo_abandon_tramp(void);

/* thread.c: how the library starts its own threads */
#define KGO_THREAD_NO_SIGNALS	1u
int kgo_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg,
		     unsigned int flags);

/* preempt.c */
KGO_HIDDEN bool kgo_enter(bool safepoint);
KGO_HIDDEN void kgo_leave_g(void);
KGO_HIDDEN void kgo_abandoned(void) __attribute__((noreturn));
KGO_HIDDEN size_t kgo_preempt_stack_reserve(void);
KGO_HIDDEN int kgo_preempt_setup(void);
KGO_HIDDEN int kgo_spawner_start(void);
KGO_HIDDEN void kgo_spawner_join(void);
KGO_HIDDEN void kgo_bind_slot(struct kgo_m *m);

/* lockthread.c: Gs wired to their M (kgo_lock_thread) */
KGO_HIDDEN struct kgo_g *kgo_lockedg_park(struct kgo_m *m, struct kgo_g *g);
KGO_HIDDEN void kgo_lockedg_yield(struct kgo_m *m);
KGO_HIDDEN void kgo_lockedg_ready(struct kgo_g *g);

/*
 * kgo_leave - end what kgo_enter(@entered) began.  Inline, as is
 * kgo_preempt_pending: both are on every switch's path.
 */
static inline void kgo_leave(bool entered)
{
	if (entered)
		kgo_leave_g();
}

/*
 * kgo_preempt_pending - whether a preemption found @m in the library
 * since its G was switched in; clears the request.  @m's own thread.
 */
static inline bool kgo_preempt_pending(struct kgo_m *m)
{
	/* Relaxed: the module writes it from a task_work on this very thread. */
	if (!__atomic_load_n(&m->slot->preempt_req, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&m->slot->preempt_req, 0, __ATOMIC_RELAXED);
	return true;
}

/* runq.c: the shared ring, owner side (uapi/kgo_runq_ops.h's operations) */
KGO_HIDDEN bool kgo_runqput(struct kgo_shared_p *p, uint64_t g, bool next, uint64_t *leftover);
KGO_HIDDEN uint64_t kgo_runqget(struct kgo_shared_p *p);
KGO_HIDDEN bool kgo_runqcas_next(struct kgo_shared_p *p, uint64_t old, uint64_t new);
KGO_HIDDEN uint32_t kgo_runqlen(struct kgo_shared_p *p);

/* sched.c */
KGO_HIDDEN struct kgo_m *kgo_getm(void);
KGO_HIDDEN void kgo_setm(struct kgo_m *m);
KGO_HIDDEN int kgo_runqput_m(struct kgo_m *m, struct kgo_g *g, bool next, uint64_t *left);
KGO_HIDDEN void kgo_wakep(void);
KGO_HIDDEN void kgo_setp(struct kgo_m *m, uint32_t pid);
KGO_HIDDEN struct kgo_g *kgo_runnable_tok(struct kgo_m *m, uint64_t tok);
KGO_HIDDEN void kgo_mcall(int action, bool (*unlockf)(void *), void *lock);
KGO_HIDDEN void kgo_mloop(struct kgo_m *m);
KGO_HIDDEN struct kgo_m *kgo_allocm(void);
KGO_HIDDEN void *kgo_mstart(void *arg);
KGO_HIDDEN int kgo_newm(void);
KGO_HIDDEN int kgo_ready_ioctl(struct kgo_g *g);
KGO_HIDDEN void kgo_ready_many(struct kgo_g **gs, int n);
KGO_HIDDEN void kgo_newm_wait_attached(void);
/* Go's Gosched, through the global queue: for bench/kgo.c only (it
 * declares it itself; hidden, so not in libkgo.so's ABI). */
KGO_HIDDEN void kgo_yield_global(void);

/* proc.c */
KGO_HIDDEN struct kgo_g *kgo_newg(struct kgo_m *m, void (*fn)(void *), void *arg,
				  const void *args, size_t size, size_t stack, int *err);
KGO_HIDDEN void kgo_gdestroy(struct kgo_m *m, struct kgo_g *g);
KGO_HIDDEN void kgo_begin_exit(void);
KGO_HIDDEN void kgo_goexit0(void) __attribute__((noreturn));
KGO_HIDDEN void kgo_gfree_idle(struct kgo_m *m);
KGO_HIDDEN struct kgo_g *kgo_gfree_take_old(uint64_t before);

/* scavenge.c: gives the stacks of long-free Gs back to the kernel */
extern KGO_HIDDEN _Atomic uint64_t kgo_scavenge_epoch;	/* + 1 every round */
KGO_HIDDEN int kgo_scavenger_start(void);
KGO_HIDDEN void kgo_scavenger_stop(void);

/* ctx.c: a G's context, inherited at creation, dropped when it ends */
KGO_HIDDEN void kgo_ctx_inherit(struct kgo_g *g, struct kgo_g *from);
KGO_HIDDEN void kgo_ctx_drop(struct kgo_g *g);
KGO_HIDDEN void kgo_ctx_graveyard_drain(void);

/* Outside kgo_main: -ECHILD in a fork's child, else -ESRCH. */
static inline int kgo_no_instance(void)
{
	return kgo_rt.forked_child ? -ECHILD : -ESRCH;
}

/* fork.c, and what each file forgets in a fork's child (no other thread
 * exists there, so their locks are re-made, not taken) */
KGO_HIDDEN void kgo_fork_init(void);
KGO_HIDDEN void kgo_rt_forget_after_fork(void);
KGO_HIDDEN void kgo_timers_forget_after_fork(void);
KGO_HIDDEN void kgo_poller_forget_after_fork(void);
KGO_HIDDEN void kgo_overflow_forget_after_fork(void);
KGO_HIDDEN void kgo_signal_forget_after_fork(void);
KGO_HIDDEN void kgo_schedtrace_forget_after_fork(void);
KGO_HIDDEN void kgo_stacks_forget_after_fork(void);
KGO_HIDDEN void kgo_scavenger_forget_after_fork(void);

/* foreign.c: blocking on a thread that is not an M */
KGO_HIDDEN struct kgo_g *kgo_foreign_self(void);
KGO_HIDDEN void kgo_foreign_park(bool (*unlock)(void *), void *lock);
KGO_HIDDEN void kgo_foreign_wake(struct kgo_g *g);

/* overflow.c: runnable Gs for which every run queue was full */
KGO_HIDDEN void kgo_overflow_put(struct kgo_g *g);
KGO_HIDDEN struct kgo_g *kgo_overflow_get(void);
KGO_HIDDEN void kgo_overflow_reset(void);

/* rawmem.c: the library's growing tables, from mmap, never from malloc */
KGO_HIDDEN size_t kgo_rawmem_round(size_t bytes);
KGO_HIDDEN void *kgo_rawmem_alloc(size_t bytes);
KGO_HIDDEN void *kgo_rawmem_grow(void *p, size_t old, size_t bytes);
KGO_HIDDEN void kgo_rawmem_free(void *p, size_t bytes);

/* stack.c */
KGO_HIDDEN size_t kgo_stack_round(size_t asked);
KGO_HIDDEN struct kgo_g *kgo_stackalloc(int *err);
KGO_HIDDEN struct kgo_g *kgo_stackalloc_own(size_t asked, int *err);
KGO_HIDDEN void kgo_stack_release(struct kgo_g *g);
KGO_HIDDEN void kgo_stack_scavenge(struct kgo_g *batch);
KGO_HIDDEN void kgo_stacks_free(void);
KGO_HIDDEN int kgo_altstack_on(struct kgo_m *m);
KGO_HIDDEN void kgo_altstack_off(struct kgo_m *m);

/* segv.c: the SIGSEGV handler (stack overflows; chains to the one before) */
KGO_HIDDEN int kgo_signals_install(void);
KGO_HIDDEN void kgo_signals_restore(void);

/* netpoll.c: the poller thread (timers and fds), one per kgo_main */
KGO_HIDDEN int kgo_poller_start(void);
KGO_HIDDEN void kgo_poller_stop(void);

/* schedtrace.c */
KGO_HIDDEN void kgo_schedtrace_start(void);
KGO_HIDDEN void kgo_schedtrace_stop(void);

/* sys.c */
KGO_HIDDEN int kgo_ioctl(unsigned long req, void *arg);
KGO_HIDDEN void kgo_fatal(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
KGO_HIDDEN void kgo_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
KGO_HIDDEN bool kgo_debug(void);
KGO_HIDDEN unsigned long kgo_debug_value(const char *key);

#endif /* KGO_INTERNAL_H */
