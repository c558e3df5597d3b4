/* SPDX-License-Identifier: MIT */
/*
 * kgo_sema: a counting semaphore for goroutines, on kgo_park/kgo_ready.
 * Its state is guarded by a small spinlock (the struct is public and
 * fixed-size); a waiter queues itself and parks with the spinlock's
 * release as the park's unlock function, so a release that finds it in the
 * queue always finds it parked.
 */
#include <sched.h>

#include "block.h"

static void kgo_sema_lock(struct kgo_sema *s)
{
	unsigned int spins = 0;

	/* Acquire: pairs with the release in kgo_sema_unlock. */
	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED)) {
			if (++spins % 128 == 0)
				sched_yield();	/* the holder's thread was preempted */
			else
				__builtin_ia32_pause();
		}
	}
}

static void kgo_sema_unlock(struct kgo_sema *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/* kgo_park's unlock function: runs on g0 once the waiter is switched out. */
static bool kgo_sema_parkunlock(void *arg)
{
	kgo_sema_unlock(arg);
	return true;
}

void kgo_sema_init(struct kgo_sema *s, int32_t n)
{
	s->lock = 0;
	s->count = n;
	s->head = NULL;
	s->tail = NULL;
}

/* A deadline on an acquire (kgo_deadline_arm): the G and its sema. */
struct kgo_sema_dl {
	struct kgo_tmr t;
	struct kgo_sema *s;
	struct kgo_g *g;
	bool expired;		/* under s's lock */
};

/* The deadline passed (poller, heap lock held): unqueue g if queued. */
static struct kgo_g *kgo_sema_expire(struct kgo_tmr *t)
{
	struct kgo_sema_dl *d = (struct kgo_sema_dl *)t;
	struct kgo_sema *s = d->s;
	struct kgo_g *g, *prev = NULL;

	kgo_sema_lock(s);
	d->expired = true;
	for (g = s->head; g && g != d->g; prev = g, g = g->waitlink)
		;
	if (g) {
		if (prev)
			prev->waitlink = g->waitlink;
		else
			s->head = g->waitlink;
		if (s->tail == g)
			s->tail = prev;
		g->waitlink = NULL;
	}
	kgo_sema_unlock(s);
	return g;
}

static int sema_acquire_in_library(struct kgo_sema *s, struct kgo_g *g, uint64_t deadline)
{
	struct kgo_sema_dl d = { .s = s, .g = g };

	if (deadline) {
		int err;

		/* A count that is there is taken, whatever the deadline. */
		kgo_sema_lock(s);
		if (s->count > 0) {
			s->count--;
			kgo_sema_unlock(s);
			return 0;
		}
		kgo_sema_unlock(s);
		err = kgo_wait_begin(&d.t, deadline, kgo_sema_expire);
		if (err)
			return err;
	}
	kgo_sema_lock(s);
	if (s->count > 0 || d.expired) {
		bool got = s->count > 0;

		if (got)
			s->count--;
		kgo_sema_unlock(s);
		if (deadline)
			kgo_wait_end(&d.t);
		return got ? 0 : kgo_wait_err(&d.t);
	}
	g->waitlink = NULL;
	if (s->tail)
		s->tail->waitlink = g;
	else
		s->head = g;
	s->tail = g;
	/* The releaser hands its count straight to us, or the deadline
	 * unqueues us (and sets expired, which nobody else clears). */
	kgo_park(kgo_sema_parkunlock, s);
	if (!deadline)
		return 0;
	kgo_wait_end(&d.t);
	/*
	 * The timer or the context records the G its expire unqueued (and
	 * readied) in t.g, under the lock that kgo_wait_end took after it:
	 * then no count is ours.  Otherwise a release dequeued us and handed
	 * us its count.
	 */
	return d.t.g == g ? kgo_wait_err(&d.t) : 0;
}

static int sema_acquire(struct kgo_sema *s, uint64_t deadline)
{
	struct kgo_g *g = kgo_self_or_die("kgo_sema_acquire");
	/* A safe point, before the lock: nothing is held yet. */
	bool entered = kgo_enter(true);
	int r = sema_acquire_in_library(s, g, deadline);

	kgo_leave(entered);
	return r;
}

int kgo_sema_acquire_deadline(struct kgo_sema *s, uint64_t deadline)
{
	return sema_acquire(s, deadline ? deadline : KGO_DL_CTX);
}

void kgo_sema_acquire(struct kgo_sema *s)
{
	sema_acquire(s, 0);
}

void kgo_sema_release(struct kgo_sema *s)
{
	bool entered = kgo_enter(true);
	struct kgo_g *g;

	kgo_sema_lock(s);
	g = s->head;
	if (g) {
		s->head = g->waitlink;
		if (!s->head)
			s->tail = NULL;
		g->waitlink = NULL;
	} else {
		s->count++;
	}
	kgo_sema_unlock(s);
	if (g)
		kgo_ready(g);
	kgo_leave(entered);
}
