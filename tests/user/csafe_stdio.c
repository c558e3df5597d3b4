/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stdio from goroutines that sysmon preempts and hands off (issue 16): a
 * FILE's lock is recursive and owned by a thread, so a goroutine that
 * blocks in write() inside fflush with the lock held, and meanwhile loses
 * its thread to another goroutine that calls fprintf on the same FILE,
 * lets that one in.
 *
 * 8 goroutines on 2 Ps with a 1 ms slice fprintf 250 lines each to one
 * FILE (fully buffered, 256 bytes) on a pipe of 4 KiB whose reader, a plain
 * pthread, takes 256 bytes at a time with a 1 ms sleep after each: the
 * writers block in write() (raw: glibc's, inside the FILE's lock) long
 * enough for handoffs.  Each line has its goroutine, its number and a
 * body made from both, with several conversions so that vfprintf takes a
 * while.  Two more goroutines compute all the while, so that a P is
 * always wanted.  Four rounds (a forked child each, csafe_util.h, 25 s
 * each at most).  In the last, every 25th line is written in two halves
 * under one flockfile, with a stretch with no kgo call between them (three
 * 1 ms slices of computing, or a raw 3 ms nanosleep): a pthread's FILE
 * lock, held across its own code, keeps the others out.  (Today that round
 * hangs: the FILE's lock count goes wrong and the lock stays taken.)
 *
 * Results per round: it ended (no crash or hang); every line read is
 * whole (it equals the line its goroutine and number make); each
 * goroutine's lines arrive in order, none missing or repeated.  One more:
 * sysmon preempted and handed off.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

#include "csafe_util.h"

#define ROUNDS		4		/* the last one splits lines */
#define SPINNERS	2
#define LINES		250
#define SPLIT_EVERY	25
#define LINE_MAX_LEN	160
#define READ_CHUNK	256
#define READ_PAUSE_NS	1000000
#define CAPACITY	(CSAFE_GOROUTINES * LINES * LINE_MAX_LEN)

enum { BAD_LINES, OUT_OF_ORDER, MISSING, LINES_READ, NCOUNT };

static FILE *out;
static int pipefd[2];
static char *got;
static size_t got_len;
static int writers_done;
static bool split_lines;	/* this round writes every 25th line in halves */

/* A line: its goroutine, its number, and a body made from both. */
#define LINE_FMT	"g%d n%d %08x %08x %u %d %.*s end\n"
#define LINE_ARGS(g, n, h) (g), (n), (h), (h) ^ 0x5a5a5a5au, (h) % 100000, -(n), \
	(int)((h) % 60), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static unsigned int line_hash(int g, int n)
{
	return (unsigned int)(g * 1000003 + n * 7919);
}

static int make_line(char *buf, size_t size, int g, int n)
{
	unsigned int h = line_hash(g, n);

	return snprintf(buf, size, LINE_FMT, LINE_ARGS(g, n, h));
}

/* Goroutines 0-7 write; 8 and 9 compute until they are done, wanting a P. */
static void writer(int id)
{
	if (id >= CSAFE_GOROUTINES) {
		while (__atomic_load_n(&writers_done, __ATOMIC_RELAXED) < CSAFE_GOROUTINES) {
			csafe_compute(CSAFE_COMPUTE_NS);
			kgo_yield();
		}
		return;
	}
	for (int n = 0; n < LINES; n++) {
		unsigned int h = line_hash(id, n);
		char line[LINE_MAX_LEN];
		int len, half;

		if (!split_lines || n % SPLIT_EVERY != SPLIT_EVERY - 1) {
			fprintf(out, LINE_FMT, LINE_ARGS(id, n, h));
			continue;
		}
		/* Two halves in one flockfile, with a stretch between them. */
		len = make_line(line, sizeof(line), id, n);
		half = len / 2;
		flockfile(out);
		fprintf(out, "%.*s", half, line);
		csafe_stretch((n / SPLIT_EVERY) % CSAFE_NKINDS);
		fprintf(out, "%s", line + half);
		funlockfile(out);
	}
	__atomic_fetch_add(&writers_done, 1, __ATOMIC_RELAXED);
}

/* The slow reader: a plain pthread, not a goroutine. */
static void *reader(void *arg)
{
	(void)arg;
	for (;;) {
		ssize_t n;

		if (got_len + READ_CHUNK > CAPACITY)
			break;
		n = read(pipefd[0], got + got_len, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got_len += (size_t)n;
		csafe_raw_sleep(READ_PAUSE_NS);
	}
	return NULL;
}

static void check_lines(void)
{
	int next[CSAFE_GOROUTINES] = { 0 };
	char want[LINE_MAX_LEN];
	size_t pos = 0;

	while (pos < got_len) {
		char *line = got + pos, *nl = memchr(line, '\n', got_len - pos);
		size_t len = nl ? (size_t)(nl - line) + 1 : got_len - pos;
		int g, n;

		pos += len;
		csafe_add(LINES_READ, 1);
		if (sscanf(line, "g%d n%d ", &g, &n) != 2 || g < 0 || g >= CSAFE_GOROUTINES ||
		    n < 0 || n >= LINES || (size_t)make_line(want, sizeof(want), g, n) != len ||
		    memcmp(want, line, len) != 0) {
			csafe_add(BAD_LINES, 1);
			continue;
		}
		if (n != next[g])
			csafe_add(OUT_OF_ORDER, 1);
		next[g] = n + 1;
	}
	for (int g = 0; g < CSAFE_GOROUTINES; g++)
		if (next[g] != LINES)
			csafe_add(MISSING, 1);
}

static void child(void)
{
	pthread_t th;

	got = malloc(CAPACITY);
	if (!got || pipe2(pipefd, O_CLOEXEC) < 0)
		_exit(2);
	fcntl(pipefd[1], F_SETPIPE_SZ, 4096);
	out = fdopen(pipefd[1], "w");
	if (!out || setvbuf(out, NULL, _IOFBF, 256) != 0 ||
	    pthread_create(&th, NULL, reader, NULL) != 0)
		_exit(2);
	csafe_round(writer, CSAFE_GOROUTINES + SPINNERS);
	fclose(out);
	pthread_join(th, NULL);
	check_lines();
}

int main(void)
{
	uint64_t preempts = 0, handoffs = 0;

	csafe_need_sysmon(ROUNDS * 3 + 1);
	tap_watchdog(CSAFE_WATCHDOG(ROUNDS));
	tap_plan(ROUNDS * 3 + 1);
	for (int r = 0; r < ROUNDS; r++) {
		const char *died;

		split_lines = r == ROUNDS - 1;
		died = csafe_fork_run(child, CSAFE_ROUND_S);

		csafe_result_ended(died, r + 1, CSAFE_GOROUTINES + SPINNERS);
		csafe_result(died, csafe_get(BAD_LINES) == 0 && csafe_get(LINES_READ) > 0,
			     "round %d%s: every line arrived whole (%ld of %ld lines broken)", r + 1,
			     split_lines ? " (split lines)" : "", csafe_get(BAD_LINES),
			     csafe_get(LINES_READ));
		csafe_result(died, csafe_get(OUT_OF_ORDER) == 0 && csafe_get(MISSING) == 0,
			     "round %d%s: each goroutine's lines in order (%ld out of order, %ld goroutines missing lines)",
			     r + 1, split_lines ? " (split lines)" : "", csafe_get(OUT_OF_ORDER),
			     csafe_get(MISSING));
		preempts += csafe_sh->preempts;
		handoffs += csafe_sh->handoffs;
	}
	tap_ok_fmt(preempts > 0 && handoffs > 0,
		   "sysmon preempted (%llu) and handed off (%llu) in the rounds",
		   (unsigned long long)preempts, (unsigned long long)handoffs);
	return tap_done();
}
