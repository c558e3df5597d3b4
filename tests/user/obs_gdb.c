/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The gdb extension (userlib/gdb/kgo-gdb.py) on a known program: this
 * binary runs itself under gdb in batch mode, stops at a checkpoint with
 * six goroutines in known states, and checks that `info goroutines` lists
 * exactly those, each where it is, and that `goroutine N bt` walks the
 * goroutine's own stack (library frames may be missing: its -O2 code makes
 * tail calls).  Skips where gdb is not installed.
 */
#include <kgo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static struct kgo_sema sem = KGO_SEMA_INIT(0);
static volatile int woke_alpha, woke_beta, woke_gamma;

/*
 * Distinct bodies (so the compiler cannot fold them into one), and work
 * after each call (so no call is a tail call and every frame stays).
 */
__attribute__((noinline)) static void park_in_alpha(void)
{
	kgo_sema_acquire(&sem);
	woke_alpha++;
}

__attribute__((noinline)) static void park_in_beta(void)
{
	kgo_sema_acquire(&sem);
	woke_beta += 2;
}

__attribute__((noinline)) static void park_in_gamma(void)
{
	kgo_sema_acquire(&sem);
	woke_gamma += 3;
}

static void waiter_alpha(void *a) { park_in_alpha(); woke_alpha += a != NULL; }
static void waiter_beta(void *a) { park_in_beta(); woke_beta += a != NULL; }
static void waiter_gamma(void *a) { park_in_gamma(); woke_gamma += a != NULL; }
static void not_started_yet(void *a) { (void)a; }

/* gdb stops here; the goroutines are then exactly as the test expects. */
__attribute__((noinline)) void kgo_test_checkpoint(void)
{
	__asm__ volatile("" ::: "memory");
}

static void target_main(void *arg)
{
	int i;

	(void)arg;
	kgo_go(waiter_alpha, NULL);	/* goroutine 2 */
	kgo_yield();
	kgo_go(waiter_beta, NULL);	/* 3 */
	kgo_yield();
	kgo_go(waiter_gamma, NULL);	/* 4 */
	kgo_yield();
	kgo_go(not_started_yet, NULL);	/* 5 */
	kgo_go(not_started_yet, NULL);	/* 6 */
	kgo_test_checkpoint();
	for (i = 0; i < 3; i++)
		kgo_sema_release(&sem);
}

static const char *script_path(void)
{
	static const char *const paths[] = {
		"/usr/share/kgo/kgo-gdb.py", "userlib/gdb/kgo-gdb.py",
	};
	const char *env = getenv("KGO_GDB_SCRIPT");
	size_t i;

	if (env)
		return env;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!access(paths[i], R_OK))
			return paths[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static char out[1 << 16];
	char self[512], cmd[2048], *p;
	const char *script = script_path();
	/* Cooperative: no preemption may run goroutines 5 and 6 early. */
	struct kgo_config cfg = { .nprocs = 1, .flags = KGO_COOPERATIVE };
	size_t len = 0;
	ssize_t n;
	FILE *f;
	int listed = 0;

	if (argc > 1 && !strcmp(argv[1], "--target"))
		return kgo_main(target_main, NULL, &cfg) ? 1 : 0;
	if (access("/dev/kgo", F_OK) || access("/usr/bin/gdb", X_OK) || !script) {
		printf("1..0 # SKIP needs /dev/kgo, /usr/bin/gdb and kgo-gdb.py\n");
		return 4;
	}
	tap_plan(4);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/gdb -batch -nx -q -ex 'set pagination off' -ex 'source %s' "
		 "-ex 'break kgo_test_checkpoint' -ex run -ex 'echo ==info==\\n' "
		 "-ex 'info goroutines' -ex 'echo ==bt==\\n' -ex 'goroutine 3 bt' "
		 "-ex 'echo ==end==\\n' -ex kill --args %s --target 2>&1", script, self);
	f = popen(cmd, "r");
	while (f && len < sizeof(out) - 1 && (n = (ssize_t)fread(out + len, 1, sizeof(out) - 1 - len, f)) > 0)
		len += (size_t)n;
	if (f)
		pclose(f);
	out[len] = 0;
	for (p = strstr(out, "==info=="); p && (p = strchr(p, '\n')) && p[1] != '='; p++)
		listed += p[1] == ' ' || p[1] == '*';
	if (!strstr(out, "==end=="))
		printf("# gdb said:\n%s", out);
	tap_ok_fmt(listed == 6, "info goroutines lists exactly the 6 live goroutines (%d)", listed);
	tap_ok(TAP_CHECK(strstr(out, "* 1 running")) &&
	       TAP_CHECK(strstr(out, "  2 waiting park_in_alpha")) &&
	       TAP_CHECK(strstr(out, "  3 waiting park_in_beta")) &&
	       TAP_CHECK(strstr(out, "  4 waiting park_in_gamma")),
	       "the running one and each parked one where it waits");
	tap_ok(TAP_CHECK(strstr(out, "  5 runnable (not started) not_started_yet")) &&
	       TAP_CHECK(strstr(out, "  6 runnable (not started) not_started_yet")),
	       "goroutines not started yet, with their functions");
	p = strstr(out, "==bt==");
	tap_ok(TAP_CHECK(p && strstr(p, "park_in_beta (") && strstr(p, "waiter_beta (") &&
			 strstr(p, "park_in_beta (") < strstr(p, "waiter_beta (")),
	       "goroutine 3 bt walks its own stack, innermost first");
	if (tap_fail)
		printf("# gdb said:\n%s", out);
	return tap_done();
}
