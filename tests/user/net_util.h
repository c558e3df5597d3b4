/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the netpoll tests: the test guest boots with its loopback
 * interface down (busybox init configures nothing), so bring it up; on a
 * machine where it is up already this does nothing.
 */
#ifndef KGO_TESTS_NET_UTIL_H
#define KGO_TESTS_NET_UTIL_H

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

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

#endif /* KGO_TESTS_NET_UTIL_H */
