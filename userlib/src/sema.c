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

void kgo_sema_acquire(struct kgo_sema *s)
{
	struct kgo_g *g = kgo_self_or_die("kgo_sema_acquire");
	bool entered;

	/* A safe point, before the lock: nothing is held yet. */
	entered = kgo_enter(true);
	kgo_sema_lock(s);
	if (s->count > 0) {
		s->count--;
		kgo_sema_unlock(s);
		kgo_leave(entered);
		return;
	}
	g->waitlink = NULL;
	if (s->tail)
		s->tail->waitlink = g;
	else
		s->head = g;
	s->tail = g;
	/* The releaser hands its count straight to us. */
	kgo_park(kgo_sema_parkunlock, s);
	kgo_leave(entered);
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
