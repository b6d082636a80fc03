/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-source.h"

/* For a GSource with file descriptors on a hot path (a QUIC socket, a
 * shard's epoll).  GLib 2.74 blocks a source while it dispatches: it takes
 * the source's descriptors out of the context's poll set and puts them back
 * afterwards, and each change wakes the context through its eventfd — two
 * write()s, then a poll() that returns at once and a read(), for every
 * dispatch (strace: about 3 000 of each for 64 MiB received over QUIC).  A
 * source that may recurse is never blocked.  Only for callbacks that never
 * iterate their own context, so that they cannot really be re-entered. */
void
mesh_source_keep_polled (GSource *source)
{
  g_source_set_can_recurse (source, TRUE);
}
