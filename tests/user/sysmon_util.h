/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the sysmon_* tests: a monotonic clock in nanoseconds,
 * the module's counters, and whether kgo.ko has sysmon at all.  (The
 * judgement of timing bounds is timing_util.h's; the watchdog that fails a
 * test instead of hanging it is tap.h's.)
 */
#ifndef KGO_TESTS_SYSMON_UTIL_H
#define KGO_TESTS_SYSMON_UTIL_H

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>
#include <linux/kgo.h>

#include "clock_util.h"
#include "file_util.h"
#include "tap.h"


/* The idle Ms libkgo's spawner keeps (KGO_SPARE_MS in userlib/src/preempt.c). */
#define SPARE_MS	2

/* A snapshot of the module's counters (zeroes outside kgo_main). */
static inline struct kgo_stats_user stats_now(void)
{
	struct kgo_stats_user st = { 0 };

	kgo_stats(&st);
	return st;
}

/*
 * The process's threads (/proc/self/status), or -1.  No stdio, so no
 * malloc: it works where memory areas have run out (lib_threadlimits).
 */
static inline int count_threads(void)
{
	char buf[4096];
	const char *line;

	if (file_read("/proc/self/status", buf, sizeof(buf)) <= 0)
		return -1;
	line = strstr(buf, "\nThreads:");
	return line ? atoi(line + strlen("\nThreads:")) : -1;
}

/* Whether /dev/kgo has sysmon; exits with the TAP skip status if not. */
static inline void need_sysmon(int plan)
{
	struct kgo_version v = { .size = sizeof(v) };
	int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	bool ok = fd >= 0 && ioctl(fd, KGO_IOC_VERSION, &v) == 0 &&
		  (v.features & KGO_FEAT_SYSMON);

	if (fd >= 0)
		close(fd);
	if (ok)
		return;
	tap_plan(plan);
	for (int i = 0; i < plan; i++)
		tap_skip_case("sysmon", "kgo.ko without sysmon (or no /dev/kgo)");
	exit(tap_done());
}

#endif /* KGO_TESTS_SYSMON_UTIL_H */
