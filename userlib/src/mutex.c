/* SPDX-License-Identifier: MIT */
/*
 * kgo_mutex: a goroutine mutex with Go's sync.Mutex policy.
 *
 * state holds three bits: LOCKED; WAITERS (the queue is not empty, so
 * unlock must look at it); STARVING.  Uncontended lock and unlock are one
 * compare-and-swap each.  The wait queue (records on the waiters' stacks)
 * is guarded by the qlock spinlock; WAITERS is only set or cleared under
 * qlock, and only set while LOCKED is, so an unlocker whose fast path
 * fails because of it takes qlock and finds the waiter queued.
 *
 * Normal mode: unlock clears LOCKED and wakes the first waiter, which then
 * competes with goroutines that arrive meanwhile (they may barge in, which
 * keeps the lock busy instead of idle while the woken one is scheduled).
 * A woken waiter that loses goes back to the head of the queue.
 * Starvation mode, entered when a waiter has waited more than 1 ms: unlock
 * leaves LOCKED set and hands the mutex to the first waiter; newcomers
 * queue at the tail.  It ends when the queue empties or a waiter got the
 * mutex within 1 ms of starting to wait.
 *
 * kgo_mutex_lock_deadline: the waiter's record carries a timer
 * (kgo_deadline_arm); when it expires the poller unlinks the record if
 * it is queued, or marks it expired so that it does not queue again.
 */
#include "block.h"

#define KGO_MUTEX_LOCKED	1u
#define KGO_MUTEX_WAITERS	2u
#define KGO_MUTEX_STARVING	4u

#define KGO_MUTEX_STARVE_NS	1000000ull	/* 1 ms, as Go */
#define KGO_MUTEX_SPINS		4		/* rounds of brief spinning */
#define KGO_MUTEX_SPIN_PAUSES	30

struct kgo_mwaiter {
	struct kgo_tmr t;	/* the deadline, if any (first: expire casts) */
	struct kgo_g *g;
	struct kgo_mwaiter *next;
	struct kgo_mutex *mu;
	uint64_t since;		/* when it first queued */
	bool handoff;		/* unlock gave it the mutex */
	bool queued;		/* under qlock */
	bool expired;		/* under qlock: the deadline passed */
};

/*
 * The deadline passed (poller, heap lock held; the order is heap, then
 * qlock).  Unlink the waiter if it is queued.  WAITERS and STARVING may
 * stay set with the queue empty: unlock's slow path then finds nobody
 * and clears them, as after any other wait.
 */
static struct kgo_g *kgo_mutex_expire(struct kgo_tmr *t)
{
	struct kgo_mwaiter *w = (struct kgo_mwaiter *)t, *p, *prev = NULL;
	struct kgo_mutex *mu = w->mu;
	struct kgo_g *g = NULL;

	kgo_spin_lock(&mu->qlock);
	w->expired = true;
	if (w->queued) {
		for (p = mu->head; p != w; prev = p, p = p->next)
			;
		if (prev)
			prev->next = w->next;
		else
			mu->head = w->next;
		if (mu->tail == w)
			mu->tail = prev;
		w->queued = false;
		g = w->g;
	}
	kgo_spin_unlock(&mu->qlock);
	return g;
}

static bool mutex_trylock_in_library(struct kgo_mutex *mu)
{
	uint32_t s = __atomic_load_n(&mu->state, __ATOMIC_RELAXED);

	/* Acquire on success: pairs with the unlocker's release. */
	while (!(s & (KGO_MUTEX_LOCKED | KGO_MUTEX_STARVING)))
		if (__atomic_compare_exchange_n(&mu->state, &s, s | KGO_MUTEX_LOCKED, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	return false;
}

bool kgo_mutex_trylock(struct kgo_mutex *mu)
{
	bool entered = kgo_enter(true);
	bool r = mutex_trylock_in_library(mu);

	kgo_leave(entered);
	return r;
}

/* Spinning only pays when another P may be running the holder. */
static bool kgo_mutex_canspin(int round)
{
	return round < KGO_MUTEX_SPINS && kgo_nprocs() > 1;
}

/* The lock's slow path: 0, or -ETIMEDOUT once @deadline (0: none) passed. */
static int kgo_mutex_lock_slow(struct kgo_mutex *mu, uint64_t deadline)
{
	struct kgo_mwaiter w = { .mu = mu };
	bool woken = false;
	int r = 0;

	if (deadline) {
		r = kgo_wait_begin(&w.t, deadline, kgo_mutex_expire);
		if (r)
			return r;
	}
	for (;;) {
		uint32_t s;

		for (int round = 0; kgo_mutex_canspin(round); round++) {
			if (kgo_mutex_trylock(mu))
				goto out;
			for (int i = 0; i < KGO_MUTEX_SPIN_PAUSES; i++)
				__builtin_ia32_pause();
		}
		kgo_spin_lock(&mu->qlock);
		s = __atomic_load_n(&mu->state, __ATOMIC_RELAXED);
		if (!(s & KGO_MUTEX_LOCKED)) {
			/* Free (and so not starving): take it. */
			if (__atomic_compare_exchange_n(&mu->state, &s, s | KGO_MUTEX_LOCKED, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				kgo_spin_unlock(&mu->qlock);
				goto out;
			}
			kgo_spin_unlock(&mu->qlock);
			continue;
		}
		if (w.expired) {
			kgo_spin_unlock(&mu->qlock);
			r = 1;	/* ended by the deadline or the context */
			goto out;
		}
		if (!w.since)
			w.since = kgo_now();
		{
			uint32_t ns = s | KGO_MUTEX_WAITERS;

			if (woken && kgo_now() - w.since > KGO_MUTEX_STARVE_NS)
				ns |= KGO_MUTEX_STARVING;
			/* Fails only if the holder unlocked meanwhile. */
			if (!__atomic_compare_exchange_n(&mu->state, &s, ns, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
				kgo_spin_unlock(&mu->qlock);
				continue;
			}
		}
		w.g = kgo_self_or_die("kgo_mutex_lock");
		w.handoff = false;
		w.next = NULL;
		if (woken) {
			/* Lost after waiting: first in line again. */
			w.next = mu->head;
			mu->head = &w;
			if (!mu->tail)
				mu->tail = &w;
		} else {
			if (mu->tail)
				((struct kgo_mwaiter *)mu->tail)->next = &w;
			else
				mu->head = &w;
			mu->tail = &w;
		}
		w.queued = true;
		kgo_park(kgo_spin_parkunlock, &mu->qlock);
		if (w.handoff) {
			/*
			 * Ours, with LOCKED left set by the unlocker.  The
			 * unlocker's qlock release and kgo_ready order its
			 * critical section before ours.
			 */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			goto out;
		}
		woken = true;
	}
out:
	if (deadline)
		kgo_wait_end(&w.t);
	return r == 1 ? kgo_wait_err(&w.t) : r;
}

static int mutex_lock_in_library(struct kgo_mutex *mu, uint64_t deadline)
{
	uint32_t s = 0;

	/* Acquire: pairs with the unlocker's release. */
	if (__atomic_compare_exchange_n(&mu->state, &s, KGO_MUTEX_LOCKED, false,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	return kgo_mutex_lock_slow(mu, deadline);
}

static int mutex_lock(struct kgo_mutex *mu, uint64_t deadline)
{
	bool entered = kgo_enter(true);
	int r = mutex_lock_in_library(mu, deadline);

	kgo_leave(entered);
	return r;
}

int kgo_mutex_lock_deadline(struct kgo_mutex *mu, uint64_t deadline)
{
	return mutex_lock(mu, deadline ? deadline : KGO_DL_CTX);
}

void kgo_mutex_lock(struct kgo_mutex *mu)
{
	mutex_lock(mu, 0);
}

static void kgo_mutex_unlock_slow(struct kgo_mutex *mu)
{
	struct kgo_mwaiter *w;
	struct kgo_g *g;
	uint32_t s;

	kgo_spin_lock(&mu->qlock);
	s = __atomic_load_n(&mu->state, __ATOMIC_RELAXED);
	if (!(s & KGO_MUTEX_LOCKED))
		kgo_fatal("kgo_mutex_unlock of an unlocked mutex %p", (void *)mu);
	w = mu->head;
	if (w) {
		mu->head = w->next;
		if (!mu->head)
			mu->tail = NULL;
		w->queued = false;
	}
	if (w && (s & KGO_MUTEX_STARVING)) {
		/*
		 * Hand over: LOCKED stays set.  Nobody else changes state
		 * now: lockers only take a free mutex, and set WAITERS under
		 * qlock, which we hold.
		 */
		uint32_t ns = s;

		if (!mu->head)
			ns &= ~(KGO_MUTEX_WAITERS | KGO_MUTEX_STARVING);
		else if (kgo_now() - w->since < KGO_MUTEX_STARVE_NS)
			ns &= ~KGO_MUTEX_STARVING;
		w->handoff = true;
		/* Release: our critical section before the new owner's. */
		__atomic_store_n(&mu->state, ns, __ATOMIC_RELEASE);
	} else {
		uint32_t clear = KGO_MUTEX_LOCKED | KGO_MUTEX_STARVING;

		if (!mu->head)
			clear |= KGO_MUTEX_WAITERS;
		/* Release: pairs with the next locker's acquire. */
		__atomic_fetch_and(&mu->state, ~clear, __ATOMIC_RELEASE);
	}
	g = w ? w->g : NULL;
	kgo_spin_unlock(&mu->qlock);
	if (g)
		kgo_ready(g);
}

static void mutex_unlock_in_library(struct kgo_mutex *mu)
{
	uint32_t s = KGO_MUTEX_LOCKED;

	/* Release: pairs with the next locker's acquire. */
	if (__atomic_compare_exchange_n(&mu->state, &s, 0, false,
					__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return;
	kgo_mutex_unlock_slow(mu);
}

void kgo_mutex_unlock(struct kgo_mutex *mu)
{
	bool entered = kgo_enter(true);

	mutex_unlock_in_library(mu);
	kgo_leave(entered);
}
