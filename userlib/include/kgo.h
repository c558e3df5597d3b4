/* SPDX-License-Identifier: MIT */
/*
 * libkgo: goroutines for C, scheduled by Go's G-M-P algorithm, with the
 * cross-thread half of the scheduler in the kgo.ko kernel module.
 *
 *   static void hello(void *arg) { printf("hello from %s\n", (char *)arg); }
 *   static void start(void *arg) { kgo_go(hello, "a goroutine"); kgo_yield(); }
 *   int main(void) { return kgo_main(start, NULL, NULL) ? 1 : 0; }
 *
 * Words as in Go: a G is a goroutine, an M an OS thread that runs Gs, a P
 * the right to run Gs (there are GOMAXPROCS of them, "nprocs" here).
 *
 * Preemption and blocking (with a kgo.ko that has sysmon).  A G that runs
 * longer than the time slice (10 ms by default, struct kgo_config) while
 * other Gs wait for its P is preempted wherever it is, as Go does since
 * 1.14.  A G that blocks in the kernel (any system call, page fault or
 * sleep, no wrapper needed) loses its P to another M after a few tens of
 * microseconds, so the other Gs keep running.
 *
 * The contract: a goroutine changes threads only inside a kgo call.  A
 * preempted G, or one whose P was taken while it blocked, stops where it
 * is: its thread waits in the kernel for a P, and the G goes on on that
 * same thread, with no register changed, no system call failing with
 * EINTR or skipping its restart, and signals taken on that thread.  So
 * between two kgo calls a G behaves exactly as a pthread would: malloc,
 * stdio, errno, __thread variables, pthread mutexes (recursive and
 * error-checking ones too), the signal mask and rseq all see one thread.
 *
 * A kgo call that can switch goroutines may return on another thread:
 * kgo_yield, kgo_park, kgo_go, kgo_sema_acquire and every blocking call
 * below (channels, select, mutex, cond, waitgroup, sleep, timers' waits,
 * network I/O).  What belongs to the thread must not be kept across such
 * a call: the address of a thread-local variable (errno's included), a
 * pthread mutex or other lock owned by the thread, a signal mask.
 * kgo_lock_thread wires a G to its thread across every call (Go's
 * LockOSThread); kgo_preempt_disable keeps it from being preempted.  The
 * calls that never switch: kgo_ready, kgo_self, kgo_id, kgo_m_id,
 * kgo_p_id, kgo_nprocs, kgo_stats, the try and unlock calls, and the
 * calls that create or free objects.
 *
 * Each G stopped by a preemption or a handoff keeps its thread until it
 * has a P again, so threads grow with them, up to kgo.ko's max_ms per
 * instance; at that limit a preemption is put off, never failed
 * (kgo_stats' preempt_deferrals).
 *
 * Unless said otherwise, a function here must be called from a goroutine,
 * that is from code running under kgo_main().  kgo_ready(), kgo_go(),
 * kgo_go_args(), kgo_go_opts(), kgo_sema_release(), kgo_nprocs(),
 * kgo_set_nprocs() and kgo_stats() may also be called from any other
 * thread of the process while kgo_main() runs, and so may the blocking primitives below (on
 * such a thread they block the thread).
 *
 * Limits.  Goroutine stacks are slots of large mappings of /dev/kgo,
 * thousands of stacks to one memory area, each with a guard below it, so
 * the goroutines alive at once are bounded by memory, not by
 * vm.max_map_count: a parked goroutine keeps at least one 4 KiB page (a
 * million of them take about 4.1 GiB).  With an older kgo.ko, or
 * KGO_STACKS=mmap in the environment, each stack is its own mapping with
 * a guard, two memory areas, and vm.max_map_count (65530 by default)
 * bounds them to about 32,000.  Past either limit kgo_go returns -ENOMEM.
 * Stack pages are ordinary memory of the process: at a memory cgroup's
 * limit the kernel's OOM killer acts, as for any memory it touches.  The
 * stacks of goroutines that have ended are kept for reuse, and given back
 * to the kernel once they have been unused for about a second.
 *
 * Errors.  A call that can fail returns -errno (never setting errno: a
 * goroutine may change threads inside the call, and errno is per thread),
 * or, for a call that returns a pointer, NULL with errno set.  The
 * library prints nothing on stderr unless $KGO_DEBUG has warn=1 (then it
 * also says why kgo_main failed, and warns about recoverable trouble).  A
 * programming error is fatal, as a panic is in Go: a message on stderr,
 * then abort().  Such are: unlocking an unlocked mutex or rwmutex, a
 * negative waitgroup count, closing a closed channel, and readying a
 * goroutine that is not parked.
 *
 * fork.  In the child of a fork(2) made while kgo_main runs, the calls
 * that need the scheduler (kgo_go, kgo_sleep, kgo_stats, kgo_set_nprocs,
 * timers) return -ECHILD (NULL with errno ECHILD), the child's thread is
 * no goroutine, the blocking primitives work between its threads, and it
 * may start its own kgo_main.  posix_spawn and system work from a
 * goroutine.
 *
 * Threads.  Beyond the nprocs+1 Ms started at first, an M is started for
 * each G blocked in the kernel while others wait to run (plus a small pool
 * of spare Ms, kept by a spawner thread), up to kgo.ko's max_ms parameter
 * (1024 by default).
 */
#ifndef KGO_H
#define KGO_H

#include <stdbool.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KGO_STACK_DEFAULT	(64 * 1024)	/* bytes per goroutine stack */
#define KGO_STACK_MIN		(16 * 1024)
#define KGO_STACK_MAX		((size_t)1 << 30)	/* 1 GiB */
#define KGO_ARGS_MAX		1024	/* most bytes kgo_go_args() copies */

#define KGO_SLICE_DEFAULT	10000000ULL	/* ns: Go's forcePreemptNS */
#define KGO_SLICE_MIN		1000000ULL	/* ns: the shortest slice */
#define KGO_SLICE_OFF		UINT64_MAX	/* no time-slice preemption */

/*
 * kgo_config.flags.  KGO_COOPERATIVE: no sysmon at all.  A goroutine runs
 * until it yields, parks, exits or returns, and one blocked in the kernel
 * keeps its M and its P meanwhile; goroutines move between threads only
 * at those calls.
 */
#define KGO_COOPERATIVE		0x1UL

/* What kgo_main() sets up.  Zero-fill it (or pass NULL) for the defaults. */
struct kgo_config {
	int nprocs;		/* GOMAXPROCS; 0: $KGO_MAXPROCS, else online CPUs */
	size_t stack_size;	/* per goroutine, guard page not included;
				   0: KGO_STACK_DEFAULT; rounded up to pages.
				   Room for a preemption is added to it. */
	const char *device;	/* NULL: $KGO_DEVICE, else "/dev/kgo" */
	uint64_t slice_ns;	/* time slice: 0: $KGO_SLICE_MS (milliseconds,
				   or "off"), else KGO_SLICE_DEFAULT;
				   KGO_SLICE_OFF: a G is never preempted (a G
				   blocked in the kernel still loses its P);
				   else at least KGO_SLICE_MIN */
	unsigned long flags;	/* KGO_COOPERATIVE */
	unsigned long reserved[2];	/* must be 0 */
};

/* A goroutine, opaque. */
struct kgo_g;

/*
 * kgo_main - run fn(arg) as the main goroutine, on a scheduler of its own
 * (Go's rt0_go plus runtime.main).  The calling thread becomes the first
 * M.  Returns 0 once fn returns (or calls kgo_exit()), after every M has
 * stopped; goroutines still alive then are abandoned and their memory
 * freed, as when a Go program's main returns.  A goroutine still running
 * on another M is stopped at its next yield or park, or where it is at
 * the end of its slice (so with preemption off, it keeps kgo_main waiting
 * until it yields): a lock it held then, its own or the C library's
 * (malloc's, a FILE's), stays held, so end such goroutines first, as a
 * pthread program joins its threads before it goes on; one blocked
 * in a system call keeps kgo_main waiting until the call returns (Go's
 * process would just exit): make sure such calls end, e.g. close the
 * other end of a pipe, before the main goroutine returns.  Returns -errno,
 * after a message on stderr, if the scheduler cannot be started.  May be
 * called again after it returns; not from two threads at once.
 */
int kgo_main(void (*fn)(void *), void *arg, const struct kgo_config *cfg);

/*
 * kgo_go - start fn(arg) in a new goroutine (the go statement).  From a
 * goroutine the new G goes to the current P's runnext, so it runs next;
 * from another thread it goes to the global queue.  0, or -ENOMEM (no
 * stack), -ENOSPC (the global run queue is full), -ESRCH (no kgo_main).
 */
int kgo_go(void (*fn)(void *), void *arg);

/*
 * kgo_go_args - like kgo_go, but copies @size bytes at @args onto the new
 * goroutine's stack and passes fn a pointer to the copy (16-byte aligned),
 * so the caller's buffer may change at once.  -EINVAL if size exceeds
 * KGO_ARGS_MAX.  With size 0, fn gets NULL.
 */
int kgo_go_args(void (*fn)(void *), const void *args, size_t size);

/* What kgo_go_opts() changes.  Zero-fill it (or pass NULL) for kgo_go's. */
struct kgo_go_opts {
	size_t stack_size;	/* usable bytes, guard not included; 0: the
				   kgo_config.stack_size of kgo_main; else
				   KGO_STACK_MIN..KGO_STACK_MAX, rounded up to
				   pages, with room for a preemption added */
	const void *args;	/* not NULL: args_size bytes copied onto the
				   new stack, and fn gets the copy, not arg
				   (which must then be NULL), as kgo_go_args */
	size_t args_size;	/* at most KGO_ARGS_MAX; 0 without args */
	unsigned long reserved[4];	/* must be 0 */
};

/*
 * kgo_go_opts - kgo_go with options: a stack of its own size for this one
 * goroutine (a mapping of its own, unmapped when it ends), and arguments
 * copied as kgo_go_args does.  NULL @opts is kgo_go(fn, arg).  Errors as
 * kgo_go's, and -EINVAL for a size out of range, reserved fields not
 * zero, args_size without args, or both args and arg.
 */
int kgo_go_opts(void (*fn)(void *), void *arg, const struct kgo_go_opts *opts);

/* kgo_yield - let other goroutines run (Gosched): the caller goes to the
 * tail of its P's run queue. */
void kgo_yield(void);
void kgo_gosched(void);		/* the same, by Go's name */

/* kgo_exit - end the calling goroutine (Goexit).  Returning from the
 * goroutine's function does the same.  In the main goroutine it ends
 * kgo_main(). */
__attribute__((noreturn)) void kgo_exit(void);

/* kgo_id - the calling goroutine's id (the main goroutine's is 1), or 0
 * outside a goroutine. */
uint64_t kgo_id(void);

/* kgo_self - the calling goroutine, or NULL outside a goroutine. */
struct kgo_g *kgo_self(void);

/*
 * kgo_park - block the calling goroutine until kgo_ready() (gopark).  The
 * goroutine is switched out and marked waiting first; then, on the M's own
 * stack, unlock(lock) runs (if unlock is not NULL).  So a waker that finds
 * the goroutine through a structure protected by that lock cannot lose the
 * wakeup.  If unlock returns false the goroutine does not sleep: it goes on
 * at once.  unlock must not block or switch goroutines; it may call
 * kgo_ready() and kgo_go().
 */
void kgo_park(bool (*unlock)(void *), void *lock);

/*
 * kgo_ready - make a goroutine blocked in kgo_park() runnable (goready).
 * From a goroutine it goes to the current P's runnext; from another thread
 * to the global queue.  Readying a goroutine that is not parked is a bug,
 * and aborts.
 */
void kgo_ready(struct kgo_g *g);

/* kgo_nprocs - the current GOMAXPROCS, or 0 outside kgo_main(). */
int kgo_nprocs(void);

/*
 * kgo_set_nprocs - change GOMAXPROCS (at most max(initial nprocs, online
 * CPUs)).  0, -EINVAL out of range, -ESRCH outside kgo_main().  A P that
 * goes away hands its goroutines to the global queue at its M's next
 * schedule.
 */
int kgo_set_nprocs(int n);

/* kgo_m_id, kgo_p_id - which M (kernel id) and P run the caller; -1
 * outside a goroutine. */
int kgo_m_id(void);
int kgo_p_id(void);

/*
 * kgo_lock_thread - wire the calling goroutine to the thread it runs on
 * (Go's LockOSThread): until the matching kgo_unlock_thread it runs on no
 * other thread, across every kgo call, and no other goroutine runs on
 * that thread.  Calls nest.  0, or -EPERM outside a goroutine.
 * kgo_unlock_thread - undo one kgo_lock_thread; the goroutine is free to
 * move again once the count is back to 0.  0, or -EPERM outside a
 * goroutine (an unlock with nothing locked does nothing).
 */
int kgo_lock_thread(void);
int kgo_unlock_thread(void);

/*
 * kgo_preempt_disable - the calling goroutine is not preempted for its
 * time slice until the matching kgo_preempt_enable (it still may give up
 * its P while blocked in the kernel, and keeps its thread either way).
 * Nests.  kgo_preempt_enable at depth 0 yields if a preemption was asked
 * for meanwhile.  Outside a goroutine both do nothing.
 */
void kgo_preempt_disable(void);
void kgo_preempt_enable(void);

/* The module's counters (KGO_IOC_STATS), a snapshot. */
struct kgo_stats_user {
	uint32_t nprocs;
	uint32_t npidle;	/* idle Ps */
	uint32_t nms;		/* attached Ms */
	uint32_t nmidle;	/* Ms asleep */
	uint32_t nmspinning;
	uint32_t gq_len;	/* Gs in the global queue */
	uint64_t parks;		/* Ms that went to sleep */
	uint64_t wakeups;	/* Ms woken */
	uint64_t steals;
	uint64_t stolen;
	uint64_t gq_puts;
	uint64_t gq_gets;
	uint64_t readies;	/* KGO_IOC_READY calls */
	uint64_t ioctls;	/* every ioctl, this one included */
	uint64_t handoffs;	/* Ps taken from Ms blocked in the kernel */
	uint64_t preempts;	/* Gs preempted at the end of their slice */
	uint64_t exitsyscalls;	/* Ms back from a block without their P */
	uint64_t sysmon_wakeps;	/* idle Ms woken by sysmon for stranded work */
	uint64_t preempt_deferrals;	/* preemptions put off (no idle M to
					   take the P, or preemption disabled) */
	uint64_t lockedm_waits;	/* threads that waited, goroutine in hand,
				   for a P (after a preemption or a handoff) */
	uint64_t lockedm_starts;	/* Ps handed to such a waiting thread */
};

/* kgo_stats - fill @st; 0, or -ESRCH outside kgo_main(). */
int kgo_stats(struct kgo_stats_user *st);

/*
 * A counting semaphore for goroutines (Go's runtime semaphore), built on
 * kgo_park/kgo_ready.  Initialise with KGO_SEMA_INIT(n) or kgo_sema_init().
 * acquire blocks a thread that is not a goroutine; release from anywhere.  Waiters
 * are woken first in, first out.
 */
struct kgo_sema {
	uint32_t lock;
	int32_t count;
	struct kgo_g *head, *tail;
};
#define KGO_SEMA_INIT(n)	{ 0, (n), NULL, NULL }

void kgo_sema_init(struct kgo_sema *s, int32_t n);
void kgo_sema_acquire(struct kgo_sema *s);
/* 0 with one taken, -ETIMEDOUT when @deadline passes first (0: none). */
int kgo_sema_acquire_deadline(struct kgo_sema *s, uint64_t deadline);
void kgo_sema_release(struct kgo_sema *s);

/*
 * ---- Blocking the Go way: channels, select, mutexes, waitgroups, sleep,
 * timers and network I/O.  A goroutine that blocks in one of these parks:
 * its M runs other goroutines meanwhile, and sleeps in kgo.ko when there
 * are none.  Sleepers and goroutines waiting for a file descriptor are
 * woken by the runtime's single poller thread (started and stopped by
 * kgo_main), never by a thread of their own.
 *
 * Objects (channels, mutexes, ...) may be shared by goroutines on every M.
 * One that still has goroutines blocked on it when kgo_main returns must
 * not be used again, only freed: the abandoned goroutines' records stay in
 * it.  Threads that are not goroutines (plain pthreads, main before or
 * after kgo_main) may use them too: a call that has to block (send,
 * receive, select, lock, rlock, cond wait, sema acquire, waitgroup wait,
 * sleep) blocks that thread in futex(2) until a goroutine or another
 * thread wakes it, and the network calls below wait in poll(2).  Sleep
 * needs kgo_main running (its timers); the others do not.  Calls that
 * never block (close, unlock, add/done, a non-blocking select, the timer
 * calls) work from any thread while kgo_main runs.
 */

/*
 * Channels, as Go's.  kgo_chan_new - a channel of @cap elements of
 * @elem_size bytes each (elem_size may be 0: a channel of signals).
 * cap == 0 is unbuffered: a send blocks until a receiver takes the value,
 * which is copied straight from the sender's to the receiver's memory.
 * NULL with errno ENOMEM or EINVAL (elem_size * cap overflows).  May be
 * called from any thread.
 */
struct kgo_chan;
struct kgo_chan *kgo_chan_new(size_t elem_size, size_t cap);

/*
 * kgo_chan_send - copy elem_size bytes from @elem into the channel,
 * blocking while it is full (unbuffered: until a receiver takes them).
 * 0, or -EPIPE if the channel is closed, or closed while the sender
 * waited (then nobody got the value), or -EINVAL if @elem is NULL and the
 * elements are not empty.  Sends from one goroutine are received in the
 * order sent.
 */
int kgo_chan_send(struct kgo_chan *c, const void *elem);

/*
 * kgo_chan_recv - take one value into @elem (NULL: discard it), blocking
 * while the channel is empty.  1 when a value was received; 0 when the
 * channel is closed and its buffer drained, and then @elem is zeroed (the
 * zero value).  Buffered values sent before a close are still received.
 */
int kgo_chan_recv(struct kgo_chan *c, void *elem);

/*
 * kgo_chan_close - no more values may be sent.  Every blocked receiver
 * wakes (with 0 once the buffer is drained) and every blocked sender
 * wakes with -EPIPE.  Closing a closed channel is a fatal error (Go
 * panics).  May be called from any thread.
 */
void kgo_chan_close(struct kgo_chan *c);

/*
 * kgo_chan_trysend, kgo_chan_tryrecv - a send or receive that never
 * blocks (Go's select with a default case).  trysend: 0 sent, -EAGAIN if
 * it would block, -EPIPE closed, -EINVAL as kgo_chan_send.  tryrecv: 1
 * received, 0 closed and drained (@elem zeroed), -EAGAIN if it would
 * block.  Any thread while kgo_main runs.
 */
int kgo_chan_trysend(struct kgo_chan *c, const void *elem);
int kgo_chan_tryrecv(struct kgo_chan *c, void *elem);

/* kgo_chan_len, kgo_chan_cap - values buffered now; the capacity. */
size_t kgo_chan_len(struct kgo_chan *c);
size_t kgo_chan_cap(struct kgo_chan *c);

/* kgo_chan_free - free a channel no goroutine is blocked on.  NULL: no-op. */
void kgo_chan_free(struct kgo_chan *c);

/* select's cases.  A case whose chan is NULL is never ready (Go's nil
 * channel). */
enum kgo_select_dir {
	KGO_SELECT_SEND = 1,
	KGO_SELECT_RECV = 2,
};

struct kgo_select_case {
	struct kgo_chan *chan;
	int dir;		/* KGO_SELECT_SEND or KGO_SELECT_RECV */
	void *elem;		/* send: the value (only read); recv: where the
				   value goes, or NULL to discard it */
	bool ok;		/* out, for the case taken: recv, true if a value
				   was received, false if the channel is closed
				   and drained (elem zeroed); send, true if sent,
				   false if the channel is closed (-EPIPE) */
};

/*
 * kgo_select - Go's select statement: wait until one of the @n cases can
 * proceed, do it, and return its index.  Among cases ready at once one is
 * picked uniformly at random.  A send on a closed channel counts as ready
 * (and fails: ok false).  With @block false, return -1 at once if no case
 * is ready (select with a default case).  -EINVAL for a bad case (a bad
 * dir, or a send of NULL on a channel whose elements are not empty) or
 * n < 0; -ENOMEM when more than four cases need memory and there is none.
 * With no usable case and @block true, the goroutine blocks for ever, as
 * in Go.  Any number of cases; the same channel may appear several times.
 */
int kgo_select(struct kgo_select_case *cases, int n, bool block);

/*
 * Cancellation contexts (Go's context.Context).  A context is cancelled
 * by kgo_ctx_cancel (err -ECANCELED), when its deadline passes (err
 * -ETIMEDOUT), or when its parent is; then its done channel is closed
 * (Go's ctx.Done(), for kgo_select) and every context derived from it is
 * cancelled too.
 * kgo_ctx_new - a child of @parent (NULL: a root), with no deadline of
 *   its own; kgo_ctx_with_deadline - one whose deadline is @deadline
 *   (CLOCK_MONOTONIC ns, kgo_nanotime()), or the parent's if earlier.
 *   NULL with errno ENOMEM, or ESRCH for a deadline outside kgo_main.
 * kgo_ctx_release - drop the caller's reference; the context lives on
 *   while children or goroutines still use it.  Release what you make.
 * kgo_ctx_err - 0, -ECANCELED or -ETIMEDOUT.  kgo_ctx_done - the channel
 *   closed on cancel (never sent on).  kgo_ctx_deadline - 0 or the time.
 * kgo_ctx_set - make @c (may be NULL) the calling goroutine's current
 *   context; goroutines it then starts with kgo_go inherit it.  0, or
 *   -ESRCH outside a goroutine.  kgo_ctx_current - the caller's, or NULL.
 * The _deadline forms of every blocking call (channel send/recv, select,
 * mutex, sema, waitgroup, the I/O calls, kgo_wait_fd, kgo_fd_io) also
 * end with the context's error once the caller's current context is
 * cancelled, even with deadline 0 (none); the plain forms do not.
 * Any thread while kgo_main runs, except set and current.
 */
struct kgo_ctx;
struct kgo_ctx *kgo_ctx_new(struct kgo_ctx *parent);
struct kgo_ctx *kgo_ctx_with_deadline(struct kgo_ctx *parent, uint64_t deadline);
void kgo_ctx_cancel(struct kgo_ctx *c);
void kgo_ctx_release(struct kgo_ctx *c);
int kgo_ctx_err(struct kgo_ctx *c);
struct kgo_chan *kgo_ctx_done(struct kgo_ctx *c);
uint64_t kgo_ctx_deadline(struct kgo_ctx *c);
int kgo_ctx_set(struct kgo_ctx *c);
struct kgo_ctx *kgo_ctx_current(void);

/*
 * kgo_select_deadline, kgo_chan_send_deadline, kgo_chan_recv_deadline -
 * kgo_select (blocking), kgo_chan_send and kgo_chan_recv that give up at
 * @deadline (CLOCK_MONOTONIC ns; 0: none) with -ETIMEDOUT, or when the
 * calling goroutine's context is cancelled, with its error (-ECANCELED,
 * or -ETIMEDOUT for its deadline).  Otherwise as the plain calls.  From
 * a goroutine; -ENOMEM if the timer cannot be made.
 */
int kgo_select_deadline(struct kgo_select_case *cases, int n, uint64_t deadline);
int kgo_chan_send_deadline(struct kgo_chan *c, const void *elem, uint64_t deadline);
int kgo_chan_recv_deadline(struct kgo_chan *c, void *elem, uint64_t deadline);

/*
 * A mutual-exclusion lock for goroutines.  Zero-filled (KGO_MUTEX_INIT) is
 * unlocked; there is no destroy.  Not tied to a goroutine: any goroutine
 * may unlock it.  Contended, kgo_mutex_lock spins briefly (only with more
 * than one P), then parks in a FIFO queue.  Unlock wakes the first waiter,
 * which competes with goroutines arriving meanwhile (throughput); a waiter
 * that has waited longer than 1 ms switches the mutex to starvation mode,
 * where unlock hands ownership straight to the first waiter in line and
 * newcomers queue behind, until the queue empties or a waiter got the
 * lock within 1 ms (Go's sync.Mutex policy).  Unlocking an unlocked mutex
 * is a fatal error.
 */
struct kgo_mutex {
	uint32_t state;		/* locked, has waiters, starving */
	uint32_t qlock;		/* guards the wait queue */
	void *head, *tail;	/* the wait queue (private) */
};
#define KGO_MUTEX_INIT	{ 0, 0, NULL, NULL }

void kgo_mutex_lock(struct kgo_mutex *mu);
/* 0 once locked, -ETIMEDOUT when CLOCK_MONOTONIC @deadline passes first
 * (0: none), -ENOMEM / -ESRCH if its timer cannot be armed. */
int kgo_mutex_lock_deadline(struct kgo_mutex *mu, uint64_t deadline);
bool kgo_mutex_trylock(struct kgo_mutex *mu);	/* true if locked now */
void kgo_mutex_unlock(struct kgo_mutex *mu);	/* any thread */

/*
 * A wait group (Go's sync.WaitGroup).  Zero-filled (KGO_WAITGROUP_INIT) is
 * a count of 0.  kgo_waitgroup_add adds @n (may be negative); when the
 * count reaches 0 every waiter wakes; below 0 is a fatal error.
 * kgo_waitgroup_wait blocks until the count is 0.  add and done may be
 * called from any thread, and so may wait (it blocks a plain thread).
 */
struct kgo_waitgroup {
	uint32_t lock;
	uint32_t reserved;
	int64_t count;
	void *waiters;		/* private */
};
#define KGO_WAITGROUP_INIT	{ 0, 0, 0, NULL }

void kgo_waitgroup_add(struct kgo_waitgroup *wg, int64_t n);
void kgo_waitgroup_done(struct kgo_waitgroup *wg);
void kgo_waitgroup_wait(struct kgo_waitgroup *wg);
/* 0 once the count is 0, -ETIMEDOUT when @deadline passes first. */
int kgo_waitgroup_wait_deadline(struct kgo_waitgroup *wg, uint64_t deadline);

/*
 * A condition variable (Go's sync.Cond), used with a kgo_mutex.
 * Zero-filled (KGO_COND_INIT) is ready; there is no destroy.
 * kgo_cond_wait - with @mu locked by the caller: unlock it, wait for a
 *   signal or broadcast, lock it again, return.  As with any condition
 *   variable, check the condition in a loop around it.  Any thread.
 * kgo_cond_signal - wake one waiter (the longest waiting), if any.
 * kgo_cond_broadcast - wake every waiter.
 * A signal or broadcast wakes every wait that began (unlocked its mutex)
 * before it; holding the mutex while calling them is allowed, not needed.
 * signal and broadcast may be called from any thread.
 */
struct kgo_cond {
	uint32_t lock;
	uint32_t wait;		/* tickets handed out */
	uint32_t notify;	/* tickets woken */
	uint32_t reserved;
	void *head, *tail;	/* the waiters (private) */
};
#define KGO_COND_INIT	{ 0, 0, 0, 0, NULL, NULL }

void kgo_cond_wait(struct kgo_cond *c, struct kgo_mutex *mu);
void kgo_cond_signal(struct kgo_cond *c);
void kgo_cond_broadcast(struct kgo_cond *c);

/*
 * A reader/writer lock (Go's sync.RWMutex).  Zero-filled
 * (KGO_RWMUTEX_INIT) is unlocked.  Any number of readers, or one writer.
 * Writers are preferred: once a writer waits in kgo_rwmutex_lock, new
 * readers wait until it has had the lock, so a stream of readers cannot
 * starve it (and a reader must not rlock again while it holds the lock:
 * that deadlocks against a pending writer, as in Go).  Not tied to a
 * goroutine.  Unlocking one that is not locked (for writing, or reading)
 * is a fatal error.  Any thread (lock and rlock block a thread that is
 * not a goroutine); the try forms return true if locked now.
 */
struct kgo_rwmutex {
	struct kgo_mutex w;		/* held by the writer, pending or in */
	struct kgo_sema writer_sem;	/* the writer waits for readers */
	struct kgo_sema reader_sem;	/* readers wait for the writer */
	int32_t readers;		/* private */
	int32_t departing;		/* private */
};
#define KGO_RWMUTEX_INIT	{ KGO_MUTEX_INIT, KGO_SEMA_INIT(0), KGO_SEMA_INIT(0), 0, 0 }

void kgo_rwmutex_lock(struct kgo_rwmutex *rw);
bool kgo_rwmutex_trylock(struct kgo_rwmutex *rw);
void kgo_rwmutex_unlock(struct kgo_rwmutex *rw);
void kgo_rwmutex_rlock(struct kgo_rwmutex *rw);
bool kgo_rwmutex_tryrlock(struct kgo_rwmutex *rw);
void kgo_rwmutex_runlock(struct kgo_rwmutex *rw);

/*
 * kgo_once_do - call fn(arg) if no call on @o has yet (Go's sync.Once).
 * Every call returns only after fn has returned, whichever goroutine ran
 * it, and sees what fn wrote.  fn must return (not kgo_exit), and must not
 * call kgo_once_do on the same @o.  Zero-filled (KGO_ONCE_INIT) is not
 * yet done.  Any thread.
 */
struct kgo_once {
	uint32_t done;
	uint32_t reserved;
	struct kgo_mutex mu;
};
#define KGO_ONCE_INIT	{ 0, 0, KGO_MUTEX_INIT }

void kgo_once_do(struct kgo_once *o, void (*fn)(void *), void *arg);

/* kgo_numgoroutine - the goroutines that exist now (made and not yet
 * ended, the main one included), or 0 outside kgo_main.  Any thread. */
int kgo_numgoroutine(void);

/*
 * kgo_signal_notify - deliver the signals in @set to channel @c (of int
 *   elements: the signal number), as Go's signal.Notify: libkgo installs
 *   its handler for them, and a signal arriving while @c is full is
 *   dropped for @c (give it a buffer).  Several channels may want one
 *   signal; each gets it.  0, -EINVAL (a NULL argument, another element
 *   size, or SIGKILL, SIGSTOP, SIGSEGV, SIGBUS in @set), -ENOSPC (more
 *   than 64 registrations), or -errno.  Any thread, with or without
 *   kgo_main; delivery continues across kgo_main calls.
 * kgo_signal_stop - stop delivering to @c; a signal no channel wants any
 *   more gets back the action it had before kgo_signal_notify.
 * Free @c only after kgo_signal_stop(c).
 */
int kgo_signal_notify(const sigset_t *set, struct kgo_chan *c);
void kgo_signal_stop(struct kgo_chan *c);

/* kgo_nanotime - CLOCK_MONOTONIC in nanoseconds, the clock of every
 * sleep and timer.  Any thread. */
uint64_t kgo_nanotime(void);

/*
 * kgo_sleep - block the calling goroutine for at least @ns nanoseconds of
 * CLOCK_MONOTONIC; it never wakes earlier.  kgo_sleep(0) only yields.
 * 0, or -ENOMEM (no room for its timer), -ESRCH (the runtime's timers
 * are not running: kgo_main is ending).
 */
int kgo_sleep(uint64_t ns);

/*
 * Timers, served by the runtime's poller (no thread per timer).
 * kgo_timer_new - a timer that fires once, @ns from now.  With @fn it
 * runs fn(arg) in a new goroutine (Go's time.AfterFunc); with fn NULL it
 * sends the firing time (a uint64_t, kgo_nanotime's clock) on its channel,
 * kgo_timer_chan(t), which buffers one value (Go's time.NewTimer).  NULL
 * with errno ESRCH outside kgo_main, ENOMEM.
 * kgo_timer_stop - true if that stopped it before it fired.
 * kgo_timer_reset - arm it again, @ns from now; true if it was armed.
 * Stop and reset also empty the channel of a value not yet received, so a
 * receive after them never sees a stale firing (Go 1.23's rule).
 * kgo_timer_free - stop and free it; NULL is a no-op.
 * Any thread while kgo_main runs; kgo_timer_free also after it returned.
 * A timer that has not fired when kgo_main returns never fires.
 */
struct kgo_timer;
struct kgo_timer *kgo_timer_new(uint64_t ns, void (*fn)(void *), void *arg);
struct kgo_chan *kgo_timer_chan(struct kgo_timer *t);
bool kgo_timer_stop(struct kgo_timer *t);
bool kgo_timer_reset(struct kgo_timer *t, uint64_t ns);
void kgo_timer_free(struct kgo_timer *t);

/*
 * Network I/O (Go's netpoll).  These work on non-blocking file
 * descriptors (O_NONBLOCK, SOCK_NONBLOCK) that epoll supports: sockets,
 * pipes, terminals, eventfds...  Where the system call would fail with
 * EAGAIN, the goroutine parks until epoll reports the fd ready and then
 * tries again, so EAGAIN never reaches the caller.  On a blocking fd, or
 * a regular file (never EAGAIN), they still work: the system call blocks
 * the M, and sysmon hands its P to another M meanwhile, as for any system
 * call of a goroutine's own.  From a thread that is not a goroutine, or
 * for an fd of 1,048,576 or more, they wait in poll(2) instead (blocking
 * the thread).
 *
 * Errors come back as -errno (the calls never set errno: a goroutine may
 * change threads inside them, and errno is per thread).
 *
 * kgo_read - read(2): at least one byte, 0 at end of file, or -errno.
 * kgo_write - write(2) as on a blocking fd: returns once all @n bytes are
 *   written (n); if an error stops it after some bytes, that count, else
 *   -errno.
 * kgo_accept - accept4(2); the new fd is always non-blocking (@flags is
 *   or-ed with SOCK_NONBLOCK).  The fd, or -errno.  ECONNABORTED is retried.
 * kgo_connect - connect(2), waiting for the connection to complete: 0 or
 *   -errno (e.g. -ECONNREFUSED).
 * kgo_close - close(2) that first wakes every goroutine waiting in the
 *   calls here on @fd, which then return -EBADF.  If one of these calls
 *   is still in flight on @fd (between two of its system calls, say), the
 *   close(2) itself waits until the last of them returns, so the fd
 *   number is never reused under it (Go's fdMutex); meanwhile new calls
 *   on @fd fail with -EBADF.  0 or -errno (-EBADF for a second kgo_close
 *   while the first is pending).  A close(2) that blocks (SO_LINGER)
 *   blocks the caller only, as above; calls on the fd number meanwhile
 *   wait for it, then use whatever the number names by then.  Closing an
 *   fd with plain close(2) while a goroutine waits on it leaves that
 *   goroutine blocked.
 *
 * Deadlines.  The _deadline forms take an absolute CLOCK_MONOTONIC time
 * in nanoseconds (kgo_nanotime() + a timeout; 0: none) and return
 * -ETIMEDOUT once it passes while they wait (a write that wrote some
 * bytes first returns that count).  A deadline in the past fails at once
 * without a system call only if the call has to wait.
 *
 * kgo_wait_fd - park until @fd may be ready for @events (POLLIN or
 *   POLLOUT, one of them), the deadline passes (-ETIMEDOUT), or
 *   kgo_close closes it (-EBADF).  0 then: retry the system call, which
 *   may still say EAGAIN if another goroutine took the data.  -EINVAL for
 *   other events.  A regular file is always ready (0).
 * kgo_fd_io - call op(fd, arg), a non-blocking system call of the
 *   caller's that returns a count or -errno (recvmsg, sendmsg, SSL_read
 *   with its error mapped...), and while it returns -EAGAIN wait as
 *   kgo_wait_fd does and call it again.  op's result, -ETIMEDOUT or
 *   -EBADF.  The fd is held (see kgo_close) for the whole call, so op
 *   never runs on a reused fd number.  op runs as the caller's own code
 *   (if it blocks, its P is handed off as above), and must not switch
 *   goroutines (no kgo_ call that blocks).  Go's syscall.RawConn.
 */
ssize_t kgo_read(int fd, void *buf, size_t n);
ssize_t kgo_write(int fd, const void *buf, size_t n);
int kgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int kgo_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int kgo_close(int fd);

ssize_t kgo_read_deadline(int fd, void *buf, size_t n, uint64_t deadline);
ssize_t kgo_write_deadline(int fd, const void *buf, size_t n, uint64_t deadline);
int kgo_accept_deadline(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
			uint64_t deadline);
int kgo_connect_deadline(int fd, const struct sockaddr *addr, socklen_t addrlen,
			 uint64_t deadline);
int kgo_wait_fd(int fd, short events, uint64_t deadline);
ssize_t kgo_fd_io(int fd, short events, uint64_t deadline,
		  ssize_t (*op)(int fd, void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* KGO_H */
