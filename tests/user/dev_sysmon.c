// SPDX-License-Identifier: GPL-2.0
/*
 * sysmon's ioctls through the real /dev/kgo, as the library uses them:
 * SET_PREEMPT's checks, WANTM's count and its end at SHUTDOWN, and
 * exitsyscall (PARK with KGO_PARK_EXITSYSCALL), an M without a P that
 * keeps its G: it takes an idle P at once; without one its locked-M token
 * waits in the global queue while it sleeps, and whoever takes the token
 * hands it a P (KGO_PARK_STARTLOCKEDM).  A signal does not end the wait:
 * the call returns EINTR (with SA_RESTART too: PARK's argument holds its
 * output, so it never restarts), the token stays queued and the next call
 * finds the P.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "dev_util.h"
#include "tap.h"

#define G2	0x2222

static void msleep(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static void t_set_preempt_checks(void)
{
	struct inst in;
	uintptr_t text = (uintptr_t)&msleep & ~(uintptr_t)4095;
	struct kgo_preempt ok = {
		.size = sizeof(struct kgo_preempt),
		.trampoline = text + 16, .text_start = text, .text_end = text + 4096,
		.slice_ns = 10000000, .spare_ms = 2,
	};
	struct kgo_preempt pc;
	bool good = true;

	if (inst_open(&in, 1, 0)) {
		tap_ok(false, "SET_PREEMPT: instance");
		return;
	}
	pc = ok;
	pc.slice_ns = 999999;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc = ok;
	pc.trampoline = text + 4096;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc = ok;
	pc.flags = 1;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc = ok;
	pc.spare_ms = in.s.max_ms + 1;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc = ok;
	pc.reserved[4] = 1;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	/* Preemption needs no trampoline (only shutdown uses it). */
	pc = ok;
	pc.trampoline = 0;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == 0);
	pc = ok;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == 0);
	/* Slice 0: no preemption, handoffs still. */
	pc.slice_ns = 0;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == 0);
	tap_ok(good, "SET_PREEMPT refuses a short slice, a trampoline outside the text, flags, reserved, too many spares");
	inst_close(&in);
}

static int wantm_rc, attached, attach_done;

static void *wantm_thread(void *arg)
{
	struct inst *in = arg;

	wantm_rc = ioctl(in->fd, KGO_IOC_WANTM) < 0 ? -errno : 0;
	return NULL;
}

/* An M without a P that stays attached, as one the spawner started. */
static void *attach_thread(void *arg)
{
	struct kgo_attach a;

	if (attach(arg, 0, &a) == 0)
		__atomic_fetch_add(&attached, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&attach_done, __ATOMIC_ACQUIRE))
		msleep(5);
	return NULL;
}

static void t_wantm(void)
{
	uintptr_t text = (uintptr_t)&msleep & ~(uintptr_t)4095;
	struct kgo_preempt pc = {
		.size = sizeof(struct kgo_preempt),
		.trampoline = text, .text_start = text, .text_end = text + 4096, .spare_ms = 2,
	};
	struct inst in;
	pthread_t t, m[2];
	int n, again;
	bool good = true;

	if (inst_open(&in, 1, 0) || xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc)) {
		tap_ok(false, "WANTM: instance");
		return;
	}
	/* No idle M at all: both spares wanted. */
	n = ioctl(in.fd, KGO_IOC_WANTM);
	good &= TAP_CHECK(n == 2);
	/* Asked again with neither attached: they never will, ask again. */
	again = ioctl(in.fd, KGO_IOC_WANTM);
	good &= TAP_CHECK(again == 2);
	/* Two Ms attach without a P: spares on their way to stopm. */
	for (int i = 0; i < 2; i++)
		pthread_create(&m[i], NULL, attach_thread, &in);
	for (int i = 0; i < 400 && __atomic_load_n(&attached, __ATOMIC_ACQUIRE) < 2; i++)
		msleep(5);
	good &= TAP_CHECK(__atomic_load_n(&attached, __ATOMIC_ACQUIRE) == 2);
	pthread_create(&t, NULL, wantm_thread, &in);
	msleep(50);
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SHUTDOWN, NULL) == 0);
	pthread_join(t, NULL);
	good &= TAP_CHECK(wantm_rc == -ESHUTDOWN);
	__atomic_store_n(&attach_done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(m[i], NULL);
	tap_ok_fmt(good,
		   "WANTM asks for the missing spares (%d), again while none attached (%d), then with 2 attached waits until SHUTDOWN",
		   n, again);
	inst_close(&in);
}

static void t_exitsyscall_idle_p(void)
{
	struct inst in;
	struct kgo_attach a;
	struct kgo_park pk;
	int err;

	if (inst_open(&in, 1, 0) || attach(&in, 0, &a)) {
		tap_ok(false, "exitsyscall: instance");
		return;
	}
	memset(&pk, 0, sizeof(pk));
	pk.size = sizeof(pk);
	pk.m = a.m;
	pk.flags = KGO_PARK_EXITSYSCALL;
	err = xioctl(in.fd, KGO_IOC_PARK, &pk);
	tap_ok_fmt(!err && pk.g == 0 && pk.p == 0 &&
		   __atomic_load_n(&in.ss->npidle, __ATOMIC_ACQUIRE) == 0 &&
		   __atomic_load_n(&in.ss->gq_len, __ATOMIC_ACQUIRE) == 0,
		   "exitsyscall with an idle P takes it at once (%d, p %u), nothing queued", err,
		   pk.p);
	inst_close(&in);
}

struct parked {
	struct inst *in;
	struct kgo_park pk;
	int err, err2;
	atomic_bool done, again, done2;
};

static atomic_int signals;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&signals, 1);
}

/*
 * An M without a P does exitsyscall; no P is idle, so it waits.  If that
 * call fails (EINTR), it asks again once told to, with p zeroed: the
 * failed call reported KGO_NO_P there, and p is out-only.
 */
static void *exitsyscall_thread(void *arg)
{
	struct parked *pt = arg;
	struct kgo_attach a;

	pt->err = attach(pt->in, 0, &a);
	if (!pt->err) {
		memset(&pt->pk, 0, sizeof(pt->pk));
		pt->pk.size = sizeof(pt->pk);
		pt->pk.m = a.m;
		pt->pk.flags = KGO_PARK_EXITSYSCALL;
		pt->err = xioctl(pt->in->fd, KGO_IOC_PARK, &pt->pk);
	}
	atomic_store(&pt->done, true);
	if (pt->err != -EINTR)
		return NULL;
	while (!atomic_load(&pt->again))
		msleep(1);
	pt->pk.flags = KGO_PARK_EXITSYSCALL;
	pt->pk.p = 0;
	pt->err2 = xioctl(pt->in->fd, KGO_IOC_PARK, &pt->pk);
	atomic_store(&pt->done2, true);
	return NULL;
}

static void t_exitsyscall_signal(bool restart)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = restart ? SA_RESTART : 0 };
	struct parked pt = { 0 };
	struct inst in;
	struct kgo_attach a0;
	struct kgo_park pk;
	uint64_t tok = 0;
	pthread_t t;
	bool good = true;
	int i;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	atomic_store(&signals, 0);
	/* This thread holds the only P. */
	if (inst_open(&in, 1, 0) || attach(&in, KGO_ATTACH_ACQUIRE_P, &a0)) {
		tap_ok(false, "exitsyscall and a signal: instance");
		return;
	}
	pt.in = &in;
	pthread_create(&t, NULL, exitsyscall_thread, &pt);
	/* Its token in the global queue; it is no idle M. */
	for (i = 0; i < 2000 && !__atomic_load_n(&in.ss->gq_len, __ATOMIC_ACQUIRE); i++)
		msleep(1);
	msleep(20);
	good &= TAP_CHECK(__atomic_load_n(&in.ss->gq_len, __ATOMIC_ACQUIRE) == 1);
	good &= TAP_CHECK(__atomic_load_n(&in.ss->nmidle, __ATOMIC_ACQUIRE) == 0);
	pthread_kill(t, SIGUSR1);
	msleep(100);
	good &= TAP_CHECK(atomic_load(&signals) == 1);
	/*
	 * EINTR either way, the token still queued: PARK never restarts, as
	 * its argument now holds output (p), which a restart would read back.
	 */
	good &= TAP_CHECK(atomic_load(&pt.done));
	good &= TAP_CHECK(pt.err == -EINTR && pt.pk.p == KGO_NO_P);
	good &= TAP_CHECK(__atomic_load_n(&in.ss->gq_len, __ATOMIC_ACQUIRE) == 1);
	/* Whoever takes the token hands over its P, and has none after. */
	if (TAP_CHECK(park(&in, KGO_IOC_GLOBRUNQGET, a0.m, 0, 0, &pk) == 0)) {
		tok = pk.g;
		good &= TAP_CHECK(KGO_TOKEN_IS_LOCKEDM(tok));
	} else {
		good = false;
	}
	memset(&pk, 0, sizeof(pk));
	pk.size = sizeof(pk);
	pk.m = a0.m;
	pk.flags = KGO_PARK_STARTLOCKEDM | KGO_PARK_NOWAIT;
	pk.g = tok;
	good &= TAP_CHECK(xioctl(in.fd, KGO_IOC_PARK, &pk) == -EAGAIN && pk.p == KGO_NO_P);
	atomic_store(&pt.again, true);
	for (i = 0; i < 2000 && !atomic_load(&pt.done2); i++)
		msleep(1);
	good &= TAP_CHECK(pt.err2 == 0 && pt.pk.p == 0);
	xioctl(in.fd, KGO_IOC_SHUTDOWN, NULL);
	pthread_join(t, NULL);
	tap_ok_fmt(good, "exitsyscall that waits, then a signal %s: %d, then %d with P %u (%s)",
		   restart ? "with SA_RESTART" : "without SA_RESTART", pt.err, pt.err2, pt.pk.p,
		   "EINTR, the token stays queued, the next call finds the P");
	inst_close(&in);
	signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
	struct kgo_version v = { .size = sizeof(v) };
	int fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);

	tap_plan(5);
	if (fd < 0 || ioctl(fd, KGO_IOC_VERSION, &v) || !(v.features & KGO_FEAT_SYSMON)) {
		for (int i = 0; i < 5; i++)
			tap_skip_case("sysmon ioctls", "no kgo.ko with sysmon");
		return tap_done();
	}
	close(fd);
	alarm(120);
	t_set_preempt_checks();
	t_wantm();
	t_exitsyscall_idle_p();
	t_exitsyscall_signal(false);
	t_exitsyscall_signal(true);
	return tap_done();
}
