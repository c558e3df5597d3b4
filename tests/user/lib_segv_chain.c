/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libkgo's SIGSEGV handler (for stack overflows) and the program's own:
 * a handler installed before kgo_main gets every other fault, as the
 * kernel would have called it (same siginfo, a ucontext, its sa_mask,
 * SA_NODEFER, SA_RESETHAND), and is back in place after kgo_main returns;
 * SIG_IGN before kgo_main still ends the process on a fault; a handler the
 * program installs while kgo_main runs gets its faults and stays after
 * kgo_main returns.  The faults are writes by a goroutine to a PROT_NONE
 * page that the handler makes writable, so the goroutine goes on.  Each
 * case runs in a forked child (a broken chain kills it), which prints
 * what it saw on a pipe.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "child_util.h"
#include "tap.h"

static char *pages;			/* two PROT_NONE pages */
static long pagesz;
static atomic_int faults;		/* the handler's calls for a fault */
static atomic_int sent;			/* ... and for a raised SIGSEGV */
static volatile sig_atomic_t sent_code, addr_ok = 1, uctx_ok = 1;
static volatile sig_atomic_t segv_blocked = -1, usr1_blocked = -1;
static int value;

static void note_mask(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	segv_blocked = sigismember(&cur, SIGSEGV);
	usr1_blocked = sigismember(&cur, SIGUSR1);
}

/* An SA_SIGINFO handler: makes the page faulted on writable. */
static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	char *a = si->si_addr;

	note_mask();
	if (sig != SIGSEGV || !uctx)
		uctx_ok = 0;
	if (si->si_code <= 0) {
		sent_code = si->si_code;
		atomic_fetch_add(&sent, 1);
		return;
	}
	if (a != pages && a != pages + pagesz)
		addr_ok = 0;
	if (write(STDOUT_FILENO, "H", 1) < 0)
		addr_ok = 0;
	mprotect(a, (size_t)pagesz, PROT_READ | PROT_WRITE);
	atomic_fetch_add(&faults, 1);
}

/* A plain handler: it only knows that the first page may have faulted. */
static void on_segv_plain(int sig)
{
	note_mask();
	if (sig != SIGSEGV)
		uctx_ok = 0;
	mprotect(pages, (size_t)pagesz, PROT_READ | PROT_WRITE);
	atomic_fetch_add(&faults, 1);
}

static struct kgo_waitgroup wg;

/* The faulting goroutine: one write to each page it is told to touch. */
static void toucher(void *arg)
{
	int n = (int)(intptr_t)arg;

	for (int i = 0; i < n; i++) {
		*(volatile char *)(pages + i * pagesz) = (char)(40 + i);
		if (write(STDOUT_FILENO, "w", 1) < 0)
			break;
	}
	value = pages[0] + (n > 1 ? pages[pagesz] : 0);
	kgo_waitgroup_done(&wg);
}

static void raiser(void *arg)
{
	(void)arg;
	raise(SIGSEGV);
	kgo_waitgroup_done(&wg);
}

static int npages = 1;
static bool do_raise, install_later;

static void main_fn(void *arg)
{
	(void)arg;
	if (install_later) {
		struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, NULL);
	}
	kgo_waitgroup_add(&wg, 1);
	kgo_go(toucher, (void *)(intptr_t)npages);
	kgo_waitgroup_wait(&wg);
	if (do_raise) {
		kgo_waitgroup_add(&wg, 1);
		kgo_go(raiser, NULL);
		kgo_waitgroup_wait(&wg);
	}
}

/* In the child: installs @sa (if any), runs kgo_main, prints what it saw. */
static int run(const struct sigaction *sa)
{
	struct kgo_config cfg = { .nprocs = 2 };
	struct sigaction after;
	const char *who;
	int rc;

	alarm(120);	/* a fault that recurs for ever ends here */
	pagesz = sysconf(_SC_PAGESIZE);
	pages = mmap(NULL, 2 * (size_t)pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		return 3;
	if (sa && sigaction(SIGSEGV, sa, NULL))
		return 3;
	rc = kgo_main(main_fn, NULL, &cfg);
	sigaction(SIGSEGV, NULL, &after);
	if ((after.sa_flags & SA_SIGINFO) && after.sa_sigaction == on_segv)
		who = "on_segv";
	else if (!(after.sa_flags & SA_SIGINFO) && after.sa_handler == on_segv_plain)
		who = "on_segv_plain";
	else if (!(after.sa_flags & SA_SIGINFO) && after.sa_handler == SIG_DFL)
		who = "SIG_DFL";
	else
		who = "another";
	printf(" rc=%d faults=%d value=%d addr=%d uctx=%d segv-blocked=%d usr1-blocked=%d "
	       "sent=%d code=%d after=%s\n", rc, atomic_load(&faults), value, (int)addr_ok,
	       (int)uctx_ok, (int)segv_blocked, (int)usr1_blocked, atomic_load(&sent),
	       (int)sent_code, who);
	fflush(stdout);	/* the child leaves with _exit */
	return 0;
}

static int run_body(void *sa)
{
	return run(sa);
}

/* Runs run(@sa) in a child: its wait status, and its output in @out. */
static int child(const struct sigaction *sa, char *out, size_t size)
{
	int status = run_in_child(STDOUT_FILENO, run_body, (void *)sa, out, size);

	npages = 1;
	do_raise = install_later = false;
	return status;
}

static bool exited0(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void)
{
	struct sigaction sa;
	char out[512];
	int st;

	tap_plan(9);
	if (access("/dev/kgo", F_OK)) {
		for (int i = 0; i < 9; i++)
			tap_skip_case("SIGSEGV chaining", "/dev/kgo missing");
		return tap_done();
	}

	/* (a) SA_SIGINFO, sa_mask {SIGUSR1}, installed before kgo_main. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	do_raise = true;
	st = child(&sa, out, sizeof(out));
	tap_ok_fmt(exited0(st) && !strncmp(out, "Hw ", 3) &&
		   strstr(out, " rc=0 faults=1 value=40 addr=1 uctx=1 "),
		   "a handler installed before kgo_main gets a goroutine's fault, with its "
		   "address and a ucontext, and the goroutine goes on (status %#x):%s", st, out);
	tap_ok_fmt(strstr(out, " segv-blocked=1 usr1-blocked=1 ") != NULL,
		   "it runs with its sa_mask and SIGSEGV blocked:%s", out);
	tap_ok_fmt(strstr(out, " sent=1 code=-6 ") != NULL,
		   "a raised SIGSEGV reaches it too, with si_code SI_TKILL:%s", out);
	tap_ok_fmt(strstr(out, " after=on_segv\n") != NULL,
		   "after kgo_main returns, it is SIGSEGV's handler again:%s", out);

	/* A plain handler with SA_NODEFER. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv_plain;
	sa.sa_flags = SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	st = child(&sa, out, sizeof(out));
	tap_ok_fmt(exited0(st) && strstr(out, " rc=0 faults=1 value=40 ") &&
		   strstr(out, " segv-blocked=0 ") && strstr(out, " after=on_segv_plain\n"),
		   "a plain SA_NODEFER handler gets the fault with SIGSEGV unblocked "
		   "(status %#x):%s", st, out);

	/* SA_RESETHAND: the first fault is its, the second the default's. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	npages = 2;
	st = child(&sa, out, sizeof(out));
	tap_ok_fmt(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && !strcmp(out, "Hw"),
		   "an SA_RESETHAND handler gets one fault, the next one kills "
		   "(status %#x, output \"%s\")", st, out);

	/* SIG_IGN: a fault cannot be ignored, it kills. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	st = child(&sa, out, sizeof(out));
	tap_ok_fmt(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && !strcmp(out, ""),
		   "with SIG_IGN before kgo_main, a fault still kills (status %#x, output \"%s\")",
		   st, out);

	/* (c) The program's own handler, installed while kgo_main runs. */
	install_later = true;
	st = child(NULL, out, sizeof(out));
	tap_ok_fmt(exited0(st) && strstr(out, " rc=0 faults=1 value=40 addr=1 uctx=1 "),
		   "a handler installed while kgo_main runs gets a goroutine's fault "
		   "(status %#x):%s", st, out);
	tap_ok_fmt(strstr(out, " after=on_segv\n") != NULL,
		   "and kgo_main's return leaves it in place:%s", out);
	return tap_done();
}
