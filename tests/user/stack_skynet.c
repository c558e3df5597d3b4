/* SPDX-License-Identifier: GPL-2.0 */
/*
 * skynet (issue 17): a tree of goroutines, fan-out 10, with 1,000,000
 * leaves ($KGO_SKYNET to change it, a power of 10); each leaf sends its
 * number, each parent sums its children's over a buffered channel of its
 * own and sends the sum up.  1,111,111 goroutines in all.  nprocs 1 and 2,
 * each in a child; the sum must be n(n-1)/2.  Time slices are off: the
 * channels are malloc()ed, and glibc's malloc must not be preempted.
 * Without $KGO_SKYNET, a guest without room for the whole tree parked
 * (about 4.5 KiB a goroutine: its stack page, page tables, its share of
 * the channels) gets the largest power of 10 that fits, which the test's
 * name says; make check's stock guests (6 GiB) run the million.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kgo.h>

#include "mem_util.h"
#include "tap.h"

struct node {
	int64_t num, size;
	struct kgo_chan *up;
};

struct result {
	int64_t sum;
	long ms;
	int err;
};

static int64_t n_leaves = 1000000;
static struct result *res;

static void skynet(void *arg)
{
	struct node me = *(struct node *)arg, child;
	int64_t sum = 0, v;
	struct kgo_chan *c;
	int i, err;

	if (me.size == 1) {
		kgo_chan_send(me.up, &me.num);
		return;
	}
	c = kgo_chan_new(sizeof(int64_t), 10);
	if (!c) {
		res->err = -12;
		kgo_chan_send(me.up, &sum);
		return;
	}
	child.size = me.size / 10;
	child.up = c;
	for (i = 0; i < 10; i++) {
		child.num = me.num + i * child.size;
		err = kgo_go_args(skynet, &child, sizeof(child));
		if (err) {
			res->err = err;
			v = 0;
			kgo_chan_send(c, &v);	/* room for 10: never blocks */
		}
	}
	for (i = 0; i < 10; i++) {
		kgo_chan_recv(c, &v);
		sum += v;
	}
	kgo_chan_free(c);
	kgo_chan_send(me.up, &sum);
}

static void main_g(void *arg)
{
	struct node root = { 0, n_leaves, NULL };
	uint64_t t0 = kgo_nanotime();
	int err;

	(void)arg;
	root.up = kgo_chan_new(sizeof(int64_t), 1);
	err = kgo_go_args(skynet, &root, sizeof(root));
	if (err) {
		res->err = err;
		return;
	}
	kgo_chan_recv(root.up, &res->sum);
	res->ms = (long)((kgo_nanotime() - t0) / 1000000);
	kgo_chan_free(root.up);
}

int main(void)
{
	const char *env = getenv("KGO_SKYNET");
	int nprocs;

	if (env) {
		n_leaves = atoll(env);
	} else {
		long avail = meminfo_kib("MemAvailable");

		while (avail > 0 && n_leaves > 1000 &&
		       n_leaves / 9 * 10 * 9 / 2 > avail - 256 * 1024)
			n_leaves /= 10;
		if (n_leaves != 1000000)
			printf("# %ld MiB available: %lld leaves, not 1000000\n",
			       avail / 1024, (long long)n_leaves);
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	tap_plan(2);
	for (nprocs = 1; nprocs <= 2; nprocs++) {
		struct kgo_config cfg = { .nprocs = nprocs, .slice_ns = KGO_SLICE_OFF };
		int st = -1;
		pid_t pid;

		res->sum = -1;
		res->ms = -1;
		res->err = 0;
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			_exit(kgo_main(main_g, NULL, &cfg) ? 3 : 0);
		waitpid(pid, &st, 0);
		tap_ok_fmt(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !res->err &&
			   res->sum == n_leaves * (n_leaves - 1) / 2,
			   "skynet, %lld leaves, nprocs %d: sum %lld in %ld ms (status %#x, err %d)",
			   (long long)n_leaves, nprocs, (long long)res->sum, res->ms, st,
			   res->err);
	}
	return tap_done();
}
