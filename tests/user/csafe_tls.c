/* SPDX-License-Identifier: GPL-2.0 */
/*
 * __thread variables across a preemption and a handoff (issue 16): the
 * compiler computes a thread-local's address from the thread pointer once
 * and keeps it, as the thread pointer cannot change inside a function.  A
 * goroutine that changes threads in the middle of its code then writes
 * and reads the old thread's copy, which another goroutine now uses.
 *
 * 8 goroutines on 2 Ps with a 1 ms slice.  Each stores its own value in a
 * __thread variable, takes the variable's address and gettid(), runs a
 * stretch with no kgo call in it (three 1 ms slices of computing, or a raw
 * 3 ms nanosleep while the others want the P), and then checks:
 *   - the address taken before is the one a fresh look-up gives now (a
 *     noinline, noipa function computes it from the thread pointer);
 *   - gettid() is the one before;
 *   - the variable, through the address taken before, still holds the
 *     goroutine's value.
 * Two rounds (forked children, csafe_util.h).
 *
 * Results per round: it ended; the three checks across the compute
 * stretches; the three across the handoffs; sysmon preempted and handed off.
 */
#include "csafe_util.h"

#define ROUNDS		2
#define STRETCHES	12		/* of each kind, per goroutine */

enum check { ADDR, TID, VALUE, NCHECKS };
static const char *const check_name[NCHECKS] = {
	[ADDR] = "a __thread variable's address taken before is still the thread's own",
	[TID] = "gettid() unchanged",
	[VALUE] = "the __thread variable still holds the goroutine's value",
};
#define BAD(kind, check)	((kind) * NCHECKS + (check))
#define DONE(kind)		(CSAFE_NKINDS * NCHECKS + (kind))

static __thread uintptr_t tls_value;

/* The variable's address, computed from the thread pointer at each call. */
__attribute__((noinline, noipa)) static uintptr_t *tls_address(void)
{
	return &tls_value;
}

static void body(int id)
{
	for (int i = 0; i < STRETCHES * CSAFE_NKINDS; i++) {
		int kind = i % CSAFE_NKINDS;
		uintptr_t mine = (uintptr_t)id * 1000000 + (uintptr_t)i + 1;
		uintptr_t *volatile before;
		pid_t tid = csafe_tid();

		tls_value = mine;
		before = &tls_value;
		csafe_stretch(kind);
		if (before != tls_address())
			csafe_add(BAD(kind, ADDR), 1);
		if (csafe_tid() != tid)
			csafe_add(BAD(kind, TID), 1);
		if (*before != mine)
			csafe_add(BAD(kind, VALUE), 1);
		csafe_add(DONE(kind), 1);
	}
}

static void child(void)
{
	csafe_round(body, CSAFE_GOROUTINES);
}

int main(void)
{
	int plan = ROUNDS * (2 + CSAFE_NKINDS * NCHECKS);

	csafe_need_sysmon(plan);
	tap_watchdog(CSAFE_WATCHDOG(ROUNDS));
	tap_plan(plan);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died = csafe_fork_run(child, CSAFE_ROUND_S);

		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES);
		for (int k = 0; k < CSAFE_NKINDS; k++)
			for (int c = 0; c < NCHECKS; c++)
				csafe_result(died, csafe_get(BAD(k, c)) == 0 && csafe_get(DONE(k)) > 0,
					     "round %d: %s %s (%ld of %ld stretches broke it)", r + 1,
					     check_name[c], csafe_kind_name[k], csafe_get(BAD(k, c)),
					     csafe_get(DONE(k)));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
