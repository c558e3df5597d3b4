/* SPDX-License-Identifier: MIT */
/*
 * kgo_ctx: cancellation contexts (Go's context.Context, in C terms).
 *
 * A context has a done channel, closed when it is cancelled (Go's
 * ctx.Done()), the reason (err: -ECANCELED by kgo_ctx_cancel, -ETIMEDOUT
 * when its deadline passed), and its children, which are cancelled with
 * it.  A deadline is a runtime timer whose function cancels the context.
 * Each goroutine has a current context, inherited by the goroutines it
 * starts; the deadline forms of the channel calls and kgo_select_deadline
 * also return when the caller's current context is cancelled.
 *
 * Lifetime is by reference count: the creator's reference, one per child
 * (on its parent), one per goroutine whose current context it is, one
 * for an armed deadline timer.  The last release unlinks it from its
 * parent and puts it in the graveyard: its memory is freed by the next
 * ctx call made outside the library (kgo_ctx_graveyard_drain), as malloc
 * and free must not run in the library (rawmem.c).  lock guards err, the
 * children list and the sibling links of the children; a cancel runs
 * down the tree taking each child's lock inside its parent's (always
 * parent before child).
 */
#include <errno.h>
#include <stdlib.h>

#include "block.h"

struct kgo_ctx {
	uint32_t lock;
	_Atomic int32_t refs;
	int err;			/* 0, -ECANCELED, -ETIMEDOUT */
	uint64_t deadline;		/* 0: none (the earliest up the tree) */
	struct kgo_chan *done;		/* closed on cancel */
	struct kgo_ctx *parent;
	struct kgo_ctx *children;	/* first child */
	struct kgo_ctx *next, *prev;	/* siblings, under the parent's lock */
	struct kgo_timer *timer;	/* the deadline's, or NULL */
	struct kgo_tmr *watchers;	/* waits that end when it is cancelled */
};

static void ctx_release_in_library(struct kgo_ctx *c);

/* Released contexts, linked through next, whose memory is still to free. */
static _Atomic(struct kgo_ctx *) ctx_graveyard;

/* In the library: @c, unlinked and unreferenced, is freed later. */
static void ctx_bury(struct kgo_ctx *c)
{
	struct kgo_ctx *old = atomic_load_explicit(&ctx_graveyard, memory_order_relaxed);

	/* Release: pairs with kgo_ctx_graveyard_drain's acquire. */
	do
		c->next = old;
	while (!atomic_compare_exchange_weak_explicit(&ctx_graveyard, &old, c,
						      memory_order_release,
						      memory_order_relaxed));
}

/*
 * Free what the graveyard holds.  Outside the library (after kgo_leave, or
 * on a thread that is no M), where malloc may block like any pthread's.
 */
void kgo_ctx_graveyard_drain(void)
{
	struct kgo_ctx *c, *next;

	if (!atomic_load_explicit(&ctx_graveyard, memory_order_relaxed))
		return;
	/* Acquire: pairs with ctx_bury's release. */
	c = atomic_exchange_explicit(&ctx_graveyard, NULL, memory_order_acquire);
	for (; c; c = next) {
		next = c->next;
		kgo_timer_free_memory(c->timer);
		kgo_chan_free(c->done);
		free(c);
	}
}

static void ctx_ref(struct kgo_ctx *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

/* With c->lock held: cancel c and its subtree with @err. */
static void ctx_cancel_locked(struct kgo_ctx *c, int err)
{
	if (c->err)
		return;
	c->err = err;
	/*
	 * End the waits watching it, as their deadlines would (expire takes
	 * the object's lock inside ours).  A record stays valid while it is
	 * in the list: its owner unwatches, under our lock, before it goes.
	 */
	for (struct kgo_tmr *t = c->watchers, *next; t; t = next) {
		struct kgo_g *g = t->expire(t);

		next = t->cnext;
		t->watched = false;
		t->cnext = t->cprev = NULL;
		if (g) {
			t->g = g;	/* read by its owner after unwatch */
			kgo_ready(g);
		}
	}
	c->watchers = NULL;
	for (struct kgo_ctx *k = c->children; k; k = k->next) {
		kgo_spin_lock(&k->lock);
		ctx_cancel_locked(k, err);
		kgo_spin_unlock(&k->lock);
	}
	/* Wakes every select on it; closes only once (err was 0). */
	kgo_chan_close(c->done);
}

static void ctx_cancel_in_library(struct kgo_ctx *c, int err)
{
	kgo_spin_lock(&c->lock);
	ctx_cancel_locked(c, err);
	kgo_spin_unlock(&c->lock);
}

void kgo_ctx_cancel(struct kgo_ctx *c)
{
	bool entered;

	if (!c)
		return;
	entered = kgo_enter(true);
	ctx_cancel_in_library(c, -ECANCELED);
	/* A deadline not reached: stop it and drop its reference. */
	if (c->timer && kgo_timer_stop(c->timer))
		ctx_release_in_library(c);
	kgo_leave(entered);
	kgo_ctx_graveyard_drain();
}

static void ctx_release_in_library(struct kgo_ctx *c)
{
	struct kgo_ctx *p;

	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* The last reference: no child (each holds one), no timer armed. */
	p = c->parent;
	if (p) {
		kgo_spin_lock(&p->lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			p->children = c->next;
		if (c->next)
			c->next->prev = c->prev;
		kgo_spin_unlock(&p->lock);
	}
	kgo_timer_unqueue(c->timer);
	ctx_bury(c);
	ctx_release_in_library(p);
}

void kgo_ctx_release(struct kgo_ctx *c)
{
	bool entered = kgo_enter(true);

	ctx_release_in_library(c);
	kgo_leave(entered);
	kgo_ctx_graveyard_drain();
}

/* The deadline timer's goroutine: cancel, then drop the timer's ref. */
static void ctx_expired(void *arg)
{
	struct kgo_ctx *c = arg;
	bool entered = kgo_enter(true);

	ctx_cancel_in_library(c, -ETIMEDOUT);
	ctx_release_in_library(c);
	kgo_leave(entered);
	kgo_ctx_graveyard_drain();
}

struct kgo_ctx *kgo_ctx_with_deadline(struct kgo_ctx *parent, uint64_t deadline)
{
	struct kgo_ctx *c;
	bool entered;

	kgo_ctx_graveyard_drain();
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->done = kgo_chan_new(0, 0);
	if (!c->done) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->deadline = deadline;
	if (parent && parent->deadline && (!deadline || parent->deadline < deadline))
		c->deadline = parent->deadline;	/* the parent's comes first anyway */
	if (deadline && deadline == c->deadline) {
		uint64_t now = kgo_now();

		/* Made before kgo_enter: kgo_timer_new allocates. */
		ctx_ref(c);	/* the timer's */
		c->timer = kgo_timer_new(deadline > now ? deadline - now : 0, ctx_expired, c);
		if (!c->timer) {
			int err = errno;	/* ESRCH or ENOMEM */

			kgo_chan_free(c->done);
			free(c);
			errno = err;
			return NULL;
		}
	}
	entered = kgo_enter(true);
	if (parent) {
		ctx_ref(parent);
		c->parent = parent;
		kgo_spin_lock(&parent->lock);
		c->next = parent->children;
		if (c->next)
			c->next->prev = c;
		parent->children = c;
		/* Born cancelled if the parent already is. */
		if (parent->err)
			ctx_cancel_locked(c, parent->err);
		kgo_spin_unlock(&parent->lock);
	}
	kgo_leave(entered);
	return c;
}

struct kgo_ctx *kgo_ctx_new(struct kgo_ctx *parent)
{
	return kgo_ctx_with_deadline(parent, 0);
}

int kgo_ctx_err(struct kgo_ctx *c)
{
	int err;
	bool entered;

	if (!c)
		return 0;
	entered = kgo_enter(true);
	kgo_spin_lock(&c->lock);
	err = c->err;
	kgo_spin_unlock(&c->lock);
	kgo_leave(entered);
	return err;
}

struct kgo_chan *kgo_ctx_done(struct kgo_ctx *c)
{
	return c ? c->done : NULL;
}

uint64_t kgo_ctx_deadline(struct kgo_ctx *c)
{
	return c ? c->deadline : 0;
}

/* ---- waits that a cancel ends (block.h) ---- */

int kgo_ctx_watch(struct kgo_tmr *t)
{
	struct kgo_ctx *c = kgo_ctx_current();
	int err;

	t->ctx = c;
	if (!c)
		return 0;
	kgo_spin_lock(&c->lock);
	err = c->err;
	if (!err) {
		t->cprev = NULL;
		t->cnext = c->watchers;
		if (c->watchers)
			c->watchers->cprev = t;
		c->watchers = t;
		t->watched = true;
	}
	kgo_spin_unlock(&c->lock);
	return err;
}

void kgo_ctx_unwatch(struct kgo_tmr *t)
{
	struct kgo_ctx *c = t->ctx;

	if (!c)
		return;
	kgo_spin_lock(&c->lock);
	if (t->watched) {
		if (t->cprev)
			t->cprev->cnext = t->cnext;
		else
			c->watchers = t->cnext;
		if (t->cnext)
			t->cnext->cprev = t->cprev;
		t->watched = false;
	}
	kgo_spin_unlock(&c->lock);
}

/* ---- the goroutine's current context ---- */

struct kgo_ctx *kgo_ctx_current(void)
{
	struct kgo_g *g = kgo_self();

	return g ? g->ctx : NULL;
}

int kgo_ctx_set(struct kgo_ctx *c)
{
	struct kgo_g *g = kgo_self();
	struct kgo_ctx *old;
	bool entered;

	if (!g)
		return -ESRCH;
	if (c)
		ctx_ref(c);
	old = g->ctx;
	g->ctx = c;
	entered = kgo_enter(true);
	ctx_release_in_library(old);
	kgo_leave(entered);
	kgo_ctx_graveyard_drain();
	return 0;
}

/* proc.c: a new G inherits @from's context (a reference of its own). */
void kgo_ctx_inherit(struct kgo_g *g, struct kgo_g *from)
{
	g->ctx = from ? from->ctx : NULL;
	if (g->ctx)
		ctx_ref(g->ctx);
}

/* proc.c: a G ended; drop its context.  In the library. */
void kgo_ctx_drop(struct kgo_g *g)
{
	struct kgo_ctx *c = g->ctx;

	g->ctx = NULL;
	ctx_release_in_library(c);
}
