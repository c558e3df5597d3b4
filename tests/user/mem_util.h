/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the stack tests read of a process's memory: a "Field: N kB" line
 * of a /proc file, resident KiB, and the number of memory areas.
 */
#ifndef KGO_TESTS_MEM_UTIL_H
#define KGO_TESTS_MEM_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of "@field: N kB" in @path, in KiB, or -1. */
static inline long file_kib(const char *path, const char *field)
{
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			v = atol(line + n + 1);
			break;
		}
	fclose(f);
	return v;
}

static inline long status_kib(const char *field)
{
	return file_kib("/proc/self/status", field);
}

static inline long meminfo_kib(const char *field)
{
	return file_kib("/proc/meminfo", field);
}

/*
 * Resident KiB, from the page tables (smaps_rollup's Rss): 6.1's VmRSS
 * lags by up to 64 pages a thread (its per-thread RSS counter caches),
 * which reads as 64 KiB for a whole process.  VmRSS if there is none.
 */
static inline long rss_kib(void)
{
	long v = file_kib("/proc/self/smaps_rollup", "Rss");

	return v >= 0 ? v : status_kib("VmRSS");
}

/* The process's memory areas: the lines of /proc/self/maps, or -1. */
static inline long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

#endif /* KGO_TESTS_MEM_UTIL_H */
