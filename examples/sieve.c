/* SPDX-License-Identifier: MIT */
/*
 * The concurrent prime sieve: a generator goroutine sends 2, 3, 4, ... down
 * a channel; each prime found gets a filter goroutine that passes on only
 * the numbers it does not divide, so the chain of goroutines grows by one
 * per prime.  Prints the first N primes (default 100).
 *
 * Shutting down shows close and select: main closes "quit"; the generator,
 * which selects between sending its next number and quit, closes its
 * channel; each filter sees its input closed, closes its output and ends,
 * so the close travels down the chain and every goroutine returns.
 *
 *   make run DEMO=sieve                 in a guest with kgo.ko
 *   build/examples/sieve 500            on a machine with kgo.ko loaded
 */
#include <stdio.h>
#include <stdlib.h>

#include <kgo.h>

static int nprimes = 100;
static struct kgo_chan *quit;
static struct kgo_waitgroup running;

static void generate(void *arg)
{
	struct kgo_chan *out = arg;
	long i = 2;

	for (;;) {
		struct kgo_select_case cs[2] = {
			{ .chan = out, .dir = KGO_SELECT_SEND, .elem = &i },
			{ .chan = quit, .dir = KGO_SELECT_RECV },
		};

		if (kgo_select(cs, 2, true) == 1)
			break;
		i++;
	}
	kgo_chan_close(out);
	kgo_waitgroup_done(&running);
}

struct filter {
	struct kgo_chan *in, *out;
	long prime;
};

static void filter(void *arg)
{
	struct filter f = *(struct filter *)arg;
	long i;

	while (kgo_chan_recv(f.in, &i))
		if (i % f.prime != 0)
			kgo_chan_send(f.out, &i);
	kgo_chan_close(f.out);
	kgo_waitgroup_done(&running);
}

static void sieve(void *arg)
{
	struct kgo_chan **chans = arg;
	struct kgo_chan *ch = chans[0];
	uint64_t t0 = kgo_nanotime();
	long prime;

	kgo_waitgroup_add(&running, 1);
	kgo_go(generate, ch);
	for (int n = 0; n < nprimes; n++) {
		struct filter f;

		kgo_chan_recv(ch, &prime);
		printf("%6ld%s", prime, n % 10 == 9 || n == nprimes - 1 ? "\n" : "");
		f = (struct filter){ ch, chans[n + 1], prime };
		kgo_waitgroup_add(&running, 1);
		kgo_go_args(filter, &f, sizeof(f));
		ch = f.out;
	}
	/* Stop the chain, and drain what is still on its way. */
	kgo_chan_close(quit);
	while (kgo_chan_recv(ch, NULL))
		;
	kgo_waitgroup_wait(&running);
	printf("%d primes, the largest %ld, through a chain of %d goroutines in %.1f ms\n",
	       nprimes, prime, nprimes + 1, (kgo_nanotime() - t0) / 1e6);
}

int main(int argc, char **argv)
{
	struct kgo_chan **chans;
	int rc = 0;

	if (argc > 1)
		nprimes = atoi(argv[1]);
	if (nprimes < 1 || nprimes > 10000) {
		fprintf(stderr, "usage: %s [number of primes, 1..10000]\n", argv[0]);
		return 2;
	}
	/* Unbuffered, as in Go's example; one more than there are primes. */
	chans = calloc((size_t)nprimes + 1, sizeof(*chans));
	quit = kgo_chan_new(0, 0);
	for (int i = 0; chans && quit && i <= nprimes; i++)
		if (!(chans[i] = kgo_chan_new(sizeof(long), 0)))
			rc = 1;
	if (!chans || !quit || rc) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	rc = kgo_main(sieve, chans, NULL);
	for (int i = 0; i <= nprimes; i++)
		kgo_chan_free(chans[i]);
	kgo_chan_free(quit);
	free(chans);
	return rc ? 1 : 0;
}
