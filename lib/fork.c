/* SPDX-License-Identifier: MIT */
/*
 * fork(): every step the library takes around it, in one declared order.
 *
 * The child gets only the thread that called fork(), and shares the
 * parent's kernel objects (eventfds, the timerfd, the epoll set, the signal
 * pipe). So the child forgets all of them, closing only its own copies, and
 * builds its own on first need. Contexts of the parent's generation are
 * only ever freed in the child, which never locks them nor writes to their
 * descriptors (tree.c), and whatever the parent's threads held on them is
 * forgotten: the child frees a context on its caller's last reference.
 *
 * The library's global state, and the step that covers each piece:
 *
 *   state                                   prepare    child
 *   signals.c  sig.lock                      lock 1     unlocked
 *              sig.list, watchers, saved        -       emptied; saved dispositions restored
 *              sig.pipe_r, pipe_w, owner_pid    -       closed, forgotten (a signal caught
 *                                                        before this step is re-raised
 *                                                        with the saved disposition)
 *              pending (caught signals)         -       cleared
 *   timer.c    lib.lock                        lock 2     unlocked
 *              lib.timerfd, lib.epfd            -       closed, forgotten
 *              lib.running, armed_ns            -       no thread, timer disarmed
 *              lib.heap, lib.slots (arrays)     -       emptied (kept for reuse)
 *              in_library_thread (per thread)   -       false: the child's only thread
 *                                                        is not the library's
 *              forked_from_library_thread       -       whether it was
 *   fd.c       never_fd_lock                   lock 3     unlocked
 *              never_fd                          -       kept: it is never written
 *   fork.c     ctx__fork_gen                     -       bumped: older contexts are the
 *                                                        parent's
 *   tree.c     the two roots                     -       immutable
 *
 * The three locks are taken in the library's lock order (internal.h), so
 * prepare cannot deadlock against a thread inside the library. Node locks
 * are not taken: the child never locks a node of the older generation.
 */
#include <pthread.h>

#include "internal.h"

atomic_uint ctx__fork_gen;

static void prepare(void)
{
	ctx__signals_fork_prepare();
	ctx__timer_fork_prepare();
	ctx__fd_fork_prepare();
}

static void parent(void)
{
	ctx__fd_fork_parent();
	ctx__timer_fork_parent();
	ctx__signals_fork_parent();
}

static void child(void)
{
	atomic_fetch_add_explicit(&ctx__fork_gen, 1, memory_order_relaxed);
	ctx__fd_fork_child();
	ctx__timer_fork_child();
	ctx__signals_fork_child();
}

__attribute__((constructor)) static void register_fork_handlers(void)
{
	pthread_atfork(prepare, parent, child);
}
