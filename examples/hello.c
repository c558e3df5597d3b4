/*
 * kgo's demo: goroutines that say hello from whichever M (thread) and P
 * run them, pass a baton around a ring of goroutines with park/ready, and
 * report what the scheduler did.
 *
 *   make run              (boots a guest with kgo.ko and runs this)
 *   KGO_MAXPROCS=4 hello  (on a machine with kgo.ko loaded)
 */
#include <stdio.h>
#include <stdlib.h>

#include <kgo.h>

#define NG	8
#define LAPS	1000

static struct kgo_sema finished = KGO_SEMA_INIT(0);

/* A ring of NG goroutines: each waits for the baton, passes it on. */
static struct kgo_sema baton[NG];
static int moved;

static void hello(void *arg)
{
	int i = (int)(intptr_t)arg;

	printf("hello from goroutine %llu (#%d) on M %d, P %d\n",
	       (unsigned long long)kgo_id(), i, kgo_m_id(), kgo_p_id());
	for (int lap = 0; lap < LAPS; lap++) {
		kgo_sema_acquire(&baton[i]);
		moved++;	/* the baton orders these */
		kgo_sema_release(&baton[(i + 1) % NG]);
	}
	printf("goroutine %llu (#%d) done on M %d, P %d\n",
	       (unsigned long long)kgo_id(), i, kgo_m_id(), kgo_p_id());
	kgo_sema_release(&finished);
}

static void start(void *arg)
{
	struct kgo_stats_user st;

	(void)arg;
	printf("main goroutine %llu on M %d, P %d; GOMAXPROCS %d\n",
	       (unsigned long long)kgo_id(), kgo_m_id(), kgo_p_id(), kgo_nprocs());
	for (int i = 0; i < NG; i++)
		kgo_sema_init(&baton[i], i == 0);
	for (int i = 0; i < NG; i++)
		kgo_go(hello, (void *)(intptr_t)i);
	for (int i = 0; i < NG; i++)
		kgo_sema_acquire(&finished);
	printf("the baton went round %d times (%d handoffs)\n", LAPS, moved);
	if (kgo_stats(&st) == 0)
		printf("scheduler: %u Ms, %llu parks, %llu wakeups, %llu steals, %llu ioctls\n",
		       st.nms, (unsigned long long)st.parks, (unsigned long long)st.wakeups,
		       (unsigned long long)st.steals, (unsigned long long)st.ioctls);
}

int main(void)
{
	int rc = kgo_main(start, NULL, NULL);

	if (rc)
		return 1;
	printf("kgo_main returned: all goroutines done\n");
	return 0;
}
