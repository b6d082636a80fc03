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
#include "mesh-transfer-engine.h"
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

struct _MeshFileSender {
  MeshTransferEngine engine;  /* file: the file to send; name: what the receiver is offered */

  int              fd;
  guint64          size;
  char            *hash;
  guint64          resumed_from;
  guint64          next_offset;  /* next byte to read from disk */
  guint64          bytes_done;   /* bytes the stream accepted */
  MeshIoWorker    *disk;         /* reads ahead, in order */
  gsize            reading;      /* bytes asked of the disk worker, not taken back yet */
  gboolean         done_sent;
  MeshHashCache   *hash_cache;   /* nullable */
  struct stat      hashed_stat;  /* the file as hashed (cache key) */
  gboolean         hash_cached;  /* the hash came from hash_cache */
};

G_DEFINE_FINAL_TYPE (MeshFileSender, mesh_file_sender, MESH_TYPE_TRANSFER_ENGINE)

static void
sender_completing (MeshTransferEngine *engine,
                   const GError       *error)
{
  MeshFileSender *self = MESH_FILE_SENDER (engine);

  /* The receiver saw other bytes than the hash we announced: never offer that hash again. */
  if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH) &&
      self->hash_cache != NULL && self->hash != NULL)
    mesh_hash_cache_store (self->hash_cache, &self->hashed_stat, 0, NULL);
}

static void
sender_emit_progress (MeshFileSender *self)
{
  mesh_transfer_engine_progress (&self->engine, self->bytes_done, self->size);
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
  const char *path = g_file_peek_path (self->engine.file);
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
      mesh_transfer_error_from_errno (error, errno, "Cannot read", self->engine.name);
      return NULL;
    }
    if (n == 0) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "“%s” shrank while it was being sent", self->engine.name);
      return NULL;
    }
    have += n;
  }
  return g_bytes_new_take (g_steal_pointer (&payload), MESH_FRAME_CHUNK_HEADER_SIZE + want);
}

static void sender_pump (MeshFileSender *self);

static void
sender_chunk_sent (MeshTransferEngine *engine,
                   gsize               len)
{
  MeshFileSender *self = MESH_FILE_SENDER (engine);

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
    mesh_transfer_engine_complete (&self->engine, error);
    return;
  }
  if (self->engine.task == NULL)
    return;
  while ((payload = mesh_io_worker_pop_result (self->disk, &weight)) != NULL) {
    self->reading -= weight;
    mesh_transfer_engine_write_chunk (&self->engine, payload);
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
  if (self->engine.task == NULL)
    return;
  if (mesh_transfer_engine_is_cancelled (&self->engine)) {
    mesh_transfer_engine_complete (&self->engine, mesh_transfer_engine_cancelled_error ());
    return;
  }

  if (self->disk == NULL && self->next_offset < self->size)
    self->disk = mesh_io_worker_new ("mesh-file-read", sender_read_job, g_free,
                                     (GDestroyNotify) g_bytes_unref, on_sender_chunks_read,
                                     self);
  while (self->next_offset < self->size && self->reading < SENDER_READ_AHEAD &&
         self->engine.in_flight.length < SENDER_IN_FLIGHT) {
    gsize want = MIN (CHUNK_SIZE, self->size - self->next_offset);

    mesh_io_worker_push (self->disk, g_memdup2 (&self->next_offset, sizeof (guint64)), want);
    self->next_offset += want;
    self->reading += want;
  }
  if (self->next_offset < self->size || self->reading > 0)
    return;

  if (g_queue_is_empty (&self->engine.in_flight) && self->reading == 0 && !self->done_sent) {
    g_autoptr(JsonObject) done = mesh_frame_control_new ("FILE_DONE");

    self->done_sent = TRUE;
    json_object_set_string_member (done, "hash", self->hash);
    mesh_transfer_engine_write_done (&self->engine, done);
  }
}

static void sender_read_next (MeshFileSender *self);

/* FILE_ACK {last_offset}: the bytes the receiver holds, never past the file. */
static gboolean
sender_check_ack (MeshFileSender  *self,
                  JsonObject      *ack,
                  gint64          *last_offset,
                  GError         **error)
{
  if (!mesh_json_get_int (ack, "last_offset", TRUE, last_offset, error))
    return FALSE;
  if (*last_offset < 0 || (guint64) *last_offset > self->size) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "FILE_ACK offset %" G_GINT64_FORMAT " is outside the file", *last_offset);
    return FALSE;
  }
  return TRUE;
}

static gboolean
sender_handle_frame (MeshFileSender  *self,
                     MeshFrameType    type,
                     GBytes          *payload,
                     GError         **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *t;

  control = mesh_transfer_engine_parse_control (type, payload, NULL, "from the receiver", &t,
                                                NULL, error);
  if (control == NULL)
    return FALSE;

  if (g_str_equal (t, "FILE_ACK")) {
    gint64 last_offset = 0;

    return sender_check_ack (self, control, &last_offset, error);
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
    mesh_transfer_engine_complete (&self->engine, NULL);
    return TRUE;
  }

  g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
               "unexpected %s from the receiver", t);
  return FALSE;
}

static void
on_sender_frame (MeshTransferEngine *engine,
                 MeshFrameType       type,
                 GBytes             *payload,
                 GError             *error)
{
  MeshFileSender *self = MESH_FILE_SENDER (engine);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
    g_clear_error (&error);
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                 "the receiver closed the stream after %" G_GUINT64_FORMAT " of %"
                 G_GUINT64_FORMAT " bytes", self->bytes_done, self->size);
  }
  if (error != NULL || !sender_handle_frame (self, type, payload, &error)) {
    mesh_transfer_engine_complete (engine, error);
    return;
  }
  sender_read_next (self);
}

static void
sender_read_next (MeshFileSender *self)
{
  mesh_transfer_engine_read (&self->engine, on_sender_frame);
}

static void
on_sender_first_ack (MeshTransferEngine *engine,
                     MeshFrameType       type,
                     GBytes             *payload,
                     GError             *error)
{
  MeshFileSender *self = MESH_FILE_SENDER (engine);
  g_autoptr(JsonObject) control = NULL;
  gint64 last_offset = 0;

  if (error != NULL ||
      (control = mesh_transfer_engine_parse_control (type, payload, "FILE_ACK", NULL, NULL,
                                                     NULL, &error)) == NULL ||
      !sender_check_ack (self, control, &last_offset, &error)) {
    mesh_transfer_engine_complete (engine, error);
    return;
  }

  self->resumed_from = last_offset;
  self->next_offset = last_offset;
  self->bytes_done = last_offset;
  if (last_offset > 0)
    g_debug ("resuming “%s” at %" G_GINT64_FORMAT " of %" G_GUINT64_FORMAT,
             self->engine.name, last_offset, self->size);
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

  if (!mesh_transfer_engine_job_finish (&self->engine, result))
    return;

  meta = mesh_frame_control_new ("FILE_META");
  json_object_set_string_member (meta, "name", self->engine.name);
  json_object_set_int_member (meta, "size", self->size);
  json_object_set_string_member (meta, "hash", self->hash);
  mesh_frame_writer_write_control_async (self->engine.writer, meta, NULL, NULL, NULL);
  mesh_transfer_engine_read (&self->engine, on_sender_first_ack);
}

static void
mesh_file_sender_finalize (GObject *object)
{
  MeshFileSender *self = MESH_FILE_SENDER (object);

  /* Its running read ends first: it uses fd. */
  g_clear_pointer (&self->disk, mesh_io_worker_free);
  if (self->fd >= 0)
    close (self->fd);
  g_clear_pointer (&self->hash, g_free);
  g_clear_pointer (&self->hash_cache, mesh_hash_cache_unref);

  G_OBJECT_CLASS (mesh_file_sender_parent_class)->finalize (object);
}

static void
mesh_file_sender_class_init (MeshFileSenderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MeshTransferEngineClass *engine_class = MESH_TRANSFER_ENGINE_CLASS (klass);

  object_class->finalize = mesh_file_sender_finalize;
  /* Its progress: bytes the receiver holds or the stream accepted, of the file's size. */
  engine_class->completing = sender_completing;
  engine_class->chunk_sent = sender_chunk_sent;
}

static void
mesh_file_sender_init (MeshFileSender *self)
{
  self->fd = -1;
}

MeshFileSender *
mesh_file_sender_new (GIOStream *stream,
                      GFile     *file)
{
  MeshFileSender *self = mesh_transfer_engine_new (MESH_TYPE_FILE_SENDER, stream, file);

  if (self != NULL)
    self->engine.name = g_file_get_basename (file);
  return self;
}

/* The name the receiver is offered; the file's own name by default. */
void
mesh_file_sender_set_name (MeshFileSender *self,
                           const char     *name)
{
  g_return_if_fail (MESH_IS_FILE_SENDER (self));
  g_return_if_fail (name != NULL);

  g_free (self->engine.name);
  self->engine.name = g_strdup (name);
}

const char *
mesh_file_sender_get_name (MeshFileSender *self)
{
  return mesh_transfer_engine_get_name (MESH_TRANSFER_ENGINE (self));
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
  g_return_if_fail (self->engine.task == NULL);

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
  g_return_if_fail (self->engine.task == NULL && self->hash == NULL);

  mesh_transfer_engine_start (&self->engine, cancellable, callback, user_data,
                              mesh_file_sender_send_async);
  job = g_task_new (self, cancellable, on_sender_opened, NULL);
  g_task_run_in_thread (job, sender_open_thread);
}

gboolean
mesh_file_sender_send_finish (MeshFileSender  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  return mesh_transfer_engine_finish (MESH_TRANSFER_ENGINE (self), result, error);
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

