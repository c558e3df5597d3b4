/* SPDX-License-Identifier: MIT */
/*
 * The SIGSEGV handler, installed by kgo_main for as long as it runs.  A
 * goroutine that overflows its stack touches the guard below it; the
 * handler, on the M's sigaltstack (the goroutine's stack is exhausted),
 * sees that the fault is in the current G's guard, reports the overflow
 * and ends the process with status 2, as Go does.
 *
 * Every other SIGSEGV belongs to whoever handled SIGSEGV before kgo_main:
 * the handler calls that action as the kernel would have, with the same
 * (sig, info, ucontext), its sa_mask blocked, the signal itself unblocked
 * for SA_NODEFER, and the disposition reset to SIG_DFL first for
 * SA_RESETHAND (once, even when two threads fault at once).  SIG_DFL, or
 * SIG_IGN (which the kernel overrides for a fault), means the default
 * action: the handler restores it and returns, and the faulting
 * instruction runs again and ends the process with the right address in
 * its core dump.  A SIGSEGV that was sent, not caused, does not recur, so
 * it is raised again instead (and SIG_IGN ignores it).
 *
 * A program that installs its own handler while kgo_main runs simply
 * replaces this one, and kgo_main's return leaves it in place.
 *
 * Everything the handler does is async-signal-safe: it reads the saved
 * action (written before the handler is installed, and never while it is
 * installed), one atomic flag, and calls sigaction, pthread_sigmask,
 * raise, write and _exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static struct sigaction kgo_old_segv;	/* the action before kgo_main's */
static atomic_bool kgo_old_reset;	/* SA_RESETHAND: it has run once */

/* Decimal digits of @v into @buf (which must hold 20), returns the length. */
static size_t kgo_utoa(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static size_t kgo_cat(char *buf, size_t at, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf + at, s, n);
	return at + n;
}

/* Reports @g's stack overflow on stderr and ends the process. */
static _Noreturn void kgo_overflowed(struct kgo_g *g)
{
	char msg[160];
	size_t n = 0;

	n = kgo_cat(msg, n, "kgo: goroutine ");
	n += kgo_utoa(msg + n, g->id);
	n = kgo_cat(msg, n, " overflowed its ");
	n += kgo_utoa(msg + n, g->own_stack ? g->own_stack : kgo_rt.stack_asked);
	n = kgo_cat(msg, n, "-byte stack\n");
	if (write(STDERR_FILENO, msg, n) < 0)
		_exit(2);
	_exit(2);
}

/* Makes @sig's disposition SIG_DFL. */
static void kgo_segv_reset(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
}

/* The default action for @sig, once this handler returns. */
static void kgo_segv_default(int sig, const siginfo_t *si)
{
	kgo_segv_reset(sig);
	if (si->si_code <= 0)
		raise(sig);	/* sent: pending until the handler returns */
}

/* Calls the action kgo_main found installed, as the kernel would have. */
static void kgo_segv_chain(int sig, siginfo_t *si, void *uctx)
{
	const struct sigaction *old = &kgo_old_segv;
	/* The kernel's test too: SIG_DFL and SIG_IGN whatever the flags. */
	bool dfl = old->sa_handler == SIG_DFL, ign = old->sa_handler == SIG_IGN;
	sigset_t mask;

	if (ign && si->si_code <= 0)
		return;		/* sent, and ignored */
	if (dfl || ign) {
		kgo_segv_default(sig, si);
		return;
	}
	if (old->sa_flags & SA_RESETHAND) {
		/*
		 * The kernel resets to SIG_DFL before the handler runs; so
		 * do we.  A second thread that faulted meanwhile finds the
		 * flag set and gets the default action, as it would have.
		 */
		if (atomic_exchange(&kgo_old_reset, true)) {
			kgo_segv_default(sig, si);
			return;
		}
		kgo_segv_reset(sig);
	}
	mask = old->sa_mask;
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (old->sa_flags & SA_NODEFER) {
		sigemptyset(&mask);
		sigaddset(&mask, sig);
		pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
	}
	/* Returning restores the mask the fault interrupted (sigreturn). */
	if (old->sa_flags & SA_SIGINFO)
		old->sa_sigaction(sig, si, uctx);
	else
		old->sa_handler(sig);
}

/* SIGSEGV: a goroutine's stack overflow, or someone else's fault. */
static void kgo_sigsegv(int sig, siginfo_t *si, void *uctx)
{
	struct kgo_m *m = kgo_getm();
	struct kgo_g *g = m ? m->curg : NULL;
	uintptr_t addr = (uintptr_t)si->si_addr;

	/* As integers: the address may lie in no object at all. */
	if (g && si->si_code > 0 && addr >= (uintptr_t)g->map &&
	    addr < (uintptr_t)g->stack_lo)
		kgo_overflowed(g);
	kgo_segv_chain(sig, si, uctx);
}

/* True if @sa is this file's handler. */
static bool kgo_segv_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == kgo_sigsegv;
}

/*
 * kgo_signals_install - kgo_main's start: save the current SIGSEGV action,
 * then install the handler.  In that order, so that the handler never
 * reads a half-written kgo_old_segv; a program that changes the action
 * from another thread at this very moment races with kgo_main, as it
 * would with any other sigaction caller.  If the handler is already ours
 * (a fork's child of a kgo_main, calling it again), the action saved
 * then stays the one to chain to.
 */
int kgo_signals_install(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGSEGV, NULL, &cur))
		return -errno;
	if (!kgo_segv_ours(&cur)) {
		kgo_old_segv = cur;
		atomic_store(&kgo_old_reset, false);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kgo_sigsegv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		return -errno;
	return 0;
}

/*
 * kgo_signals_restore - kgo_main's end: put back the action saved, unless
 * the handler is no longer ours: then the program installed its own while
 * kgo_main ran (or an SA_RESETHAND action ran and left SIG_DFL), and that
 * stays.
 */
void kgo_signals_restore(void)
{
	struct sigaction cur;

	if (!sigaction(SIGSEGV, NULL, &cur) && kgo_segv_ours(&cur))
		sigaction(SIGSEGV, &kgo_old_segv, NULL);
}
