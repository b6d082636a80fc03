/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-transfer"

#include "config.h"

#include "mesh-transfer-engine.h"

#include "mesh-error.h"
#include "mesh-escape.h"

/* What a folder engine's archive thread and the main context hold between
 * them: a few chunks, so memory stays bounded and a slow side holds back the other. */
#define PIPE_CAPACITY (1024 * 1024)

enum {
  PROGRESS,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_ABSTRACT_TYPE (MeshTransferEngine, mesh_transfer_engine, G_TYPE_OBJECT)

static void
mesh_transfer_engine_finalize (GObject *object)
{
  MeshTransferEngine *self = MESH_TRANSFER_ENGINE (object);

  g_clear_object (&self->stream);
  g_clear_object (&self->reader);
  g_clear_object (&self->writer);
  g_clear_object (&self->file);
  g_clear_object (&self->task);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->offered_name, g_free);
  g_clear_pointer (&self->offered_hash, g_free);
  g_queue_clear (&self->in_flight);
  g_clear_pointer (&self->pipe, mesh_chunk_pipe_free);

  G_OBJECT_CLASS (mesh_transfer_engine_parent_class)->finalize (object);
}

static void
mesh_transfer_engine_class_init (MeshTransferEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_transfer_engine_finalize;

  /**
   * MeshTransferEngine::progress:
   * @done: bytes done: the stream accepted them (file sender), they are on
   *   disk (file receiver, with a resumed prefix), archived (folder sender)
   *   or extracted (folder receiver)
   * @total: the file's size, or the sum of the folder's file sizes
   */
  signals[PROGRESS] = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                    NULL, NULL, NULL, G_TYPE_NONE, 2,
                                    G_TYPE_UINT64, G_TYPE_UINT64);
}

static void
mesh_transfer_engine_init (MeshTransferEngine *self)
{
  g_queue_init (&self->in_flight);
}

/* For the engines' _new(): @file is what they send, or where they receive. */
gpointer
mesh_transfer_engine_new (GType      type,
                          GIOStream *stream,
                          GFile     *file)
{
  MeshTransferEngine *self;

  g_return_val_if_fail (g_type_is_a (type, MESH_TYPE_TRANSFER_ENGINE), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  self = g_object_new (type, NULL);
  self->stream = g_object_ref (stream);
  self->reader = mesh_frame_reader_get_for_stream (stream);
  self->writer = mesh_frame_writer_get_for_stream (stream);
  self->file = g_object_ref (file);
  return self;
}

/* Takes the caller's task: one transfer per engine. */
void
mesh_transfer_engine_start (MeshTransferEngine  *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data,
                            gpointer             source_tag)
{
  g_return_if_fail (MESH_IS_TRANSFER_ENGINE (self));
  g_return_if_fail (self->task == NULL);

  self->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (self->task, source_tag);
}

gboolean
mesh_transfer_engine_finish (MeshTransferEngine  *self,
                             GAsyncResult        *result,
                             GError             **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mesh_transfer_engine_complete:
 * @error: (transfer full) (nullable): why the transfer failed
 *
 * Completes the transfer once: later calls (a late callback of a stream or
 * thread) only drop their @error.
 */
void
mesh_transfer_engine_complete (MeshTransferEngine *self,
                               GError             *error)
{
  g_autoptr(MeshTransferEngine) keep = g_object_ref (self);
  g_autoptr(GTask) task = g_steal_pointer (&self->task);
  MeshTransferEngineClass *klass = MESH_TRANSFER_ENGINE_GET_CLASS (self);

  if (task == NULL) {
    g_clear_error (&error);
    return;
  }
  if (klass->completing != NULL)
    klass->completing (self, error);
  /* A worker thread may still run: it no longer wakes us. */
  if (self->pipe != NULL)
    mesh_chunk_pipe_clear_notify (self->pipe);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

GError *
mesh_transfer_engine_cancelled_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the transfer was cancelled");
}

/* Whether the transfer still runs and its caller cancelled it. */
gboolean
mesh_transfer_engine_is_cancelled (MeshTransferEngine *self)
{
  return self->task != NULL && g_cancellable_is_cancelled (g_task_get_cancellable (self->task));
}

void
mesh_transfer_engine_progress (MeshTransferEngine *self,
                               guint64             done,
                               guint64             total)
{
  g_signal_emit (self, signals[PROGRESS], 0, done, total);
}

/* For the engines' thread jobs: a failed job fails the transfer.  Whether
 * the transfer still runs. */
gboolean
mesh_transfer_engine_job_finish (MeshTransferEngine *self,
                                 GAsyncResult       *result)
{
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    mesh_transfer_engine_complete (self, error);
    return FALSE;
  }
  return self->task != NULL;
}

static void
on_frame_read (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MeshTransferEngine) self = user_data;
  g_autoptr(GBytes) payload = NULL;
  MeshTransferFrameFunc func = self->on_frame;
  MeshFrameType type = MESH_FRAME_CONTROL;
  GError *error = NULL;

  self->on_frame = NULL;
  mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload, &error);
  func (self, type, payload, error);
}

/* Reads the next frame for @func while the transfer runs.  One read at a
 * time: while one is under way, this adds nothing. */
void
mesh_transfer_engine_read (MeshTransferEngine    *self,
                           MeshTransferFrameFunc  func)
{
  if (self->task == NULL || self->on_frame != NULL)
    return;
  self->on_frame = func;
  mesh_frame_reader_read_async (self->reader, g_task_get_cancellable (self->task), on_frame_read,
                                g_object_ref (self));
}

/**
 * mesh_transfer_engine_start_worker:
 * @thread: runs in a thread of its own, trading chunks through self->pipe
 * @done: (scope async): called in this context once @thread returned
 * @notify: called in this context whenever @thread pushed, popped or
 *   finished, until the transfer completes
 *
 * For the folder engines, whose libarchive side runs synchronously.
 */
void
mesh_transfer_engine_start_worker (MeshTransferEngine  *self,
                                   GTaskThreadFunc      thread,
                                   GAsyncReadyCallback  done,
                                   GSourceFunc          notify)
{
  g_autoptr(GTask) job = NULL;

  g_return_if_fail (self->pipe == NULL);

  self->pipe = mesh_chunk_pipe_new (PIPE_CAPACITY);
  mesh_chunk_pipe_set_notify (self->pipe, notify, g_object_ref (self), g_object_unref);
  job = g_task_new (self, NULL, done, NULL);
  g_task_run_in_thread (job, thread);
}

static void
on_chunk_written (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(MeshTransferEngine) self = user_data;
  GError *error = NULL;
  /* The writer completes frames in the order they were queued. */
  gsize len = GPOINTER_TO_SIZE (g_queue_pop_head (&self->in_flight));

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error)) {
    mesh_transfer_engine_complete (self, error);
    return;
  }
  MESH_TRANSFER_ENGINE_GET_CLASS (self)->chunk_sent (self, len);
}

/* Queues a FILE_CHUNK payload (its offset, then the data) in the writer;
 * ->chunk_sent() runs once the stream took it, a failure completes the
 * transfer.  in_flight.length says how many wait. */
void
mesh_transfer_engine_write_chunk (MeshTransferEngine *self,
                                  GBytes             *payload)
{
  gsize len = g_bytes_get_size (payload) - MESH_FRAME_CHUNK_HEADER_SIZE;

  g_queue_push_tail (&self->in_flight, GSIZE_TO_POINTER (len));
  mesh_frame_writer_write_async (self->writer, MESH_FRAME_CHUNK, payload, NULL,
                                 on_chunk_written, g_object_ref (self));
}

static void
on_done_written (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MeshTransferEngine) self = user_data;
  GError *error = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error))
    mesh_transfer_engine_complete (self, error);
}

/* Writes a sender's last message; the receiver's answer completes the
 * transfer, a failure to write it too. */
void
mesh_transfer_engine_write_done (MeshTransferEngine *self,
                                 JsonObject         *done)
{
  mesh_frame_writer_write_control_async (self->writer, done, NULL, on_done_written,
                                         g_object_ref (self));
}

/* Tells the peer why with ERROR {code, message}; @callback gets a reference to @self. */
void
mesh_transfer_engine_tell (MeshTransferEngine  *self,
                           const GError        *error,
                           GAsyncReadyCallback  callback)
{
  g_autoptr(JsonObject) control = mesh_frame_error_new_from_gerror (error);

  mesh_frame_writer_write_control_async (self->writer, control, NULL, callback,
                                         g_object_ref (self));
}

/**
 * mesh_transfer_engine_parse_control:
 * @expected: (nullable): the one control message wanted here; NULL: any
 * @context: where an unexpected frame came, for the message ("from the receiver")
 * @t_out: (out) (optional): the message's type, valid as long as the message
 * @peer_error: (out) (optional): set when the peer sent ERROR
 *
 * The control message in a frame from the peer.  The peer's ERROR becomes
 * @error; any other frame than the expected one is a BAD_REQUEST.
 *
 * Returns: (transfer full) (nullable): the control message, NULL with @error set
 */
JsonObject *
mesh_transfer_engine_parse_control (MeshFrameType   type,
                                    GBytes         *payload,
                                    const char     *expected,
                                    const char     *context,
                                    const char    **t_out,
                                    gboolean       *peer_error,
                                    GError        **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;

  if (peer_error != NULL)
    *peer_error = FALSE;
  if (type != MESH_FRAME_CONTROL) {
    if (expected != NULL)
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected %s", expected);
    else
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "unexpected %s frame %s",
                   mesh_frame_type_to_string (type), context);
    return NULL;
  }
  control = mesh_frame_control_parse (payload, &t, error);
  if (control == NULL)
    return NULL;
  if (g_str_equal (t, "ERROR")) {
    if (peer_error != NULL)
      *peer_error = TRUE;
    mesh_frame_error_to_gerror (control, error);
    return NULL;
  }
  if (expected != NULL && !g_str_equal (t, expected)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected %s, got %s", expected, t);
    return NULL;
  }
  if (t_out != NULL)
    *t_out = t;
  return g_steal_pointer (&control);
}

/**
 * mesh_transfer_engine_check_offer:
 * @frame: the meta frame's type, for the message ("FILE_META")
 * @what: what is offered, for the message ("file")
 * @name: the name the meta frame announces
 * @size: the size it announces
 * @hash: (nullable): the hash it announces, if any
 *
 * What arrives is what the session allows and our user accepted: no more
 * bytes than either, the accepted name and, when the offer had one, hash.
 */
gboolean
mesh_transfer_engine_check_offer (MeshTransferEngine  *self,
                                  const char          *frame,
                                  const char          *what,
                                  const char          *name,
                                  guint64              size,
                                  const char          *hash,
                                  GError             **error)
{
  if (self->max_size > 0 && size > self->max_size) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "the %s has %" G_GUINT64_FORMAT " bytes, this session allows %"
                 G_GUINT64_FORMAT, what, size, self->max_size);
    return FALSE;
  }
  if (self->offered_name != NULL) {
    if (size > self->offered_size) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                   "the %s has %" G_GUINT64_FORMAT " bytes, the accepted offer %"
                   G_GUINT64_FORMAT, what, size, self->offered_size);
      return FALSE;
    }
    if (!g_str_equal (name, self->offered_name)) {
      g_autofree char *shown = mesh_escape_for_display (name, -1);
      g_autofree char *offered = mesh_escape_for_display (self->offered_name, -1);

      g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                   "%s names “%s”, the accepted offer “%s”", frame, shown, offered);
      return FALSE;
    }
    if (self->offered_hash != NULL && hash != NULL &&
        g_ascii_strcasecmp (hash, self->offered_hash) != 0) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                   "%s's hash is not the accepted offer's", frame);
      return FALSE;
    }
  }
  return TRUE;
}

/* The cap token's max_size: a larger meta frame is refused with
 * PAYLOAD_TOO_LARGE.  0 means no limit. */
void
mesh_transfer_engine_set_max_size (MeshTransferEngine *self,
                                   guint64             max_size)
{
  g_return_if_fail (MESH_IS_TRANSFER_ENGINE (self));

  self->max_size = max_size;
}

/**
 * mesh_transfer_engine_set_offer:
 * @name: the name of the offer our user accepted
 * @size: its size: the meta frame may announce fewer bytes, never more
 * @hash: (nullable): its SHA-256 hex, when the offer gave one (files)
 *
 * Binds a receiver to the offer our user accepted, before anything is written.
 */
void
mesh_transfer_engine_set_offer (MeshTransferEngine *self,
                                const char         *name,
                                guint64             size,
                                const char         *hash)
{
  g_return_if_fail (MESH_IS_TRANSFER_ENGINE (self));
  g_return_if_fail (name != NULL);

  g_free (self->offered_name);
  self->offered_name = g_strdup (name);
  self->offered_size = size;
  g_free (self->offered_hash);
  self->offered_hash = g_strdup (hash);
}

const char *
mesh_transfer_engine_get_name (MeshTransferEngine *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER_ENGINE (self), NULL);

  return self->name;
}
