// SPDX-License-Identifier: GPL-2.0
/*
 * What each /dev/kgo ioctl costs: the median over many calls of the
 * ones that do not sleep, measured on one instance in the calling thread.
 * Prints one line per ioctl: name, ns per call.  Each call's argument is
 * set up fresh outside the timing: out-only fields must go in as zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tests/user/dev_util.h"

#define N	20000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t samples[N];

static void park_arg(struct kgo_park *pk, uint32_t m, uint32_t flags)
{
	memset(pk, 0, sizeof(*pk));
	pk->size = sizeof(*pk);
	pk->m = m;
	pk->flags = flags;
}

#define MEASURE(name, setup, call) MEASURE_N(N, name, setup, call)
#define MEASURE_N(n_, name, setup, call) do {				\
	int i_;								\
	for (i_ = 0; i_ < (n_); i_++) {					\
		uint64_t t_;						\
		setup;							\
		t_ = now_ns();						\
		call;							\
		samples[i_] = now_ns() - t_;				\
	}								\
	qsort(samples, (n_), sizeof(samples[0]), cmp);			\
	printf("%-28s %6llu ns\n", name, (unsigned long long)samples[(n_) / 2]); \
} while (0)

int main(void)
{
	struct inst in;
	struct kgo_attach a;
	struct kgo_park pk;
	struct kgo_version v;
	struct kgo_stats st;
	struct kgo_ready r = { .size = sizeof(r), .g = 1 };
	uint64_t g = 1;

	if (inst_open(&in, 2, 0) || attach(&in, KGO_ATTACH_ACQUIRE_P, &a)) {
		fprintf(stderr, "ioctl_cost: cannot set up an instance\n");
		return 1;
	}
	MEASURE("getppid (a bare syscall)", , getppid());
	MEASURE("VERSION", (memset(&v, 0, sizeof(v)), v.size = sizeof(v)),
		ioctl(in.fd, KGO_IOC_VERSION, &v));
	MEASURE("STATS", (memset(&st, 0, sizeof(st)), st.size = sizeof(st)),
		ioctl(in.fd, KGO_IOC_STATS, &st));
	MEASURE("WAKEP (no idle M)", , ioctl(in.fd, KGO_IOC_WAKEP, NULL));
	MEASURE("READY", r.g = g++, ioctl(in.fd, KGO_IOC_READY, &r));
	MEASURE("GLOBRUNQGET (batch)", park_arg(&pk, a.m, 0), ioctl(in.fd, KGO_IOC_GLOBRUNQGET, &pk));
	MEASURE("PARK (finds global work)",
		(ready(&in, KGO_IOC_READY, 0, g++), park_arg(&pk, a.m, KGO_PARK_NOWAIT)),
		ioctl(in.fd, KGO_IOC_PARK, &pk));
	MEASURE("STEAL (nothing to steal)", park_arg(&pk, a.m, 0), ioctl(in.fd, KGO_IOC_STEAL, &pk));
	/* The global queue holds 2^20 Gs: 5,000 batches of 129 fit. */
	MEASURE_N(5000, "RUNQPUTSLOW (129 Gs)",
		({ while (ring_put(inst_p(&in, a.p), g)) g++; r.m = a.m; r.g = g++; }),
		ioctl(in.fd, KGO_IOC_RUNQPUTSLOW, &r));
	inst_close(&in);
	return 0;
}
