// SPDX-License-Identifier: GPL-2.0
/*
 * The global run queue (Go's sched.runq): a FIFO of G tokens in kernel
 * memory, in chunks of KGO_GQ_CHUNK_SLOTS, bounded by a per-instance limit.
 *
 * The queue is guarded by the lock given to kgo_gq_init() (the instance's
 * sched lock, a spinlock).  Every operation on a live queue asserts it is
 * held, so none of them allocates: a caller that may need new chunks asks
 * kgo_gq_chunks_needed() under the lock, drops it, fills a
 * struct kgo_gq_prealloc with KGO_GFP memory, and retries.  kgo_gq_init()
 * and kgo_gq_destroy() run while nothing else can reach the queue, and the
 * prealloc helpers touch only the caller's own struct kgo_gq_prealloc.
 * Chunks are charged to the memory cgroup of the process that caused them.
 */
#include <linux/slab.h>

#include "kgo_internal.h"

/*
 * kgo_gq_init - an empty queue of at most @limit Gs, guarded by @lock.
 * Before anything else can reach @q; no lock needed.
 */
void kgo_gq_init(struct kgo_gq *q, u32 limit, spinlock_t *lock)
{
	q->lock = lock;
	INIT_LIST_HEAD(&q->chunks);
	q->spare = NULL;
	q->len = 0;
	q->limit = limit;
}

/* Teardown only: no other reference to the queue remains. */
void kgo_gq_destroy(struct kgo_gq *q)
{
	struct kgo_gq_chunk *c, *tmp;

	list_for_each_entry_safe(c, tmp, &q->chunks, link) {
		list_del(&c->link);
		kfree(c);
	}
	kfree(q->spare);
	q->spare = NULL;
	q->len = 0;
}

static struct kgo_gq_chunk *kgo_gq_tail_chunk(const struct kgo_gq *q)
{
	return list_empty(&q->chunks) ? NULL :
		list_last_entry(&q->chunks, struct kgo_gq_chunk, link);
}

/*
 * kgo_gq_chunks_needed - how many new chunks pushing @n Gs would take,
 * beyond the spare.  Caller holds the lock.
 */
u32 kgo_gq_chunks_needed(const struct kgo_gq *q, u32 n)
{
	struct kgo_gq_chunk *c = kgo_gq_tail_chunk(q);
	u32 room = c ? KGO_GQ_CHUNK_SLOTS - c->tail : 0;
	u32 need;

	lockdep_assert_held(q->lock);
	if (n <= room)
		return 0;
	need = DIV_ROUND_UP(n - room, KGO_GQ_CHUNK_SLOTS);
	if (q->spare)
		need--;
	return need;
}

/* Process context, no locks held.  -ENOMEM if an allocation fails. */
int kgo_gq_prealloc_fill(struct kgo_gq_prealloc *pa, u32 want)
{
	u32 i;

	if (want > ARRAY_SIZE(pa->c))
		return -EINVAL;
	for (i = 0; i < want; i++) {
		if (pa->c[i])
			continue;
		pa->c[i] = kmalloc(sizeof(*pa->c[i]), KGO_GFP);
		if (!pa->c[i])
			return -ENOMEM;
	}
	return 0;
}

/* How many chunks @pa holds.  No locks needed. */
u32 kgo_gq_prealloc_count(const struct kgo_gq_prealloc *pa)
{
	u32 i, n = 0;

	for (i = 0; i < ARRAY_SIZE(pa->c); i++)
		n += pa->c[i] ? 1 : 0;
	return n;
}

/* Frees what kgo_gq_push did not use.  No locks needed. */
void kgo_gq_prealloc_free(struct kgo_gq_prealloc *pa)
{
	u32 i;

	for (i = 0; i < ARRAY_SIZE(pa->c); i++) {
		kfree(pa->c[i]);
		pa->c[i] = NULL;
	}
}

static struct kgo_gq_chunk *kgo_gq_take_chunk(struct kgo_gq *q,
					      struct kgo_gq_prealloc *pa)
{
	struct kgo_gq_chunk *c = q->spare;
	u32 i;

	if (c) {
		q->spare = NULL;
	} else {
		for (i = 0; i < ARRAY_SIZE(pa->c) && !c; i++) {
			c = pa->c[i];
			pa->c[i] = NULL;
		}
	}
	if (c) {
		c->head = 0;
		c->tail = 0;
		list_add_tail(&c->link, &q->chunks);
	}
	return c;
}

/*
 * kgo_gq_append - append @n tokens, all or nothing, whatever the limit.
 * Caller holds the lock.  -EAGAIN when @pa holds fewer chunks than
 * kgo_gq_chunks_needed() said.
 */
static int kgo_gq_append(struct kgo_gq *q, const u64 *gs, u32 n, struct kgo_gq_prealloc *pa)
{
	struct kgo_gq_chunk *c;
	u32 i, have = (q->spare ? 1 : 0) + kgo_gq_prealloc_count(pa);

	lockdep_assert_held(q->lock);
	if (kgo_gq_chunks_needed(q, n) + (q->spare ? 1 : 0) > have)
		return -EAGAIN;

	c = kgo_gq_tail_chunk(q);
	for (i = 0; i < n; i++) {
		if (!c || c->tail == KGO_GQ_CHUNK_SLOTS)
			c = kgo_gq_take_chunk(q, pa);
		c->g[c->tail++] = gs[i];
	}
	q->len += n;
	return 0;
}

/*
 * kgo_gq_push - append @n Gs, all or nothing.
 * Caller holds the lock.  Returns -ENOSPC past the queue's limit, and
 * -EAGAIN when @pa holds fewer chunks than kgo_gq_chunks_needed() said.
 */
int kgo_gq_push(struct kgo_gq *q, const u64 *gs, u32 n, struct kgo_gq_prealloc *pa)
{
	lockdep_assert_held(q->lock);
	if (n > q->limit || q->len > q->limit - n)
		return -ENOSPC;
	return kgo_gq_append(q, gs, n, pa);
}

/*
 * kgo_gq_push_token - append one locked-M token, past the limit if need
 * be: such tokens are bounded by the Ms (max_ms), and a token that found
 * no room would leave its M waiting for ever.  Caller holds the lock;
 * -EAGAIN as kgo_gq_push.
 */
int kgo_gq_push_token(struct kgo_gq *q, u64 tok, struct kgo_gq_prealloc *pa)
{
	lockdep_assert_held(q->lock);
	return kgo_gq_append(q, &tok, 1, pa);
}

/* kgo_gq_pop - take the oldest G, or 0 when empty.  Caller holds the lock. */
u64 kgo_gq_pop(struct kgo_gq *q)
{
	struct kgo_gq_chunk *c;
	u64 g;

	lockdep_assert_held(q->lock);
	if (!q->len)
		return 0;
	c = list_first_entry(&q->chunks, struct kgo_gq_chunk, link);
	g = c->g[c->head++];
	q->len--;
	if (c->head == c->tail) {
		list_del(&c->link);
		if (!q->spare)
			q->spare = c;
		else
			kfree(c);
	}
	return g;
}
