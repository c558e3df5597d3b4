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

/* The calling goroutine, or a fatal error naming @who outside one. */
KGO_HIDDEN struct kgo_g *kgo_self_or_die(const char *who);

/* select.c: a uniformly distributed number in [0, n), n > 0; any thread. */
KGO_HIDDEN uint32_t kgo_fastrandn(uint32_t n);

/* chan.c: empty @c's buffer (a stale timer value) without blocking. */
KGO_HIDDEN void kgo_chan_drain(struct kgo_chan *c);

/* timer.c, called by netpoll.c's poller life cycle and loop. */
KGO_HIDDEN int kgo_timers_init(int epfd, uint64_t tag);
KGO_HIDDEN void kgo_timers_run(void);
KGO_HIDDEN void kgo_timers_fini(void);

#endif /* KGO_BLOCK_H */
