/* SPDX-License-Identifier: MIT */
/*
 * The library's side of kgo.ko's sysmon: the M slot protocol (entering and
 * leaving the library), kgo_preempt_disable/enable, what happens to a
 * goroutine still running when the instance shuts down, the spare-M
 * spawner, and the start-up that tells the module where all this is
 * (KGO_IOC_SET_PREEMPT).  This is the library's half of preemption: the
 * kernel's half, the resume work that acts on the slot on the thread
 * itself, is kmod/preempt.c (sysmon's decisions: kmod/sysmon.c).
 *
 * internal.h states the slot protocol.  In short: the slot's state is
 * KGO_MS_G exactly while a G's own code runs; every library entry moves
 * it to KGO_MS_LIB by compare-and-swap before touching the P.  A G never
 * changes threads outside a kgo call: when sysmon preempts it or takes
 * its P while it blocks, its thread stops where it is and waits in the
 * kernel for a P (kmod/lockedm.c), and the G goes on, on the same thread,
 * possibly with another P.  So the library reads its P from the slot at
 * each entry.  A thread that took a signal while it waited comes back
 * without a P (slot LOST): its next entry waits for one (EXITSYSCALL)
 * before anything touches the P.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Idle Ms that sysmon keeps ready for handoffs (KGO_IOC_WANTM). */
#define KGO_SPARE_MS	2

/* The bounds of kgo_text, from the linker (userlib/kgo_text.lds). */
extern const char __start_kgo_text[] KGO_HIDDEN;
extern const char __stop_kgo_text[] KGO_HIDDEN;

/*
 * kgo_preempt_stack_reserve - what the module may add to a G's stack: at
 * shutdown, the red zone it skips, alignment and kgo_abandoned's frames
 * (a preemption adds nothing: the thread stops in the kernel).  Added to
 * every G's stack, so that the size asked for stays the G's own.
 */
size_t kgo_preempt_stack_reserve(void)
{
	return 128 + 16 + 2048;
}

/* kgo_preempt_setup - KGO_IOC_SET_PREEMPT after SETUP.  0 or -errno. */
int kgo_preempt_setup(void)
{
	struct kgo_preempt pc = {
		.size = sizeof(pc),
		.trampoline = (uintptr_t)kgo_abandon_tramp,
		.text_start = (uintptr_t)__start_kgo_text,
		.text_end = (uintptr_t)__stop_kgo_text,
		.slice_ns = kgo_rt.slice_ns,
		.spare_ms = KGO_SPARE_MS < kgo_rt.max_ms ? KGO_SPARE_MS : kgo_rt.max_ms,
	};
	int err;

	if (pc.trampoline < pc.text_start || pc.trampoline >= pc.text_end) {
		kgo_warn("libkgo was not linked as one code section (kgo_text)");
		return -ENOEXEC;
	}
	err = kgo_ioctl(KGO_IOC_SET_PREEMPT, &pc);
	if (err)
		kgo_warn("SET_PREEMPT failed: %s", strerror(-err));
	return err;
}

/* kgo_bind_slot - point @m at its slot once ATTACH has named it. */
void kgo_bind_slot(struct kgo_m *m)
{
	if (!kgo_rt.mbase) {
		m->slot = &m->own_slot;
		return;
	}
	if (m->id >= kgo_rt.max_ms)
		kgo_fatal("the module gave M id %u, past its %u slots", m->id, kgo_rt.max_ms);
	m->slot = (struct kgo_shared_m *)(kgo_rt.mbase + (size_t)m->id * kgo_rt.mstride);
}

/*
 * kgo_sync_p - the P the module says @m holds, after a wait in the kernel
 * may have given it another.  @m's own thread, in LIB.  Relaxed: the
 * module wrote it on this very thread before the thread went on.
 */
static void kgo_sync_p(struct kgo_m *m)
{
	uint32_t pid = __atomic_load_n(&m->slot->p, __ATOMIC_RELAXED);

	if (pid != m->pid)
		kgo_setp(m, pid);
}

/*
 * kgo_waitp_lost - @m's slot says LOST: its thread took a signal while it
 * waited for a P, and the G's code (a handler, then the G) went on
 * without one.  Wait for the P here, on this thread, before the library
 * touches it (KGO_PARK_EXITSYSCALL); the slot is LIB after.
 */
static void kgo_waitp_lost(struct kgo_m *m)
{
	for (;;) {
		struct kgo_park a = {
			.size = sizeof(a), .m = m->id, .flags = KGO_PARK_EXITSYSCALL,
		};
		int err = kgo_ioctl(KGO_IOC_PARK, &a);

		if (!err) {
			if (a.p == KGO_NO_P)
				kgo_fatal("exitsyscall returned without a P");
			kgo_setp(m, a.p);
			return;
		}
		if (err == -EINTR || err == -ERESTART)
			continue;
		if (err == -ESHUTDOWN)
			kgo_abandoned();
		kgo_fatal("exitsyscall failed: %s", strerror(-err));
	}
}

/*
 * kgo_enter - a G enters the library (the slot protocol, internal.h).
 * Returns true if this call moved the state out of G, and so must be
 * matched by kgo_leave(true); false on g0, outside an M, or when already
 * inside the library (a nested entry), where there is nothing to do.
 * With @safepoint, a preemption asked for while the G was in the library
 * (or had preemption off) is honoured here: the G goes to the global
 * queue first.  On return the calling G holds a P (maybe another M's:
 * kgo_getm() again).
 */
bool kgo_enter(bool safepoint)
{
	struct kgo_m *m = kgo_getm();
	uint32_t state = KGO_MS_G;

	if (!m || !m->curg)
		return false;
	/*
	 * Fully ordered: if sysmon's cmpxchg G -> LOST came first, we see
	 * it and everything the module did with the P before; if ours came
	 * first, sysmon leaves the P alone.
	 */
	if (__atomic_compare_exchange_n(&m->slot->state, &state, KGO_MS_LIB, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		kgo_sync_p(m);
		if (safepoint && !m->curg->preempt_off && kgo_preempt_pending(m))
			kgo_mcall(KGO_ACT_PREEMPT, NULL, NULL);
		return true;
	}
	if (state == KGO_MS_LOST) {
		kgo_waitp_lost(m);
		return true;
	}
	if (state != KGO_MS_LIB)
		kgo_fatal("M %u's slot is in state %u", m->id, state);
	return false;
}

/*
 * kgo_leave_g - back to the G's own code: state G.  The last thing the
 * library does before returning to it.
 */
void kgo_leave_g(void)
{
	struct kgo_m *m = kgo_getm();

	/*
	 * Release: what the library did with the P (its ring above all) is
	 * visible to sysmon's cmpxchg that reads G, and so to whichever M
	 * the P is handed to.
	 */
	__atomic_store_n(&m->slot->state, KGO_MS_G, __ATOMIC_RELEASE);
}

/*
 * kgo_abandoned - the C half of kgo_abandon_tramp: the instance shut down
 * while this thread ran a G's code (or waited for a P to go on with it).
 * The G never resumes; its M ends.  On the G's stack; does not return.
 */
void kgo_abandoned(void)
{
	struct kgo_m *m = kgo_getm();

	if (!m || !m->curg)
		kgo_fatal("sent to the shutdown trampoline outside a goroutine");
	/* The module moved the state to LIB. */
	kgo_mcall(KGO_ACT_EXIT, NULL, NULL);
	kgo_fatal("an abandoned goroutine ran again");
}

void kgo_preempt_disable(void)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;

	if (!g)
		return;
	g->preempt_off++;
	/* Relaxed: read by the module on this very thread. */
	__atomic_store_n(&m->slot->preempt_off, g->preempt_off, __ATOMIC_RELAXED);
}

void kgo_preempt_enable(void)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;

	if (!g || !g->preempt_off)
		return;
	g->preempt_off--;
	__atomic_store_n(&m->slot->preempt_off, g->preempt_off, __ATOMIC_RELAXED);
	/* A preemption put off meanwhile happens now, as a yield. */
	if (!g->preempt_off && __atomic_load_n(&m->slot->preempt_req, __ATOMIC_RELAXED)) {
		bool entered = kgo_enter(true);

		kgo_leave(entered);
	}
}

/*
 * The spare-M spawner: a thread of its own (not an M, so never blocked out
 * of a P) that waits in KGO_IOC_WANTM until sysmon's pool of idle Ms runs
 * low, and starts as many as the module asks for.  It ends at SHUTDOWN.
 * The module counts the Ms it asked for until they attach, and never asks
 * past its max_ms, so the threads stay bounded.  Before it asks again it
 * waits until the Ms it started have attached, which tells the module the
 * rest never will; after a failed start (RLIMIT_NPROC, memory) it also
 * waits, 10 ms doubling up to 1 s, so that a process out of threads does
 * not spin here.
 */
static void *kgo_spawner_main(void *arg)
{
	const long backoff_min = 10000000, backoff_max = 1000000000;
	long backoff = backoff_min;
	bool warned = false;

	(void)arg;
	for (;;) {
		int n = kgo_ioctl(KGO_IOC_WANTM, NULL);
		bool failed = false;

		if (n == -EINTR || n == -ERESTART)
			continue;
		if (n < 0) {
			if (n != -ESHUTDOWN)
				kgo_warn("WANTM failed: %s", strerror(-n));
			return NULL;
		}
		while (n-- > 0 && !failed) {
			int err = kgo_newm();

			if (err == -ESHUTDOWN)
				return NULL;
			if (err && !warned) {
				kgo_warn("cannot start a spare M: %s", strerror(-err));
				warned = true;
			}
			failed = err != 0;
		}
		kgo_newm_wait_attached();
		if (failed) {
			struct timespec ts = { .tv_sec = backoff / 1000000000,
					       .tv_nsec = backoff % 1000000000 };

			nanosleep(&ts, NULL);
			backoff = backoff * 2 < backoff_max ? backoff * 2 : backoff_max;
		} else {
			backoff = backoff_min;
		}
	}
}

int kgo_spawner_start(void)
{
	/* Signals as the caller's: the Ms it starts inherit its mask. */
	int err = kgo_thread_start(&kgo_rt.spawner, kgo_spawner_main, NULL, 0);

	if (err)
		return err;
	kgo_rt.spawner_started = true;
	return 0;
}

/* After SHUTDOWN: the spawner's WANTM returns -ESHUTDOWN. */
void kgo_spawner_join(void)
{
	if (kgo_rt.spawner_started)
		pthread_join(kgo_rt.spawner, NULL);
	kgo_rt.spawner_started = false;
}
