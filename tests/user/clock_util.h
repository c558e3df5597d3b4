/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tests' clock: CLOCK_MONOTONIC in nanoseconds, the clock of every
 * timing the tests take and of kgo_nanotime().
 */
#ifndef KGO_TESTS_CLOCK_UTIL_H
#define KGO_TESTS_CLOCK_UTIL_H

#include <stdint.h>
#include <time.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* KGO_TESTS_CLOCK_UTIL_H */
