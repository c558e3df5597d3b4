/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Signals and goroutines that sysmon preempts and hands off (issue 16):
 *   - the signal mask is per thread: a goroutine that changes threads
 *     between its sigprocmask and the code it brackets runs that code
 *     with another thread's mask;
 *   - an SA_RESTART signal that interrupts a read() whose P was handed
 *     off must restart the read, which then returns the data, as on a
 *     plain pthread; today the handoff's redirect rewrites the registers
 *     before the kernel's restart handling.
 *
 * Mask rounds: 8 goroutines on 2 Ps with a 1 ms slice; goroutine i blocks
 * SIGRTMIN+i alone, runs a stretch with no kgo call in it (three 1 ms
 * slices of computing, or a raw 3 ms nanosleep while the others want the
 * P), and then checks that its mask blocks SIGRTMIN+i and none of the
 * other goroutines' signals; then it restores the mask.
 *
 * Restart rounds: 4 goroutines read() 64 bytes from a pipe each, 5 times,
 * while 4 others compute, so that the readers' Ps are handed off.  A plain
 * pthread waits 5 ms into each read, sends SIGUSR1 (SA_RESTART, a handler
 * that counts) to the reader's thread with tgkill, waits 3 ms more and
 * writes the 64 bytes.  Each read must return those 64 bytes.
 *
 * Results: per mask round, it ended, the mask across compute stretches,
 * across handoffs, sysmon preempted and handed off; per restart round, it
 * ended, every read restarted and returned its data, the handler ran once
 * per signal, sysmon handed off.  One mask round and two restart rounds,
 * each a forked child (csafe_util.h).
 */
#include <fcntl.h>
#include <pthread.h>

#include "csafe_util.h"

#define STRETCHES	12		/* of each kind, per goroutine */
#define READERS		4
#define READS		5
#define MSG		64
#define BEFORE_KILL_NS	5000000
#define BEFORE_DATA_NS	3000000
#define WAIT_NS		10000000000LL	/* the helper's patience for a read */

enum {
	BAD_PREEMPT, BAD_HANDOFF, DONE_PREEMPT, DONE_HANDOFF,	/* mask rounds */
	READS_OK, READS_BAD, READS_EINTR, SENT, HANDLED, HELPER_LOST,	/* restart rounds */
	NCOUNT
};

/* ---- the mask */

static void mask_body(int id)
{
	for (int i = 0; i < STRETCHES * CSAFE_NKINDS; i++) {
		int kind = i % CSAFE_NKINDS;
		sigset_t mine, old, now;
		bool ok;

		sigemptyset(&mine);
		sigaddset(&mine, SIGRTMIN + id);
		pthread_sigmask(SIG_BLOCK, &mine, &old);
		csafe_stretch(kind);
		pthread_sigmask(SIG_SETMASK, NULL, &now);
		ok = sigismember(&now, SIGRTMIN + id) == 1;
		for (int j = 0; j < CSAFE_GOROUTINES; j++)
			if (j != id && sigismember(&now, SIGRTMIN + j) == 1)
				ok = false;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!ok)
			csafe_add(kind == CSAFE_PREEMPT ? BAD_PREEMPT : BAD_HANDOFF, 1);
		csafe_add(kind == CSAFE_PREEMPT ? DONE_PREEMPT : DONE_HANDOFF, 1);
	}
}

static void mask_child(void)
{
	csafe_round(mask_body, CSAFE_GOROUTINES);
}

/* ---- the restarted read */

static int pipes[READERS][2];
static struct {
	pid_t tid;		/* the reader's thread, published with seq */
	int seq;		/* read number j + 1 is about to start */
} slot[READERS];
static int readers_done;

static void on_usr1(int sig)
{
	(void)sig;
	csafe_add(HANDLED, 1);
}

static unsigned char msg_byte(int i, int j, int k)
{
	return (unsigned char)(i * 61 + j * 17 + k);
}

static void restart_body(int id)
{
	if (id >= READERS) {
		while (__atomic_load_n(&readers_done, __ATOMIC_RELAXED) < READERS) {
			csafe_compute(CSAFE_COMPUTE_NS);
			kgo_yield();
		}
		return;
	}
	for (int j = 0; j < READS; j++) {
		unsigned char buf[MSG];
		ssize_t n;
		bool ok;

		__atomic_store_n(&slot[id].tid, csafe_tid(), __ATOMIC_RELAXED);
		__atomic_store_n(&slot[id].seq, j + 1, __ATOMIC_RELEASE);
		n = read(pipes[id][0], buf, sizeof(buf));
		ok = n == MSG;
		for (int k = 0; ok && k < MSG; k++)
			ok = buf[k] == msg_byte(id, j, k);
		if (n < 0 && errno == EINTR)
			csafe_add(READS_EINTR, 1);
		csafe_add(ok ? READS_OK : READS_BAD, 1);
	}
	__atomic_fetch_add(&readers_done, 1, __ATOMIC_RELAXED);
}

/*
 * The plain pthread: a signal into each read, then its data.  It serves
 * whichever reader has started a read it has not served yet (in
 * cooperative mode only two of them run at a time).
 */
static void *helper(void *arg)
{
	int served[READERS] = { 0 }, total = 0;
	int64_t end = now_ns() + WAIT_NS;

	(void)arg;
	while (total < READERS * READS) {
		bool any = false;

		for (int i = 0; i < READERS; i++) {
			int j = served[i];
			unsigned char buf[MSG];

			if (j == READS || __atomic_load_n(&slot[i].seq, __ATOMIC_ACQUIRE) <= j)
				continue;
			any = true;
			csafe_raw_sleep(BEFORE_KILL_NS);
			if (syscall(SYS_tgkill, getpid(), __atomic_load_n(&slot[i].tid, __ATOMIC_RELAXED),
				    SIGUSR1) == 0)
				csafe_add(SENT, 1);
			csafe_raw_sleep(BEFORE_DATA_NS);
			for (int k = 0; k < MSG; k++)
				buf[k] = msg_byte(i, j, k);
			if (write(pipes[i][1], buf, sizeof(buf)) != MSG) {
				csafe_add(HELPER_LOST, 1);
				return NULL;
			}
			served[i]++;
			total++;
			end = now_ns() + WAIT_NS;
		}
		if (!any && (now_ns() > end || usleep(200) < 0)) {
			csafe_add(HELPER_LOST, 1);
			return NULL;
		}
	}
	return NULL;
}

static void restart_child(void)
{
	struct sigaction sa;
	pthread_t th;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		_exit(2);
	for (int i = 0; i < READERS; i++)
		if (pipe2(pipes[i], O_CLOEXEC) < 0)
			_exit(2);
	if (pthread_create(&th, NULL, helper, NULL) != 0)
		_exit(2);
	csafe_round(restart_body, CSAFE_GOROUTINES);
	pthread_join(th, NULL);
}

#define RESTART_ROUNDS	2
#define PLAN		(4 + RESTART_ROUNDS * 4)

int main(void)
{
	const char *died;

	csafe_need_sysmon(PLAN);
	tap_watchdog(CSAFE_WATCHDOG(3));
	tap_plan(PLAN);

	died = csafe_fork_run(mask_child, CSAFE_ROUND_S);
	csafe_result_ended(died, 1, CSAFE_GOROUTINES);
	csafe_result(died, csafe_get(BAD_PREEMPT) == 0 && csafe_get(DONE_PREEMPT) > 0,
		     "mask round: the signal mask set before a stretch is the same after it, across a preemption (%ld of %ld broke it)",
		     csafe_get(BAD_PREEMPT), csafe_get(DONE_PREEMPT));
	csafe_result(died, csafe_get(BAD_HANDOFF) == 0 && csafe_get(DONE_HANDOFF) > 0,
		     "mask round: the signal mask set before a stretch is the same after it, across a handoff (%ld of %ld broke it)",
		     csafe_get(BAD_HANDOFF), csafe_get(DONE_HANDOFF));
	csafe_result_exercised(died, true);

	for (int r = 0; r < RESTART_ROUNDS; r++) {
		died = csafe_fork_run(restart_child, CSAFE_ROUND_S);
		csafe_result_ended(died, r + 2, CSAFE_GOROUTINES);
		csafe_result(died, csafe_get(READS_OK) == READERS * READS && !csafe_get(HELPER_LOST),
			     "restart round %d: a handed-off read() that an SA_RESTART signal interrupts restarts and returns its data (%ld of %d did; %ld returned other data, %ld of them EINTR)",
			     r + 1, csafe_get(READS_OK), READERS * READS, csafe_get(READS_BAD),
			     csafe_get(READS_EINTR));
		csafe_result(died, csafe_get(SENT) == READERS * READS &&
			     csafe_get(HANDLED) == csafe_get(SENT),
			     "restart round %d: the handler ran once for each of the %d signals (%ld sent, %ld handled)",
			     r + 1, READERS * READS, csafe_get(SENT), csafe_get(HANDLED));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
