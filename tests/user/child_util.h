/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running a case in a forked child and keeping what it printed: for the
 * tests whose cases end a process on purpose (a stack overflow, a fatal
 * signal) or must start from a fresh one.
 */
#ifndef KGO_TESTS_CHILD_UTIL_H
#define KGO_TESTS_CHILD_UTIL_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * run_in_child - fork; in the child, @fd (STDOUT_FILENO or STDERR_FILENO)
 * goes to a pipe and the child exits with body(@ctx).  The parent reads
 * the pipe into @out (NUL-terminated, at most @size - 1 bytes) and
 * returns the child's wait status, or -1 if no child could be started.
 */
static inline int run_in_child(int fd, int (*body)(void *ctx), void *ctx, char *out,
			       size_t size)
{
	int pipefd[2], status = -1;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], fd);
		_exit(body(ctx));
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return -1;
	}
	while (got < size - 1 && (n = read(pipefd[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return status;
}

#endif /* KGO_TESTS_CHILD_UTIL_H */
