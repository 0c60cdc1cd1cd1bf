/* SPDX-License-Identifier: MIT */
/*
 * Every kind of context and what it does beyond a plain node (internal.h,
 * struct ctx_kind_ops). A new kind is its own file plus one line here.
 */
#include "internal.h"

const struct ctx_kind_ops ctx__kinds[CTX_KINDS] = {
	[CTX_ROOT] = { .describe = ctx__tree_describe },
	[CTX_WITHOUT_CANCEL] = { .describe = ctx__tree_describe },
	[CTX_VALUE] = { .destroy = ctx__value_destroy, .describe = ctx__value_describe },
	[CTX_CANCEL] = { .describe = ctx__tree_describe },
	[CTX_DEADLINE ... CTX_DEADLINE_LAST] = { .arm = ctx__timer_add,
						  .disarm = ctx__timer_remove,
						  .describe = ctx__deadline_describe },
	[CTX_FD_SOURCE] = { .arm = ctx__watch_add,
			    .disarm = ctx__watch_remove,
			    .destroy = ctx__source_destroy,
			    .describe = ctx__source_describe },
	[CTX_SIGNALS] = { .unwatch = ctx__signals_unwatch, .describe = ctx__signals_describe },
	[CTX_ANY] = { .disarm = ctx__any_disarm,
		      .pop_parent = ctx__any_pop_parent,
		      .describe = ctx__any_describe },
};
