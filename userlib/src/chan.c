/* SPDX-License-Identifier: MIT */
/*
 * Channels: kgo_chan_new/send/recv/trysend/tryrecv/close/free, as Go's
 * hchan.
 *
 * A channel is a ring buffer of cap values plus two FIFO queues of waiting
 * goroutines, all under one spinlock.  A send first looks for a waiting
 * receiver and copies the value straight into that receiver's memory (the
 * receiver's record says where), then for room in the buffer, and only
 * then queues itself and parks.  A receive mirrors it: a waiting sender
 * first (on a full buffered channel it takes the oldest buffered value and
 * puts the sender's value at the tail, so FIFO order holds), then the
 * buffer, then, if the channel is closed, the zero value.  An unbuffered
 * channel (cap 0) never buffers: a value only ever passes from a waiting
 * goroutine to the one that finds it.
 *
 * Waiter records may belong to a select (select.c) that waits on several
 * channels at once; the first waker to claim the select's done flag wins,
 * and records of a select already won are skipped and dropped.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

struct kgo_g *kgo_self_or_die(const char *who)
{
	struct kgo_g *g = kgo_self();
	struct kgo_m *m;

	if (g)
		return g;
	m = kgo_getm();
	if (m)
		kgo_fatal("%s would block on M %u's g0", who, m->id);
	return kgo_foreign_self();	/* it blocks the thread (foreign.c) */
}

/* ---- the wait queues ---- */

void kgo_waitq_push(struct kgo_waitq *q, struct kgo_sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		q->first = sg;
	q->last = sg;
	sg->queued = true;
}

/* Unlink @sg if it is still queued on @q. */
void kgo_waitq_remove(struct kgo_waitq *q, struct kgo_sudog *sg)
{
	if (!sg->queued)
		return;
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		q->first = sg->next;
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->next = sg->prev = NULL;
	sg->queued = false;
}

/*
 * The first waiter that can still be woken, unlinked, or NULL.  A select's
 * record is only taken if this call wins its select; records of a select
 * that another channel already won are dropped on the way.
 */
static struct kgo_sudog *kgo_waitq_dequeue(struct kgo_waitq *q)
{
	struct kgo_sudog *sg;

	while ((sg = q->first)) {
		kgo_waitq_remove(q, sg);
		if (sg->sel) {
			uint32_t zero = 0;

			/*
			 * Acq_rel: orders our writes to the select's records
			 * after the claim; the select G reads them after
			 * kgo_ready, which orders them anyway.
			 */
			if (!atomic_compare_exchange_strong_explicit(&sg->sel->done, &zero, 1,
								     memory_order_acq_rel,
								     memory_order_relaxed))
				continue;
			sg->sel->winner = sg;
		}
		return sg;
	}
	return NULL;
}

/* ---- the buffer ---- */

static inline unsigned char *kgo_chan_slot(struct kgo_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

static inline void kgo_copy(void *dst, const void *src, size_t n)
{
	if (n && dst && src)
		memcpy(dst, src, n);
}

static inline void kgo_zero(void *dst, size_t n)
{
	if (n && dst)
		memset(dst, 0, n);
}

static inline size_t kgo_chan_inc(struct kgo_chan *c, size_t i)
{
	return ++i == c->cap ? 0 : i;
}

/* ---- the operations, channel locked ---- */

int kgo_chan_trysend_locked(struct kgo_chan *c, const void *elem, struct kgo_g **wake)
{
	struct kgo_sudog *sg;

	*wake = NULL;
	if (c->closed)
		return KGO_CH_CLOSED;
	sg = kgo_waitq_dequeue(&c->recvq);
	if (sg) {
		/* Straight into the receiver's memory. */
		kgo_copy(sg->elem, elem, c->elemsize);
		sg->success = true;
		*wake = sg->g;
		return KGO_CH_DONE;
	}
	if (c->qcount < c->cap) {
		kgo_copy(kgo_chan_slot(c, c->sendx), elem, c->elemsize);
		c->sendx = kgo_chan_inc(c, c->sendx);
		c->qcount++;
		return KGO_CH_DONE;
	}
	return KGO_CH_BLOCK;
}

int kgo_chan_tryrecv_locked(struct kgo_chan *c, void *elem, struct kgo_g **wake)
{
	struct kgo_sudog *sg;

	*wake = NULL;
	sg = kgo_waitq_dequeue(&c->sendq);
	if (sg) {
		if (c->cap == 0) {
			/* Unbuffered: straight from the sender's memory. */
			kgo_copy(elem, sg->elem, c->elemsize);
		} else {
			/*
			 * A sender waits, so the buffer is full: take its
			 * oldest value and put the sender's at the tail (the
			 * slot just freed, as sendx == recvx when full).
			 */
			unsigned char *slot = kgo_chan_slot(c, c->recvx);

			kgo_copy(elem, slot, c->elemsize);
			kgo_copy(slot, sg->elem, c->elemsize);
			c->recvx = kgo_chan_inc(c, c->recvx);
			c->sendx = c->recvx;
		}
		sg->success = true;
		*wake = sg->g;
		return KGO_CH_DONE;
	}
	if (c->qcount > 0) {
		unsigned char *slot = kgo_chan_slot(c, c->recvx);

		kgo_copy(elem, slot, c->elemsize);
		kgo_zero(slot, c->elemsize);
		c->recvx = kgo_chan_inc(c, c->recvx);
		c->qcount--;
		return KGO_CH_DONE;
	}
	if (c->closed) {
		kgo_zero(elem, c->elemsize);
		return KGO_CH_CLOSED;
	}
	return KGO_CH_BLOCK;
}

/* ---- the public calls ---- */

struct kgo_chan *kgo_chan_new(size_t elem_size, size_t cap)
{
	struct kgo_chan *c;
	size_t bytes;

	if (elem_size && cap > (SIZE_MAX - sizeof(*c)) / elem_size) {
		errno = EINVAL;
		return NULL;
	}
	bytes = elem_size * cap;
	c = calloc(1, sizeof(*c) + bytes);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->elemsize = elem_size;
	c->cap = cap;
	return c;
}

void kgo_chan_free(struct kgo_chan *c)
{
	free(c);
}

size_t kgo_chan_len(struct kgo_chan *c)
{
	/* In the library: the poller takes a timer channel's lock too. */
	bool entered = kgo_enter(false);
	size_t n;

	kgo_spin_lock(&c->lock);
	n = c->qcount;
	kgo_spin_unlock(&c->lock);
	kgo_leave(entered);
	return n;
}

size_t kgo_chan_cap(struct kgo_chan *c)
{
	return c->cap;
}

size_t kgo_chan_elemsize(struct kgo_chan *c)
{
	return c->elemsize;
}

/* After a try under c->lock: unlock, and ready the G it woke, if any. */
static void chan_unlock_ready(struct kgo_chan *c, struct kgo_g *wake)
{
	kgo_spin_unlock(&c->lock);
	if (wake)
		kgo_ready(wake);
}

/*
 * chan_park - with c->lock held, the calling goroutine waits on @q: a
 * record on its stack names @elem (the value to hand over, or where the
 * one received goes), then it parks, unlocking.  Whether a partner
 * dequeued the record (rather than close).  @who: the call, for the
 * message when the caller is not a goroutine.
 */
static bool chan_park(struct kgo_chan *c, struct kgo_waitq *q, void *elem, const char *who)
{
	struct kgo_sudog sg;

	memset(&sg, 0, sizeof(sg));
	sg.g = kgo_self_or_die(who);
	sg.c = c;
	sg.elem = elem;
	kgo_waitq_push(q, &sg);
	kgo_park(kgo_spin_parkunlock, &c->lock);
	return sg.success;
}

static int chan_send_in_library(struct kgo_chan *c, const void *elem)
{
	struct kgo_g *wake;
	int r;

	if (!elem && c->elemsize)
		return -EINVAL;
	kgo_spin_lock(&c->lock);
	r = kgo_chan_trysend_locked(c, elem, &wake);
	if (r != KGO_CH_BLOCK) {
		chan_unlock_ready(c, wake);
		return r == KGO_CH_DONE ? 0 : -EPIPE;
	}
	/* elem is only read, by the receiver that takes it. */
	return chan_park(c, &c->sendq, (void *)elem, "kgo_chan_send") ? 0 : -EPIPE;
}

int kgo_chan_send(struct kgo_chan *c, const void *elem)
{
	bool entered = kgo_enter(true);
	int r = chan_send_in_library(c, elem);

	kgo_leave(entered);
	return r;
}

static int chan_recv_in_library(struct kgo_chan *c, void *elem)
{
	struct kgo_g *wake;
	int r;

	kgo_spin_lock(&c->lock);
	r = kgo_chan_tryrecv_locked(c, elem, &wake);
	if (r != KGO_CH_BLOCK) {
		chan_unlock_ready(c, wake);
		return r == KGO_CH_DONE;
	}
	/* A sender filled elem (success), or close zeroed it. */
	return chan_park(c, &c->recvq, elem, "kgo_chan_recv");
}

int kgo_chan_recv(struct kgo_chan *c, void *elem)
{
	bool entered = kgo_enter(true);
	int r = chan_recv_in_library(c, elem);

	kgo_leave(entered);
	return r;
}

/* A send needs a value unless the elements are empty (a signal). */
static inline bool kgo_chan_elem_ok(struct kgo_chan *c, const void *elem)
{
	return elem || c->elemsize == 0;
}

static int chan_trysend_in_library(struct kgo_chan *c, const void *elem)
{
	struct kgo_g *wake;
	int r;

	if (!kgo_chan_elem_ok(c, elem))
		return -EINVAL;
	kgo_spin_lock(&c->lock);
	r = kgo_chan_trysend_locked(c, elem, &wake);
	chan_unlock_ready(c, wake);
	return r == KGO_CH_DONE ? 0 : r == KGO_CH_CLOSED ? -EPIPE : -EAGAIN;
}

int kgo_chan_trysend(struct kgo_chan *c, const void *elem)
{
	bool entered = kgo_enter(true);
	int r = chan_trysend_in_library(c, elem);

	kgo_leave(entered);
	return r;
}

static int chan_tryrecv_in_library(struct kgo_chan *c, void *elem)
{
	struct kgo_g *wake;
	int r;

	kgo_spin_lock(&c->lock);
	r = kgo_chan_tryrecv_locked(c, elem, &wake);
	chan_unlock_ready(c, wake);
	return r == KGO_CH_DONE ? 1 : r == KGO_CH_CLOSED ? 0 : -EAGAIN;
}

int kgo_chan_tryrecv(struct kgo_chan *c, void *elem)
{
	bool entered = kgo_enter(true);
	int r = chan_tryrecv_in_library(c, elem);

	kgo_leave(entered);
	return r;
}

static void chan_drain_in_library(struct kgo_chan *c)
{
	kgo_spin_lock(&c->lock);
	while (c->qcount) {
		kgo_zero(kgo_chan_slot(c, c->recvx), c->elemsize);
		c->recvx = kgo_chan_inc(c, c->recvx);
		c->qcount--;
	}
	kgo_spin_unlock(&c->lock);
}

void kgo_chan_drain(struct kgo_chan *c)
{
	bool entered = kgo_enter(true);

	chan_drain_in_library(c);
	kgo_leave(entered);
}

static void chan_close_in_library(struct kgo_chan *c)
{
	struct kgo_sudog *sg, *wake = NULL;

	kgo_spin_lock(&c->lock);
	if (c->closed) {
		kgo_spin_unlock(&c->lock);
		kgo_fatal("kgo_chan_close: close of closed channel %p", (void *)c);
	}
	c->closed = true;
	/* Receivers get the zero value; senders fail.  Chained on ->next. */
	while ((sg = kgo_waitq_dequeue(&c->recvq))) {
		kgo_zero(sg->elem, c->elemsize);
		sg->success = false;
		sg->next = wake;
		wake = sg;
	}
	while ((sg = kgo_waitq_dequeue(&c->sendq))) {
		sg->success = false;
		sg->next = wake;
		wake = sg;
	}
	kgo_spin_unlock(&c->lock);
	while (wake) {
		/* Read both before kgo_ready: then the record may be gone. */
		struct kgo_sudog *next = wake->next;
		struct kgo_g *g = wake->g;

		kgo_ready(g);
		wake = next;
	}
}

void kgo_chan_close(struct kgo_chan *c)
{
	bool entered = kgo_enter(true);

	chan_close_in_library(c);
	kgo_leave(entered);
}
