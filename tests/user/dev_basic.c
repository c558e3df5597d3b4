// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kgo seen from user space, without libkgo: open, VERSION, SETUP and
 * its errors, mmap and its refusals, ATTACH, the shared layout agreeing
 * with the kernel's view, RUNQPUTSLOW, GLOBRUNQGET batches, READY and the
 * global queue limit, STEAL, SET_NPROCS, and refusal from other processes.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "dev_util.h"
#include "tap.h"

static void t_version(void)
{
	struct kgo_version v;
	int fd = open(KGO_DEVICE, O_RDWR);
	int err = version(fd, &v);

	tap_ok_fmt(TAP_CHECK(fd >= 0) && TAP_CHECK(err == 0) &&
		   TAP_CHECK(v.major == KGO_VERSION_MAJOR && v.minor == KGO_VERSION_MINOR) &&
		   TAP_CHECK(v.ring_size == KGO_RING_SIZE) &&
		   TAP_CHECK(v.features & KGO_FEAT_SHARED_RUNQ) &&
		   TAP_CHECK(v.features & KGO_FEAT_SIZED_ARGS) && TAP_CHECK(v.max_procs >= 1),
		   "VERSION answers %u.%u.%u, ring %u", v.major, v.minor, v.patch, v.ring_size);
	tap_ok(TAP_CHECK(xioctl(fd, _IO(KGO_IOC_MAGIC, 0x7f), NULL) == -ENOTTY) &&
	       TAP_CHECK(xioctl(fd, KGO_IOC_VERSION, (void *)8) == -EFAULT),
	       "unknown ioctl is ENOTTY, bad pointer EFAULT");
	close(fd);
}

static void t_setup_errors(void)
{
	int fd = open(KGO_DEVICE, O_RDWR);
	struct kgo_version v;
	struct kgo_setup s = { .size = sizeof(s) };
	struct kgo_attach a = { .size = sizeof(a) };
	bool ok = true;

	version(fd, &v);
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_ATTACH, &a) == -EBADFD);
	ok &= TAP_CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EBADFD);
	s.nprocs = 0;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == -EINVAL);
	s.nprocs = v.max_procs + 1;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == -EINVAL);
	s.nprocs = 4;
	s.max_procs = 2;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == -EINVAL);
	s.max_procs = 0;
	s.flags = 1;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == -EINVAL);
	s.flags = 0;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == 0);
	ok &= TAP_CHECK(s.max_procs == 4 && s.ring_size == KGO_RING_SIZE);
	ok &= TAP_CHECK(s.p_stride >= sizeof(struct kgo_shared_p));
	ok &= TAP_CHECK(s.map_size >= s.p_off + 4ull * s.p_stride);
	/* The outs go back to zero for a valid second call. */
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.nprocs = 4;
	ok &= TAP_CHECK(xioctl(fd, KGO_IOC_SETUP, &s) == -EEXIST);
	tap_ok(ok, "SETUP refuses bad counts and flags, reports its layout, runs once");
	close(fd);
}

static void t_mmap(void)
{
	struct inst in;
	int err = inst_open(&in, 2, 0);
	bool ok = TAP_CHECK(err == 0);

	if (ok) {
		ok &= TAP_CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, in.fd, 4096) == MAP_FAILED && errno == EINVAL);
		ok &= TAP_CHECK(mmap(NULL, in.s.map_size + 4096, PROT_READ, MAP_SHARED, in.fd, 0) == MAP_FAILED && errno == EINVAL);
		ok &= TAP_CHECK(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, in.fd, 0) == MAP_FAILED && errno == EPERM);
		ok &= TAP_CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, in.fd, 0) == MAP_FAILED && errno == EINVAL);
		ok &= TAP_CHECK(in.ss->nprocs == 2 && in.ss->npidle == 2 && in.ss->nmspinning == 0);
		ok &= TAP_CHECK(inst_p(&in, 0)->status == KGO_P_IDLE);
	}
	tap_ok(ok, "mmap: offset 0 only, within the region, shared, never exec; counters visible");
	inst_close(&in);
}

static void t_attach_and_local_runq(void)
{
	struct inst in;
	struct kgo_attach a;
	struct kgo_park pk;
	struct kgo_shared_p *p0;
	bool ok = TAP_CHECK(inst_open(&in, 2, 0) == 0);

	ok &= TAP_CHECK(attach(&in, KGO_ATTACH_ACQUIRE_P, &a) == 0);
	ok &= TAP_CHECK(a.p == 0 && in.ss->npidle == 1);
	p0 = inst_p(&in, 0);
	ok &= TAP_CHECK(p0->status == KGO_P_RUNNING);
	/* The kernel sees what user space queued through the shared ring. */
	ring_put(p0, 101);
	ring_put(p0, 102);
	p0->runnext = 100;
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m, KGO_PARK_NOWAIT, 0, &pk) == 0 && pk.g == 100 && pk.p == 0);
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m, KGO_PARK_NOWAIT, 0, &pk) == 0 && pk.g == 101);
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m, KGO_PARK_NOWAIT, 0, &pk) == 0 && pk.g == 102);
	/* Nothing left: the P is released and the M would sleep. */
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m, KGO_PARK_NOWAIT, 0, &pk) == -EAGAIN && pk.p == KGO_NO_P);
	ok &= TAP_CHECK(in.ss->npidle == 2 && in.ss->nmspinning == 0);
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m + 1, 0, 0, &pk) == -ESRCH);
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m, 0x80, 0, &pk) == -EINVAL);
	/* A sleeping park with a timeout comes back with ETIMEDOUT. */
	ok &= TAP_CHECK(park(&in, KGO_IOC_PARK, a.m, 0, 20 * 1000 * 1000, &pk) == -ETIMEDOUT);
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_DETACH, &a.m) == 0);
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_DETACH, &a.m) == -ESRCH);
	tap_ok(ok, "ATTACH takes P0; PARK takes runnext, then FIFO, then releases the P");
	inst_close(&in);
}

static void t_runqputslow_and_batches(void)
{
	struct inst in;
	struct kgo_attach a;
	struct kgo_park pk;
	struct kgo_shared_p *p0;
	uint64_t g;
	bool ok = TAP_CHECK(inst_open(&in, 2, 0) == 0);

	ok &= TAP_CHECK(attach(&in, KGO_ATTACH_ACQUIRE_P, &a) == 0);
	p0 = inst_p(&in, 0);
	for (g = 1; g <= KGO_RING_SIZE; g++)
		ring_put(p0, g);
	ok &= TAP_CHECK(ring_put(p0, 999) == 0);
	/* The whole ring plus the new G go to the global queue in one batch. */
	ok &= TAP_CHECK(ready(&in, KGO_IOC_RUNQPUTSLOW, a.m, 999) == 0);
	ok &= TAP_CHECK(ring_len(p0) == 0);
	ok &= TAP_CHECK(in.ss->gq_len == KGO_RING_SIZE + 1);
	tap_ok_fmt(ok, "RUNQPUTSLOW moves %d Gs to the global queue", KGO_RING_SIZE + 1);

	/* The batch: min(len / nprocs + 1, room in the ring), in order. */
	ok = TAP_CHECK(park(&in, KGO_IOC_GLOBRUNQGET, a.m, 0, 0, &pk) == 0);
	ok &= TAP_CHECK(pk.g == 1);
	ok &= TAP_CHECK(in.ss->gq_len == 257 - 129);
	ok &= TAP_CHECK(ring_len(p0) == 128);
	ok &= TAP_CHECK(p0->ring[ld(&p0->head) % KGO_RING_SIZE] == 2);
	tap_ok_fmt(ok, "GLOBRUNQGET takes len/nprocs+1 = 129 (gq now %u)", in.ss->gq_len);
	inst_close(&in);
}

static void t_ready_and_limit(void)
{
	struct inst in;
	bool ok = TAP_CHECK(inst_open(&in, 1, 4) == 0);
	int i;

	ok &= TAP_CHECK(in.s.gq_limit == 4);
	ok &= TAP_CHECK(ready(&in, KGO_IOC_READY, 0, 0) == -EINVAL);
	for (i = 1; i <= 4; i++)
		ok &= TAP_CHECK(ready(&in, KGO_IOC_READY, 0, i) == 0);
	ok &= TAP_CHECK(ready(&in, KGO_IOC_READY, 0, 5) == -ENOSPC);
	ok &= TAP_CHECK(in.ss->gq_len == 4);
	tap_ok(ok, "READY queues globally; past gq_limit it is ENOSPC");
	inst_close(&in);
}

struct steal_arg {
	struct inst *in;
	struct kgo_park pk;
	int err, qlen;
};

static void *steal_thread(void *arg)
{
	struct steal_arg *s = arg;
	struct kgo_attach a;

	s->err = attach(s->in, KGO_ATTACH_ACQUIRE_P, &a);
	if (!s->err)
		s->err = park(s->in, KGO_IOC_STEAL, a.m, 0, 0, &s->pk);
	s->qlen = ring_len(inst_p(s->in, 1));
	return NULL;
}


static void t_steal(void)
{
	struct inst in;
	struct kgo_attach a;
	struct steal_arg s = { .in = &in };
	pthread_t t;
	uint64_t g;
	bool ok = TAP_CHECK(inst_open(&in, 2, 0) == 0);

	ok &= TAP_CHECK(attach(&in, KGO_ATTACH_ACQUIRE_P, &a) == 0);
	for (g = 1; g <= 10; g++)
		ring_put(inst_p(&in, 0), g);
	pthread_create(&t, NULL, steal_thread, &s);
	pthread_join(t, NULL);
	ok &= TAP_CHECK(s.err == 0 && s.pk.p == 1);
	ok &= TAP_CHECK(s.pk.g == 5 && s.qlen == 4);
	ok &= TAP_CHECK(ring_len(inst_p(&in, 0)) == 5);
	tap_ok_fmt(ok, "STEAL takes half of another P's ring (got G %llu, %d queued)",
		   (unsigned long long)s.pk.g, s.qlen);
	inst_close(&in);
}

static void t_set_nprocs(void)
{
	struct inst in;
	uint32_t n;
	bool ok = TAP_CHECK(inst_open(&in, 2, 0) == 0);

	n = 0;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_NPROCS, &n) == -EINVAL);
	n = 3;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_NPROCS, &n) == -EINVAL);
	/* Shrinking drains the idle P's queue into the global queue. */
	ring_put(inst_p(&in, 1), 7);
	ring_put(inst_p(&in, 1), 8);
	inst_p(&in, 1)->runnext = 9;
	n = 1;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_NPROCS, &n) == 0);
	ok &= TAP_CHECK(in.ss->nprocs == 1 && in.ss->npidle == 1 && in.ss->gq_len == 3);
	ok &= TAP_CHECK(inst_p(&in, 1)->status == KGO_P_DEAD && ring_len(inst_p(&in, 1)) == 0);
	n = 2;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_NPROCS, &n) == 0);
	ok &= TAP_CHECK(in.ss->nprocs == 2 && in.ss->npidle == 2);
	tap_ok(ok, "SET_NPROCS checks its range; shrinking drains, growing adds idle Ps");
	inst_close(&in);
}

/* Another process, even one holding the same fd, is refused. */
static void t_other_process(void)
{
	struct inst in;
	int sv[2], status = -1;
	bool ok = TAP_CHECK(inst_open(&in, 1, 0) == 0);
	pid_t pid;

	ok &= TAP_CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	pid = fork();
	if (pid == 0) {
		struct kgo_version v = { .size = sizeof(v) };
		char buf[CMSG_SPACE(sizeof(int))], c;
		struct iovec iov = { &c, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = buf, .msg_controllen = sizeof(buf) };
		int fd, bad = 0;

		/* The inherited fd: refused. */
		bad |= xioctl(in.fd, KGO_IOC_VERSION, &v) != -EPERM;
		bad |= mmap(NULL, 4096, PROT_READ, MAP_SHARED, in.fd, 0) != MAP_FAILED || errno != EPERM;
		close(in.fd);
		/* The fd received over SCM_RIGHTS: refused too. */
		if (recvmsg(sv[1], &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh))
			_exit(3);
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(fd));
		bad |= xioctl(fd, KGO_IOC_VERSION, &v) != -EPERM;
		bad |= xioctl(fd, KGO_IOC_READY, &v) != -EPERM;
		_exit(bad ? 1 : 0);
	} else {
		char buf[CMSG_SPACE(sizeof(int))] = { 0 }, c = 'x';
		struct iovec iov = { &c, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = buf, .msg_controllen = sizeof(buf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &in.fd, sizeof(int));
		ok &= TAP_CHECK(sendmsg(sv[0], &mh, 0) == 1);
		waitpid(pid, &status, 0);
	}
	ok &= TAP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tap_ok(ok, "a forked child and an SCM_RIGHTS receiver get EPERM");
	close(sv[0]);
	close(sv[1]);
	inst_close(&in);
}

static void t_set_preempt_and_wantm(void)
{
	struct inst in;
	struct kgo_preempt pc = { .size = sizeof(pc) };
	uintptr_t text = (uintptr_t)t_set_preempt_and_wantm;
	bool ok = TAP_CHECK(inst_open(&in, 1, 0) == 0);

	pc.slice_ns = 999999;	/* under 1 ms */
	pc.trampoline = text;
	pc.text_start = text;
	pc.text_end = text + 64;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc.slice_ns = 1000000;
	pc.trampoline = text + 64;	/* outside the text */
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc.trampoline = text;
	pc.text_end = text;		/* empty range */
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc.text_start = 0xffffffff81000000ul;	/* kernel addresses */
	pc.text_end = pc.text_start + 4096;
	pc.trampoline = pc.text_start;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc.trampoline = 0;		/* a slice needs none: only shutdown does */
	pc.text_start = pc.text_end = 0;
	pc.flags = 1;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc.slice_ns = 0;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	pc.flags = 0;
	pc.spare_ms = in.s.max_ms + 1;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == -EINVAL);
	/* Valid: no preemption, a pool of 3 spare Ms wanted at once. */
	pc.spare_ms = 3;
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SET_PREEMPT, &pc) == 0);
	ok &= TAP_CHECK(ioctl(in.fd, KGO_IOC_WANTM, NULL) == 3);
	/* Asked for once: a second WANTM would sleep; SHUTDOWN ends it. */
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_SHUTDOWN, NULL) == 0);
	ok &= TAP_CHECK(xioctl(in.fd, KGO_IOC_WANTM, NULL) == -ESHUTDOWN);
	tap_ok(ok, "SET_PREEMPT checks slice, trampoline and text; WANTM asks for the spare pool");
	inst_close(&in);
}

int main(void)
{
	require_module();
	tap_plan(12);
	t_version();
	t_setup_errors();
	t_mmap();
	t_attach_and_local_runq();
	t_runqputslow_and_batches();
	t_ready_and_limit();
	t_steal();
	t_set_nprocs();
	t_other_process();
	t_set_preempt_and_wantm();
	return tap_done();
}
