/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Slice preemption, GOMAXPROCS=1: a goroutine spinning in a loop that
 * makes no call at all does not keep a "sleeper" from running.  The
 * sleeper waits 1 ms at a time (clock_gettime and kgo_yield until its
 * deadline, kgo_sleep being someone else's issue) and measures how late
 * it gets to run: never more than the slice + 2 ms (judged against what
 * the machine allowed a plain thread in the same window, timing_util.h).  Once with the default slice
 * (10 ms), once with 1 ms.  Go 1.23, for comparison: a tight loop delays a
 * 1 ms sleeper by up to ~22 ms.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "sysmon_util.h"
#include "timing_util.h"

#define LATE_MAX_NS	2000000		/* the bound past the slice */
#define RUN_NS		600000000	/* how long each run measures */

static struct timing late;
static struct spin_beside sb = { .late = &late, .run_ns = RUN_NS };

static void run(uint64_t slice_ns, const char *name)
{
	struct kgo_config cfg = { .nprocs = 1, .slice_ns = slice_ns };
	uint64_t slice = slice_ns ? slice_ns : KGO_SLICE_DEFAULT;
	char what[128];
	uint64_t preempts;
	int rc;

	atomic_store(&sb.stop, false);
	sb.spins = 0;
	timing_init(&late, (int64_t)slice + LATE_MAX_NS);
	probes_start();
	rc = kgo_main(spin_beside_main, &sb, &cfg);
	probes_stop();
	preempts = sb.end.preempts - sb.start.preempts;
	tap_ok_fmt(rc == 0, "%s: kgo_main returned %d", name, rc);
	tap_ok_fmt(sb.spins > 0 && preempts > 0 && late.count > 0,
		   "%s: the spinner ran and was preempted %llu times in %ld rounds",
		   name, (unsigned long long)preempts, late.count);
	snprintf(what, sizeof(what), "%s: lateness of a 1 ms sleeper (slice + 2 ms)", name);
	timing_verdict(&late, what);
}

int main(void)
{
	need_sysmon(6);
	tap_watchdog(300);
	tap_plan(6);
	run(0, "default slice (10 ms)");
	run(1000000, "1 ms slice");
	return tap_done();
}
