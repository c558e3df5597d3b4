/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_main without the module: a clear message and -ENOENT.  The device
 * is named by $KGO_DEVICE (or kgo_config.device), so this runs anywhere,
 * on the host too, by pointing it at a path that does not exist.  Also
 * checks the other start-up refusals that need no module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

static bool ran;

static void never(void *arg)
{
	(void)arg;
	ran = true;
}

/* Runs kgo_main with stderr captured into @buf. */
static int capture(const struct kgo_config *cfg, char *buf, size_t size)
{
	char path[] = "/tmp/kgo-nomodule-XXXXXX";
	int fd = mkstemp(path), saved, rc;
	ssize_t n;

	if (fd < 0)
		return -1000;
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rc = kgo_main(never, NULL, cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return rc;
}

int main(void)
{
	struct kgo_config cfg = { 0 };
	char err[512];
	int rc;

	tap_plan(13);

	/* Start-up errors are explained on stderr only when KGO_DEBUG asks. */
	setenv("KGO_DEBUG", "warn=1", 1);
	setenv("KGO_DEVICE", "/nonexistent/kgo", 1);
	rc = capture(NULL, err, sizeof(err));
	tap_ok_fmt(rc == -ENOENT, "kgo_main returns -ENOENT without the device (%d)", rc);
	tap_ok_fmt(strstr(err, "kgo: /nonexistent/kgo not found: is kgo.ko loaded?") != NULL,
		   "and says so: %s", strtok(err, "\n") ? err : "(nothing)");

	cfg.device = "/nonexistent/other";
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -ENOENT && strstr(err, "/nonexistent/other not found") != NULL,
		   "kgo_config.device wins over $KGO_DEVICE (%d)", rc);

	cfg.device = "/dev/null";
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -ENOTTY && strstr(err, "VERSION failed") != NULL,
		   "a device that is not kgo's is refused (%d)", rc);

	cfg.device = NULL;
	cfg.stack_size = 1024;
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -EINVAL, "a 1 KiB stack is refused (%d)", rc);

	cfg.stack_size = 0;
	cfg.slice_ns = 999999;
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -EINVAL && strstr(err, "shorter than") != NULL,
		   "a time slice under 1 ms is refused (%d)", rc);
	cfg.slice_ns = 0;
	setenv("KGO_SLICE_MS", "0.5", 1);
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -EINVAL && strstr(err, "KGO_SLICE_MS=0.5") != NULL,
		   "KGO_SLICE_MS=0.5 is refused (%d)", rc);
	/* Valid ones get as far as the (missing) device. */
	setenv("KGO_SLICE_MS", "off", 1);
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -ENOENT, "KGO_SLICE_MS=off is accepted (%d)", rc);
	cfg.slice_ns = KGO_SLICE_OFF;
	setenv("KGO_SLICE_MS", "junk", 1);
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -ENOENT, "kgo_config.slice_ns wins over $KGO_SLICE_MS (%d)", rc);
	unsetenv("KGO_SLICE_MS");
	cfg.slice_ns = 0;
	cfg.flags = 0x2;
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -EINVAL, "unknown kgo_config.flags are refused (%d)", rc);
	cfg.flags = KGO_COOPERATIVE;
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -ENOENT, "KGO_COOPERATIVE is accepted (%d)", rc);
	cfg.flags = 0;
	unsetenv("KGO_DEBUG");
	rc = capture(&cfg, err, sizeof(err));
	tap_ok_fmt(rc == -ENOENT && err[0] == 0,
		   "without KGO_DEBUG the same error is silent (%d, \"%s\")", rc, err);

	tap_ok(!ran && kgo_go(never, NULL) == -ESRCH && kgo_nprocs() == 0 &&
	       kgo_set_nprocs(2) == -ESRCH && kgo_self() == NULL && kgo_id() == 0,
	       "nothing ran; outside kgo_main the API refuses politely");
	return tap_done();
}
