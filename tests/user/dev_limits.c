// SPDX-License-Identifier: GPL-2.0
/*
 * The per-user limit on instances (kgo.ko's max_instances_per_user): an
 * unprivileged user gets that many opens of /dev/kgo and then EMFILE; a
 * closed one is given back; another user's count is its own; a caller
 * with CAP_SYS_RESOURCE (root here) is not limited.  Needs root, to
 * open the device to other users for the test and to become them.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "dev_util.h"
#include "tap.h"

#define MAXFD	4096

static int read_limit(void)
{
	FILE *f = fopen("/sys/module/kgo/parameters/max_instances_per_user", "r");
	int n = -1;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* As @uid: opens until refused; exits with how many (capped at 250). */
static int opens_as(uid_t uid, int *errno_out, int pipefd)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		static int fds[MAXFD];
		int n = 0, e = 0, again, opened;

		if (setgid(uid) || setuid(uid))
			_exit(255);
		while (n < MAXFD) {
			fds[n] = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
			if (fds[n] < 0) {
				e = errno;
				break;
			}
			n++;
		}
		opened = n;
		/* A closed instance is given back (its free is asynchronous). */
		again = -1;
		if (n > 0) {
			close(fds[--n]);
			for (int i = 0; i < 100 && again < 0; i++) {
				usleep(10000);
				again = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
			}
		}
		if (write(pipefd, &e, sizeof(e)) != sizeof(e) ||
		    write(pipefd, &again, sizeof(again)) != sizeof(again))
			_exit(254);
		_exit(opened > 250 ? 250 : opened);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	(void)errno_out;
	return WEXITSTATUS(status);
}

int main(void)
{
	int limit, n1, n2, e1 = 0, again1 = -1, e2 = 0, again2 = -1, fds[2], root_n = 0;
	int rootfds[300];
	struct stat st;

	require_module();
	tap_plan(4);
	limit = read_limit();
	if (geteuid() != 0 || limit < 1 || limit > 200 || stat(KGO_DEVICE, &st)) {
		for (int i = 0; i < 4; i++)
			tap_skip_case("per-user instance limit",
				      "needs root and max_instances_per_user in 1..200");
		return tap_done();
	}
	chmod(KGO_DEVICE, 0666);
	if (pipe(fds)) {
		tap_ok(false, "pipe");
		return tap_done();
	}
	n1 = opens_as(65534, NULL, fds[1]);
	if (read(fds[0], &e1, sizeof(e1)) != sizeof(e1) ||
	    read(fds[0], &again1, sizeof(again1)) != sizeof(again1))
		e1 = -1;
	n2 = opens_as(65533, NULL, fds[1]);
	if (read(fds[0], &e2, sizeof(e2)) != sizeof(e2) ||
	    read(fds[0], &again2, sizeof(again2)) != sizeof(again2))
		e2 = -1;
	chmod(KGO_DEVICE, st.st_mode & 07777);

	tap_ok_fmt(n1 == limit && e1 == EMFILE,
		   "a user gets max_instances_per_user (%d) instances, then EMFILE: %d, errno %d",
		   limit, n1, e1);
	tap_ok_fmt(again1 >= 0, "a closed instance is given back to its user");
	tap_ok_fmt(n2 == limit && e2 == EMFILE && again2 >= 0,
		   "another user has a count of its own: %d, errno %d", n2, e2);
	while (root_n < limit + 5) {
		rootfds[root_n] = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
		if (rootfds[root_n] < 0)
			break;
		root_n++;
	}
	tap_ok_fmt(root_n == limit + 5, "CAP_SYS_RESOURCE is not limited: %d opens", root_n);
	while (root_n > 0)
		close(rootfds[--root_n]);
	return tap_done();
}
