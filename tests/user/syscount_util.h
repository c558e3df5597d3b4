/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Counting every system call the process makes, with the kernel's own
 * counter: a perf event on the raw_syscalls:sys_enter tracepoint, opened
 * by the main thread before it starts any other (inherit: every thread
 * created afterwards, Ms and the library's helpers, is counted too, and a
 * read sums them all, live).  Beside the total, one counter per system
 * call the library is known to use (the tracepoint's "id == N" filter), so
 * that a non-zero total says which calls it was.
 *
 *   struct syscount sc;
 *   syscount_open(&sc);          0, or -errno (tracefs, perf missing)
 *   syscount_read(&sc, before);  ... syscount_read(&sc, after);
 *   syscount_print("what", before, after);
 *
 * Each read is itself one read(2) on the counter, counted by the next
 * read: syscount_calls() subtracts it.
 */
#ifndef KGO_TESTS_SYSCOUNT_UTIL_H
#define KGO_TESTS_SYSCOUNT_UTIL_H

#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The system calls told apart (x86-64 numbers, from <sys/syscall.h>). */
static const struct {
	long nr;
	const char *name;
} syscount_named[] = {
	{ SYS_ioctl, "ioctl" }, { SYS_futex, "futex" }, { SYS_mmap, "mmap" },
	{ SYS_munmap, "munmap" }, { SYS_mprotect, "mprotect" }, { SYS_madvise, "madvise" },
	{ SYS_epoll_wait, "epoll_wait" }, { SYS_epoll_pwait, "epoll_pwait" },
	{ SYS_sched_yield, "sched_yield" }, { SYS_nanosleep, "nanosleep" },
	{ SYS_clock_nanosleep, "clock_nanosleep" }, { SYS_read, "read" },
	{ SYS_write, "write" }, { SYS_rt_sigreturn, "rt_sigreturn" },
	{ SYS_rt_sigprocmask, "rt_sigprocmask" }, { SYS_clone, "clone" },
	{ SYS_clone3, "clone3" }, { SYS_rseq, "rseq" }, { SYS_getpid, "getpid" },
	{ SYS_gettid, "gettid" }, { SYS_clock_gettime, "clock_gettime" },
};
#define SYSCOUNT_NAMED	(int)(sizeof(syscount_named) / sizeof(syscount_named[0]))

/* [0] every system call; [1 + i] syscount_named[i]. */
struct syscount {
	int fd[1 + SYSCOUNT_NAMED];
};

struct syscount_snap {
	uint64_t n[1 + SYSCOUNT_NAMED];
};

/* The tracepoint's id from tracefs, wherever it is mounted; -errno if none. */
static inline long syscount_tracepoint_id(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	long id = -ENOENT;

	for (unsigned int i = 0; i < sizeof(paths) / sizeof(paths[0]) && id < 0; i++) {
		FILE *f = fopen(paths[i], "r");

		if (!f)
			continue;
		if (fscanf(f, "%ld", &id) != 1)
			id = -EINVAL;
		fclose(f);
	}
	return id;
}

static inline int syscount_open1(long id, const char *filter)
{
	struct perf_event_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = (uint64_t)id;
	a.inherit = 1;
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (filter && ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Before any other thread exists.  0, or -errno with the reason printed. */
static inline int syscount_open(struct syscount *sc)
{
	long id = syscount_tracepoint_id();
	int err;

	if (id < 0) {
		printf("# raw_syscalls:sys_enter not found in tracefs (%s)\n", strerror((int)-id));
		return (int)id;
	}
	err = sc->fd[0] = syscount_open1(id, NULL);
	for (int i = 0; i < SYSCOUNT_NAMED && err >= 0; i++) {
		char filter[32];

		snprintf(filter, sizeof(filter), "id == %ld", syscount_named[i].nr);
		err = sc->fd[1 + i] = syscount_open1(id, filter);
	}
	if (err < 0)
		printf("# perf_event_open on raw_syscalls:sys_enter: %s\n", strerror(-err));
	return err < 0 ? err : 0;
}

/* The counters now (each read counts in the next snapshot; see syscount_calls). */
static inline void syscount_read(const struct syscount *sc, struct syscount_snap *s)
{
	for (int i = 0; i <= SYSCOUNT_NAMED; i++)
		if (read(sc->fd[i], &s->n[i], sizeof(s->n[i])) != sizeof(s->n[i]))
			s->n[i] = UINT64_MAX / 2;
}

/*
 * System calls between @a and @b, the reads that took @b excluded: the
 * total's read of b is one read(2) after a was taken; the named counters'
 * reads are 1 + SYSCOUNT_NAMED more, of which the "read" counter saw those
 * after its own snapshot in @a was taken.
 */
static inline uint64_t syscount_calls(const struct syscount_snap *a, const struct syscount_snap *b)
{
	return b->n[0] - a->n[0] - (1 + SYSCOUNT_NAMED);
}

/* Calls of system call @nr (one of syscount_named) between @a and @b. */
static inline uint64_t syscount_nr(const struct syscount_snap *a, const struct syscount_snap *b,
				   long nr)
{
	for (int i = 0; i < SYSCOUNT_NAMED; i++)
		if (syscount_named[i].nr == nr)
			return b->n[1 + i] - a->n[1 + i] -
			       (nr == SYS_read ? 1 + SYSCOUNT_NAMED : 0);
	return UINT64_MAX / 2;
}

/* One comment line: the total and each named call that happened. */
static inline void syscount_print(const char *what, const struct syscount_snap *a,
				  const struct syscount_snap *b)
{
	uint64_t total = syscount_calls(a, b), named = 0;

	printf("# %s: %llu system calls", what, (unsigned long long)total);
	for (int i = 0; i < SYSCOUNT_NAMED; i++) {
		uint64_t n = b->n[1 + i] - a->n[1 + i];

		if (syscount_named[i].nr == SYS_read)
			n -= 1 + SYSCOUNT_NAMED;	/* the snapshot's own */
		named += n;
		if (n)
			printf(", %s %llu", syscount_named[i].name, (unsigned long long)n);
	}
	if (total > named)
		printf(", other %llu", (unsigned long long)(total - named));
	printf("\n");
}

#endif /* KGO_TESTS_SYSCOUNT_UTIL_H */
