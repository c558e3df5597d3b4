/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the netpoll tests: their common start (a watchdog, no
 * SIGPIPE, the plan, and the loopback interface up: the test guest boots
 * with it down, as busybox init configures nothing; on a machine where it
 * is up already this does nothing), and non-blocking TCP sockets on
 * 127.0.0.1: one to connect with, and a listener on a free port.
 */
#ifndef KGO_TESTS_NET_UTIL_H
#define KGO_TESTS_NET_UTIL_H

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"

/* 0 if "lo" is up (now), -1 if it is not and cannot be brought up. */
static inline int loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		if (ifr.ifr_flags & IFF_UP) {
			rc = 0;
		} else {
			ifr.ifr_flags |= IFF_UP;
			rc = ioctl(s, SIOCSIFFLAGS, &ifr) ? -1 : 0;
		}
	}
	close(s);
	return rc;
}

/*
 * The start of a netpoll test's main: a hang fails the test after 300 s,
 * a write to a closed connection returns -EPIPE instead of killing it,
 * then the plan of @plan cases.  Without a loopback interface, the test
 * ends here (the case skipped).
 */
static inline void net_test_start(int plan)
{
	tap_timeout_msg = "not ok - timed out: a lost wakeup?\n";
	tap_watchdog(300);
	signal(SIGPIPE, SIG_IGN);
	tap_plan(plan);
	if (loopback_up()) {
		tap_skip_case("loopback", "the loopback interface is down and cannot be brought up");
		exit(tap_done());
	}
}

static inline int tcp_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static inline struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A socket listening on 127.0.0.1 at a free port (in @a), or -1. */
static inline int loopback_listener(struct sockaddr_in *a, int backlog)
{
	socklen_t len = sizeof(*a);
	int s = tcp_socket(), one = 1;

	*a = loopback(0);
	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)a, sizeof(*a)) || listen(s, backlog) ||
	    getsockname(s, (struct sockaddr *)a, &len)) {
		close(s);
		return -1;
	}
	return s;
}

#endif /* KGO_TESTS_NET_UTIL_H */
