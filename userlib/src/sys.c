/*
 * The library's few contacts with the outside: the ioctl wrapper (the only
 * way in which the library talks to kgo.ko after mmap), and its fatal and
 * warning messages on stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

void kgo_warn(const char *fmt, ...)
{
	va_list ap;

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
