// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kgo's sleeping and waking, without libkgo: an M sleeps in PARK
 * until a READY from a thread that is not an M; no wakeup is lost over
 * thousands of rounds; SHUTDOWN wakes sleepers; SIGKILL tears down an
 * instance whose Ms sleep; many instances at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "dev_util.h"
#include "tap.h"

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct sleeper {
	struct inst *in;
	struct kgo_park pk;
	int err;
	uint32_t nmidle, npidle, nmspinning;	/* right after PARK returned */
};

static void *park_once(void *arg)
{
	struct sleeper *s = arg;
	struct kgo_attach a;

	s->err = attach(s->in, 0, &a);
	if (!s->err)
		s->err = park(s->in, KGO_IOC_PARK, a.m, 0, 0, &s->pk);
	s->nmidle = s->in->ss->nmidle;
	s->npidle = s->in->ss->npidle;
	s->nmspinning = (uint32_t)s->in->ss->nmspinning;
	return NULL;
}

static void t_ready_wakes_parked_m(void)
{
	struct inst in;
	struct sleeper s = { .in = &in };
	pthread_t t;
	bool ok = TAP_CHECK(inst_open(&in, 1, 0) == 0);

	pthread_create(&t, NULL, park_once, &s);
	msleep(100);
	ok &= TAP_CHECK(in.ss->nmidle == 1 && in.ss->npidle == 1);
	ok &= TAP_CHECK(ready(&in, KGO_IOC_READY, 0, 77) == 0);
	pthread_join(t, NULL);
	ok &= TAP_CHECK(s.err == 0 && s.pk.g == 77 && s.pk.p == 0);
	ok &= TAP_CHECK(s.nmidle == 0 && s.npidle == 0 && s.nmspinning == 0);
	/* The M's thread ended holding the P: sysmon gives it back. */
	for (int i = 0; i < 100 && in.ss->npidle != 1; i++)
		msleep(10);
	ok &= TAP_CHECK(in.ss->npidle == 1);
	tap_ok(ok, "an M asleep in PARK wakes for a READY from a non-M thread; its P comes back when the thread ends");
	inst_close(&in);
}

static void t_shutdown_wakes_all(void)
{
	struct inst in;
	struct sleeper s[3];
	pthread_t t[3];
	int i;
	bool ok = TAP_CHECK(inst_open(&in, 2, 0) == 0);

	for (i = 0; i < 3; i++) {
		s[i].in = &in;
		pthread_create(&t[i], NULL, park_once, &s[i]);
	}
	msleep(100);
	ok &= TAP_CHECK(in.ss->nmidle == 3);
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SHUTDOWN, NULL) == 0);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		ok &= TAP_CHECK(s[i].err == -ESHUTDOWN);
	}
	ok &= TAP_CHECK(in.ss->nmidle == 0);
	tap_ok(ok, "SHUTDOWN wakes every parked M with ESHUTDOWN");
	inst_close(&in);
}

/* ---- no lost wakeup: a feeder that is not an M, and sleeping Ms ---- */

#define ROUNDS	3000
#define NMS	3

struct relay {
	struct inst *in;
	atomic_uint consumed;
	atomic_uint lost;
	atomic_bool stop;
	unsigned char seen[ROUNDS + 1];
	unsigned int dup, per_m[NMS];
};

struct relay_m {
	struct relay *r;
	int idx;
};

static void *relay_m(void *arg)
{
	struct relay_m *rm = arg;
	struct relay *r = rm->r;
	struct kgo_attach a;
	struct kgo_park pk;

	if (attach(r->in, 0, &a))
		return NULL;
	while (!atomic_load(&r->stop)) {
		/* No timeout: a lost wakeup must show as a G nobody takes. */
		int err = park(r->in, KGO_IOC_PARK, a.m, 0, 0, &pk);

		if (err == -EINTR)
			continue;
		if (err)
			break;
		if (pk.g < 1 || pk.g > ROUNDS || r->seen[pk.g]++)
			r->dup++;
		r->per_m[rm->idx]++;
		atomic_fetch_add(&r->consumed, 1);
	}
	xioctl(r->in->fd, KGO_IOC_DETACH, &a.m);
	return NULL;
}

static void t_no_lost_wakeup(void)
{
	static struct relay r;
	struct relay_m rm[NMS];
	struct kgo_stats st = { .size = sizeof(st) };
	pthread_t t[NMS];
	struct inst in;
	unsigned int g, spins = 0;
	int i;
	bool ok = TAP_CHECK(inst_open(&in, 2, 0) == 0);

	r.in = &in;
	for (i = 0; i < NMS; i++) {
		rm[i].r = &r;
		rm[i].idx = i;
		pthread_create(&t[i], NULL, relay_m, &rm[i]);
	}
	/*
	 * One G at a time, each readied while the Ms are (mostly) asleep.  A G
	 * nobody takes within 10 s (ages, even under TCG) is a lost wakeup.
	 */
	for (g = 1; g <= ROUNDS && !atomic_load(&r.lost); g++) {
		time_t deadline = time(NULL) + 10;

		ok &= TAP_CHECK(ready(&in, KGO_IOC_READY, 0, g) == 0);
		while (atomic_load(&r.consumed) < g) {
			if (++spins % 64 == 0) {
				if (time(NULL) > deadline) {
					atomic_fetch_add(&r.lost, 1);
					break;
				}
				sched_yield();
			}
		}
	}
	atomic_store(&r.stop, true);
	xioctl(in.fd, KGO_IOC_SHUTDOWN, NULL);
	for (i = 0; i < NMS; i++)
		pthread_join(t[i], NULL);
	xioctl(in.fd, KGO_IOC_STATS, &st);
	ok &= TAP_CHECK(atomic_load(&r.lost) == 0);
	ok &= TAP_CHECK(atomic_load(&r.consumed) == ROUNDS && r.dup == 0);
	tap_ok_fmt(ok, "%u READYs, each taken exactly once, no lost wakeup (parks %llu, wakeups %llu, per M %u/%u/%u)",
		   atomic_load(&r.consumed), (unsigned long long)st.parks,
		   (unsigned long long)st.wakeups, r.per_m[0], r.per_m[1], r.per_m[2]);
	inst_close(&in);
}

/* ---- SIGKILL while Ms sleep in PARK ---- */

static void child_parks_forever(int ready_fd)
{
	struct inst in;
	struct sleeper s[3];
	pthread_t t[3];
	int i;

	if (inst_open(&in, 2, 0))
		_exit(3);
	for (i = 0; i < 3; i++) {
		s[i].in = &in;
		pthread_create(&t[i], NULL, park_once, &s[i]);
	}
	while (in.ss->nmidle < 3)
		msleep(1);
	if (write(ready_fd, "r", 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

static void t_sigkill_with_sleepers(void)
{
	int iters = 20, i, killed = 0;
	bool ok = true;

	for (i = 0; i < iters; i++) {
		int pfd[2], status;
		char c;
		pid_t pid;

		if (pipe(pfd))
			break;
		pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			child_parks_forever(pfd[1]);
		}
		close(pfd[1]);
		ok &= TAP_CHECK(read(pfd[0], &c, 1) == 1);
		close(pfd[0]);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	}
	ok &= TAP_CHECK(killed == iters);
	tap_ok_fmt(ok, "SIGKILL with 3 Ms asleep in PARK tears down (%d/%d)", killed, iters);
}

static void t_many_instances(void)
{
	enum { N = 1000 };
	static struct inst in[N];
	struct rlimit rl;
	int i, opened = 0, woke = 0;
	bool ok = true;

	/* 1,000 fds and the standard three need more than the usual 1,024. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < N + 64) {
		rl.rlim_cur = rl.rlim_max < N + 64 ? rl.rlim_max : N + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (i = 0; i < N; i++)
		if (!inst_open(&in[i], 1, 0))
			opened++;
	ok &= TAP_CHECK(opened == N);
	/* Each works on its own: a READY lands in its own global queue. */
	for (i = 0; i < opened; i++)
		woke += ready(&in[i], KGO_IOC_READY, 0, i + 1) == 0 && in[i].ss->gq_len == 1;
	ok &= TAP_CHECK(woke == N);
	for (i = 0; i < opened; i++)
		inst_close(&in[i]);
	tap_ok_fmt(ok, "%d instances open at once, each independent", opened);
}

int main(void)
{
	require_module();
	tap_plan(5);
	t_ready_wakes_parked_m();
	t_shutdown_wakes_all();
	t_no_lost_wakeup();
	t_sigkill_with_sleepers();
	t_many_instances();
	return tap_done();
}
