/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-io-worker"

#include "config.h"

#include "mesh-io-worker.h"

/* One thread per worker, jobs in order.  It used to be one GTask per 256 KiB chunk, started by
 * the QUIC thread when the previous one completed: on a busy machine each hand-off waited for
 * both threads to be scheduled again, and the disk sat idle in between.  Now the QUIC thread
 * only queues (up to the caller's bound, counted in "weight", i.e. bytes) and the worker runs
 * through the queue by itself; the QUIC thread hears back once per batch of finished jobs. */

typedef struct {
  gpointer data;
  gsize    weight;
} Item;

struct _MeshIoWorker {
  GMutex              lock;
  GCond               cond;
  GThread            *thread;
  GQueue              jobs;        /* Item*, oldest first */
  GQueue              results;     /* Item*, in job order */
  gsize               pending;     /* weight of jobs queued or running */
  guint64             done;        /* weight of jobs finished without error */
  gboolean            running;
  gboolean            stopping;
  gboolean            failed;
  GError             *error;       /* why it failed, until taken */

  MeshIoWorkerFunc    func;
  GDestroyNotify      job_free;
  GDestroyNotify      result_free;
  MeshIoWorkerNotify  notify;
  gpointer            user_data;
  GMainContext       *context;
  GSource            *notify_source;  /* scheduled, not run yet */
};

static gboolean
on_notify (gpointer user_data)
{
  MeshIoWorker *self = user_data;

  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->notify_source, g_source_unref);
  g_mutex_unlock (&self->lock);
  self->notify (self->user_data);
  return G_SOURCE_REMOVE;
}

/* Called with the lock held. */
static void
schedule_notify (MeshIoWorker *self)
{
  if (self->notify_source != NULL || self->stopping)
    return;
  self->notify_source = g_idle_source_new ();
  /* Level with the sockets: finished writes give flow-control credit back. */
  g_source_set_priority (self->notify_source, G_PRIORITY_DEFAULT);
  g_source_set_callback (self->notify_source, on_notify, self, NULL);
  g_source_attach (self->notify_source, self->context);
}

static void
item_free (Item           *item,
           GDestroyNotify  free_func)
{
  if (item->data != NULL && free_func != NULL)
    free_func (item->data);
  g_free (item);
}

static gpointer
worker_thread (gpointer user_data)
{
  MeshIoWorker *self = user_data;

  g_mutex_lock (&self->lock);
  for (;;) {
    g_autoptr(GError) error = NULL;
    gpointer result = NULL;
    gboolean failed;
    Item *item;

    while (self->jobs.length == 0 && !self->stopping)
      g_cond_wait (&self->cond, &self->lock);
    if (self->stopping)
      break;
    item = g_queue_pop_head (&self->jobs);
    self->running = TRUE;
    failed = self->failed;
    g_mutex_unlock (&self->lock);

    /* After an error the rest is dropped: a later write must not land after a hole. */
    if (!failed)
      result = self->func (item->data, self->user_data, &error);

    g_mutex_lock (&self->lock);
    self->running = FALSE;
    self->pending -= item->weight;
    if (error != NULL && !self->failed) {
      self->failed = TRUE;
      self->error = g_steal_pointer (&error);
    } else if (!failed && error == NULL) {
      self->done += item->weight;
      if (result != NULL) {
        Item *out = g_new (Item, 1);

        out->data = g_steal_pointer (&result);
        out->weight = item->weight;
        g_queue_push_tail (&self->results, out);
      }
    }
    if (result != NULL && self->result_free != NULL)
      self->result_free (result);
    item_free (item, self->job_free);
    schedule_notify (self);
  }
  g_mutex_unlock (&self->lock);
  return NULL;
}

/**
 * mesh_io_worker_new:
 * @name: the thread's name (shows in top and perf)
 * @func: runs each job in the worker thread
 * @notify: called on the calling thread's thread-default main context after jobs finished
 *
 * Returns: (transfer full): a worker; mesh_io_worker_free() waits for the running job
 */
MeshIoWorker *
mesh_io_worker_new (const char         *name,
                    MeshIoWorkerFunc    func,
                    GDestroyNotify      job_free,
                    GDestroyNotify      result_free,
                    MeshIoWorkerNotify  notify,
                    gpointer            user_data)
{
  MeshIoWorker *self = g_new0 (MeshIoWorker, 1);

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->jobs);
  g_queue_init (&self->results);
  self->func = func;
  self->job_free = job_free;
  self->result_free = result_free;
  self->notify = notify;
  self->user_data = user_data;
  self->context = g_main_context_ref_thread_default ();
  self->thread = g_thread_new (name, worker_thread, self);
  return self;
}

/* Queues @job; @weight (its bytes) counts in mesh_io_worker_get_pending() until it is done. */
void
mesh_io_worker_push (MeshIoWorker *self,
                     gpointer      job,
                     gsize         weight)
{
  Item *item = g_new (Item, 1);

  item->data = job;
  item->weight = weight;
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->jobs, item);
  self->pending += weight;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* The oldest result not taken yet, or NULL. */
gpointer
mesh_io_worker_pop_result (MeshIoWorker *self,
                           gsize        *weight)
{
  Item *item;
  gpointer data = NULL;

  g_mutex_lock (&self->lock);
  item = g_queue_pop_head (&self->results);
  g_mutex_unlock (&self->lock);
  if (item != NULL) {
    data = item->data;
    if (weight != NULL)
      *weight = item->weight;
    g_free (item);
  }
  return data;
}

gsize
mesh_io_worker_get_pending (MeshIoWorker *self)
{
  gsize pending;

  g_mutex_lock (&self->lock);
  pending = self->pending;
  g_mutex_unlock (&self->lock);
  return pending;
}

/* The weight of the jobs finished without error so far. */
guint64
mesh_io_worker_get_done (MeshIoWorker *self)
{
  guint64 done;

  g_mutex_lock (&self->lock);
  done = self->done;
  g_mutex_unlock (&self->lock);
  return done;
}

/* No job queued or running. */
gboolean
mesh_io_worker_is_idle (MeshIoWorker *self)
{
  gboolean idle;

  g_mutex_lock (&self->lock);
  idle = self->jobs.length == 0 && !self->running;
  g_mutex_unlock (&self->lock);
  return idle;
}

/* The error that stopped the worker, once. */
GError *
mesh_io_worker_take_error (MeshIoWorker *self)
{
  GError *error;

  g_mutex_lock (&self->lock);
  error = g_steal_pointer (&self->error);
  g_mutex_unlock (&self->lock);
  return error;
}

/* Lets the running job finish, drops the rest, joins the thread.  No notify afterwards. */
void
mesh_io_worker_free (MeshIoWorker *self)
{
  Item *item;

  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->lock);
  g_thread_join (self->thread);

  if (self->notify_source != NULL) {
    g_source_destroy (self->notify_source);
    g_clear_pointer (&self->notify_source, g_source_unref);
  }
  while ((item = g_queue_pop_head (&self->jobs)) != NULL)
    item_free (item, self->job_free);
  while ((item = g_queue_pop_head (&self->results)) != NULL)
    item_free (item, self->result_free);
  g_clear_error (&self->error);
  g_main_context_unref (self->context);
  g_cond_clear (&self->cond);
  g_mutex_clear (&self->lock);
  g_free (self);
}
