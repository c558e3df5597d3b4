/* SPDX-License-Identifier: MIT */
/*
 * kgo's demo.  Eight goroutines each do a little arithmetic and say which
 * M (thread) and P ran them: the spawns wake idle Ms, which steal from the
 * busy P's queue, so several Ms show up.  Then the goroutines pass a baton
 * round a ring with park/ready, and the scheduler's counters are shown.
 *
 *   make run                      boots a guest with kgo.ko and runs this
 *   KGO_MAXPROCS=2 build/examples/hello    on a machine with kgo.ko loaded
 * Without $KGO_MAXPROCS it runs with 4 Ps.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <kgo.h>

#define NG	8
#define LAPS	1000

static struct kgo_sema finished = KGO_SEMA_INIT(0);
static struct kgo_sema baton[NG];
static int handoffs;

/* Busy work: how many primes below n (slowly, on purpose). */
static int primes_below(int n)
{
	int count = 0;

	for (int i = 2; i < n; i++) {
		int prime = 1;

		for (int d = 2; d * d <= i; d++)
			if (i % d == 0) {
				prime = 0;
				break;
			}
		count += prime;
	}
	return count;
}

static void worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	int m = kgo_m_id(), p = kgo_p_id();
	int n = primes_below(20000 + 1000 * i);

	printf("goroutine %llu (#%d) started on M %d, P %d: %d primes below %d\n",
	       (unsigned long long)kgo_id(), i, m, p, n, 20000 + 1000 * i);
	kgo_sema_release(&finished);

	/* The baton ring: wait for it, pass it on. */
	for (int lap = 0; lap < LAPS; lap++) {
		kgo_sema_acquire(&baton[i]);
		handoffs++;	/* only the baton holder touches this */
		kgo_sema_release(&baton[(i + 1) % NG]);
	}
	kgo_sema_release(&finished);
}

static void start(void *arg)
{
	struct kgo_stats_user st;

	(void)arg;
	printf("main goroutine %llu on M %d, P %d, GOMAXPROCS %d\n",
	       (unsigned long long)kgo_id(), kgo_m_id(), kgo_p_id(), kgo_nprocs());
	for (int i = 0; i < NG; i++)
		kgo_sema_init(&baton[i], i == 0);
	for (int i = 0; i < NG; i++)
		kgo_go(worker, (void *)(intptr_t)i);
	for (int i = 0; i < NG; i++)
		kgo_sema_acquire(&finished);
	printf("all %d said hello; now the baton goes round %d times\n", NG, LAPS);
	for (int i = 0; i < NG; i++)
		kgo_sema_acquire(&finished);
	printf("the baton changed hands %d times\n", handoffs);
	if (kgo_stats(&st) == 0)
		printf("scheduler: %u Ps, %u Ms, %llu M sleeps, %llu wakeups, %llu steals, "
		       "%llu ioctls\n", st.nprocs, st.nms, (unsigned long long)st.parks,
		       (unsigned long long)st.wakeups, (unsigned long long)st.steals,
		       (unsigned long long)st.ioctls);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = getenv("KGO_MAXPROCS") ? 0 : 4 };
	int rc = kgo_main(start, NULL, &cfg);

	if (rc) {
		fprintf(stderr, "hello: cannot start kgo: %s%s\n", strerror(-rc),
			rc == -ENOENT ? " (is kgo.ko loaded?)" : "");
		return 1;
	}
	printf("kgo_main returned: every goroutine is done\n");
	return 0;
}
