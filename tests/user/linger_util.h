/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A TCP socket whose close(2) blocks (lib_inv_blocking, lib_inv_close):
 * connected over loopback, SO_LINGER on, and its send buffer and the
 * peer's receive buffer full, so that the FIN cannot go out and close(2)
 * waits (up to the linger time) until the peer reads everything.  The
 * socket is left non-blocking, as kgo's I/O calls expect; the peer is
 * blocking, so that draining it reads up to the FIN.
 */
#ifndef KGO_TESTS_LINGER_UTIL_H
#define KGO_TESTS_LINGER_UTIL_H

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "net_util.h"

#define LINGER_S	30

/* 0 with *@sock and *@peer set (both -1 on failure), or -1. */
static inline int lingering_socket(int *sock, int *peer)
{
	struct linger lg = { .l_onoff = 1, .l_linger = LINGER_S };
	struct pollfd p;
	struct sockaddr_in a;
	static char junk[1 << 16];
	int l = loopback_listener(&a, 1);

	*sock = *peer = -1;
	if (l < 0)
		return -1;
	/* Blocking, so that connect() waits for the handshake. */
	*sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*sock < 0 || connect(*sock, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	p = (struct pollfd){ .fd = l, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		goto fail;
	*peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*peer < 0 || setsockopt(*sock, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    fcntl(*sock, F_SETFL, O_NONBLOCK))
		goto fail;
	while (write(*sock, junk, sizeof(junk)) > 0)
		;
	close(l);
	return 0;
fail:
	close(l);
	if (*sock >= 0)
		close(*sock);
	if (*peer >= 0)
		close(*peer);
	*sock = *peer = -1;
	return -1;
}

/* Read @peer up to the FIN: then the lingering close(2) completes. */
static inline void drain_peer(int peer)
{
	static char drain[1 << 16];

	while (read(peer, drain, sizeof(drain)) > 0)
		;
}

#endif /* KGO_TESTS_LINGER_UTIL_H */
