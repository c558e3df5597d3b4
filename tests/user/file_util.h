/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small files of /proc, /sys and cgroupfs read and written without stdio
 * (so without malloc, which fails once a process has run out of memory
 * areas): a whole file into a buffer, its lines, a number, a "key value" line, a
 * string written; and whether debugfs lists an instance of a process.
 * The one exception, file_read_all, mallocs its buffer (tracefs's trace,
 * debugfs's kgo/instances: larger than a stack buffer).
 */
#ifndef KGO_TESTS_FILE_UTIL_H
#define KGO_TESTS_FILE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* @path's first @size - 1 bytes into @buf, NUL-terminated; bytes read, or -1. */
static inline ssize_t file_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* The first MiB of @path, NUL-terminated, in a buffer to free(); or NULL. */
static inline char *file_read_all(const char *path)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	return buf;
}

/* The lines of @path (a /proc file of any length), or -1. */
static inline long file_lines(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[4096];
	long lines = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/* The number @path holds, or -1. */
static inline long file_long(const char *path)
{
	char buf[32];

	return file_read(path, buf, sizeof(buf)) > 0 ? atol(buf) : -1;
}

/*
 * The number after @key at the start of a line of @path, or -1: "@key N"
 * (memory.events), or with a key ending in ':', "Field:  N kB" (the
 * /proc files; mem_util.h's file_kib).  The first 4 KiB of the file.
 */
static inline long file_key(const char *path, const char *key)
{
	size_t len = strlen(key);
	char buf[4096], *p;

	if (file_read(path, buf, sizeof(buf)) <= 0)
		return -1;
	for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, len) &&
		    (p[len] == ' ' || p[len] == '\t' || p[len] == '\n'))
			return atol(p + len);
	return -1;
}

/*
 * Writes @s to @path (a cgroup, sysctl or tracefs knob) in one write,
 * opened with O_TRUNC as a shell's ">" does (which is what clears
 * tracefs's trace): 0, or -errno (-EIO for a short write).
 */
static inline int file_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

static inline int file_write_long(const char *path, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", v);
	return file_write(path, buf);
}

/* Whether debugfs's kgo/instances lists one owned by @pid; -1 without debugfs. */
static inline int kgo_instance_listed(pid_t pid)
{
	char buf[1 << 16], want[64];

	if (file_read("/sys/kernel/debug/kgo/instances", buf, sizeof(buf)) < 0)
		return -1;
	snprintf(want, sizeof(want), " pid %d ", (int)pid);
	return strstr(buf, want) != NULL;
}

#endif /* KGO_TESTS_FILE_UTIL_H */
