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

#include "file_util.h"

/* The value of "@field: N kB" in @path, in KiB, or -1. */
static inline long file_kib(const char *path, const char *field)
{
	char key[64];

	snprintf(key, sizeof(key), "%s:", field);
	return file_key(path, key);
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
	return file_lines("/proc/self/maps");
}

/* One memory area's resident KiB, from /proc/self/smaps. */
struct area_rss {
	unsigned long start, end;
	long rss;			/* KiB */
	char name[40];			/* the mapped file, [heap], ... or "" */
};

/*
 * The first @max memory areas of this process with their resident KiB,
 * into @a; how many, or -1.  For saying which areas grew when a memory
 * bound is missed.
 */
static inline int smaps_areas(struct area_rss *a, int max)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char name[256] = "";
		long kib;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &s, &e, name) >= 2) {
			if (n + 1 >= max)
				break;
			n++;
			a[n].start = s;
			a[n].end = e;
			a[n].rss = 0;
			snprintf(a[n].name, sizeof(a[n].name), "%.39s", name);
		} else if (n >= 0 && sscanf(line, "Rss: %ld kB", &kib) == 1) {
			a[n].rss = kib;
		}
	}
	fclose(f);
	return n + 1;
}

/*
 * Print, as TAP comments, every area of @after (@na of them) whose
 * resident KiB grew since @before (@nb), or that is new.
 */
static inline void print_areas_grown(const struct area_rss *before, int nb,
				     const struct area_rss *after, int na)
{
	for (int i = 0; i < na; i++) {
		long was = 0;

		for (int j = 0; j < nb; j++)
			if (before[j].start == after[i].start && before[j].end == after[i].end)
				was = before[j].rss;
		if (after[i].rss > was)
			printf("#   %lx-%lx %s: %ld KiB, was %ld KiB\n", after[i].start,
			       after[i].end, after[i].name, after[i].rss, was);
	}
}

#endif /* KGO_TESTS_MEM_UTIL_H */
