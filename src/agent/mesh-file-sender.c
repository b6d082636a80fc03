/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-file-transfer"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-file-transfer.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-hash-cache.h"
#include "mesh-io-worker.h"
#include "mesh-json.h"
#include "mesh-safe-path.h"
#include "mesh-transfer-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* File I/O runs in a thread of each transfer's own (MeshIoWorker), fed through a
 * bounded queue, so that a slow disk never stalls the context that also drives
 * QUIC, and that context never waits for a disk job to start the next one. */
#define CHUNK_SIZE         (256 * 1024)
#define SENDER_IN_FLIGHT   4
#define SENDER_READ_AHEAD  (4 * CHUNK_SIZE)

enum {
  PROGRESS,
  N_SIGNALS
};

static guint sender_signals[N_SIGNALS];

struct _MeshFileSender {
  GObject          parent_instance;

  MeshTransferStream io;  /* the session stream, its frame reader and writer */
  GFile           *file;
  char            *name;
  GTask           *task;
  int              fd;
  guint64          size;
  char            *hash;
  guint64          resumed_from;
  guint64          next_offset;  /* next byte to read from disk */
  guint64          bytes_done;   /* bytes the stream accepted */
  GQueue           in_flight;    /* data lengths of chunks queued in the writer */
  MeshIoWorker    *disk;         /* reads ahead, in order */
  gsize            reading;      /* bytes asked of the disk worker, not taken back yet */
  gboolean         done_sent;
  MeshHashCache   *hash_cache;   /* nullable */
  struct stat      hashed_stat;  /* the file as hashed (cache key) */
  gboolean         hash_cached;  /* the hash came from hash_cache */
};

G_DEFINE_FINAL_TYPE (MeshFileSender, mesh_file_sender, G_TYPE_OBJECT)

static void
sender_complete (MeshFileSender *self,
                 GError         *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  if (task == NULL) {
    g_clear_error (&error);
    return;
  }
  /* The receiver saw other bytes than the hash we announced: never offer that hash again. */
  if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH) &&
      self->hash_cache != NULL && self->hash != NULL)
    mesh_hash_cache_store (self->hash_cache, &self->hashed_stat, 0, NULL);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
sender_emit_progress (MeshFileSender *self)
{
  g_signal_emit (self, sender_signals[PROGRESS], 0, self->bytes_done, self->size);
}

static void
sender_open_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  MeshFileSender *self = source_object;
  g_autoptr(MeshSha256) sha = NULL;
  g_autofree guint8 *buffer = NULL;
  GError *error = NULL;
  const char *path = g_file_peek_path (self->file);
  struct stat st, after;
  guint64 offset = 0;
  gint64 started;

  if (path == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                             "only local files can be sent");
    return;
  }
  self->fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (self->fd < 0 || fstat (self->fd, &st) != 0) {
    mesh_transfer_error_from_errno (&error, errno, "Cannot open", path);
    g_task_return_error (task, error);
    return;
  }
  if (!S_ISREG (st.st_mode)) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                             "“%s” is not a regular file", path);
    return;
  }

  /* An unchanged file sent before: its hash is known (mesh-hash-cache.c says when). */
  self->hashed_stat = st;
  if (self->hash_cache != NULL &&
      (self->hash = mesh_hash_cache_lookup (self->hash_cache, &st)) != NULL) {
    self->size = st.st_size;
    self->hash_cached = TRUE;
    g_task_return_boolean (task, TRUE);
    return;
  }

  /* FILE_META carries the hash, so the whole file is read once up front. */
  started = g_get_real_time ();
  sha = mesh_sha256_new ();
  buffer = g_malloc (4 * CHUNK_SIZE);
  for (;;) {
    gssize n = pread (self->fd, buffer, 4 * CHUNK_SIZE, offset);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mesh_transfer_error_from_errno (&error, errno, "Cannot read", path);
      g_task_return_error (task, error);
      return;
    }
    if (n == 0)
      break;
    mesh_sha256_update (sha, buffer, n);
    offset += n;
    if (g_task_return_error_if_cancelled (task))
      return;
  }
  self->size = offset;
  self->hash = mesh_sha256_free_to_hex (g_steal_pointer (&sha));
  /* Cached only when what was read is the file as it stands now. */
  if (self->hash_cache != NULL && fstat (self->fd, &after) == 0 &&
      (guint64) after.st_size == offset && after.st_mtim.tv_sec == st.st_mtim.tv_sec &&
      after.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
    self->hashed_stat = after;
    mesh_hash_cache_store (self->hash_cache, &after, started, self->hash);
  }
  g_task_return_boolean (task, TRUE);
}

/* In the disk worker: reads the chunk at @job (its offset) into a FILE_CHUNK payload. */
static gpointer
sender_read_job (gpointer   job,
                 gpointer   user_data,
                 GError   **error)
{
  MeshFileSender *self = user_data;
  guint64 offset = *(guint64 *) job;
  gsize want = MIN (CHUNK_SIZE, self->size - offset);
  g_autofree guint8 *payload = g_malloc (MESH_FRAME_CHUNK_HEADER_SIZE + want);
  guint64 be_offset = GUINT64_TO_BE (offset);
  gsize have = 0;

  memcpy (payload, &be_offset, sizeof be_offset);
  while (have < want) {
    gssize n = pread (self->fd, payload + MESH_FRAME_CHUNK_HEADER_SIZE + have,
                      want - have, offset + have);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mesh_transfer_error_from_errno (error, errno, "Cannot read", self->name);
      return NULL;
    }
    if (n == 0) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "“%s” shrank while it was being sent", self->name);
      return NULL;
    }
    have += n;
  }
  return g_bytes_new_take (g_steal_pointer (&payload), MESH_FRAME_CHUNK_HEADER_SIZE + want);
}

static void sender_pump (MeshFileSender *self);

static void
on_sender_done_written (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(MeshFileSender) self = user_data;
  GError *error = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error))
    sender_complete (self, error);
}

static void
on_sender_chunk_written (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(MeshFileSender) self = user_data;
  GError *error = NULL;
  /* The writer completes frames in the order they were queued. */
  gsize len = GPOINTER_TO_SIZE (g_queue_pop_head (&self->in_flight));

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error)) {
    sender_complete (self, error);
    return;
  }
  self->bytes_done += len;
  sender_emit_progress (self);
  sender_pump (self);
}

/* The disk worker read one or more chunks (or failed). */
static void
on_sender_chunks_read (gpointer user_data)
{
  g_autoptr(MeshFileSender) self = g_object_ref (user_data);
  GError *error = mesh_io_worker_take_error (self->disk);
  GBytes *payload;
  gsize weight;

  if (error != NULL) {
    sender_complete (self, error);
    return;
  }
  if (self->task == NULL)
    return;
  while ((payload = mesh_io_worker_pop_result (self->disk, &weight)) != NULL) {
    gsize len = g_bytes_get_size (payload) - MESH_FRAME_CHUNK_HEADER_SIZE;

    self->reading -= weight;
    g_queue_push_tail (&self->in_flight, GSIZE_TO_POINTER (len));
    mesh_frame_writer_write_async (self->io.writer, MESH_FRAME_CHUNK, payload, NULL,
                                   on_sender_chunk_written, g_object_ref (self));
    g_bytes_unref (payload);
  }
  sender_pump (self);
}

/* Keeps up to SENDER_IN_FLIGHT chunks queued in the writer and SENDER_READ_AHEAD
 * bytes being read by the disk worker: the pipe stays full and memory stays
 * bounded. */
static void
sender_pump (MeshFileSender *self)
{
  if (self->task == NULL)
    return;
  if (mesh_transfer_task_is_cancelled (self->task)) {
    sender_complete (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                "the transfer was cancelled"));
    return;
  }

  if (self->disk == NULL && self->next_offset < self->size)
    self->disk = mesh_io_worker_new ("mesh-file-read", sender_read_job, g_free,
                                     (GDestroyNotify) g_bytes_unref, on_sender_chunks_read,
                                     self);
  while (self->next_offset < self->size && self->reading < SENDER_READ_AHEAD &&
         self->in_flight.length < SENDER_IN_FLIGHT) {
    gsize want = MIN (CHUNK_SIZE, self->size - self->next_offset);

    mesh_io_worker_push (self->disk, g_memdup2 (&self->next_offset, sizeof (guint64)), want);
    self->next_offset += want;
    self->reading += want;
  }
  if (self->next_offset < self->size || self->reading > 0)
    return;

  if (g_queue_is_empty (&self->in_flight) && self->reading == 0 && !self->done_sent) {
    g_autoptr(JsonObject) done = mesh_frame_control_new ("FILE_DONE");

    self->done_sent = TRUE;
    json_object_set_string_member (done, "hash", self->hash);
    mesh_frame_writer_write_control_async (self->io.writer, done, NULL,
                                           on_sender_done_written, g_object_ref (self));
  }
}

static void sender_read_next (MeshFileSender *self);

static gboolean
sender_handle_frame (MeshFileSender  *self,
                     MeshFrameType    type,
                     GBytes          *payload,
                     GError         **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;

  if (type != MESH_FRAME_CONTROL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "unexpected %s frame from the receiver", mesh_frame_type_to_string (type));
    return FALSE;
  }
  control = mesh_frame_control_parse (payload, &t, error);
  if (control == NULL)
    return FALSE;

  if (g_str_equal (t, "ERROR")) {
    mesh_frame_error_to_gerror (control, error);
    return FALSE;
  }

  if (g_str_equal (t, "FILE_ACK")) {
    gint64 last_offset = 0;

    if (!mesh_json_get_int (control, "last_offset", TRUE, &last_offset, error))
      return FALSE;
    if (last_offset < 0 || (guint64) last_offset > self->size) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "FILE_ACK offset %" G_GINT64_FORMAT " is outside the file", last_offset);
      return FALSE;
    }
    return TRUE;
  }

  if (g_str_equal (t, "FILE_DONE") && self->done_sent) {
    gboolean ok = FALSE;
    const char *hash = NULL;

    if (!mesh_json_get_bool (control, "ok", TRUE, &ok, error) ||
        !mesh_json_get_string (control, "hash", FALSE, &hash, error))
      return FALSE;
    if (!ok || (hash != NULL && !g_str_equal (hash, self->hash))) {
      g_set_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH,
                   "the receiver did not confirm the file's hash");
      return FALSE;
    }
    sender_complete (self, NULL);
    return TRUE;
  }

  g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
               "unexpected %s from the receiver", t);
  return FALSE;
}

static void
on_sender_frame (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MeshFileSender) self = user_data;
  g_autoptr(GBytes) payload = NULL;
  GError *error = NULL;
  MeshFrameType type;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
      g_clear_error (&error);
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                   "the receiver closed the stream after %" G_GUINT64_FORMAT " of %"
                   G_GUINT64_FORMAT " bytes", self->bytes_done, self->size);
    }
    sender_complete (self, error);
    return;
  }
  if (!sender_handle_frame (self, type, payload, &error)) {
    sender_complete (self, error);
    return;
  }
  sender_read_next (self);
}

static void
sender_read_next (MeshFileSender *self)
{
  if (self->task == NULL)
    return;
  mesh_frame_reader_read_async (self->io.reader, g_task_get_cancellable (self->task),
                                on_sender_frame, g_object_ref (self));
}

static void
on_sender_first_ack (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(MeshFileSender) self = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(JsonObject) control = NULL;
  GError *error = NULL;
  MeshFrameType type;
  const char *t = NULL;
  gint64 last_offset = 0;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    sender_complete (self, error);
    return;
  }
  if (type == MESH_FRAME_CONTROL)
    control = mesh_frame_control_parse (payload, &t, &error);
  else
    g_set_error (&error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected FILE_ACK");
  if (control != NULL && g_str_equal (t, "ERROR"))
    mesh_frame_error_to_gerror (control, &error);
  else if (control != NULL && !g_str_equal (t, "FILE_ACK"))
    g_set_error (&error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected FILE_ACK, got %s", t);
  else if (control != NULL &&
           mesh_json_get_int (control, "last_offset", TRUE, &last_offset, &error) &&
           (last_offset < 0 || (guint64) last_offset > self->size))
    g_set_error (&error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "FILE_ACK offset %" G_GINT64_FORMAT " is outside the file", last_offset);
  if (error != NULL) {
    sender_complete (self, error);
    return;
  }

  self->resumed_from = last_offset;
  self->next_offset = last_offset;
  self->bytes_done = last_offset;
  if (last_offset > 0)
    g_debug ("resuming “%s” at %" G_GINT64_FORMAT " of %" G_GUINT64_FORMAT,
             self->name, last_offset, self->size);
  sender_emit_progress (self);
  sender_read_next (self);
  sender_pump (self);
}

static void
on_sender_opened (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  MeshFileSender *self = MESH_FILE_SENDER (source);
  g_autoptr(JsonObject) meta = NULL;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    sender_complete (self, error);
    return;
  }
  if (self->task == NULL)
    return;

  meta = mesh_frame_control_new ("FILE_META");
  json_object_set_string_member (meta, "name", self->name);
  json_object_set_int_member (meta, "size", self->size);
  json_object_set_string_member (meta, "hash", self->hash);
  mesh_frame_writer_write_control_async (self->io.writer, meta, NULL, NULL, NULL);
  mesh_frame_reader_read_async (self->io.reader, g_task_get_cancellable (self->task),
                                on_sender_first_ack, g_object_ref (self));
}

static void
mesh_file_sender_finalize (GObject *object)
{
  MeshFileSender *self = MESH_FILE_SENDER (object);

  /* Its running read ends first: it uses fd. */
  g_clear_pointer (&self->disk, mesh_io_worker_free);
  if (self->fd >= 0)
    close (self->fd);
  mesh_transfer_stream_clear (&self->io);
  g_clear_object (&self->file);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->hash, g_free);
  g_clear_pointer (&self->hash_cache, mesh_hash_cache_unref);
  g_queue_clear (&self->in_flight);

  G_OBJECT_CLASS (mesh_file_sender_parent_class)->finalize (object);
}

static void
mesh_file_sender_class_init (MeshFileSenderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mesh_file_sender_finalize;

  /**
   * MeshFileSender::progress:
   * @done: bytes the receiver holds or the stream accepted
   * @total: the file's size
   */
  sender_signals[PROGRESS] = mesh_transfer_progress_signal_new (G_TYPE_FROM_CLASS (klass));
}

static void
mesh_file_sender_init (MeshFileSender *self)
{
  self->fd = -1;
  g_queue_init (&self->in_flight);
}

MeshFileSender *
mesh_file_sender_new (GIOStream *stream,
                      GFile     *file)
{
  MeshFileSender *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  self = g_object_new (MESH_TYPE_FILE_SENDER, NULL);
  mesh_transfer_stream_init (&self->io, stream);
  self->file = g_object_ref (file);
  self->name = g_file_get_basename (file);
  return self;
}

/* The name the receiver is offered; the file's own name by default. */
void
mesh_file_sender_set_name (MeshFileSender *self,
                           const char     *name)
{
  g_return_if_fail (MESH_IS_FILE_SENDER (self));
  g_return_if_fail (name != NULL);

  g_free (self->name);
  self->name = g_strdup (name);
}

const char *
mesh_file_sender_get_name (MeshFileSender *self)
{
  g_return_val_if_fail (MESH_IS_FILE_SENDER (self), NULL);

  return self->name;
}

/**
 * mesh_file_sender_set_hash_cache:
 * @cache: (nullable): where hashes of files sent before are kept
 *
 * With a cache, an unchanged file sent again is not read to be hashed before FILE_META.
 * Call before mesh_file_sender_send_async().
 */
void
mesh_file_sender_set_hash_cache (MeshFileSender *self,
                                 MeshHashCache  *cache)
{
  g_return_if_fail (MESH_IS_FILE_SENDER (self));
  g_return_if_fail (self->task == NULL);

  g_clear_pointer (&self->hash_cache, mesh_hash_cache_unref);
  self->hash_cache = cache != NULL ? mesh_hash_cache_ref (cache) : NULL;
}

/* Whether the hash in FILE_META came from the hash cache (the file was not read for it). */
gboolean
mesh_file_sender_get_hash_cached (MeshFileSender *self)
{
  g_return_val_if_fail (MESH_IS_FILE_SENDER (self), FALSE);

  return self->hash_cached;
}

/**
 * mesh_file_sender_send_async:
 *
 * Hashes the file, offers it with FILE_META, resumes at the receiver's
 * FILE_ACK offset and sends the rest.  Completes once the receiver confirmed
 * the hash.  The stream is left open for the caller to close.
 */
void
mesh_file_sender_send_async (MeshFileSender      *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) job = NULL;

  g_return_if_fail (MESH_IS_FILE_SENDER (self));
  g_return_if_fail (self->task == NULL && self->hash == NULL);

  self->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (self->task, mesh_file_sender_send_async);

  job = g_task_new (self, cancellable, on_sender_opened, NULL);
  g_task_run_in_thread (job, sender_open_thread);
}

gboolean
mesh_file_sender_send_finish (MeshFileSender  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

guint64
mesh_file_sender_get_bytes_done (MeshFileSender *self)
{
  g_return_val_if_fail (MESH_IS_FILE_SENDER (self), 0);

  return self->bytes_done;
}

guint64
mesh_file_sender_get_total (MeshFileSender *self)
{
  g_return_val_if_fail (MESH_IS_FILE_SENDER (self), 0);

  return self->size;
}

/* The offset of the receiver's first FILE_ACK: 0 unless this resumed. */
guint64
mesh_file_sender_get_resumed_from (MeshFileSender *self)
{
  g_return_val_if_fail (MESH_IS_FILE_SENDER (self), 0);

  return self->resumed_from;
}

const char *
mesh_file_sender_get_hash (MeshFileSender *self)
{
  g_return_val_if_fail (MESH_IS_FILE_SENDER (self), NULL);

  return self->hash;
}

