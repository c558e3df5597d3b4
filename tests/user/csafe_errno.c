/* SPDX-License-Identifier: GPL-2.0 */
/*
 * errno across a preemption and a handoff (issue 16): errno is per thread,
 * and a compiler keeps its address (glibc's __errno_location is a const
 * function) across anything in a function.  A goroutine that moves to
 * another thread between a failing call and its read of errno reads the
 * errno of a thread another goroutine now runs on.
 *
 * 8 goroutines on 2 Ps with a 1 ms slice; each has its own failing call,
 * with its own errno (EBADF, ENOENT, ESPIPE, EEXIST, EINVAL, EISDIR,
 * ENOTDIR, EAFNOSUPPORT), so that one goroutine's errno is never another's.
 * Each makes its call, then runs a stretch with no kgo call in it (three
 * 1 ms slices of computing, or a raw 3 ms nanosleep while the others want
 * the P), then reads errno the way any C code does, and counts the reads
 * that are not its own.  Two rounds (forked children, csafe_util.h).
 *
 * Results per round: it ended; errno survived the compute stretches;
 * errno survived the handoffs; sysmon did preempt and hand off.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "csafe_util.h"

#define ROUNDS		2
#define STRETCHES	12		/* of each kind, per goroutine */

enum { BAD_PREEMPT, BAD_HANDOFF, BAD_SETUP, DONE_PREEMPT, DONE_HANDOFF, NCOUNT };

static int pipefd[2], dirfd_ = -1;

static const int want_errno[CSAFE_GOROUTINES] = {
	EBADF, ENOENT, ESPIPE, EEXIST, EINVAL, EISDIR, ENOTDIR, EAFNOSUPPORT,
};

/* Goroutine @id's failing call: -1, with errno want_errno[id]. */
static long fail(int id)
{
	char c;

	switch (id) {
	case 0: return close(-1);
	case 1: return open("/nonexistent/csafe", O_RDONLY);
	case 2: return lseek(pipefd[0], 0, SEEK_SET);
	case 3: return mkdir("/", 0755);
	case 4: return kill(getpid(), 1000);
	case 5: return read(dirfd_, &c, 1);
	case 6: return chdir("/proc/self/status");
	default: return socket(9999, SOCK_STREAM, 0);
	}
}

static void body(int id)
{
	for (int i = 0; i < STRETCHES * CSAFE_NKINDS; i++) {
		int kind = i % CSAFE_NKINDS;

		if (fail(id) != -1 || errno != want_errno[id]) {
			csafe_add(BAD_SETUP, 1);
			continue;
		}
		csafe_stretch(kind);
		if (errno != want_errno[id])
			csafe_add(kind == CSAFE_PREEMPT ? BAD_PREEMPT : BAD_HANDOFF, 1);
		csafe_add(kind == CSAFE_PREEMPT ? DONE_PREEMPT : DONE_HANDOFF, 1);
	}
}

static void child(void)
{
	dirfd_ = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd_ < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		_exit(2);
	csafe_round(body, CSAFE_GOROUTINES);
}

int main(void)
{
	csafe_need_sysmon(ROUNDS * 4);
	tap_watchdog(CSAFE_WATCHDOG(ROUNDS));
	tap_plan(ROUNDS * 4);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died = csafe_fork_run(child, CSAFE_ROUND_S);

		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES);
		csafe_result(died, csafe_get(BAD_PREEMPT) == 0 && csafe_get(BAD_SETUP) == 0 &&
			     csafe_get(DONE_PREEMPT) > 0,
			     "round %d: errno after a failing call survived a preemption (%ld of %ld reads wrong; %ld failing calls misbehaved)",
			     r + 1, csafe_get(BAD_PREEMPT), csafe_get(DONE_PREEMPT), csafe_get(BAD_SETUP));
		csafe_result(died, csafe_get(BAD_HANDOFF) == 0 && csafe_get(DONE_HANDOFF) > 0,
			     "round %d: errno after a failing call survived a handoff (%ld of %ld reads wrong)",
			     r + 1, csafe_get(BAD_HANDOFF), csafe_get(DONE_HANDOFF));
		csafe_result_exercised(died, true);
	}
	return tap_done();
}
