/* SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT */
#define G_LOG_DOMAIN "mesh-ws-shard"

#include "config.h"

#include "mesh-ws-shard.h"

#include <errno.h>
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS        256
#define SWEEP_INTERVAL_MS (1000 / MESH_WS_SHARD_SWEEP_SLOTS)
/* Sources libsoup makes while a shard reads (the 5 s close timeout) land in
 * the parking context: it is run this often.  A run walks every parked
 * source, so not more often than needed. */
#define PARKING_RUN_MS    1000

/* ---------------------------------------------------------------- inbox -- */

typedef struct {
  MeshInboxFunc func;
  gpointer      a;
  gpointer      b;
} InboxCall;

struct _MeshInbox {
  GMutex        lock;
  GArray       *queued;      /* InboxCall, under lock */
  GArray       *running;     /* InboxCall, the inbox thread's */
  GSource      *wake;
  GMainContext *context;
};

/* While a thread runs a batch (an inbox's calls, a shard's ready sockets),
 * the inboxes it pushes to are woken once, at the end of the batch, not at
 * the first push: a woken thread would otherwise take a few calls, sleep,
 * and be woken again by the next push (a thread switch each time). */
typedef struct {
  guint      depth;
  GPtrArray *pending;      /* MeshInbox* to wake */
} WakeBatch;

static void
wake_batch_free (gpointer data)
{
  WakeBatch *batch = data;

  g_ptr_array_unref (batch->pending);
  g_free (batch);
}

static GPrivate wake_batch = G_PRIVATE_INIT (wake_batch_free);

static WakeBatch *
wake_batch_get (void)
{
  WakeBatch *batch = g_private_get (&wake_batch);

  if (batch == NULL) {
    batch = g_new0 (WakeBatch, 1);
    batch->pending = g_ptr_array_new ();
    g_private_set (&wake_batch, batch);
  }
  return batch;
}

static void
batch_begin (void)
{
  wake_batch_get ()->depth++;
}

static void
batch_end (void)
{
  WakeBatch *batch = wake_batch_get ();

  if (--batch->depth > 0)
    return;
  for (guint i = 0; i < batch->pending->len; i++) {
    MeshInbox *inbox = batch->pending->pdata[i];

    g_source_set_ready_time (inbox->wake, 0);
  }
  g_ptr_array_set_size (batch->pending, 0);
}

static gboolean
inbox_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  g_source_set_ready_time (source, -1);
  batch_begin ();
  mesh_inbox_drain (user_data);
  batch_end ();
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs inbox_funcs = {
  .dispatch = inbox_dispatch,
};

MeshInbox *
mesh_inbox_new (GMainContext *context)
{
  MeshInbox *inbox = g_new0 (MeshInbox, 1);

  g_mutex_init (&inbox->lock);
  inbox->queued = g_array_sized_new (FALSE, FALSE, sizeof (InboxCall), 64);
  inbox->running = g_array_sized_new (FALSE, FALSE, sizeof (InboxCall), 64);
  inbox->context = g_main_context_ref (context);
  inbox->wake = g_source_new (&inbox_funcs, sizeof (GSource));
  g_source_set_static_name (inbox->wake, "[mesh] inbox");
  g_source_set_callback (inbox->wake, NULL, inbox, NULL);
  /* Sockets' frames are handled before new reads pile up behind them. */
  g_source_set_priority (inbox->wake, G_PRIORITY_DEFAULT - 1);
  g_source_attach (inbox->wake, context);
  return inbox;
}

void
mesh_inbox_free (MeshInbox *inbox)
{
  if (inbox == NULL)
    return;
  g_source_destroy (inbox->wake);
  g_source_unref (inbox->wake);
  mesh_inbox_drain (inbox);
  g_array_unref (inbox->queued);
  g_array_unref (inbox->running);
  g_main_context_unref (inbox->context);
  g_mutex_clear (&inbox->lock);
  g_free (inbox);
}

void
mesh_inbox_push (MeshInbox     *inbox,
                 MeshInboxFunc  func,
                 gpointer       a,
                 gpointer       b)
{
  InboxCall call = { func, a, b };
  gboolean was_empty;

  g_mutex_lock (&inbox->lock);
  was_empty = inbox->queued->len == 0;
  g_array_append_val (inbox->queued, call);
  g_mutex_unlock (&inbox->lock);
  /* Only the first call wakes the thread: the rest ride in the same batch. */
  if (was_empty) {
    WakeBatch *batch = g_private_get (&wake_batch);

    if (batch != NULL && batch->depth > 0) {
      if (!g_ptr_array_find (batch->pending, inbox, NULL))
        g_ptr_array_add (batch->pending, inbox);
    } else {
      g_source_set_ready_time (inbox->wake, 0);
    }
  }
}

void
mesh_inbox_drain (MeshInbox *inbox)
{
  /* Calls queued while these run wait for the next dispatch: a burst cannot
   * keep the loop from reading. */
  g_mutex_lock (&inbox->lock);
  if (inbox->queued->len == 0) {
    g_mutex_unlock (&inbox->lock);
    return;
  }
  {
    GArray *swap = inbox->queued;

    inbox->queued = inbox->running;
    inbox->running = swap;
  }
  g_mutex_unlock (&inbox->lock);

  for (guint i = 0; i < inbox->running->len; i++) {
    InboxCall *call = &g_array_index (inbox->running, InboxCall, i);

    call->func (call->a, call->b);
  }
  g_array_set_size (inbox->running, 0);
}

/* --------------------------------------------------------------- shards -- */

struct _MeshShardWatch {
  MeshWsShard        *shard;
  int                 fd;
  MeshShardReadyFunc  ready;
  gpointer            user_data;
  gboolean            armed;        /* the owner waits for readiness */
  gboolean            in_epoll;     /* EPOLLIN registered */
  gboolean            kicked;
  gboolean            dead;
};

struct _MeshWsShard {
  MeshWsShards       *shards;
  guint               index;
  GThread            *thread;
  GMainContext       *context;
  GMainContext       *parking;
  GMainLoop          *loop;
  MeshInbox          *inbox;
  int                 epfd;
  GSource            *epoll_source;
  GPtrArray          *kicked;       /* MeshShardWatch*, to run once */
  GPtrArray          *graveyard;    /* freed during a dispatch */
  gboolean            dispatching;
  MeshShardSweepFunc  sweep;
  gpointer            sweep_data;
  GHashTable         *peers[MESH_WS_SHARD_SWEEP_SLOTS];
  guint               next_slot;
  guint               sweep_slot;
};

struct _MeshWsShards {
  guint         n;
  MeshWsShard **shard;
  guint         next;               /* atomic */
};

static GPrivate current_shard;

static void
watch_set_epoll (MeshShardWatch *watch,
                 gboolean        want)
{
  struct epoll_event ev = { .events = want ? EPOLLIN : 0, .data.ptr = watch };

  if (watch->in_epoll == want || watch->dead)
    return;
  if (epoll_ctl (watch->shard->epfd, EPOLL_CTL_MOD, watch->fd, &ev) != 0)
    g_debug ("epoll_ctl(MOD, %d): %s", watch->fd, g_strerror (errno));
  watch->in_epoll = want;
}

static void
run_watch (MeshShardWatch *watch)
{
  if (watch->dead)
    return;
  if (!watch->armed) {
    /* Level-triggered: nobody is waiting, so stop hearing about it. */
    watch_set_epoll (watch, FALSE);
    return;
  }
  watch->ready (watch->user_data);
}

static gboolean
epoll_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  MeshWsShard *shard = user_data;
  struct epoll_event events[MAX_EVENTS];
  int n;

  n = epoll_wait (shard->epfd, events, MAX_EVENTS, 0);
  if (n <= 0 && shard->kicked->len == 0)
    return G_SOURCE_CONTINUE;

  /* libsoup re-creates a socket's input source after each read, on the
   * thread-default context: these go to the parking context. */
  g_main_context_push_thread_default (shard->parking);
  batch_begin ();
  shard->dispatching = TRUE;
  for (int i = 0; i < n; i++)
    run_watch (events[i].data.ptr);
  while (shard->kicked->len > 0) {
    g_autoptr(GPtrArray) kicked = shard->kicked;

    shard->kicked = g_ptr_array_new ();
    for (guint i = 0; i < kicked->len; i++) {
      MeshShardWatch *watch = kicked->pdata[i];

      watch->kicked = FALSE;
      run_watch (watch);
    }
  }
  shard->dispatching = FALSE;
  g_ptr_array_set_size (shard->graveyard, 0);
  batch_end ();
  g_main_context_pop_thread_default (shard->parking);
  return G_SOURCE_CONTINUE;
}

static gboolean
epoll_check (GSource *source)
{
  MeshWsShard *shard = ((gpointer *) (source + 1))[0];

  return shard->kicked->len > 0 ||
         (g_source_query_unix_fd (source, ((gpointer *) (source + 1))[1]) & G_IO_IN) != 0;
}

static gboolean
epoll_prepare (GSource *source,
               gint    *timeout)
{
  MeshWsShard *shard = ((gpointer *) (source + 1))[0];

  *timeout = -1;
  return shard->kicked->len > 0;
}

static GSourceFuncs epoll_funcs = {
  .prepare = epoll_prepare,
  .check = epoll_check,
  .dispatch = epoll_dispatch,
};

static gboolean
sweep_cb (gpointer user_data)
{
  MeshWsShard *shard = user_data;

  shard->sweep_slot = (shard->sweep_slot + 1) % MESH_WS_SHARD_SWEEP_SLOTS;
  if (shard->sweep != NULL && g_hash_table_size (shard->peers[shard->sweep_slot]) > 0)
    shard->sweep (shard, g_get_monotonic_time (), shard->sweep_slot, shard->sweep_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
parking_cb (gpointer user_data)
{
  MeshWsShard *shard = user_data;

  /* Whatever is due there (never the parked input sources: they have no
   * descriptor and are never ready by themselves). */
  while (g_main_context_iteration (shard->parking, FALSE))
    ;
  return G_SOURCE_CONTINUE;
}

static gpointer
shard_thread (gpointer data)
{
  MeshWsShard *shard = data;
  GSource *source;

  g_private_set (&current_shard, shard);
  g_main_context_push_thread_default (shard->context);
  g_main_context_acquire (shard->parking);

  source = g_timeout_source_new (SWEEP_INTERVAL_MS);
  g_source_set_static_name (source, "[mesh] shard sweep");
  g_source_set_callback (source, sweep_cb, shard, NULL);
  g_source_attach (source, shard->context);
  g_source_unref (source);

  source = g_timeout_source_new (PARKING_RUN_MS);
  g_source_set_static_name (source, "[mesh] shard parking");
  g_source_set_callback (source, parking_cb, shard, NULL);
  g_source_attach (source, shard->context);
  g_source_unref (source);

  g_main_loop_run (shard->loop);

  /* What was queued before the stop (close frames) still goes out: the
   * writes are batched in idle sources. */
  for (guint i = 0; i < 100 && g_main_context_iteration (shard->context, FALSE); i++)
    ;
  parking_cb (shard);
  g_main_context_release (shard->parking);
  g_main_context_pop_thread_default (shard->context);
  return NULL;
}

static void
quit_call (gpointer a,
           gpointer b)
{
  MeshWsShard *shard = a;

  g_main_loop_quit (shard->loop);
}

static MeshWsShard *
shard_new (MeshWsShards *shards,
           guint         index)
{
  MeshWsShard *shard = g_new0 (MeshWsShard, 1);
  g_autofree char *name = g_strdup_printf ("mesh-ws-%u", index);
  gpointer *tag;

  shard->shards = shards;
  shard->index = index;
  shard->context = g_main_context_new ();
  shard->parking = g_main_context_new ();
  shard->loop = g_main_loop_new (shard->context, FALSE);
  shard->inbox = mesh_inbox_new (shard->context);
  shard->kicked = g_ptr_array_new ();
  for (guint i = 0; i < MESH_WS_SHARD_SWEEP_SLOTS; i++)
    shard->peers[i] = g_hash_table_new (NULL, NULL);
  shard->graveyard = g_ptr_array_new_with_free_func (g_free);
  shard->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (shard->epfd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));

  shard->epoll_source = g_source_new (&epoll_funcs, sizeof (GSource) + 2 * sizeof (gpointer));
  tag = (gpointer *) (shard->epoll_source + 1);
  tag[0] = shard;
  tag[1] = g_source_add_unix_fd (shard->epoll_source, shard->epfd, G_IO_IN);
  g_source_set_callback (shard->epoll_source, NULL, shard, NULL);
  g_source_set_static_name (shard->epoll_source, "[mesh] shard epoll");
  /* Not mesh_source_keep_polled(): GLib's own wake-up after a dispatch
   * makes the next poll() return at once and take what came meanwhile;
   * without it the shard sleeps and is woken more often: 33 µs of CPU per
   * relayed message at 30 000/s against 25-28 (bench/relay). */
  g_source_attach (shard->epoll_source, shard->context);

  shard->thread = g_thread_new (name, shard_thread, shard);
  return shard;
}

static void
shard_free (MeshWsShard *shard)
{
  mesh_inbox_push (shard->inbox, quit_call, shard, NULL);
  g_thread_join (shard->thread);
  /* What the sockets still had queued is dropped with them. */
  mesh_inbox_free (shard->inbox);
  g_source_destroy (shard->epoll_source);
  g_source_unref (shard->epoll_source);
  close (shard->epfd);
  g_main_loop_unref (shard->loop);
  g_main_context_unref (shard->parking);
  g_main_context_unref (shard->context);
  g_ptr_array_unref (shard->kicked);
  g_ptr_array_unref (shard->graveyard);
  for (guint i = 0; i < MESH_WS_SHARD_SWEEP_SLOTS; i++)
    g_hash_table_unref (shard->peers[i]);
  g_free (shard);
}

/* The processors this process may run on (taskset, cgroups' cpusets): more
 * shards than that only add thread switches. */
static guint
usable_processors (void)
{
  cpu_set_t set;

  CPU_ZERO (&set);
  if (sched_getaffinity (0, sizeof set, &set) == 0 && CPU_COUNT (&set) > 0)
    return CPU_COUNT (&set);
  return MAX (1, g_get_num_processors ());
}

MeshWsShards *
mesh_ws_shards_new (guint n_shards)
{
  MeshWsShards *shards = g_new0 (MeshWsShards, 1);

  if (n_shards == 0)
    n_shards = usable_processors ();
  shards->n = MIN (n_shards, 256);
  shards->shard = g_new0 (MeshWsShard *, shards->n);
  for (guint i = 0; i < shards->n; i++)
    shards->shard[i] = shard_new (shards, i);
  return shards;
}

void
mesh_ws_shards_free (MeshWsShards *shards)
{
  if (shards == NULL)
    return;
  for (guint i = 0; i < shards->n; i++)
    shard_free (shards->shard[i]);
  g_free (shards->shard);
  g_free (shards);
}

MeshWsShards *
mesh_ws_shards_get_default (void)
{
  static MeshWsShards *pool;

  if (g_once_init_enter (&pool))
    g_once_init_leave (&pool, mesh_ws_shards_new (0));
  return pool;
}

guint
mesh_ws_shards_get_n (MeshWsShards *shards)
{
  return shards->n;
}

MeshWsShard *
mesh_ws_shards_get (MeshWsShards *shards,
                    guint         index)
{
  g_return_val_if_fail (index < shards->n, NULL);
  return shards->shard[index];
}

MeshWsShard *
mesh_ws_shards_next (MeshWsShards *shards)
{
  guint i = (guint) g_atomic_int_add ((gint *) &shards->next, 1);

  return shards->shard[i % shards->n];
}

guint
mesh_ws_shard_get_index (MeshWsShard *shard)
{
  return shard->index;
}

GMainContext *
mesh_ws_shard_get_context (MeshWsShard *shard)
{
  return shard->context;
}

GMainContext *
mesh_ws_shard_get_parking (MeshWsShard *shard)
{
  return shard->parking;
}

MeshInbox *
mesh_ws_shard_get_inbox (MeshWsShard *shard)
{
  return shard->inbox;
}

MeshWsShard *
mesh_ws_shard_get_current (void)
{
  return g_private_get (&current_shard);
}

gboolean
mesh_ws_shard_is_current (MeshWsShard *shard)
{
  return g_private_get (&current_shard) == shard;
}

GHashTable *
mesh_ws_shard_get_peers (MeshWsShard *shard,
                         guint        slot)
{
  g_return_val_if_fail (slot < MESH_WS_SHARD_SWEEP_SLOTS, NULL);
  return shard->peers[slot];
}

guint
mesh_ws_shard_next_slot (MeshWsShard *shard)
{
  shard->next_slot = (shard->next_slot + 1) % MESH_WS_SHARD_SWEEP_SLOTS;
  return shard->next_slot;
}

void
mesh_ws_shard_set_sweep (MeshWsShard        *shard,
                         MeshShardSweepFunc  func,
                         gpointer            user_data)
{
  shard->sweep = func;
  shard->sweep_data = user_data;
}

MeshShardWatch *
mesh_shard_watch_new (MeshWsShard        *shard,
                      int                 fd,
                      MeshShardReadyFunc  ready,
                      gpointer            user_data)
{
  MeshShardWatch *watch = g_new0 (MeshShardWatch, 1);
  struct epoll_event ev = { .events = 0, .data.ptr = watch };

  g_return_val_if_fail (mesh_ws_shard_is_current (shard), NULL);

  watch->shard = shard;
  watch->fd = fd;
  watch->ready = ready;
  watch->user_data = user_data;
  if (epoll_ctl (shard->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    g_warning ("epoll_ctl(ADD, %d): %s", fd, g_strerror (errno));
  return watch;
}

void
mesh_shard_watch_arm (MeshShardWatch *watch,
                      gboolean        armed)
{
  watch->armed = armed;
  /* Disarming is lazy (at the next event): a socket being read is armed
   * again right after each read, and that would cost two syscalls. */
  if (armed)
    watch_set_epoll (watch, TRUE);
}

void
mesh_shard_watch_kick (MeshShardWatch *watch)
{
  if (watch->kicked || watch->dead)
    return;
  watch->kicked = TRUE;
  g_ptr_array_add (watch->shard->kicked, watch);
  g_main_context_wakeup (watch->shard->context);
}

void
mesh_shard_watch_free (MeshShardWatch *watch)
{
  MeshWsShard *shard;

  if (watch == NULL)
    return;
  shard = watch->shard;
  if (epoll_ctl (shard->epfd, EPOLL_CTL_DEL, watch->fd, NULL) != 0 && errno != EBADF && errno != ENOENT)
    g_debug ("epoll_ctl(DEL, %d): %s", watch->fd, g_strerror (errno));
  watch->dead = TRUE;
  if (watch->kicked)
    g_ptr_array_remove (shard->kicked, watch);
  /* Events of this batch may still point at it. */
  if (shard->dispatching)
    g_ptr_array_add (shard->graveyard, watch);
  else
    g_free (watch);
}
