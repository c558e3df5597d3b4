/* SPDX-License-Identifier: MIT */
/*
 * A channel's insides, shared by chan.c (send, receive, close) and
 * select.c: the ring buffer, the two queues of waiting goroutines, and the
 * waiter record (Go's sudog) each waiting goroutine keeps on its stack.
 *
 * Every field of a channel is guarded by its spinlock.  A waiter record
 * in a queue belongs to a parked goroutine (or one that is about to check
 * its queues under the same lock, in select), so it stays valid for as
 * long as it is queued; the goroutine that dequeues it owns it until it
 * calls kgo_ready.
 */
#ifndef KGO_CHAN_H
#define KGO_CHAN_H

#include "block.h"

/* One select's shared state: which of its records won. */
struct kgo_selstate {
	_Atomic uint32_t done;		/* 0 until one waker claims the select */
	struct kgo_sudog *winner;	/* written by that waker before it readies */
};

/* A goroutine waiting on one channel (Go's sudog). */
struct kgo_sudog {
	struct kgo_g *g;
	struct kgo_sudog *next, *prev;	/* in the channel's queue */
	struct kgo_chan *c;
	void *elem;			/* send: the value; recv: where it goes (or NULL) */
	struct kgo_selstate *sel;	/* NULL: a plain send or receive */
	int casei;			/* select: the case */
	bool queued;
	bool success;			/* a value passed (false: woken by close) */
};

struct kgo_waitq {
	struct kgo_sudog *first, *last;
};

struct kgo_chan {
	uint32_t lock;
	bool closed;
	size_t elemsize, cap;
	size_t qcount;			/* values in buf */
	size_t sendx, recvx;		/* next slot to fill, to empty */
	struct kgo_waitq recvq, sendq;
	unsigned char buf[];		/* cap * elemsize bytes */
};

/* What a non-blocking attempt on a locked channel did. */
enum {
	KGO_CH_BLOCK,			/* nothing: it would block */
	KGO_CH_DONE,			/* the value passed */
	KGO_CH_CLOSED,			/* the channel is closed (recv: drained) */
};

KGO_HIDDEN void kgo_waitq_push(struct kgo_waitq *q, struct kgo_sudog *sg);
KGO_HIDDEN void kgo_waitq_remove(struct kgo_waitq *q, struct kgo_sudog *sg);

/*
 * With @c locked: send @elem, or receive into @elem, if that can be done
 * without blocking.  *@wake is then a goroutine to kgo_ready once @c is
 * unlocked (a waiter the value went to or came from), or NULL.
 */
KGO_HIDDEN int kgo_chan_trysend_locked(struct kgo_chan *c, const void *elem,
				       struct kgo_g **wake);
KGO_HIDDEN int kgo_chan_tryrecv_locked(struct kgo_chan *c, void *elem,
				       struct kgo_g **wake);

#endif /* KGO_CHAN_H */
