/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dlopen, dlsym and dlerror from goroutines that sysmon preempts and hands
 * off (issue 16): the dynamic loader's locks are recursive and owned by a
 * thread, and dlerror's message is per thread.  A goroutine preempted
 * inside dlopen (the search for a library makes system calls and takes a
 * while) with the loader's lock held lets a goroutine that runs meanwhile
 * on its thread into the loader too; one that changes threads between a
 * failing dlsym and its dlerror reads another thread's message.
 *
 * Dynamically linked (the Makefile's rule for this one program; libm.so.6
 * is a DT_NEEDED library so that kgo-vm puts it in the guest).  8
 * goroutines on 2 Ps with a 1 ms slice repeat:
 *   - dlopen("libm.so.6"), dlsym "cos", check cos(0) == 1 and
 *     cos(pi) == -1, dlclose;
 *   - dlopen of a library that is nowhere (a full search, under the
 *     loader's lock) and dlsym of a symbol that is nowhere, each followed
 *     by a stretch with no kgo call in it (three 1 ms slices of computing,
 *     or a raw 3 ms nanosleep while the others want the P), and then
 *     dlerror(), which must name what this goroutine looked for.
 * Two rounds (forked children, csafe_util.h).
 *
 * Results per round: it ended (no crash, no hang); dlsym's cos worked;
 * dlerror kept the goroutine's message across a preemption, and across a
 * handoff; sysmon preempted and handed off.
 */
#include <dlfcn.h>
#include <math.h>

#include "csafe_util.h"

#define ROUNDS		2
#define STRETCHES	8		/* of each kind, per goroutine */

enum { COS_BAD, COS_DONE, BAD_PREEMPT, BAD_HANDOFF, DONE_PREEMPT, DONE_HANDOFF, NCOUNT };

/* The cos libm has; a function pointer, not a call the compiler folds. */
typedef double (*cos_fn)(double);

static bool use_cos(void)
{
	void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	cos_fn f;
	bool ok;

	if (!h)
		return false;
	*(void **)&f = dlsym(h, "cos");
	ok = f && f(0.0) == 1.0 && f(M_PI) == -1.0;
	dlclose(h);
	return ok;
}

/* dlerror() names @what, after a stretch of @kind since the failure. */
static bool error_survives(int kind, const char *what, bool failed)
{
	const char *msg;

	csafe_stretch(kind);
	msg = dlerror();
	return failed && msg && strstr(msg, what);
}

static void body(int id)
{
	void *self = dlopen(NULL, RTLD_NOW);

	for (int i = 0; i < STRETCHES * CSAFE_NKINDS; i++) {
		int kind = i % CSAFE_NKINDS;
		char lib[64], sym[64];
		bool ok;

		csafe_add(COS_DONE, 1);
		if (!use_cos())
			csafe_add(COS_BAD, 1);
		snprintf(lib, sizeof(lib), "libcsafe-nowhere-%d-%d.so", id, i);
		dlerror();
		ok = error_survives(kind, lib, dlopen(lib, RTLD_NOW) == NULL);
		snprintf(sym, sizeof(sym), "csafe_nowhere_%d_%d", id, i);
		dlerror();
		ok &= error_survives(kind, sym, self && dlsym(self, sym) == NULL);
		if (!ok)
			csafe_add(kind == CSAFE_PREEMPT ? BAD_PREEMPT : BAD_HANDOFF, 1);
		csafe_add(kind == CSAFE_PREEMPT ? DONE_PREEMPT : DONE_HANDOFF, 1);
	}
	if (self)
		dlclose(self);
}

static void child(void)
{
	csafe_round(body, CSAFE_GOROUTINES);
}

int main(void)
{
	int plan = ROUNDS * 5;

	csafe_need_sysmon(plan);
	tap_watchdog(CSAFE_WATCHDOG(ROUNDS));
	tap_plan(plan);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died = csafe_fork_run(child, CSAFE_ROUND_S);

		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES);
		csafe_result(died, csafe_get(COS_BAD) == 0 && csafe_get(COS_DONE) > 0,
			     "round %d: dlopen/dlsym gave a working cos (%ld of %ld did not)", r + 1,
			     csafe_get(COS_BAD), csafe_get(COS_DONE));
		csafe_result(died, csafe_get(BAD_PREEMPT) == 0 && csafe_get(DONE_PREEMPT) > 0,
			     "round %d: dlerror() kept the goroutine's message across a preemption (%ld of %ld lost it)",
			     r + 1, csafe_get(BAD_PREEMPT), csafe_get(DONE_PREEMPT));
		csafe_result(died, csafe_get(BAD_HANDOFF) == 0 && csafe_get(DONE_HANDOFF) > 0,
			     "round %d: dlerror() kept the goroutine's message across a handoff (%ld of %ld lost it)",
			     r + 1, csafe_get(BAD_HANDOFF), csafe_get(DONE_HANDOFF));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
