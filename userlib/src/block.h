/* SPDX-License-Identifier: MIT */
/*
 * What libkgo's blocking primitives share: the small spinlock that guards
 * each channel, mutex wait list, waitgroup and fd, the clock, a per-thread
 * random number source, and the hooks between the timer heap (timer.c)
 * and the poller thread (netpoll.c).
 *
 * Every primitive blocks the same way, after Go's gopark: the goroutine
 * links a waiter record that lives on its own stack into the object's
 * wait list under the object's lock, then calls kgo_park with the lock's
 * release as the unlock function.  kgo_park marks the goroutine waiting
 * before that release runs on the M's g0, so a waker that finds the record
 * under the lock always finds a parked goroutine.  The waker unlinks the
 * record under the lock, writes the result into it, drops the lock and
 * only then calls kgo_ready; after kgo_ready it never touches the record,
 * because the goroutine may already be running and its stack frame gone.
 *
 * Every public blocking call (channels, select, mutex, waitgroup, sleep and
 * timers, network I/O) is a thin kgo_NAME wrapper that runs NAME_in_library
 * between kgo_enter() and kgo_leave(): the spinlocks here are only ever
 * held in the library, where sysmon neither preempts a G nor takes its P.
 */
#ifndef KGO_BLOCK_H
#define KGO_BLOCK_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "internal.h"

/*
 * A test-and-test-and-set spinlock.  Critical sections are a few dozen
 * instructions and never switch goroutines (goroutines are not preempted),
 * so a waiter spins; if the holder's thread was descheduled by the OS the
 * waiter yields its CPU now and then.
 */
static inline void kgo_spin_lock(uint32_t *l)
{
	unsigned int spins = 0;

	/* Acquire: pairs with the release in kgo_spin_unlock. */
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (++spins % 128 == 0)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
	}
}

static inline void kgo_spin_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* kgo_park's unlock function for a bare spinlock. */
static inline bool kgo_spin_parkunlock(void *l)
{
	kgo_spin_unlock(l);
	return true;
}

/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline. */
static inline uint64_t kgo_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The calling goroutine, or on a thread that is not an M its stand-in G
 * (foreign.c), which kgo_park blocks in futex(2).  On an M's g0 a fatal
 * error naming @who.
 */
KGO_HIDDEN struct kgo_g *kgo_self_or_die(const char *who);

/* select.c: a uniformly distributed number in [0, n), n > 0; any thread. */
KGO_HIDDEN uint32_t kgo_fastrandn(uint32_t n);

/* chan.c: @c's element size. */
KGO_HIDDEN size_t kgo_chan_elemsize(struct kgo_chan *c);
/* chan.c: empty @c's buffer (a stale timer value) without blocking. */
KGO_HIDDEN void kgo_chan_drain(struct kgo_chan *c);

/*
 * A timer in the runtime's heap (timer.c).  Sleeps and deadlines use one
 * on the goroutine's stack; struct kgo_timer embeds one.
 */
#define KGO_TMR_NONE	SIZE_MAX	/* not in the heap */

enum {
	KGO_TMR_SLEEP,		/* ready g */
	KGO_TMR_EXPIRE,		/* a deadline: ready what expire returns */
	KGO_TMR_FUNC,		/* kgo_go(fn, arg) */
	KGO_TMR_CHAN,		/* send the time on c, if there is room */
};

struct kgo_tmr {
	uint64_t when;
	size_t idx;		/* position in the heap, or KGO_TMR_NONE */
	int kind;
	struct kgo_g *g;	/* KGO_TMR_SLEEP; EXPIRE: the one to ready */
	struct kgo_tmr *next;	/* the poller's list of Gs to ready */
	struct kgo_g *(*expire)(struct kgo_tmr *t);
	struct kgo_ctx *ctx;		/* the context watched, or NULL (ctx.c) */
	struct kgo_tmr *cnext, *cprev;	/* in its list of waiters, under its lock */
	bool watched;			/* in that list */
};

static inline bool kgo_tmr_on_stack(const struct kgo_tmr *t)
{
	return t->kind == KGO_TMR_SLEEP || t->kind == KGO_TMR_EXPIRE;
}

/*
 * Deadlines (timer.c).  kgo_deadline_arm - put @t (on the waiting G's
 * stack) in the heap for CLOCK_MONOTONIC time @when: 0, -ENOMEM, -ESRCH.
 * When it passes, the poller calls expire(t) with the heap's lock held
 * (so the lock order is heap, then the object's lock): expire takes the
 * object's lock, and if the waiter is still queued unlinks it, marks it
 * timed out and returns its G, which the poller readies after dropping
 * the heap's lock; else it notes that the deadline passed (for a waiter
 * that has not queued yet) and returns NULL.  kgo_deadline_disarm - take
 * @t out of the heap if it is still there; after it, nothing touches @t.
 * Call it once the wait is over, whatever ended it, without any object
 * lock held.
 */
KGO_HIDDEN int kgo_deadline_arm(struct kgo_tmr *t, uint64_t when,
				struct kgo_g *(*expire)(struct kgo_tmr *t));
KGO_HIDDEN void kgo_deadline_disarm(struct kgo_tmr *t);

/*
 * A wait that a deadline or the caller's context may end (timer.c,
 * ctx.c).  The internal deadline argument of the blocking calls: 0 for
 * the plain calls (neither); KGO_DL_CTX for a _deadline form given 0 (the
 * context only); else a time (both).  kgo_wait_begin - set up @t: watch
 * the calling goroutine's current context (cancel calls expire(t) as a
 * deadline would, under the context's lock: the order is context, then
 * object) and arm the timer.  0, the context's error if it is cancelled
 * already, -ETIMEDOUT if the deadline passed, or -ENOMEM.  kgo_wait_end -
 * disarm and unwatch; after it nothing touches @t.  kgo_wait_err - the
 * error of a wait that expire ended: the context's if it is cancelled,
 * else -ETIMEDOUT.  Whichever of the timer and the context ended it
 * stores the G expire returned in t->g (never NULL over a G).
 */
#define KGO_DL_CTX	UINT64_MAX
KGO_HIDDEN int kgo_wait_begin(struct kgo_tmr *t, uint64_t deadline,
			      struct kgo_g *(*expire)(struct kgo_tmr *t));
KGO_HIDDEN void kgo_wait_end(struct kgo_tmr *t);
KGO_HIDDEN int kgo_wait_err(struct kgo_tmr *t);
/*
 * timer.c: a user timer in two halves, for a caller already in the library
 * (ctx.c): unqueue it there, free its memory after kgo_leave.
 */
KGO_HIDDEN void kgo_timer_unqueue(struct kgo_timer *ut);
KGO_HIDDEN void kgo_timer_free_memory(struct kgo_timer *ut);
/* ctx.c: the calling goroutine's context watches @t (0, or its error). */
KGO_HIDDEN int kgo_ctx_watch(struct kgo_tmr *t);
KGO_HIDDEN void kgo_ctx_unwatch(struct kgo_tmr *t);

/*
 * netpoll.c, for netio.c.  kgo_fd_wait - park until @fd may be ready for
 * @mode (KGO_WAIT_READ/WRITE), or CLOCK_MONOTONIC @deadline (0: none)
 * passes: 0 (retry the system call), -ETIMEDOUT, -EBADF (kgo_close), or
 * -errno if epoll cannot wait for it (EPERM: a regular file).  Outside a
 * goroutine it waits in poll(2).  kgo_fd_acquire - a reference on @fd's
 * descriptor for one call in flight, or NULL (*err -EBADF if a kgo_close
 * is pending, else 0: go on without one); it may park while a close(2) of
 * the fd number is under way.  kgo_fd_release drops it (NULL: no-op),
 * closing the fd if it was the last and kgo_close is pending.
 * kgo_fd_close - kgo_close's work.  Both close(2) with no lock held, in
 * state G if @entered (what the caller's kgo_enter returned; syscall.h).
 */
enum { KGO_WAIT_READ, KGO_WAIT_WRITE };
struct kgo_pd;
KGO_HIDDEN int kgo_fd_wait(int fd, int mode, uint64_t deadline);
KGO_HIDDEN struct kgo_pd *kgo_fd_acquire(int fd, int *err);
KGO_HIDDEN void kgo_fd_release(struct kgo_pd *pd, bool entered);
KGO_HIDDEN int kgo_fd_close(int fd, bool entered);

/* timer.c, called by netpoll.c's poller life cycle and loop. */
KGO_HIDDEN int kgo_timers_init(int epfd, uint64_t tag);
KGO_HIDDEN void kgo_timers_run(void);
KGO_HIDDEN void kgo_timers_fini(void);

#endif /* KGO_BLOCK_H */
