/* SPDX-License-Identifier: MIT */
/*
 * The library's side of kgo.ko's sysmon: the M slot protocol (entering and
 * leaving the library), what happens to a goroutine that sysmon redirected
 * into kgo_preempt_tramp (preempt_amd64.S), the spare-M spawner, and the
 * start-up that tells the module where all this is (KGO_IOC_SET_PREEMPT).
 *
 * internal.h states the slot protocol.  In short: the slot's state is
 * KGO_MS_G exactly while a G's own code runs; every library entry moves
 * it to KGO_MS_LIB by compare-and-swap before touching the P, and finding
 * KGO_MS_LOST there means sysmon handed the P to another M while the G was
 * blocked: the G then gets a P back through exitsyscall before going on.
 *
 * A redirect happens on the thread's return to user mode.  The module has
 * already saved where the G was (resume_ip, resume_sp) and why (reason) in
 * the slot, and set the state: LIB for a slice preemption, LOST for a
 * handoff.  The trampoline saves every register and the extended state on
 * the G's stack and calls kgo_preempted(), which copies the slot's fields
 * into that frame at once (the G may resume on another M, whose slot says
 * something else) and switches to g0: a preempted G goes to the global
 * queue, a G whose P was lost does exitsyscall.  When the G runs again it
 * returns from kgo_preempted(), and the trampoline restores everything and
 * jumps back to where the G was.
 */
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef ARCH_GET_XCOMP_PERM
#define ARCH_GET_XCOMP_PERM	0x1022	/* asm/prctl.h, Linux 5.16 */
#endif

/* Idle Ms that sysmon keeps ready for handoffs (KGO_IOC_WANTM). */
#define KGO_SPARE_MS	2

/*
 * The extended state the trampoline saves, read by preempt_amd64.S:
 * with XSAVE, the components in kgo_xsave_mask (XCR0, less what the
 * process may not use, such as AMX tiles without permission) into an area
 * of kgo_xsave_size bytes; without, FXSAVE's 512 bytes (x87, SSE).
 */
KGO_HIDDEN uint8_t kgo_xsave_use;
KGO_HIDDEN uint8_t kgo_xsave_avx;	/* AVX state: vzeroupper after saving */
KGO_HIDDEN uint64_t kgo_xsave_mask;
KGO_HIDDEN uint64_t kgo_xsave_size = 512;

/* The bounds of kgo_text, from the linker (userlib/kgo_text.lds). */
extern const char __start_kgo_text[] KGO_HIDDEN;
extern const char __stop_kgo_text[] KGO_HIDDEN;

static uint64_t kgo_xgetbv(uint32_t reg)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(reg));
	return (uint64_t)hi << 32 | lo;
}

/*
 * kgo_cpu_init - find out once per kgo_main how the trampoline saves the
 * extended state.  The area's size is the end of the last component in
 * the mask, by CPUID leaf 0xD's standard (non-compacted) offsets: the same
 * as CPUID(0xD, 0).EBX when the mask is all of XCR0.
 */
void kgo_cpu_init(void)
{
	unsigned int a, b, c, d, i;
	uint64_t mask, perm;
	size_t size = 512;

	kgo_xsave_use = 0;
	kgo_xsave_avx = 0;
	kgo_xsave_mask = 0;
	if (__get_cpuid_max(0, NULL) < 0xd)
		goto out;
	__cpuid(1, a, b, c, d);
	if (!(c & bit_OSXSAVE))
		goto out;
	mask = kgo_xgetbv(0);
	if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0)
		mask &= perm;
	size = 512 + 64;	/* legacy area and XSAVE header */
	for (i = 2; i < 63; i++) {
		if (!(mask >> i & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		if ((size_t)b + a > size)
			size = (size_t)b + a;
	}
	kgo_xsave_use = 1;
	kgo_xsave_avx = (mask & 4) != 0;
	kgo_xsave_mask = mask;
out:
	kgo_xsave_size = (size + 63) & ~(size_t)63;
}

/*
 * kgo_preempt_stack_reserve - the most a preemption adds to a G's stack:
 * the red zone the module skips, alignment, the trampoline's registers
 * and extended state, and kgo_preempted's frames down to the switch
 * (with room for a fatal message's printf).  Added to every G's stack, so
 * that the size asked for stays the G's own.
 */
size_t kgo_preempt_stack_reserve(void)
{
	return 128 + 16 + 8 + 128 + 64 + kgo_xsave_size + sizeof(struct kgo_pframe) + 6144;
}

/* kgo_preempt_setup - KGO_IOC_SET_PREEMPT after SETUP.  0 or -errno. */
int kgo_preempt_setup(void)
{
	struct kgo_preempt pc = {
		.trampoline = (uintptr_t)kgo_preempt_tramp,
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
 * kgo_enter - a G enters the library (the slot protocol, internal.h).
 * Returns true if this call moved the state out of G, and so must be
 * matched by kgo_leave(true); false on g0, outside an M, or when already
 * inside the library (a nested entry), where there is nothing to do.
 * With @safepoint, a preemption asked for while the G was in the library
 * is honoured here: the G goes to the global queue first.
 * On return the calling G holds a P (maybe another M's: kgo_getm() again).
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
		if (safepoint && kgo_preempt_pending(m))
			kgo_mcall(KGO_ACT_PREEMPT, NULL, NULL);
		return true;
	}
	if (state == KGO_MS_LOST) {
		/* The P is another M's now: get one back before going on. */
		kgo_mcall(KGO_ACT_EXITSYSCALL, NULL, NULL);
		return true;
	}
	if (state != KGO_MS_LIB)
		kgo_fatal("M %u's slot is in state %u", m->id, state);
	return false;
}

/*
 * kgo_leave_g - back to the G's own code: state G.  The last thing the
 * library does before returning to it; the instructions after it are in
 * kgo_text, where the module does not redirect.
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
 * errno is the thread's, and a preempted G may resume on another thread:
 * it is carried along.  In functions of their own, as glibc declares the
 * address function const and the compiler could otherwise keep the first
 * thread's address across the switch.
 */
static __attribute__((noinline)) int kgo_errno_get(void)
{
	return errno;
}

static __attribute__((noinline)) void kgo_errno_set(int e)
{
	errno = e;
}

/*
 * kgo_preempted - the trampoline's C half, on the redirected G's stack
 * (@f is in the trampoline's frame).  Returns when the G runs again,
 * possibly on another M, in state G.
 */
void kgo_preempted(struct kgo_pframe *f)
{
	int saved_errno = kgo_errno_get();
	struct kgo_m *m = kgo_getm();
	struct kgo_shared_m *sm;

	if (!m || !m->curg)
		kgo_fatal("redirected to the trampoline outside a goroutine");
	/*
	 * At once, before any switch.  Relaxed: the module wrote the slot
	 * in a task_work on this thread, just before the redirect.
	 */
	sm = m->slot;
	f->ip = __atomic_load_n(&sm->resume_ip, __ATOMIC_RELAXED);
	f->sp = __atomic_load_n(&sm->resume_sp, __ATOMIC_RELAXED);
	f->reason = __atomic_load_n(&sm->reason, __ATOMIC_RELAXED);
	/* The module's arithmetic (kmod/preempt.c): where it put our frame. */
	if (f->entry_sp != ((f->sp - 128) & ~(uint64_t)15) - 8)
		kgo_fatal("redirect frame at %#llx does not match resume_sp %#llx",
			  (unsigned long long)f->entry_sp, (unsigned long long)f->sp);

	switch (f->reason) {
	case KGO_PREEMPT_SLICE:
		/*
		 * On this M's signal stack (a handler with SA_ONSTACK): the
		 * frame must stay with this thread, whose next signal would
		 * reuse that stack.  Not now: sysmon asks again a slice later.
		 */
		if (m->altstack && f->sp - (uintptr_t)m->altstack <= m->altstack_size)
			break;
		/* The module moved the state G -> LIB. */
		kgo_mcall(KGO_ACT_PREEMPT, NULL, NULL);
		break;
	case KGO_PREEMPT_LOST_P:
		/* The state is LOST: exitsyscall sets LIB. */
		kgo_mcall(KGO_ACT_EXITSYSCALL, NULL, NULL);
		break;
	default:
		kgo_fatal("redirected for an unknown reason %llu",
			  (unsigned long long)f->reason);
	}
	kgo_errno_set(saved_errno);
	kgo_leave_g();
}

/*
 * The spare-M spawner: a thread of its own (not an M, so never blocked out
 * of a P) that waits in KGO_IOC_WANTM until sysmon's pool of idle Ms runs
 * low, and starts as many as the module asks for.  It ends at SHUTDOWN.
 * The module counts the Ms it asked for until they attach, and never asks
 * past its max_ms, so the threads stay bounded.
 */
static void *kgo_spawner_main(void *arg)
{
	bool warned = false;

	(void)arg;
	for (;;) {
		int n = kgo_ioctl(KGO_IOC_WANTM, NULL);

		if (n == -EINTR || n == -ERESTART)
			continue;
		if (n < 0) {
			if (n != -ESHUTDOWN)
				kgo_warn("WANTM failed: %s", strerror(-n));
			return NULL;
		}
		while (n-- > 0) {
			int err = kgo_newm();

			if (err == -ESHUTDOWN)
				return NULL;
			if (err && !warned) {
				/* The module still counts it as starting: one fewer spare. */
				kgo_warn("cannot start a spare M: %s", strerror(-err));
				warned = true;
			}
		}
	}
}

int kgo_spawner_start(void)
{
	pthread_attr_t attr;
	int err;

	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	pthread_attr_setstacksize(&attr, 128 * 1024);
	err = pthread_create(&kgo_rt.spawner, &attr, kgo_spawner_main, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
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
