/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* WebSocket shards: worker threads, each running its own GMainContext, that
 * own the sockets handed to them (reads, writes, pings, limits).  Each shard
 * waits on one epoll descriptor for all of its sockets, so a main-loop
 * iteration costs the same with 10 sockets or 10 000 (GLib's own loop polls
 * and checks every source on every iteration).  Work crosses threads only
 * through inboxes: a short-locked queue per context, drained in batches.
 * docs/architecture.md, "WebSocket shards". */

typedef struct _MeshWsShards MeshWsShards;
typedef struct _MeshWsShard  MeshWsShard;
typedef struct _MeshInbox    MeshInbox;

typedef void (*MeshInboxFunc) (gpointer a,
                               gpointer b);

/* A queue of calls run, in order, on the thread that runs @context. */
MeshInbox    *mesh_inbox_new               (GMainContext  *context);
void          mesh_inbox_free              (MeshInbox     *inbox);
/* Thread-safe.  @func (@a, @b) runs soon on the inbox's context; the caller
 * hands over whatever references @a and @b stand for. */
void          mesh_inbox_push              (MeshInbox     *inbox,
                                            MeshInboxFunc  func,
                                            gpointer       a,
                                            gpointer       b);
/* Runs what is queued now (on the inbox's own thread). */
void          mesh_inbox_drain             (MeshInbox     *inbox);

/* @n_shards 0: one per processor this process may run on. */
MeshWsShards *mesh_ws_shards_new           (guint          n_shards);
/* Stops the threads; sockets still open are dropped. */
void          mesh_ws_shards_free          (MeshWsShards  *shards);
/* A process-wide pool, made on first use (for hubs made without one). */
MeshWsShards *mesh_ws_shards_get_default   (void);
guint         mesh_ws_shards_get_n         (MeshWsShards  *shards);
MeshWsShard  *mesh_ws_shards_get           (MeshWsShards  *shards,
                                            guint          index);
/* The shard for the next socket: round robin. */
MeshWsShard  *mesh_ws_shards_next          (MeshWsShards  *shards);

guint         mesh_ws_shard_get_index      (MeshWsShard   *shard);
GMainContext *mesh_ws_shard_get_context    (MeshWsShard   *shard);
MeshInbox    *mesh_ws_shard_get_inbox      (MeshWsShard   *shard);
gboolean      mesh_ws_shard_is_current     (MeshWsShard   *shard);
/* The shard whose thread this is, or NULL. */
MeshWsShard  *mesh_ws_shard_get_current    (void);

/* Read readiness through the shard's epoll set.  @ready runs on the shard's
 * thread while @fd is readable and the watch is armed; it should read until
 * the descriptor would block.  A watch starts disarmed. */
typedef struct _MeshShardWatch MeshShardWatch;
typedef void (*MeshShardReadyFunc) (gpointer user_data);

MeshShardWatch *mesh_shard_watch_new       (MeshWsShard        *shard,
                                            int                 fd,
                                            MeshShardReadyFunc  ready,
                                            gpointer            user_data);
void          mesh_shard_watch_arm         (MeshShardWatch     *watch,
                                            gboolean            armed);
/* Also makes it run once soon, readable or not (data already buffered). */
void          mesh_shard_watch_kick        (MeshShardWatch     *watch);
void          mesh_shard_watch_free        (MeshShardWatch     *watch);
/* The context libsoup's per-socket input sources are parked in while a
 * shard runs them: never polled, so they cost nothing per iteration. */
GMainContext *mesh_ws_shard_get_parking    (MeshWsShard        *shard);

/* The shard's sockets fall into MESH_WS_SHARD_SWEEP_SLOTS sets that only
 * the shard's own thread touches (the sockets mesh-ws-peer.c has there);
 * the sweep visits one set each tick, so each socket once a second. */
#define MESH_WS_SHARD_SWEEP_SLOTS 20
GHashTable   *mesh_ws_shard_get_peers      (MeshWsShard        *shard,
                                            guint               slot);
/* The set for a new socket: each in turn. */
guint         mesh_ws_shard_next_slot      (MeshWsShard        *shard);

/* Called every 1000 / MESH_WS_SHARD_SWEEP_SLOTS ms on each shard's thread
 * with the set to visit (one timer per shard, not one per socket): what is
 * due — pings, above all — goes out a few at a time, not all in one
 * stall of the shard. */
typedef void (*MeshShardSweepFunc) (MeshWsShard *shard,
                                    gint64       now_usec,
                                    guint        slot,
                                    gpointer     user_data);
void          mesh_ws_shard_set_sweep      (MeshWsShard        *shard,
                                            MeshShardSweepFunc  func,
                                            gpointer            user_data);

G_END_DECLS
