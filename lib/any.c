/* SPDX-License-Identifier: MIT */
/* Merged contexts: done when any parent is done. (Being written.) */
#include "internal.h"

CTX_EXPORT int ctx_with_any(ctx_t *const parents[], size_t n, ctx_t **ret)
{
	return -ENOSYS;
}

CTX_EXPORT int ctx_any_index(const ctx_t *ctx)
{
	return -ENOSYS;
}
