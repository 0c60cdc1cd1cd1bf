/* SPDX-License-Identifier: MIT */
/*
 * libctx libcurl helper: run a transfer bound to a context. When the
 * context is done, the transfer is aborted (its easy handle removed from
 * the multi handle, which closes a connection in mid-transfer) and the
 * context's error is returned.
 *
 * Why header-only, like <ctx_uring.h>: the helper is one curl_multi loop
 * over public libcurl and <ctx.h> calls. Inline, plain libctx does not
 * depend on libcurl: only programs that include this header need it, and
 * they link it themselves (-lctx -lcurl). See ctx_curl_perform(3).
 *
 * How the wait ends. curl_multi_poll() waits on libcurl's own sockets and
 * timers and on "extra" descriptors the caller adds: the context's done fd
 * goes there. The done fd stays readable once the context is done (level
 * triggered), so a cancel that lands between curl_multi_perform() and
 * curl_multi_poll() still ends the next poll at once: there is no lost
 * wake-up to guard against, no curl_multi_wakeup() and no second thread.
 */
#ifndef CTX_CURL_H
#define CTX_CURL_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include <curl/curl.h>

#include <ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int __ctx_curl_merr(CURLMcode mc)
{
	switch (mc) {
	case CURLM_OK:
		return 0;
	case CURLM_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLM_BAD_HANDLE:
	case CURLM_BAD_EASY_HANDLE:
	case CURLM_ADDED_ALREADY:
	case CURLM_RECURSIVE_API_CALL:
	case CURLM_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/*
 * Perform the transfer set up on easy until it ends or ctx is done,
 * whichever comes first; the context is checked first. multi may be NULL
 * (a multi handle is made for the call) or a multi handle holding no other
 * transfer, kept by the caller between calls so that connections are
 * reused. The easy handle is added for the call and always removed before
 * return, so it can be used again.
 *
 * Returns 0 when the transfer ended with CURLE_OK, -EIO when it ended with
 * another CURLcode (both stored in *result, which may be NULL), or
 * ctx_err(ctx) when the context was done first (the transfer is aborted,
 * *result untouched), or -EINVAL, -ENOMEM, -EIO (a curl_multi_* failure),
 * or ctx_fd()'s error (-EMFILE...).
 */
static inline int ctx_curl_perform(ctx_t *ctx, CURLM *multi, CURL *easy, CURLcode *result)
{
	struct curl_waitfd wait;
	CURLcode code = CURLE_OK;
	CURLM *own = NULL;
	int r, fd, running, left, timeout;
	bool ended = false;
	CURLMsg *msg;

	if (!ctx || !easy)
		return -EINVAL;
	r = ctx_err(ctx);
	if (r < 0)
		return r;
	fd = ctx_fd(ctx);
	if (fd < 0)
		return fd;
	if (!multi) {
		own = multi = curl_multi_init();
		if (!multi)
			return -ENOMEM;
	}
	r = __ctx_curl_merr(curl_multi_add_handle(multi, easy));
	if (r < 0)
		goto out;
	for (;;) {
		r = __ctx_curl_merr(curl_multi_perform(multi, &running));
		if (r < 0)
			break;
		while ((msg = curl_multi_info_read(multi, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
				code = msg->data.result;
				ended = true;
			}
		if (ended) {
			r = code == CURLE_OK ? 0 : -EIO;
			break;
		}
		if (!running) {
			/* Another transfer's message took ours: not allowed. */
			r = -EIO;
			break;
		}
		r = ctx_err(ctx);
		if (r == 0 && ctx_timeout_ms(ctx) == 0)
			r = ctx_wait(ctx);	/* the deadline passed: -ETIMEDOUT */
		if (r < 0)
			break;
		/* No deadline: the done fd alone ends the wait. */
		timeout = ctx_timeout_ms(ctx);
		if (timeout < 0)
			timeout = INT_MAX;
		wait.fd = fd;
		wait.events = CURL_WAIT_POLLIN;
		wait.revents = 0;
		r = __ctx_curl_merr(curl_multi_poll(multi, &wait, 1, timeout, NULL));
		if (r < 0)
			break;
	}
	/* Aborts the transfer if it is still running. */
	curl_multi_remove_handle(multi, easy);
	if (ended && result)
		*result = code;
out:
	if (own)
		curl_multi_cleanup(own);
	return r;
}

#ifdef __cplusplus
}
#endif

#endif /* CTX_CURL_H */
