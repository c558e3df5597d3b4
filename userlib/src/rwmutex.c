/* SPDX-License-Identifier: MIT */
/*
 * kgo_rwmutex: a reader/writer lock for goroutines with writer preference
 * (Go's sync.RWMutex), on a kgo_mutex and two kgo_semas.
 *
 * readers counts the readers inside (and those that will wait on
 * reader_sem); a writer that has taken w subtracts KGO_RW_MAX from it, so
 * a reader that then comes finds it negative and waits on reader_sem:
 * once a writer is pending, no new reader gets in (writer preference, no
 * writer starvation).  The writer itself waits on writer_sem for the
 * readers that were inside when it arrived; departing counts those, and
 * the last of them to leave releases writer_sem.  Unlock adds KGO_RW_MAX
 * back and releases reader_sem once for every reader that queued
 * meanwhile, then unlocks w for the next writer.  Every counter update is
 * a sequentially consistent atomic, as Go's are.
 */
#include "block.h"

#define KGO_RW_MAX	(1 << 30)	/* most readers at once */

void kgo_rwmutex_rlock(struct kgo_rwmutex *rw)
{
	if (__atomic_add_fetch(&rw->readers, 1, __ATOMIC_SEQ_CST) < 0)
		kgo_sema_acquire(&rw->reader_sem);	/* a writer is pending */
}

bool kgo_rwmutex_tryrlock(struct kgo_rwmutex *rw)
{
	int32_t c = __atomic_load_n(&rw->readers, __ATOMIC_SEQ_CST);

	while (c >= 0)
		if (__atomic_compare_exchange_n(&rw->readers, &c, c + 1, true,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return true;
	return false;
}

void kgo_rwmutex_runlock(struct kgo_rwmutex *rw)
{
	int32_t r = __atomic_sub_fetch(&rw->readers, 1, __ATOMIC_SEQ_CST);

	if (r >= 0)
		return;
	if (r + 1 == 0 || r + 1 == -KGO_RW_MAX)
		kgo_fatal("kgo_rwmutex_runlock of an unlocked rwmutex %p", (void *)rw);
	/* A writer is pending: the last reader it waits for wakes it. */
	if (__atomic_sub_fetch(&rw->departing, 1, __ATOMIC_SEQ_CST) == 0)
		kgo_sema_release(&rw->writer_sem);
}

void kgo_rwmutex_lock(struct kgo_rwmutex *rw)
{
	int32_t r;

	kgo_mutex_lock(&rw->w);
	/* Announce the writer: readers coming from now on wait. */
	r = __atomic_sub_fetch(&rw->readers, KGO_RW_MAX, __ATOMIC_SEQ_CST) + KGO_RW_MAX;
	/* Wait for the r readers inside, unless they all left already. */
	if (r != 0 && __atomic_add_fetch(&rw->departing, r, __ATOMIC_SEQ_CST) != 0)
		kgo_sema_acquire(&rw->writer_sem);
}

bool kgo_rwmutex_trylock(struct kgo_rwmutex *rw)
{
	int32_t zero = 0;

	if (!kgo_mutex_trylock(&rw->w))
		return false;
	if (!__atomic_compare_exchange_n(&rw->readers, &zero, -KGO_RW_MAX, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		kgo_mutex_unlock(&rw->w);
		return false;
	}
	return true;
}

void kgo_rwmutex_unlock(struct kgo_rwmutex *rw)
{
	int32_t r = __atomic_add_fetch(&rw->readers, KGO_RW_MAX, __ATOMIC_SEQ_CST);

	if (r >= KGO_RW_MAX)
		kgo_fatal("kgo_rwmutex_unlock of an unlocked rwmutex %p", (void *)rw);
	/* Let in the readers that queued behind us. */
	for (int32_t i = 0; i < r; i++)
		kgo_sema_release(&rw->reader_sem);
	kgo_mutex_unlock(&rw->w);
}
