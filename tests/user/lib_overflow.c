/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A goroutine that recurses past its stack hits the guard page; the
 * SIGSEGV handler (on the M's sigaltstack) reports the overflow and exits
 * with status 2, also when a handler installed before kgo_main would get
 * every other fault (it is not called for the overflow).  Run in forked
 * children, whose stderr the parent reads.  Also: with no handler before
 * kgo_main, any other SIGSEGV in a goroutine gets the default action
 * (tests/user/lib_segv_chain.c tests the faults chained to a handler).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "child_util.h"
#include "tap.h"

static volatile int limit = 1 << 30;

static int recurse(int depth)
{
	volatile char frame[200];

	frame[0] = (char)depth;
	if (depth >= limit)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

static void deep(void *arg)
{
	(void)arg;
	recurse(0);
}

static struct kgo_sema never_released;

static void main_overflow(void *arg)
{
	(void)arg;
	kgo_go(deep, NULL);	/* goroutine 2 */
	/*
	 * Wait for the overflow to end the process: were the main goroutine
	 * to return, deep would be preempted and kgo_main return first.
	 */
	kgo_sema_acquire(&never_released);
}

/* Below mmap_min_addr, so never mapped; not NULL, which UBSan would catch. */
static int *volatile nowhere = (int *)0x1000;

static void crash(void *arg)
{
	(void)arg;
	*nowhere = 1;
}

/* The program's handler from before kgo_main: says so, then dies. */
static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	(void)si;
	(void)uctx;
	if (write(STDERR_FILENO, "on_segv called\n", 15) < 0)
		_exit(5);
	signal(sig, SIG_DFL);
}

static bool handler_before;

/* One case: kgo_main(fn) with a stack size, in a child (child_util.h). */
struct overflow_case {
	void (*fn)(void *);
	size_t stack;
};

static int overflow_child(void *ctx)
{
	const struct overflow_case *c = ctx;
	struct kgo_config cfg = { .nprocs = 2, .stack_size = c->stack };

	if (handler_before) {
		struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, NULL);
	}
	kgo_main(c->fn, NULL, &cfg);
	return 0;
}

/* Runs kgo_main(fn) with @stack in a child; its status and stderr. */
static int child(void (*fn)(void *), size_t stack, char *err, size_t size)
{
	struct overflow_case c = { fn, stack };

	return run_in_child(STDERR_FILENO, overflow_child, &c, err, size);
}

int main(void)
{
	char err[1024];
	int st;

	tap_plan(5);

	st = child(main_overflow, 0, err, sizeof(err));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2,
		   "overflow on the default stack: exit status 2 (status %#x)", st);
	tap_ok_fmt(strstr(err, "kgo: goroutine 2 overflowed its 65536-byte stack\n") != NULL,
		   "and the message names the goroutine and the size: %s", err);

	st = child(main_overflow, 32768, err, sizeof(err));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		   strstr(err, "overflowed its 32768-byte stack") != NULL,
		   "a 32 KiB stack overflows the same way: %s", err);

	st = child(crash, 0, err, sizeof(err));
	tap_ok_fmt(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && !strstr(err, "overflowed"),
		   "with no handler before kgo_main, another fault gets SIGSEGV's default "
		   "action (status %#x)", st);

	handler_before = true;
	st = child(main_overflow, 0, err, sizeof(err));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		   strstr(err, "kgo: goroutine 2 overflowed its 65536-byte stack\n") &&
		   !strstr(err, "on_segv"),
		   "with a handler installed before kgo_main, an overflow still reports and "
		   "exits 2, without calling it (status %#x): %s", st, err);
	return tap_done();
}
