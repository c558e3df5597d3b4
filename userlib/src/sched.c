/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's user-space half: the M threads and their g0 loop
 * (schedule -> execute -> the G runs until it yields, parks or exits ->
 * back on g0, which finishes what the G asked for), the local run queue
 * operations with their slow paths, wakep, and gopark/goready/Gosched.
 * The other half, everything that crosses threads, is kgo.ko's
 * kmod/sched.c.
 *
 * Where a G is found (schedule):
 *   1. every 61st schedule on a P, the global queue, if the shared gq_len
 *      says it is not empty (KGO_IOC_GLOBRUNQGET), so that it cannot
 *      starve behind a busy local queue.  A look that brought a batch
 *      puts the next one off until the ring's Gs have run: a system call
 *      per 61 schedules would be most of the cost of a busy P;
 *   2. the P's runnext, then its ring (user space, no system call);
 *   3. KGO_IOC_PARK: the module looks at the global queue, steals, or puts
 *      the M to sleep until there is work; it may hand back another P.
 * An M whose P was removed by kgo_set_nprocs goes straight to 3, where the
 * module drains the dead P.
 *
 * The lost-wakeup rule (kmod/sched.c): after a runqput that makes a G
 * runnable, a full fence, then if there is an idle P and no spinning M,
 * KGO_IOC_WAKEP.
 *
 * Every public call that a G makes here and that touches the P or the
 * scheduler is bracketed by kgo_enter()/kgo_leave() (internal.h, the M
 * slot protocol).  A G comes back to g0 for four reasons: it yields,
 * parks or exits, or a preemption was asked for while it was in the
 * library (preempt_req, honoured at a safe point).  A preemption or a
 * handoff in the G's own code never brings it here: its thread waits in
 * the kernel and goes on with it (kmod/lockedm.c).  A G wired to its M
 * (kgo_lock_thread) never leaves it: lockthread.c.
 *
 * Locked-M tokens.  A run queue may hold, in place of a G, the token of
 * an M that waits in the kernel to go on with its own G.  Whoever takes
 * one hands it its P (KGO_PARK_STARTLOCKEDM) and parks: kgo_runnable_tok.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "tsan.h"

static _Thread_local struct kgo_m *kgo_tls_m __attribute__((tls_model("initial-exec")));

/*
 * kgo_getm - the calling thread's M, or NULL.  Never inlined, and the
 * volatile asm makes it neither const nor pure to the optimiser, so every
 * call reads the thread pointer afresh: a goroutine's code calls it again
 * after each switch, on whichever thread it then runs.
 */
__attribute__((noinline)) struct kgo_m *kgo_getm(void)
{
	struct kgo_m *m;

	__asm__ volatile("" ::: "memory");
	m = kgo_tls_m;
	return m;
}

void kgo_setm(struct kgo_m *m)
{
	kgo_tls_m = m;
}

/* The current G, or NULL on g0 or outside any M. */
static struct kgo_g *kgo_getg(void)
{
	struct kgo_m *m = kgo_getm();

	return m ? m->curg : NULL;
}

/*
 * kgo_wakep - if a G just became runnable and no M is looking for work
 * while a P is idle, have the module start one (Go's wakep condition).
 * Any thread.
 */
void kgo_wakep(void)
{
	struct kgo_shared_sched *ss = kgo_rt.ss;

	/*
	 * The store that made the G visible (tail release, runnext exchange)
	 * must be ordered before the loads of the counters: the
	 * store-buffering pattern with a spinning M that decrements
	 * nmspinning (fully ordered atomic_dec_return) and then re-reads the
	 * rings.  A release/acquire pair is not enough for that; only a full
	 * fence is.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/* Relaxed: ordered by the fence above; the module updates both. */
	if (__atomic_load_n(&ss->npidle, __ATOMIC_RELAXED) != 0 &&
	    __atomic_load_n(&ss->nmspinning, __ATOMIC_RELAXED) == 0)
		kgo_ioctl(KGO_IOC_WAKEP, NULL);
}

/*
 * kgo_runqput_m - runqput on @m's own P, with runqputslow when the ring
 * is full (the whole ring and the G go to the global queue in one batch:
 * docs/design.md, "The run-queue rules").
 * 0, or -ENOSPC when the global queue is full: then *@left is the G that
 * found no place (with @next, the old runnext, not @g).
 */
int kgo_runqput_m(struct kgo_m *m, struct kgo_g *g, bool next, uint64_t *left)
{
	uint64_t tok;
	int tries, err = -EAGAIN;

	if (kgo_runqput(m->p, kgo_gtok(g), next, &tok))
		return 0;
	for (tries = 0; tries < 1000; tries++) {
		struct kgo_ready a = { .size = sizeof(a), .g = tok, .m = m->id };

		err = kgo_ioctl(KGO_IOC_RUNQPUTSLOW, &a);
		if (err != -EAGAIN)
			break;
		/* Stealers emptied the ring meanwhile: try the fast way. */
		if (kgo_runqput(m->p, tok, false, &tok))
			return 0;
	}
	if (err && left)
		*left = tok;
	return err;
}

/*
 * A runqput that must not lose @g (yield, ready): with every queue full,
 * the G that found no place (@g, or the runnext it displaced) waits in the
 * overflow list.
 */
static void kgo_runqput_or_overflow(struct kgo_m *m, struct kgo_g *g, bool next)
{
	uint64_t left = kgo_gtok(g);
	int err = kgo_runqput_m(m, g, next, &left);

	if (err == -ENOSPC)
		kgo_overflow_put(kgo_tokg(left));
	else if (err)
		kgo_fatal("cannot queue goroutine %llu: %s",
			  (unsigned long long)g->id, strerror(-err));
}

/*
 * kgo_mcall - switch from the running G to its M's g0, which then does
 * @action (Go's mcall).  Returns when the G is scheduled again, possibly
 * on another M: nothing read before the switch about the thread is used
 * after it.
 */
__attribute__((noinline)) void kgo_mcall(int action, bool (*unlockf)(void *), void *lock)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;

	if (!g)
		kgo_fatal("a goroutine-only call was made outside a goroutine");
	m->action = action;
	m->unlockf = unlockf;
	m->lock = lock;
	kgo_tsan_to_g0(m);
	kgo_ctx_switch(&g->sp, m->g0_sp);
}

void kgo_setp(struct kgo_m *m, uint32_t pid)
{
	if (pid != KGO_NO_P && pid >= kgo_rt.max_procs)
		kgo_fatal("the module handed out P %u of %u", pid, kgo_rt.max_procs);
	m->pid = pid;
	m->p = pid == KGO_NO_P ? NULL : kgo_shared_p(pid);
}

/*
 * kgo_park_ioctl - KGO_IOC_PARK for @m, again after a signal, until the
 * module gives it a G (and a P) or says the instance is shutting down
 * (then NULL).  With @tok, a locked-M token to serve first.
 */
static struct kgo_g *kgo_park_ioctl(struct kgo_m *m, uint64_t tok)
{
	struct kgo_park a = {
		.size = sizeof(a), .m = m->id, .flags = tok ? KGO_PARK_STARTLOCKEDM : 0, .g = tok,
	};

	for (;;) {
		int err = kgo_ioctl(KGO_IOC_PARK, &a);

		/* The P is reported even on failure: the M may have lost it. */
		kgo_setp(m, a.p);
		if (!err) {
			if (!a.g || KGO_TOKEN_IS_LOCKEDM(a.g) || a.p == KGO_NO_P)
				kgo_fatal("PARK returned G %#llx on P %u",
					  (unsigned long long)a.g, a.p);
			return kgo_tokg(a.g);
		}
		/* The module served the token before any sleep: park. */
		a.flags = 0;
		a.g = 0;
		a.p = 0;	/* out-only: must go in as zero */
		if (err == -EINTR || err == -ERESTART)
			continue;
		if (err == -ESHUTDOWN)
			return NULL;
		kgo_fatal("PARK failed: %s", strerror(-err));
	}
}

/*
 * kgo_stopm - KGO_IOC_PARK: findrunnable's slow half and stopm.  Returns a
 * G to run (m then holds a P, maybe another one), or NULL when the
 * instance is shutting down.
 */
static struct kgo_g *kgo_stopm(struct kgo_m *m)
{
	return kgo_park_ioctl(m, 0);
}

/*
 * kgo_runnable_tok - what @m runs for @tok, taken from a run queue: the G
 * it names, or, for a locked-M token, whatever @m finds after handing its
 * P to that M (Go's startlockedm, then stopm).  On g0.  NULL when the
 * instance is shutting down.
 */
struct kgo_g *kgo_runnable_tok(struct kgo_m *m, uint64_t tok)
{
	if (!KGO_TOKEN_IS_LOCKEDM(tok))
		return kgo_tokg(tok);
	return kgo_park_ioctl(m, tok);
}

/* The 61st-tick check: one batch from the global queue, or NULL. */
static struct kgo_g *kgo_globrunqget(struct kgo_m *m)
{
	struct kgo_park a = { .size = sizeof(a), .m = m->id };
	int err = kgo_ioctl(KGO_IOC_GLOBRUNQGET, &a);

	if (err == 0)
		return kgo_runnable_tok(m, a.g);
	if (err != -EAGAIN)
		kgo_fatal("GLOBRUNQGET failed: %s", strerror(-err));
	return NULL;
}

/*
 * kgo_ready_ioctl - @g to the global queue through KGO_IOC_READY, and an
 * idle P woken for it (the module's wakep).  Any thread, M or not.  0, or
 * -ENOSPC when the global queue is full (the caller keeps @g), or another
 * -errno.
 */
int kgo_ready_ioctl(struct kgo_g *g)
{
	struct kgo_ready a = { .size = sizeof(a), .g = kgo_gtok(g) };

	return kgo_ioctl(KGO_IOC_READY, &a);
}

/*
 * kgo_globrunqput - a preempted G goes to the global queue (Go's rule, so
 * that a G that used up its slice waits behind every P's local work), and
 * an idle P is woken for it.  On g0.  When the global queue is full, the
 * local ring's tail will do.  Once the instance exits, nowhere.
 */
static void kgo_globrunqput(struct kgo_m *m, struct kgo_g *g)
{
	int err;

	/* Acquire: pairs with kgo_begin_exit's store. */
	if (atomic_load_explicit(&kgo_rt.exiting, memory_order_acquire))
		return;
	err = kgo_ready_ioctl(g);
	if (err == -ENOSPC && m->p)
		kgo_runqput_or_overflow(m, g, false);
	else if (err == -ENOSPC)
		kgo_overflow_put(g);
	else if (err)
		kgo_fatal("READY of a preempted goroutine failed: %s", strerror(-err));
}

/*
 * kgo_globcheck_later - @m's P just had the global queue looked at (a
 * batch may have come in): the next fairness look waits 61 schedules plus
 * as many as the ring now holds, so that those Gs run first.  On g0, with
 * a P.
 */
static void kgo_globcheck_later(struct kgo_m *m)
{
	struct kgo_pstate *ps = &kgo_rt.ps[m->pid];

	ps->globcheck = ps->schedtick + 61 + kgo_runqlen(m->p);
}

/*
 * kgo_schedule - find a G for @m to run (Go's schedule + findrunnable).
 * NULL when the instance is exiting: the M then ends.
 */
static struct kgo_g *kgo_schedule(struct kgo_m *m)
{
	struct kgo_g *g;
	uint64_t tok;

	/* Acquire: pairs with kgo_begin_exit's store. */
	if (atomic_load_explicit(&kgo_rt.exiting, memory_order_acquire))
		return NULL;
	/* Relaxed: nprocs is a hint; the module has the last word. */
	if (m->p && m->pid < __atomic_load_n(&kgo_rt.ss->nprocs, __ATOMIC_RELAXED)) {
		struct kgo_pstate *ps = &kgo_rt.ps[m->pid];

		/*
		 * Every schedule is a tick: with no preemption there is no
		 * time slice for a runnext G to inherit.
		 */
		if ((int32_t)(++ps->schedtick - ps->globcheck) >= 0) {
			ps->globcheck = ps->schedtick + 61;
			g = __atomic_load_n(&kgo_rt.ss->gq_len, __ATOMIC_RELAXED) ?
				kgo_globrunqget(m) : NULL;
			if (g) {
				kgo_globcheck_later(m);
				return g;
			}
			/* A locked-M token took the P, and the instance is exiting. */
			if (!m->p)
				return NULL;
		}
		tok = kgo_runqget(m->p);
		if (tok)
			return kgo_runnable_tok(m, tok);
		g = kgo_overflow_get();
		if (g)
			return g;
	}
	kgo_gfree_idle(m);
	g = kgo_stopm(m);
	/* The module looked at the global queue first, as a check would. */
	if (g)
		kgo_globcheck_later(m);
	return g;
}

/*
 * kgo_execute - run @g on @m until it switches back to g0, then finish
 * what it asked for.  Returns a G to run at once (a park whose unlock
 * returned false), or NULL to schedule.  On g0.
 */
static struct kgo_g *kgo_execute(struct kgo_m *m, struct kgo_g *g)
{
	struct kgo_shared_m *sm = m->slot;

	atomic_store_explicit(&g->status, KGO_G_RUNNING, memory_order_relaxed);
	m->curg = g;
	m->action = KGO_ACT_NONE;
	/*
	 * sysmon's view: which G runs, and a new switch (a new slice).  A
	 * preemption asked for while the last G was in the library is void.
	 * Only this thread writes these (and the kernel's preempt_req comes
	 * from a task_work on this thread): relaxed.  The state stays LIB
	 * until the G's side leaves the library.
	 */
	__atomic_store_n(&sm->preempt_req, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sm->preempt_off, g->preempt_off, __ATOMIC_RELAXED);
	__atomic_store_n(&sm->g, kgo_gtok(g), __ATOMIC_RELAXED);
	__atomic_store_n(&sm->switches, __atomic_load_n(&sm->switches, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
	kgo_tsan_to_g(m, g);
	kgo_ctx_switch(&m->g0_sp, g->sp);
	/* Back on g0: g is completely switched out. */
	m->curg = NULL;
	__atomic_store_n(&sm->g, 0, __ATOMIC_RELAXED);

	/* A G wired to this M: it runs here again, and nothing else does. */
	if (g->lockedm == m && m->action != KGO_ACT_EXIT) {
		if (m->action != KGO_ACT_PARK) {
			atomic_store_explicit(&g->status, KGO_G_RUNNABLE, memory_order_relaxed);
			kgo_lockedg_yield(m);
			return g;
		}
		return kgo_lockedg_park(m, g);
	}
	switch (m->action) {
	case KGO_ACT_PREEMPT:
		atomic_store_explicit(&g->status, KGO_G_RUNNABLE, memory_order_relaxed);
		kgo_globrunqput(m, g);
		return NULL;
	case KGO_ACT_YIELD:
		atomic_store_explicit(&g->status, KGO_G_RUNNABLE, memory_order_relaxed);
		/* A preemption pending makes it a yield to the global queue. */
		if (kgo_preempt_pending(m)) {
			kgo_globrunqput(m, g);
			return NULL;
		}
		/* The tail, not runnext, so that others run first. */
		kgo_runqput_or_overflow(m, g, false);
		return NULL;
	case KGO_ACT_PARK: {
		uint32_t waiting = KGO_G_WAITING;

		/*
		 * Committed as waiting before unlock: a waker that finds g
		 * after the unlock sees it waiting.  Release pairs with the
		 * waker's compare-and-swap in kgo_ready.
		 */
		atomic_store_explicit(&g->status, KGO_G_WAITING, memory_order_release);
		if (!m->unlockf || m->unlockf(m->lock))
			return NULL;
		/* Not parked after all: the lock stayed held, nobody saw g. */
		if (!atomic_compare_exchange_strong(&g->status, &waiting, KGO_G_RUNNABLE))
			kgo_fatal("goroutine %llu readied while its park was refused",
				  (unsigned long long)g->id);
		return g;
	}
	case KGO_ACT_EXIT:
		if (g->lockedm == m) {
			/* Its thread is free again (Go ends the thread instead). */
			g->lockedm = NULL;
			g->lockcount = 0;
			m->lockedg = NULL;
		}
		kgo_gdestroy(m, g);
		return NULL;
	default:
		kgo_fatal("goroutine %llu switched to g0 without a reason",
			  (unsigned long long)g->id);
	}
}

/* kgo_mloop - an M's g0: schedule and execute until the instance exits. */
void kgo_mloop(struct kgo_m *m)
{
	struct kgo_g *g = NULL;

	for (;;) {
		if (!g)
			g = kgo_schedule(m);
		if (!g)
			return;
		g = kgo_execute(m, g);
	}
}

/* An M thread other than the first: attach without a P, then schedule. */
void *kgo_mstart(void *arg)
{
	struct kgo_m *m = arg;
	struct kgo_attach a = { .size = sizeof(a) };
	int err;

	kgo_setm(m);
	kgo_altstack_on(m);
	err = kgo_ioctl(KGO_IOC_ATTACH, &a);
	/* Release: the M's slot and id, for kgo_newm_wait_attached's acquire. */
	atomic_fetch_sub_explicit(&kgo_rt.ms_attaching, 1, memory_order_release);
	if (err) {
		/* Too many Ms, or the instance is gone already: not news. */
		if (err != -EUSERS && err != -ESHUTDOWN)
			kgo_warn("an M could not attach: %s", strerror(-err));
	} else {
		m->id = a.m;
		m->attached = true;
		kgo_bind_slot(m);
		kgo_setp(m, a.p);
		kgo_mloop(m);
	}
	kgo_altstack_off(m);
	kgo_setm(NULL);
	return NULL;
}

/* kgo_allocm - a new struct kgo_m, not attached yet, or NULL. */
struct kgo_m *kgo_allocm(void)
{
	struct kgo_m *m = calloc(1, sizeof(*m));

	if (m) {
		m->pid = KGO_NO_P;
		m->slot = &m->own_slot;
	}
	return m;
}

/*
 * kgo_newm - start one more M thread.  0 or -errno (-ESHUTDOWN once the
 * instance is exiting, -EUSERS past the M limit).  Any thread outside the
 * library: it allocates (internal.h, kgo_rt.mlock).
 */
int kgo_newm(void)
{
	struct kgo_m *m;
	int err = 0;

	pthread_mutex_lock(&kgo_rt.mlock);
	if (atomic_load(&kgo_rt.exiting)) {
		err = -ESHUTDOWN;
		goto out;
	}
	if (kgo_rt.nms == kgo_rt.ms_cap) {
		err = -EUSERS;
		goto out;
	}
	m = kgo_allocm();
	if (!m) {
		err = -ENOMEM;
		goto out;
	}
	atomic_fetch_add_explicit(&kgo_rt.ms_attaching, 1, memory_order_relaxed);
	err = kgo_thread_start(&m->thread, kgo_mstart, m, 0);
	if (err) {
		atomic_fetch_sub_explicit(&kgo_rt.ms_attaching, 1, memory_order_relaxed);
		free(m);
		goto out;
	}
	kgo_rt.ms[kgo_rt.nms++] = m;
out:
	pthread_mutex_unlock(&kgo_rt.mlock);
	return err;
}

/*
 * kgo_newm_wait_attached - until every M thread started so far has had
 * its ATTACH answered (an M or not).  kgo_main, before it starts the
 * spare-M spawner: the module counts an attached M on its way to stopm
 * as a spare, but one still starting is invisible to it, and the
 * spawner's first WANTM would start a pool's worth of threads more.
 */
void kgo_newm_wait_attached(void)
{
	const struct timespec tick = { .tv_nsec = 50000 };

	/* Acquire: pairs with kgo_mstart's release. */
	while (atomic_load_explicit(&kgo_rt.ms_attaching, memory_order_acquire) > 0)
		nanosleep(&tick, NULL);
}

/* ---- the public calls that switch or wake ---- */

void kgo_yield(void)
{
	bool entered = kgo_enter(false);

	/* g0 turns it into a preemption if one is pending (kgo_execute). */
	kgo_mcall(KGO_ACT_YIELD, NULL, NULL);
	kgo_leave(entered);
}

void kgo_gosched(void)
{
	kgo_yield();
}

/*
 * kgo_yield_global - what Go's runtime.Gosched does: the caller goes to the
 * global run queue (a READY ioctl), as a preempted G does, instead of the
 * tail of its P's ring.  Not in kgo.h: bench/kgo.c's yield-global workload
 * uses it so that its figure is comparable with Go's Gosched; programs
 * call kgo_yield.  From a G only, like kgo_yield.
 */
void kgo_yield_global(void)
{
	bool entered = kgo_enter(false);

	kgo_mcall(KGO_ACT_PREEMPT, NULL, NULL);
	kgo_leave(entered);
}

void kgo_park(bool (*unlock)(void *), void *lock)
{
	/* Not a safe point: the caller may hold what unlock releases. */
	bool entered;

	if (!kgo_getm()) {
		kgo_foreign_park(unlock, lock);
		return;
	}
	entered = kgo_enter(false);

	kgo_mcall(KGO_ACT_PARK, unlock, lock);
	kgo_leave(entered);
}

/* @g goes from parked to runnable; anything else is a caller's bug. */
static void kgo_ready_claim(struct kgo_g *g)
{
	uint32_t waiting = KGO_G_WAITING;

	/* Acquire: pairs with the parking M's release store of the status. */
	if (!atomic_compare_exchange_strong_explicit(&g->status, &waiting, KGO_G_RUNNABLE,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		kgo_fatal("kgo_ready: goroutine %llu is not parked (status %u)",
			  (unsigned long long)g->id, waiting);
}

void kgo_ready(struct kgo_g *g)
{
	bool entered;
	struct kgo_m *m;

	kgo_ready_claim(g);
	if (g->foreign) {
		kgo_foreign_wake(g);
		return;
	}
	if (g->lockedm) {
		kgo_lockedg_ready(g);
		return;
	}
	/* Not a safe point either: callers often hold the waiter's lock. */
	entered = kgo_enter(false);
	m = kgo_getm();
	if (m && m->p) {
		/* From an M: the current P's runnext, no system call. */
		kgo_runqput_or_overflow(m, g, true);
		kgo_wakep();
	} else {
		/* From elsewhere: the global queue, and the module's wakep. */
		int err = kgo_ready_ioctl(g);

		if (err == -ENOSPC)
			kgo_overflow_put(g);
		else if (err)
			kgo_fatal("READY failed: %s", strerror(-err));
	}
	kgo_leave(entered);
}

/*
 * kgo_ready_many - kgo_ready for @n goroutines at once, from a thread that
 * is not an M (the poller, with what one epoll_wait or one expiry of the
 * timer heap woke): one READY ioctl for up to KGO_READY_BATCH_MAX + 1 of
 * them, instead of one each, and one M woken for the lot (the module fans
 * the work out).  Foreign and locked goroutines, and a module without
 * KGO_FEAT_READY_BATCH, take kgo_ready's own way.
 */
void kgo_ready_many(struct kgo_g **gs, int n)
{
	uint64_t toks[KGO_READY_BATCH_MAX + 1];
	struct kgo_g *batch[KGO_READY_BATCH_MAX + 1];
	int k = 0;

	if (!(kgo_rt.features & KGO_FEAT_READY_BATCH) || kgo_getm()) {
		for (int i = 0; i < n; i++)
			kgo_ready(gs[i]);
		return;
	}
	for (int i = 0; i <= n; i++) {
		struct kgo_g *g = i < n ? gs[i] : NULL;

		if (g && (g->foreign || g->lockedm)) {
			kgo_ready(g);
			continue;
		}
		if (g) {
			kgo_ready_claim(g);
			toks[k] = kgo_gtok(g);
			batch[k++] = g;
		}
		if (k && (!g || k == KGO_READY_BATCH_MAX + 1)) {
			struct kgo_ready a = {
				.size = sizeof(a), .g = toks[0],
				.gs = (uintptr_t)&toks[1], .nr = (uint32_t)k - 1,
			};
			int err = kgo_ioctl(KGO_IOC_READY, &a);

			if (err == -ENOSPC) {
				for (int j = 0; j < k; j++)
					kgo_overflow_put(batch[j]);
			} else if (err) {
				kgo_fatal("READY of %d goroutines failed: %s", k, strerror(-err));
			}
			k = 0;
		}
	}
}

struct kgo_g *kgo_self(void)
{
	return kgo_getg();
}

uint64_t kgo_id(void)
{
	struct kgo_g *g = kgo_getg();

	return g ? g->id : 0;
}

int kgo_m_id(void)
{
	struct kgo_m *m = kgo_getm();

	return m && m->curg ? (int)m->id : -1;
}

int kgo_p_id(void)
{
	struct kgo_m *m = kgo_getm();
	uint32_t pid;

	if (!m || !m->curg)
		return -1;
	/*
	 * The slot, not m->pid: a wait in the kernel (a preemption, a
	 * handoff) may have given this M another P since the library last
	 * looked.  Relaxed: the module wrote it on this very thread.
	 */
	pid = __atomic_load_n(&m->slot->p, __ATOMIC_RELAXED);
	return pid == KGO_NO_P ? -1 : (int)pid;
}
