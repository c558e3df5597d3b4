/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_go_opts: a goroutine with a stack of its own size.  A 1 MiB stack
 * holds a 900 KiB frame that overflows the default one (both checked, the
 * overflow in a forked child); a 16 KiB stack runs; an overflow of a
 * stack of its own is reported with its size and exit status 2; 500
 * such goroutines leave no memory area behind; bad options give -EINVAL
 * and the program goes on; NULL options are kgo_go's; arguments are
 * copied; a thread that is not an M may call it; outside kgo_main it
 * says -ESRCH.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "child_util.h"
#include "mem_util.h"
#include "tap.h"

#define BIG_FRAME	(900 * 1024)
#define MANY		500

static struct kgo_waitgroup wg;
static atomic_int ran, bad;

/*
 * A 900 KiB frame touched a page at a time from its top down, as a stack
 * probe would: on too small a stack the first page out of it is the
 * guard, not someone else's memory.
 */
static void big(void *arg)
{
	volatile char buf[BIG_FRAME];

	for (size_t i = sizeof(buf); i > 0; i -= i >= 4096 ? 4096 : i)
		buf[i - 1] = (char)i;
	buf[0] = 1;
	if (buf[0] != 1 || buf[sizeof(buf) - 1] != (char)sizeof(buf))
		atomic_fetch_add(&bad, 1);
	atomic_fetch_add(&ran, 1);
	if (arg)
		kgo_waitgroup_done(arg);
}

/* Uses 8 KiB of a small stack. */
static void small(void *arg)
{
	volatile char buf[8192];

	buf[0] = 1;
	buf[sizeof(buf) - 1] = 2;
	if (buf[0] + buf[sizeof(buf) - 1] != 3)
		atomic_fetch_add(&bad, 1);
	atomic_fetch_add(&ran, 1);
	kgo_waitgroup_done(arg);
}

static void *seen_arg;

static void note_arg(void *arg)
{
	seen_arg = arg;
	atomic_fetch_add(&ran, 1);
	kgo_waitgroup_done(&wg);
}

struct blob {
	char text[40];
	struct kgo_waitgroup *wg;
};

static struct blob seen_blob;
static uintptr_t seen_addr;

static void note_blob(void *p)
{
	const struct blob *b = p;

	seen_blob = *b;
	seen_addr = (uintptr_t)p;
	kgo_waitgroup_done(b->wg);
}

/* Runs @opts' goroutine fn(arg) and waits for it; kgo_go_opts' result. */
static int run_one(void (*fn)(void *), void *arg, const struct kgo_go_opts *opts)
{
	int err;

	kgo_waitgroup_add(&wg, 1);
	err = kgo_go_opts(fn, arg, opts);
	if (err)
		kgo_waitgroup_done(&wg);
	else
		kgo_waitgroup_wait(&wg);
	return err;
}

static void *from_thread(void *arg)
{
	struct kgo_go_opts o = { .stack_size = 128 * 1024 };

	return (void *)(intptr_t)kgo_go_opts(small, arg, &o);
}

static long maps_before, maps_after, maps_peak, threads_before, threads_after;
static int many_errors;
static struct kgo_sema gate;

/* small, once the gate lets it through. */
static void gated(void *arg)
{
	kgo_sema_acquire(&gate);
	small(arg);
}

/* MANY goroutines with 128 KiB stacks, all alive at once, then ended. */
static void many(void)
{
	struct kgo_go_opts o = { .stack_size = 128 * 1024 };
	int started = 0;

	for (int i = 0; i < MANY; i++) {
		kgo_waitgroup_add(&wg, 1);
		if (kgo_go_opts(gated, &wg, &o)) {
			many_errors++;
			kgo_waitgroup_done(&wg);
		} else {
			started++;
		}
	}
	maps_peak = count_maps();
	while (started--)
		kgo_sema_release(&gate);
	kgo_waitgroup_wait(&wg);
}

/*
 * The memory areas once they are back to @bound or 2 s have passed: a
 * goroutine's stack goes after its kgo_waitgroup_done, when it ends.
 */
static long maps_settled(long bound)
{
	long n = count_maps();

	for (int i = 0; i < 200 && n > bound; i++) {
		kgo_sleep(10000000);
		n = count_maps();
	}
	return n;
}

static void test_main(void *arg)
{
	struct kgo_go_opts o;
	int err;

	(void)arg;

	/* (1) a 1 MiB stack holds the 900 KiB frame */
	atomic_store(&ran, 0);
	o = (struct kgo_go_opts){ .stack_size = 1024 * 1024 };
	kgo_waitgroup_add(&wg, 1);
	err = kgo_go_opts(big, &wg, &o);
	if (err)
		kgo_waitgroup_done(&wg);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(err == 0 && atomic_load(&ran) == 1 && atomic_load(&bad) == 0,
		   "a goroutine with a 1 MiB stack uses 900 KiB of it (err %d)", err);

	/* (2) the smallest stack */
	atomic_store(&ran, 0);
	o = (struct kgo_go_opts){ .stack_size = KGO_STACK_MIN };
	err = run_one(small, &wg, &o);
	tap_ok_fmt(err == 0 && atomic_load(&ran) == 1 && atomic_load(&bad) == 0,
		   "a goroutine with a %d-byte stack runs (err %d)", KGO_STACK_MIN, err);

	/* (4) many, started and finished: no memory area left behind */
	many();		/* a warm-up: Ms, the waitgroup's state, ... */
	kgo_sleep(100000000);
	threads_before = status_kib("Threads");
	maps_before = count_maps();
	many();
	maps_after = maps_settled(maps_before);
	/*
	 * An M started meanwhile (a handoff: the debug kernel's faults are
	 * slow) brings 3 areas: its stack, that stack's guard, its
	 * sigaltstack.  A leak would be 2 a goroutine, 4,000 in all.
	 */
	threads_after = status_kib("Threads");
	tap_ok_fmt(many_errors == 0 && maps_peak >= maps_before + MANY &&
		   maps_after <= maps_before + 8 + 3 * (threads_after - threads_before),
		   "%d goroutines with stacks of their own leave no memory area behind "
		   "(%ld areas before, %ld while they ran, %ld after; threads %ld, then %ld; "
		   "%d errors)", MANY, maps_before, maps_peak, maps_after, threads_before,
		   threads_after, many_errors);
	tap_ok_fmt(kgo_numgoroutine() == 1, "and they are all gone (kgo_numgoroutine %d)",
		   kgo_numgoroutine());

	/* (5) bad options, then a good one */
	{
		static const char blob[4] = "abc";
		struct kgo_go_opts bads[] = {
			{ .reserved = { 1 } },
			{ .reserved = { 0, 0, 0, 1 } },
			{ .stack_size = KGO_STACK_MIN - 1 },
			{ .stack_size = 1 },
			{ .stack_size = KGO_STACK_MAX + 1 },
			{ .stack_size = SIZE_MAX },
			{ .args_size = 8 },
			{ .args = blob, .args_size = KGO_ARGS_MAX + 1 },
		};
		int wrong = 0;

		for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
			err = kgo_go_opts(note_arg, NULL, &bads[i]);
			if (err != -EINVAL) {
				printf("# case %zu: %d, not -EINVAL\n", i, err);
				wrong++;
			}
		}
		o = (struct kgo_go_opts){ .args = blob, .args_size = sizeof(blob) };
		err = kgo_go_opts(note_arg, (void *)blob, &o);
		if (err != -EINVAL) {
			printf("# both args and arg: %d, not -EINVAL\n", err);
			wrong++;
		}
		err = kgo_go_opts(NULL, NULL, NULL);
		if (err != -EINVAL) {
			printf("# no function: %d, not -EINVAL\n", err);
			wrong++;
		}
		atomic_store(&ran, 0);
		o = (struct kgo_go_opts){ .stack_size = KGO_STACK_MAX };
		err = run_one(note_arg, (void *)&ran, &o);
		tap_ok_fmt(wrong == 0 && err == 0 && atomic_load(&ran) == 1,
			   "bad options give -EINVAL and start nothing; then a %zu-byte "
			   "stack (the most) works (err %d)", (size_t)KGO_STACK_MAX, err);
	}

	/* (6) NULL options, and zero-filled ones, are kgo_go's */
	atomic_store(&ran, 0);
	seen_arg = NULL;
	err = run_one(note_arg, &seen_arg, NULL);
	tap_ok_fmt(err == 0 && seen_arg == &seen_arg && atomic_load(&ran) == 1,
		   "NULL options: fn(arg) runs (err %d)", err);
	seen_arg = NULL;
	o = (struct kgo_go_opts){ 0 };
	err = run_one(note_arg, &o, &o);
	tap_ok_fmt(err == 0 && seen_arg == &o, "zero-filled options: the same (err %d)", err);

	/* arguments copied onto a stack of its own */
	{
		struct blob b = { "copied onto the new stack", &wg };

		o = (struct kgo_go_opts){ .stack_size = 200 * 1024, .args = &b,
					  .args_size = sizeof(b) };
		kgo_waitgroup_add(&wg, 1);
		err = kgo_go_opts(note_blob, NULL, &o);
		memset(b.text, 'x', sizeof(b.text) - 1);	/* the copy is the G's */
		if (err)
			kgo_waitgroup_done(&wg);
		kgo_waitgroup_wait(&wg);
		tap_ok_fmt(err == 0 && !strcmp(seen_blob.text, "copied onto the new stack") &&
			   seen_addr % 16 == 0 && seen_addr != (uintptr_t)&b,
			   "args: fn gets an aligned copy (err %d)", err);
	}

	/* from a thread that is not an M */
	{
		pthread_t t;
		void *res = (void *)(intptr_t)-1;

		atomic_store(&ran, 0);
		kgo_waitgroup_add(&wg, 1);
		if (pthread_create(&t, NULL, from_thread, &wg) == 0)
			pthread_join(t, &res);
		if (res)
			kgo_waitgroup_done(&wg);
		kgo_waitgroup_wait(&wg);
		tap_ok_fmt(res == NULL && atomic_load(&ran) == 1,
			   "from another thread (%ld)", (long)(intptr_t)res);
	}
}

/* In a child: the big frame on @stack (0: the default stack), and wait. */
static size_t child_stack;
static struct kgo_sema never_released;

static void main_child(void *arg)
{
	struct kgo_go_opts o = { .stack_size = child_stack };

	(void)arg;
	if (kgo_go_opts(big, NULL, &o))	/* goroutine 2 */
		_exit(3);
	/* Wait for the overflow to end the process. */
	kgo_sema_acquire(&never_released);
}

static int overflow_child(void *stack)
{
	struct kgo_config cfg = { .nprocs = 2 };

	child_stack = *(size_t *)stack;
	kgo_main(main_child, NULL, &cfg);
	return 0;
}

/* Runs main_child in a forked child; its status and stderr. */
static int child(size_t stack, char *err, size_t size)
{
	return run_in_child(STDERR_FILENO, overflow_child, &stack, err, size);
}

int main(void)
{
	struct kgo_go_opts o = { .stack_size = 1 << 20 };
	char msg[1024];
	int st;

	tap_plan(13);
	tap_watchdog(600);

	tap_ok_fmt(kgo_go_opts(note_arg, NULL, &o) == -ESRCH,
		   "outside kgo_main: -ESRCH");

	st = child(0, msg, sizeof(msg));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		   strstr(msg, "kgo: goroutine 2 overflowed its 65536-byte stack\n"),
		   "the 900 KiB frame overflows the default stack (status %#x): %s", st, msg);
	st = child(256 * 1024, msg, sizeof(msg));
	tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		   strstr(msg, "kgo: goroutine 2 overflowed its 262144-byte stack\n"),
		   "and a 256 KiB stack of its own, with its size in the message "
		   "(status %#x): %s", st, msg);

	{
		struct kgo_config cfg = { .nprocs = 2 };
		int err = kgo_main(test_main, NULL, &cfg);

		tap_ok_fmt(err == 0, "kgo_main returns 0 (%d)", err);
	}
	return tap_done();
}
