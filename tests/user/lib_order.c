/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libkgo ordering on one P, where the order is fully determined:
 *   - a newly spawned G goes to runnext and runs before older runnable Gs;
 *   - kgo_yield puts the caller at the ring's tail (round robin);
 *   - kgo_exit and returning end a G; kgo_id/kgo_self;
 *   - kgo_go_args copies the caller's buffer at spawn;
 *   - kgo_park/kgo_ready: a readied G runs next; an unlock function runs
 *     off the G's stack, and a refused park goes on at once;
 *   - kgo_main can run again, not nested, and abandons leftover Gs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <kgo.h>

#include "tap.h"

static char order[64];
static int norder;

static void note(char c)
{
	if (norder < (int)sizeof(order) - 1)
		order[norder++] = c;
	order[norder] = 0;
}

static void reset(void)
{
	norder = 0;
	order[0] = 0;
}

/*
 * Cooperative: these are the run queues' exact orders.  With sysmon, a
 * goroutine that blocks in the kernel (even on a page fault) or seems to
 * overrun its slice (a stalled virtual CPU) goes to the global queue and
 * legitimately changes them.
 */
static int run1(void (*fn)(void *))
{
	struct kgo_config cfg = { .nprocs = 1, .flags = KGO_COOPERATIVE };

	return kgo_main(fn, NULL, &cfg);
}

/* ---- runnext ---- */

static void put_letter(void *arg)
{
	note((char)(uintptr_t)arg);
}

static void main_runnext(void *arg)
{
	(void)arg;
	kgo_go(put_letter, (void *)(uintptr_t)'A');
	kgo_go(put_letter, (void *)(uintptr_t)'B');
	kgo_go(put_letter, (void *)(uintptr_t)'C');
	note('m');
	kgo_yield();
	note('M');
}

/* ---- yield round robin ---- */

static atomic_int done;

static void yielder(void *arg)
{
	for (int i = 0; i < 3; i++) {
		note((char)(uintptr_t)arg);
		kgo_yield();
	}
	atomic_fetch_add(&done, 1);
}

static void main_yield(void *arg)
{
	(void)arg;
	atomic_store(&done, 0);
	kgo_go(yielder, (void *)(uintptr_t)'1');
	kgo_go(yielder, (void *)(uintptr_t)'2');
	while (atomic_load(&done) < 2)
		kgo_yield();
}

/* ---- exit, ids ---- */

static bool after_exit, returned, ids_ok;
static uint64_t main_id, child_id, child2_id;

static int depth = 5;

static void deep_exit(void)
{
	if (depth < 0)
		return;		/* never: keeps the compiler from calling this infinite */
	if (depth-- > 0)
		deep_exit();
	else
		kgo_exit();
	after_exit = true;
}

static void exiter(void *arg)
{
	(void)arg;
	child_id = kgo_id();
	deep_exit();
	after_exit = true;
}

static void returner(void *arg)
{
	(void)arg;
	child2_id = kgo_id();
	ids_ok = kgo_self() != NULL && kgo_m_id() >= 0 && kgo_p_id() == 0;
	returned = true;
}

static void main_exit(void *arg)
{
	(void)arg;
	main_id = kgo_id();
	kgo_go(exiter, NULL);
	kgo_go(returner, NULL);
	kgo_yield();
}

/* ---- kgo_go_args ---- */

struct args {
	int n;
	char s[40];
	double d;
};

static bool args_ok, args_aligned, args_null, args_big;

static void args_fn(void *p)
{
	struct args *a = p;

	args_aligned = ((uintptr_t)p & 15) == 0;
	args_ok = a->n == 42 && strcmp(a->s, "copied at spawn") == 0 && a->d == 2.5;
}

static void args_none(void *p)
{
	args_null = p == NULL;
}

static void main_args(void *arg)
{
	struct args a = { .n = 42, .s = "copied at spawn", .d = 2.5 };
	static char big[KGO_ARGS_MAX + 1];

	(void)arg;
	kgo_go_args(args_fn, &a, sizeof(a));
	/* The G has not run yet (we did not yield): change the buffer. */
	a.n = -1;
	strcpy(a.s, "changed after spawn");
	a.d = 0;
	kgo_go_args(args_none, NULL, 0);
	args_big = kgo_go_args(args_fn, big, sizeof(big)) == -EINVAL;
	kgo_yield();
}

/* ---- park / ready ---- */

static struct kgo_g *parked;
static bool unlock_on_g0, unlock_ran;

static void parker(void *arg)
{
	(void)arg;
	parked = kgo_self();
	note('p');
	kgo_park(NULL, NULL);
	note('P');
}

static bool refuse(void *arg)
{
	unlock_ran = true;
	unlock_on_g0 = kgo_self() == NULL && arg == (void *)&unlock_ran;
	return false;
}

static void main_park(void *arg)
{
	(void)arg;
	kgo_go(parker, NULL);
	kgo_yield();		/* parker runs and parks */
	note('m');
	kgo_go(put_letter, (void *)(uintptr_t)'X');
	kgo_ready(parked);	/* runnext: ahead of X, which goes to the ring */
	kgo_yield();
	note('M');
	/* A refused park goes on at once, without a switch to another G. */
	kgo_go(put_letter, (void *)(uintptr_t)'Y');
	kgo_park(refuse, &unlock_ran);
	note('R');
	kgo_yield();
}

/* ---- nesting, leftovers ---- */

static int nested_rc;

static void nop(void *arg)
{
	(void)arg;
}

static void main_nested(void *arg)
{
	(void)arg;
	nested_rc = kgo_main(nop, NULL, NULL);
	/* Left runnable when main returns: abandoned, like Go. */
	kgo_go(nop, NULL);
	kgo_go(nop, NULL);
	kgo_go(yielder, (void *)(uintptr_t)'z');
}

int main(void)
{
	int rc;

	tap_plan(12);

	reset();
	rc = run1(main_runnext);
	tap_ok_fmt(rc == 0, "kgo_main returns 0 (%d)", rc);
	tap_ok_fmt(strcmp(order, "mCABM") == 0,
		   "newest spawn runs first, then older ones in order: \"%s\"", order);

	reset();
	rc = run1(main_yield);
	tap_ok_fmt(rc == 0 && strcmp(order, "212121") == 0,
		   "yield is round robin at the ring's tail: \"%s\"", order);

	rc = run1(main_exit);
	tap_ok(rc == 0 && returned && !after_exit, "kgo_exit and returning end a goroutine");
	tap_ok_fmt(main_id == 1 && child_id > main_id && child2_id > child_id && ids_ok,
		   "ids: main %llu, then %llu, %llu; self, M and P known",
		   (unsigned long long)main_id, (unsigned long long)child_id,
		   (unsigned long long)child2_id);

	rc = run1(main_args);
	tap_ok(rc == 0 && args_ok, "kgo_go_args copies its arguments at spawn");
	tap_ok(args_aligned && args_null, "the copy is 16-byte aligned; size 0 passes NULL");
	tap_ok(args_big, "kgo_go_args refuses more than KGO_ARGS_MAX bytes");

	reset();
	rc = run1(main_park);
	tap_ok_fmt(rc == 0 && strncmp(order, "pmPXM", 5) == 0,
		   "a readied goroutine runs next: \"%s\"", order);
	tap_ok_fmt(unlock_ran && unlock_on_g0 && strcmp(order + 5, "RY") == 0,
		   "unlock runs on g0; a refused park goes on at once: \"%s\"", order);

	rc = run1(main_nested);
	tap_ok_fmt(rc == 0 && nested_rc == -EBUSY, "nested kgo_main is refused (%d)", nested_rc);
	tap_ok(kgo_go(nop, NULL) == -ESRCH && kgo_nprocs() == 0,
	       "outside kgo_main: kgo_go is refused, nprocs 0");
	return tap_done();
}
