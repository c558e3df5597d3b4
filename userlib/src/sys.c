/* SPDX-License-Identifier: MIT */
/*
 * The library's few contacts with the outside: the ioctl wrapper (the only
 * way in which the library talks to kgo.ko after mmap), and its fatal and
 * warning messages on stderr.
 *
 * The error convention (kgo(7)): a call that can fail returns -errno, or
 * NULL with errno set; the library never prints on its own account except
 * when $KGO_DEBUG has warn=1 (then warnings about recoverable
 * trouble go to stderr too).  A programming error or a broken invariant
 * is fatal, as a panic is in Go: a message on stderr, then abort().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

/*
 * kgo_ioctl - one ioctl on the instance: its result, or -errno.
 * Not inlined: errno is thread-local and glibc declares its address
 * function const, so errno must be read in a frame that cannot span a
 * goroutine switch.
 */
__attribute__((noinline)) int kgo_ioctl(unsigned long req, void *arg)
{
	int r = ioctl(kgo_rt.fd, req, arg);

	return r < 0 ? -errno : r;
}

/* One message on stderr: "kgo: ", @what, then @fmt's text. */
static void kgo_vmessage(const char *what, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void kgo_vmessage(const char *what, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "kgo: %s%s\n", what, buf);
}

/* The value of @key in $KGO_DEBUG ("warn=1,schedtrace=100"), or 0. */
unsigned long kgo_debug_value(const char *key)
{
	const char *env = getenv("KGO_DEBUG"), *p;
	size_t n = strlen(key);

	for (p = env; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (!strncmp(p, key, n) && p[n] == '=')
			return strtoul(p + n + 1, NULL, 10);
	}
	return 0;
}

/* Whether $KGO_DEBUG asks for warnings (warn=1). */
bool kgo_debug(void)
{
	return kgo_debug_value("warn") != 0;
}

/* A warning about recoverable trouble: only with $KGO_DEBUG. */
void kgo_warn(const char *fmt, ...)
{
	va_list ap;

	if (!kgo_debug())
		return;
	va_start(ap, fmt);
	kgo_vmessage("", fmt, ap);
	va_end(ap);
}

/* A broken invariant or an unrecoverable error: report and abort. */
void kgo_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kgo_vmessage("fatal: ", fmt, ap);
	va_end(ap);
	abort();
}
