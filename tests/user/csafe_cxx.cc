// SPDX-License-Identifier: GPL-2.0
/*
 * C++ exceptions in goroutines that sysmon preempts and hands off (issue
 * 16): the C++ runtime keeps the exceptions being handled in per-thread
 * globals (__cxa_get_globals), and the unwinder takes the loader's lock to
 * find unwind tables.  A goroutine that changes threads inside a catch
 * block rethrows, or ends the handler, on another thread's state: another
 * goroutine's exception, or none (std::terminate).
 *
 * 8 goroutines on 2 Ps with a 1 ms slice; kgo is called through kgo.h's
 * extern "C".  Each repeats: a recursive call 8 deep computes a while
 * (preempted) at the bottom and throws an exception carrying its
 * goroutine and number; the catch checks it, runs a stretch with no kgo
 * call in it (three 1 ms slices of computing, or a raw 3 ms nanosleep
 * while the others want the P), checks std::uncaught_exceptions() == 0 and
 * that std::current_exception() is still its own, rethrows with `throw;`,
 * and the outer catch checks that what arrived is its own exception again.
 * Two rounds (forked children, csafe_util.h).
 *
 * Results per round: it ended (a handler on the wrong thread ends in
 * std::terminate, SIGABRT); every exception thrown was caught with its own
 * value; the rethrow after a preemption, and after a handoff, delivered
 * the goroutine's own exception; sysmon preempted and handed off.
 */
#include <exception>

#include "csafe_util.h"

namespace {

constexpr int rounds = 2;
constexpr int stretches = 10;	// of each kind, per goroutine
constexpr int depth = 8;

enum { CAUGHT_BAD, THROWN, BAD_PREEMPT, BAD_HANDOFF, DONE_PREEMPT, DONE_HANDOFF, NCOUNT };

struct csafe_error {
	int who, n;
};

void dive(int level, int who, int n)
{
	if (level == 0) {
		csafe_compute(CSAFE_COMPUTE_NS / 2);
		throw csafe_error{ who, n };
	}
	dive(level - 1, who, n);
	__asm__ volatile("" ::: "memory");	// no tail call: keep every frame
}

// Catches, stretches inside the handler, rethrows; true if all was its own.
bool catch_stretch_rethrow(int id, int i, int kind)
{
	try {
		try {
			csafe_add(THROWN, 1);
			dive(depth, id, i);
		} catch (const csafe_error &e) {
			if (e.who != id || e.n != i)
				csafe_add(CAUGHT_BAD, 1);
			std::exception_ptr mine = std::current_exception();

			csafe_stretch(kind);
			if (std::uncaught_exceptions() != 0 || std::current_exception() != mine)
				return false;
			throw;
		}
	} catch (const csafe_error &e) {
		return e.who == id && e.n == i;
	} catch (...) {
		return false;
	}
	return false;
}

void body(int id)
{
	for (int i = 0; i < stretches * CSAFE_NKINDS; i++) {
		int kind = i % CSAFE_NKINDS;

		if (!catch_stretch_rethrow(id, i, kind))
			csafe_add(kind == CSAFE_PREEMPT ? BAD_PREEMPT : BAD_HANDOFF, 1);
		csafe_add(kind == CSAFE_PREEMPT ? DONE_PREEMPT : DONE_HANDOFF, 1);
	}
}

void child()
{
	csafe_round(body, CSAFE_GOROUTINES);
}

} // namespace

int main()
{
	int plan = rounds * 5;

	csafe_need_sysmon(plan);
	tap_watchdog(CSAFE_WATCHDOG(rounds));
	tap_plan(plan);
	for (int r = 0; r < rounds; r++) {
		const char *died = csafe_fork_run(child, CSAFE_ROUND_S);

		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES);
		csafe_result(died, csafe_get(CAUGHT_BAD) == 0 && csafe_get(THROWN) > 0,
			     "round %d: every exception was caught with its own value (%ld of %ld were not)",
			     r + 1, csafe_get(CAUGHT_BAD), csafe_get(THROWN));
		csafe_result(died, csafe_get(BAD_PREEMPT) == 0 && csafe_get(DONE_PREEMPT) > 0,
			     "round %d: a handler preempted in its middle rethrew its own exception (%ld of %ld did not)",
			     r + 1, csafe_get(BAD_PREEMPT), csafe_get(DONE_PREEMPT));
		csafe_result(died, csafe_get(BAD_HANDOFF) == 0 && csafe_get(DONE_HANDOFF) > 0,
			     "round %d: a handler handed off in its middle rethrew its own exception (%ld of %ld did not)",
			     r + 1, csafe_get(BAD_HANDOFF), csafe_get(DONE_HANDOFF));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
