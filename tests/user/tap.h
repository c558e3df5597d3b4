/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal TAP producer for kgo's user-space tests, in the kselftest
 * style: "TAP version 13", a plan, "ok N name" / "not ok N name # reason",
 * "# SKIP" directives, and a totals line.  Exit status: 0 all passed,
 * 1 something failed, 4 everything skipped (kselftest's convention; run-tests
 * fails a program that skips as a whole unless skip-ok.list allows it).
 *
 *   tap_plan(3);
 *   tap_ok(x == 1, "x is one");
 *   tap_ok_fmt(err == 0, "setup returned %d", err);
 *   return tap_done();
 *
 * TAP_CHECK(cond) inside a test body records the first failing condition
 * (file:line and the expression) for the current case's "# reason".
 */
#ifndef KGO_TESTS_TAP_H
#define KGO_TESTS_TAP_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_n, tap_pass, tap_fail, tap_skip;
static char tap_why[256];

static inline void tap_plan(int n)
{
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
}

static inline bool tap_ok_fmt(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline bool tap_ok_fmt(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok && tap_why[0])
		printf(" # %s", tap_why);
	printf("\n");
	fflush(stdout);
	tap_why[0] = 0;
	if (ok)
		tap_pass++;
	else
		tap_fail++;
	return ok;
}

#define tap_ok(ok, name) tap_ok_fmt((ok), "%s", (name))

static inline void tap_skip_case(const char *name, const char *why)
{
	printf("ok %d %s # SKIP %s\n", ++tap_n, name, why);
	fflush(stdout);
	tap_skip++;
}

/*
 * Whether this runs in a kgo-vm guest (scripts/kgo-vm sets
 * KGO_GUEST_KERNEL), where debugfs and tracefs are always mounted: a test
 * that finds them missing there fails instead of skipping.
 */
static inline bool tap_in_guest(void)
{
	return getenv("KGO_GUEST_KERNEL") != NULL;
}

/* Case @name cannot run without @what: a failure in a guest, else a skip. */
static inline void tap_missing(const char *name, const char *what)
{
	if (tap_in_guest()) {
		snprintf(tap_why, sizeof(tap_why), "%s missing in a kgo-vm guest", what);
		tap_ok(false, name);
	} else {
		char why[160];

		snprintf(why, sizeof(why), "no %s", what);
		tap_skip_case(name, why);
	}
}

/* Records the first failing check of the current case; evaluates to ok. */
#define TAP_CHECK(cond) ({						\
	bool tap_c_ = (cond);						\
	if (!tap_c_ && !tap_why[0])					\
		snprintf(tap_why, sizeof(tap_why), "%s:%d: %s",	\
			 __FILE__, __LINE__, #cond);			\
	tap_c_;								\
})

/* What tap_watchdog prints; a test may name a likelier cause first. */
static const char *tap_timeout_msg = "not ok - timed out\n";

static inline void tap_timed_out(int sig)
{
	(void)sig;
	if (write(1, tap_timeout_msg, strlen(tap_timeout_msg)) < 0)
		_exit(1);
	_exit(1);
}

/* A hang (a lost wakeup, say) becomes a failure after @seconds. */
static inline void tap_watchdog(unsigned int seconds)
{
	signal(SIGALRM, tap_timed_out);
	alarm(seconds);
}

static inline int tap_done(void)
{
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       tap_pass, tap_fail, tap_skip);
	fflush(stdout);
	if (tap_fail)
		return 1;
	return tap_pass ? 0 : 4;
}

#endif /* KGO_TESTS_TAP_H */
