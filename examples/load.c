/* SPDX-License-Identifier: MIT */
/*
 * load: drives the example server with fast, slow, timing-out, hanging-up
 * and idle clients, then (with -r) keeps long requests in flight until the
 * server shuts down, and prints what happened to every request: a table of
 * outcomes (completed, deadline exceeded, client gone, shut down) with
 * counts and latencies seen by the clients.
 *
 * What it shows on the client side: the whole run is bounded by one
 * deadline context, clients wait for replies with ctx_poll (the socket or
 * the deadline, whichever comes first) and pause with ctx_sleep.
 *
 * Usage: load [-r ready-file] port
 *   -r: after the first phase, send long requests, create ready-file once
 *       they are in flight, and wait for the server to answer them (a
 *       script sends the server SIGTERM when the file appears).
 * Exit status 0 when every request got the expected outcome.
 */
#include <arpa/inet.h>
#include <ctx.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL
#define RUN_LIMIT_MS 25000

enum outcome { OUT_OK, OUT_DEADLINE, OUT_GONE, OUT_SHUTDOWN, OUT_LOST, OUT_N };

static const char *const reply_of[] = { "OK", "DEADLINE", "GONE", "SHUTDOWN" };
static const char *const key_of[] = { "ok", "deadline", "gone", "shutdown", "lost" };
static const char *const name_of[] = { "completed", "deadline exceeded", "client gone",
				       "shut down", "lost (no answer)" };

struct kind {
	const char *name;
	unsigned int clients, requests;
	unsigned int work_ms, deadline_ms;
	unsigned int hangup_ms; /* > 0: hang up this long after asking */
	enum outcome expect;
	bool at_shutdown;       /* in flight when the server shuts down */
};

static const struct kind kinds[] = {
	{ "fast", 8, 10, 5, 5000, 0, OUT_OK, false },
	{ "slow", 4, 2, 300, 5000, 0, OUT_OK, false },
	{ "timing out", 4, 2, 5000, 200, 0, OUT_DEADLINE, false },
	{ "hanging up", 4, 1, 5000, 10000, 100, OUT_GONE, false },
	/* No requests (so no outcome): wait for the idle timeout to close us. */
	{ "idle", 2, 0, 0, 0, 0, OUT_LOST, false },
	/* Four run, two wait in the queue of the server's four workers. */
	{ "long", 6, 1, 60000, 60000, 0, OUT_SHUTDOWN, true },
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct client {
	const struct kind *kind;
	pthread_t thread;
};

static struct {
	pthread_mutex_t lock;
	unsigned int counts[OUT_N];
	int64_t *lat[OUT_N];
	unsigned int nlat[OUT_N];
	unsigned int unexpected, idle_closed, sent;
} res = { .lock = PTHREAD_MUTEX_INITIALIZER };

static ctx_t *run_ctx;           /* the whole run: one deadline */
static uint16_t port;
static atomic_uint long_in_flight;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void record(const struct kind *k, enum outcome out, int64_t ns)
{
	pthread_mutex_lock(&res.lock);
	res.counts[out]++;
	if (ns >= 0)
		res.lat[out][res.nlat[out]++] = ns;
	if (out != k->expect) {
		res.unexpected++;
		fprintf(stderr, "load: a %s client got \"%s\", expected \"%s\"\n", k->name,
			name_of[out], name_of[k->expect]);
	}
	pthread_mutex_unlock(&res.lock);
}

static int connect_server(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Reads one reply line; 0 at end of file, a negative errno, or its length. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t n;
		int r = ctx_poll(run_ctx, fd, POLLIN);

		if (r < 0)
			return r; /* the run's deadline */
		n = read(fd, buf + len, 1);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (buf[len++] == '\n')
			break;
	}
	buf[len] = '\0';
	return (int)len;
}

static enum outcome parse_reply(const char *line)
{
	for (int i = 0; i < OUT_LOST; i++)
		if (strncmp(line, reply_of[i], strlen(reply_of[i])) == 0 &&
		    line[strlen(reply_of[i])] == '\n')
			return i;
	return OUT_LOST;
}

static void *client(void *arg)
{
	const struct kind *k = ((struct client *)arg)->kind;
	int fd = connect_server();
	char line[64];
	unsigned int i;

	if (fd < 0) {
		for (i = 0; i < k->requests; i++)
			record(k, OUT_LOST, -1);
		return NULL;
	}
	if (k->requests == 0) {
		/* The server closes an idle connection: we read end of file. */
		if (read_line(fd, line, sizeof(line)) == 0) {
			pthread_mutex_lock(&res.lock);
			res.idle_closed++;
			pthread_mutex_unlock(&res.lock);
		}
	}
	for (i = 0; i < k->requests; i++) {
		int len = snprintf(line, sizeof(line), "WORK %u %u\n", k->work_ms, k->deadline_ms);
		int64_t start = now_ns();

		if (write(fd, line, (size_t)len) != len)
			break;
		pthread_mutex_lock(&res.lock);
		res.sent++;
		pthread_mutex_unlock(&res.lock);
		if (k->at_shutdown)
			atomic_fetch_add(&long_in_flight, 1);
		if (k->hangup_ms) {
			/* Ask for work, then leave before the answer. */
			ctx_sleep(run_ctx, (uint64_t)k->hangup_ms * NS_PER_MS);
			record(k, OUT_GONE, -1);
			i++;
			break;
		}
		if (read_line(fd, line, sizeof(line)) <= 0) {
			record(k, OUT_LOST, -1);
			i++;
			break;
		}
		record(k, parse_reply(line), now_ns() - start);
	}
	/* Requests never sent because the connection broke. */
	for (; i < k->requests; i++)
		record(k, OUT_LOST, -1);
	close(fd);
	return NULL;
}

static unsigned int run_phase(bool at_shutdown, struct client *cl)
{
	unsigned int n = 0;

	for (size_t k = 0; k < NKINDS; k++)
		if (kinds[k].at_shutdown == at_shutdown)
			for (unsigned int c = 0; c < kinds[k].clients; c++) {
				cl[n].kind = &kinds[k];
				if (pthread_create(&cl[n].thread, NULL, client, &cl[n]) == 0)
					n++;
			}
	return n;
}

static void join_all(struct client *cl, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		pthread_join(cl[i].thread, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double percentile_ms(const int64_t *ns, unsigned int n, unsigned int pct)
{
	size_t rank = ((size_t)n * pct + 99) / 100;

	return (double)ns[rank ? rank - 1 : 0] / NS_PER_MS;
}

static void report(unsigned int planned)
{
	unsigned int total = 0;

	printf("load: %-18s %6s %9s %9s\n", "outcome", "count", "p50 ms", "p99 ms");
	for (int i = 0; i < OUT_N; i++) {
		unsigned int n = res.nlat[i];

		total += res.counts[i];
		if (i == OUT_LOST && !res.counts[i])
			continue;
		qsort(res.lat[i], n, sizeof(int64_t), cmp_i64);
		if (n)
			printf("load: %-18s %6u %9.1f %9.1f\n", name_of[i], res.counts[i],
			       percentile_ms(res.lat[i], n, 50), percentile_ms(res.lat[i], n, 99));
		else
			printf("load: %-18s %6u %9s %9s\n", name_of[i], res.counts[i], "-", "-");
	}
	printf("load: %-18s %6u\n", "total", total);
	printf("load: %u idle connection%s closed by the server\n", res.idle_closed,
	       res.idle_closed == 1 ? "" : "s");
	/* For scripts: "= key count p50 p99". */
	for (int i = 0; i < OUT_N; i++) {
		unsigned int n = res.nlat[i];

		if (n)
			printf("= %s %u %.1f %.1f\n", key_of[i], res.counts[i],
			       percentile_ms(res.lat[i], n, 50), percentile_ms(res.lat[i], n, 99));
		else
			printf("= %s %u - -\n", key_of[i], res.counts[i]);
	}
	printf("= planned %u\n= sent %u\n= total %u\n= unexpected %u\n= idle-closed %u\n",
	       planned, res.sent, total, res.unexpected, res.idle_closed);
}

int main(int argc, char **argv)
{
	unsigned int planned = 0, idle = 0, nlong = 0, nclients = 0, n;
	struct client *cl;
	const char *ready = NULL;
	int opt, r;

	while ((opt = getopt(argc, argv, "r:")) != -1) {
		if (opt != 'r')
			goto usage;
		ready = optarg;
	}
	if (optind != argc - 1)
		goto usage;
	port = (uint16_t)strtoul(argv[optind], NULL, 10);
	if (!port)
		goto usage;

	for (size_t k = 0; k < NKINDS; k++) {
		if (kinds[k].at_shutdown && !ready)
			continue;
		planned += kinds[k].clients * kinds[k].requests;
		idle += kinds[k].requests ? 0 : kinds[k].clients;
		nlong += kinds[k].at_shutdown ? kinds[k].clients : 0;
		nclients += kinds[k].clients;
	}
	for (int i = 0; i < OUT_N; i++) {
		res.lat[i] = calloc(planned + 1, sizeof(int64_t));
		if (!res.lat[i])
			return 1;
	}
	cl = calloc(nclients, sizeof(*cl));
	if (!cl)
		return 1;
	r = ctx_with_timeout(ctx_background(), RUN_LIMIT_MS * NS_PER_MS, &run_ctx);
	if (r < 0) {
		fprintf(stderr, "load: ctx_with_timeout: %s\n", strerror(-r));
		return 1;
	}

	printf("load: phase 1: fast, slow, timing-out, hanging-up and idle clients\n");
	fflush(stdout);
	n = run_phase(false, cl);
	join_all(cl, n);

	if (ready) {
		int fd;

		printf("load: phase 2: %u long requests, in flight when the server shuts down\n",
		       nlong);
		fflush(stdout);
		n = run_phase(true, cl);
		while (atomic_load(&long_in_flight) < nlong && !ctx_err(run_ctx))
			ctx_sleep(run_ctx, 10 * NS_PER_MS);
		/* Time for the server to read them: it then owes each an answer. */
		ctx_sleep(run_ctx, 300 * NS_PER_MS);
		fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		join_all(cl, n);
	}

	report(planned);
	r = res.counts[OUT_LOST] == 0 && res.unexpected == 0 && res.idle_closed == idle &&
	    res.sent == planned && !ctx_err(run_ctx);
	if (ctx_err(run_ctx))
		fprintf(stderr, "load: the run took longer than %d ms\n", RUN_LIMIT_MS);
	run_ctx = ctx_unref(run_ctx);
	for (int i = 0; i < OUT_N; i++)
		free(res.lat[i]);
	free(cl);
	return r ? 0 : 1;
usage:
	fprintf(stderr, "usage: %s [-r ready-file] port\n", argv[0]);
	return 2;
}
