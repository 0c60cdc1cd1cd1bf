/* SPDX-License-Identifier: MIT */
/* Values: request-scoped data looked up by key identity up the chain. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

CTX_EXPORT int ctx_with_value(ctx_t *parent, const void *key, void *value,
			      void (*destroy)(void *value), ctx_t **ret)
{
	struct ctx *c;

	ctx_assert_return(parent, -EINVAL);
	ctx_assert_return(key, -EINVAL);
	ctx_assert_return(ret, -EINVAL);

	/* Field by field: malloc and a memset would become a calloc, which skips glibc's cache. */
	c = malloc(sizeof(struct ctx));
	if (!c)
		return -ENOMEM;
	atomic_init(&c->refs, 1);
	c->kind = CTX_VALUE;
	atomic_init(&c->err, 0);
	c->lock = (struct ctx_lock){ 0 };
	c->val.has_afters = false;
	c->gen = atomic_load_explicit(&ctx__fork_gen, memory_order_relaxed);
	c->parent = ctx_ref(parent);
	/* Our done state and fd are those of the parent's owner. */
	c->val.owner = ctx__owner(parent);
	c->val.key = key;
	c->val.value = value;
	c->val.destroy = destroy;
	*ret = c;
	return 0;
}

CTX_EXPORT void *ctx_value(const ctx_t *ctx, const void *key)
{
	for (; ctx; ctx = ctx->parent)
		if (ctx->kind == CTX_VALUE && ctx->val.key == key)
			return ctx->val.value;
	return NULL;
}

/* Freed: its after-functions leave its owner's list, then its value goes. */
void ctx__value_destroy(struct ctx *c)
{
	if (c->val.has_afters && ctx__from_this_process(c))
		ctx__afters_detach_value(c);
	if (c->val.destroy)
		c->val.destroy(c->val.value);
}

int ctx__value_describe(const struct ctx *c, int64_t now, char *buf, size_t len)
{
	return snprintf(buf, len, "with_value(%p)", c->val.key);
}
