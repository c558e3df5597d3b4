/* SPDX-License-Identifier: MIT */
/*
 * Blocking from a thread that is not an M (a "foreign" thread: one the
 * program made with pthread_create, or main before kgo_main).
 *
 * Each such thread has a stand-in G of its own, thread-local, with the
 * foreign flag set.  Every blocking primitive queues a record naming
 * kgo_self_or_die()'s G and calls kgo_park; on a foreign thread that is
 * the stand-in, and kgo_park marks it waiting, runs the unlock function
 * and sleeps in futex(2) on the status word until kgo_ready, which for a
 * foreign G moves WAITING -> RUNNABLE and wakes the futex instead of
 * queueing a G.  So channels, select, mutexes, rwmutexes, conds, sema,
 * waitgroups and sleep work from any thread, and a goroutine and a thread
 * can wake each other, without any primitive knowing.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "block.h"

static _Thread_local struct kgo_g kgo_foreign_g;

/* This thread's stand-in G (never NULL).  The caller is not an M. */
struct kgo_g *kgo_foreign_self(void)
{
	struct kgo_g *g = &kgo_foreign_g;

	g->foreign = true;
	return g;
}

static long kgo_futex(_Atomic uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/* kgo_park on a foreign thread: the status word is the whole protocol. */
void kgo_foreign_park(bool (*unlock)(void *), void *lock)
{
	struct kgo_g *g = kgo_foreign_self();
	uint32_t waiting = KGO_G_WAITING;

	/* Release: pairs with kgo_ready's compare-and-swap, as for a G. */
	atomic_store_explicit(&g->status, KGO_G_WAITING, memory_order_release);
	if (unlock && !unlock(lock)) {
		if (!atomic_compare_exchange_strong(&g->status, &waiting, KGO_G_RUNNING))
			kgo_fatal("a thread was readied while its park was refused");
		return;
	}
	/* Acquire: pairs with the waker's acq_rel compare-and-swap. */
	while (atomic_load_explicit(&g->status, memory_order_acquire) == KGO_G_WAITING)
		kgo_futex(&g->status, FUTEX_WAIT, KGO_G_WAITING);	/* EAGAIN, EINTR: look again */
	atomic_store_explicit(&g->status, KGO_G_RUNNING, memory_order_relaxed);
}

/* kgo_ready of a foreign G, after its WAITING -> RUNNABLE. */
void kgo_foreign_wake(struct kgo_g *g)
{
	kgo_futex(&g->status, FUTEX_WAKE, 1);
}
