/* SPDX-License-Identifier: MIT */
/*
 * Goroutines wired to their thread: kgo_lock_thread/kgo_unlock_thread
 * (Go's LockOSThread), and what the scheduler does for such a G.
 *
 * A wired G runs on its M only, and its M runs nothing else.  Its code
 * never changes threads anyway between two kgo calls (a preemption or a
 * handoff stops the thread in place, kmod/lockedm.c); being wired extends
 * that across the calls that switch:
 *   - a yield (or a preemption honoured at a safe point) keeps the G on
 *     its M: KGO_PARK_YIELDLOCKED lets the P go to an idle M if anything
 *     else can run, the M's locked-M token waits in the global queue, and
 *     the M goes on with the G once it has a P again;
 *   - a park gives the P away (KGO_PARK_RELEASEP) and sleeps on the M's
 *     lockwake word; kgo_ready of the G sets it and wakes the M instead of
 *     queueing the G, and the M gets a P back (KGO_PARK_EXITSYSCALL, which
 *     waits in the global queue as a locked-M token when none is idle).
 * When a wired G ends its M is free again (Go ends the thread instead: the
 * G may have left it in any state).
 */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How long a wired M sleeps before it looks whether the instance exits. */
#define KGO_LOCKWAKE_POLL_NS	50000000L

int kgo_lock_thread(void)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;

	if (!g)
		return -EPERM;
	g->lockcount++;
	g->lockedm = m;
	m->lockedg = g;
	return 0;
}

int kgo_unlock_thread(void)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;

	if (!g)
		return -EPERM;
	if (g->lockcount && --g->lockcount == 0) {
		g->lockedm = NULL;
		m->lockedg = NULL;
	}
	return 0;
}

/*
 * kgo_lockedg_park_ioctl - KGO_IOC_PARK with @flags for @m (RELEASEP, or
 * EXITSYSCALL to get a P back), again after a signal.  On g0.  False when
 * the instance is shutting down.
 */
static bool kgo_lockedg_park_ioctl(struct kgo_m *m, uint32_t flags)
{
	for (;;) {
		struct kgo_park a = { .size = sizeof(a), .m = m->id, .flags = flags };
		int err = kgo_ioctl(KGO_IOC_PARK, &a);

		kgo_setp(m, a.p);
		if (!err)
			return true;
		if (err == -EINTR || err == -ERESTART)
			continue;
		if (err == -ESHUTDOWN)
			return false;
		kgo_fatal("PARK (wired goroutine) failed: %s", strerror(-err));
	}
}

/*
 * kgo_lockedg_yield - @m's wired G yields: other Gs run first if an idle M
 * can take the P, and the G goes on here.  On g0, the G runnable.
 */
void kgo_lockedg_yield(struct kgo_m *m)
{
	if (!kgo_lockedg_park_ioctl(m, KGO_PARK_YIELDLOCKED))
		return;	/* shutting down: the M's loop ends */
	if (m->pid == KGO_NO_P)
		kgo_fatal("YIELDLOCKED returned without a P");
}

/*
 * kgo_lockedg_park - @m's wired G @g parks (kgo_execute's KGO_ACT_PARK):
 * commit it as waiting and run the unlock as any park does, then, without
 * a P, sleep until kgo_ready wakes this M, and get a P back.  On g0.
 * Returns @g to run, or NULL when the instance is shutting down.
 */
struct kgo_g *kgo_lockedg_park(struct kgo_m *m, struct kgo_g *g)
{
	uint32_t waiting = KGO_G_WAITING;

	/* Before the G can be found: a ready after the unlock sets it. */
	atomic_store_explicit(&m->lockwake, 0, memory_order_relaxed);
	/* Release pairs with the waker's compare-and-swap in kgo_ready. */
	atomic_store_explicit(&g->status, KGO_G_WAITING, memory_order_release);
	if (m->unlockf && !m->unlockf(m->lock)) {
		if (!atomic_compare_exchange_strong(&g->status, &waiting, KGO_G_RUNNABLE))
			kgo_fatal("goroutine %llu readied while its park was refused",
				  (unsigned long long)g->id);
		return g;
	}
	if (!kgo_lockedg_park_ioctl(m, KGO_PARK_RELEASEP))
		return NULL;
	/* Acquire pairs with kgo_lockedg_ready's release. */
	while (!atomic_exchange_explicit(&m->lockwake, 0, memory_order_acquire)) {
		struct timespec ts = { 0, KGO_LOCKWAKE_POLL_NS };

		/* Acquire: pairs with kgo_begin_exit's store. */
		if (atomic_load_explicit(&kgo_rt.exiting, memory_order_acquire))
			return NULL;
		syscall(SYS_futex, (uint32_t *)&m->lockwake, FUTEX_WAIT | FUTEX_PRIVATE_FLAG,
			0, &ts, NULL, 0);
	}
	if (!kgo_lockedg_park_ioctl(m, KGO_PARK_EXITSYSCALL))
		return NULL;
	return g;
}

/*
 * kgo_lockedg_ready - kgo_ready of a wired G (already moved WAITING ->
 * RUNNABLE): wake its M, which gets a P and runs it.  Any thread.
 */
void kgo_lockedg_ready(struct kgo_g *g)
{
	struct kgo_m *m = g->lockedm;

	/* Release: what the waker did before is visible to the G. */
	atomic_store_explicit(&m->lockwake, 1, memory_order_release);
	syscall(SYS_futex, (uint32_t *)&m->lockwake, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1,
		NULL, NULL, 0);
}
