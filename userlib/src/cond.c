/* SPDX-License-Identifier: MIT */
/*
 * kgo_cond: a condition variable for goroutines (Go's sync.Cond), on a
 * ticket list as Go's runtime notifyList.
 *
 * A waiter takes a ticket (wait, an atomic counter) while it still holds
 * its mutex, then unlocks the mutex and queues a record for that ticket.
 * notify counts the tickets already woken: signal wakes ticket notify and
 * moves notify on; broadcast moves notify up to wait and wakes every
 * record.  A waiter that comes to queue after its ticket was woken (it
 * took the ticket, then a signal ran before it queued) sees its ticket
 * below notify and does not park.  So a signal or broadcast made after a
 * waiter's ticket, which is to say after the waiter unlocked the mutex,
 * always wakes it: no lost wakeups, whatever the order in which records
 * reach the list.  The list and notify are guarded by the spinlock; wait
 * is only ever added to.  Ticket comparisons wrap around.
 */
#include "block.h"

struct kgo_cwaiter {
	struct kgo_g *g;
	struct kgo_cwaiter *next;
	uint32_t ticket;
};

/* Whether ticket @a comes before @b, modulo 2^32. */
static inline bool kgo_ticket_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static void cond_wait_in_library(struct kgo_cond *c, uint32_t ticket)
{
	struct kgo_cwaiter w;

	kgo_spin_lock(&c->lock);
	if (kgo_ticket_before(ticket, c->notify)) {
		/* Signalled between our ticket and now. */
		kgo_spin_unlock(&c->lock);
		return;
	}
	w.g = kgo_self_or_die("kgo_cond_wait");
	w.ticket = ticket;
	w.next = NULL;
	if (c->tail)
		((struct kgo_cwaiter *)c->tail)->next = &w;
	else
		c->head = &w;
	c->tail = &w;
	kgo_park(kgo_spin_parkunlock, &c->lock);
}

void kgo_cond_wait(struct kgo_cond *c, struct kgo_mutex *mu)
{
	/* Seq_cst: the ticket is taken before the unlock below publishes it. */
	uint32_t ticket = __atomic_fetch_add(&c->wait, 1, __ATOMIC_SEQ_CST);
	bool entered;

	kgo_mutex_unlock(mu);
	entered = kgo_enter(true);
	cond_wait_in_library(c, ticket);
	kgo_leave(entered);
	kgo_mutex_lock(mu);
}

/* Unlink and return the record for @ticket, or NULL (not queued yet). */
static struct kgo_cwaiter *kgo_cond_take(struct kgo_cond *c, uint32_t ticket)
{
	struct kgo_cwaiter *w, *prev = NULL;

	for (w = c->head; w; prev = w, w = w->next) {
		if (w->ticket != ticket)
			continue;
		if (prev)
			prev->next = w->next;
		else
			c->head = w->next;
		if (c->tail == w)
			c->tail = prev;
		return w;
	}
	return NULL;
}

static void cond_signal_in_library(struct kgo_cond *c)
{
	struct kgo_cwaiter *w;
	struct kgo_g *g = NULL;

	/*
	 * Nobody waits: no lock.  Seq_cst on wait pairs with the waiter's add
	 * (a waiter that took its ticket before our caller locked the mutex is
	 * seen); notify only changes under the lock.
	 */
	if (__atomic_load_n(&c->wait, __ATOMIC_SEQ_CST) ==
	    __atomic_load_n(&c->notify, __ATOMIC_RELAXED))
		return;
	kgo_spin_lock(&c->lock);
	if (__atomic_load_n(&c->wait, __ATOMIC_RELAXED) != c->notify) {
		uint32_t ticket = c->notify;

		__atomic_store_n(&c->notify, ticket + 1, __ATOMIC_RELAXED);
		w = kgo_cond_take(c, ticket);
		if (w)
			g = w->g;
	}
	kgo_spin_unlock(&c->lock);
	if (g)
		kgo_ready(g);
}

void kgo_cond_signal(struct kgo_cond *c)
{
	bool entered = kgo_enter(true);

	cond_signal_in_library(c);
	kgo_leave(entered);
}

static void cond_broadcast_in_library(struct kgo_cond *c)
{
	struct kgo_cwaiter *w;

	if (__atomic_load_n(&c->wait, __ATOMIC_SEQ_CST) ==
	    __atomic_load_n(&c->notify, __ATOMIC_RELAXED))
		return;
	kgo_spin_lock(&c->lock);
	__atomic_store_n(&c->notify, __atomic_load_n(&c->wait, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	w = c->head;
	c->head = c->tail = NULL;
	kgo_spin_unlock(&c->lock);
	while (w) {
		/* Both read before kgo_ready: then the record may be gone. */
		struct kgo_cwaiter *next = w->next;
		struct kgo_g *g = w->g;

		kgo_ready(g);
		w = next;
	}
}

void kgo_cond_broadcast(struct kgo_cond *c)
{
	bool entered = kgo_enter(true);

	cond_broadcast_in_library(c);
	kgo_leave(entered);
}
