/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-file-transfer"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-file-transfer.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
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
#define WRITE_QUEUE_BYTES  (4 * 1024 * 1024)
#define ACK_INTERVAL       (8 * 1024 * 1024)
#define MAX_UNIQUE_TRIES   10000
#define PART_LOCK_WAIT_MS  2000

struct _MeshFileReceiver {
  MeshTransferEngine engine;  /* file: the download folder; name: the file's, as offered */

  gboolean         discard;       /* our user gave up: the .part goes on failure */
  int              dir_fd;
  int              fd;
  MeshSha256      *sha;
  char            *safe_name;
  char            *part_name;
  char            *meta_name;
  guint64          size;
  char            *hash;
  char            *done_hash;
  GFile           *result_file;
  guint64          resumed_from;
  guint64          received;     /* bytes taken off the stream */
  guint64          bytes_done;   /* bytes written to the .part file */
  guint64          last_ack;
  GBytes          *held_chunk;   /* waits while WRITE_QUEUE_BYTES are queued */
  MeshIoWorker    *disk;         /* writes and hashes, in order */
  guint64          write_offset; /* the disk worker's, once it runs */
  GError          *error;        /* the failure, once decided */
  gboolean         telling;      /* an ERROR frame is on its way to the peer */
  gboolean         writing;      /* the disk worker has chunks */
};

G_DEFINE_FINAL_TYPE (MeshFileReceiver, mesh_file_receiver, MESH_TYPE_TRANSFER_ENGINE)

/* After mesh_file_receiver_discard(): a failed transfer leaves no .part to
 * resume.  Only while we still hold the .part open (and locked): once let go,
 * it may be another session's.  Called only while no disk job runs. */
static void
receiver_remove_discarded (MeshFileReceiver *self)
{
  if (!self->discard || self->result_file != NULL || self->fd < 0)
    return;
  unlinkat (self->dir_fd, self->part_name, 0);
  unlinkat (self->dir_fd, self->meta_name, 0);
  close (self->fd);
  self->fd = -1;
}

/* A failure completes the transfer only once no disk write is in flight and
 * the peer was told, so that the .part file is final when the caller hears
 * about it (and a retry cannot race with a late write). */
static void
receiver_maybe_fail (MeshFileReceiver *self)
{
  if (self->engine.task == NULL || self->error == NULL || self->telling || self->writing)
    return;
  receiver_remove_discarded (self);
  /* Closing drops the lock: a new session may resume the .part at once. */
  if (self->fd >= 0) {
    close (self->fd);
    self->fd = -1;
  }
  mesh_transfer_engine_complete (&self->engine, g_steal_pointer (&self->error));
}

static void
receiver_complete (MeshFileReceiver *self,
                   GError           *error)
{
  if (self->engine.task == NULL || self->error != NULL) {
    g_clear_error (&error);
    return;
  }
  if (error == NULL) {
    mesh_transfer_engine_complete (&self->engine, NULL);
    return;
  }
  /* The sender's user gave up: nobody will resume this .part. */
  if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED))
    self->discard = TRUE;
  self->error = error;
  receiver_maybe_fail (self);
}

static void
on_receiver_error_sent (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(MeshFileReceiver) self = user_data;

  /* The peer may already be gone; our own error is the one that matters. */
  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  self->telling = FALSE;
  receiver_maybe_fail (self);
}

/* Tells the peer why with ERROR {code, message}, then fails. */
static void
receiver_fail_and_tell (MeshFileReceiver *self,
                        GError           *error)
{
  if (self->engine.task == NULL || self->error != NULL) {
    g_error_free (error);
    return;
  }
  self->telling = TRUE;
  mesh_transfer_engine_tell (&self->engine, error, on_receiver_error_sent);
  receiver_complete (self, error);
}

static void
receiver_emit_progress (MeshFileReceiver *self)
{
  mesh_transfer_engine_progress (&self->engine, self->bytes_done, self->size);
}

static gboolean
write_all_at (int           fd,
              const guint8 *data,
              gsize         len,
              guint64       offset,
              const char   *name,
              GError      **error)
{
  while (len > 0) {
    gssize n = pwrite (fd, data, len, offset);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return mesh_transfer_error_from_errno (error, errno, "Cannot write", name);
    data += n;
    len -= n;
    offset += n;
  }
  return TRUE;
}

/* Whether the sidecar of an earlier try describes the very same file. */
static gboolean
receiver_sidecar_matches (MeshFileReceiver *self)
{
  g_autofree char *contents = NULL;
  g_autoptr(JsonObject) meta = NULL;
  const char *hash = NULL;
  gint64 size = -1;
  gssize len = 0;
  char buffer[1024];
  int fd;

  fd = openat (self->dir_fd, self->meta_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return FALSE;
  len = read (fd, buffer, sizeof buffer);
  close (fd);
  if (len <= 0)
    return FALSE;
  meta = mesh_json_parse_object (buffer, len, NULL);
  return meta != NULL &&
         mesh_json_get_int (meta, "size", TRUE, &size, NULL) &&
         mesh_json_get_string (meta, "hash", TRUE, &hash, NULL) &&
         (guint64) size == self->size && g_str_equal (hash, self->hash);
}

static gboolean
receiver_write_sidecar (MeshFileReceiver  *self,
                        GError           **error)
{
  g_autoptr(JsonObject) meta = json_object_new ();
  g_autofree char *json = NULL;
  gsize len;
  int fd;
  gboolean ok;

  json_object_set_int_member (meta, "size", self->size);
  json_object_set_string_member (meta, "hash", self->hash);
  json = mesh_json_object_to_string (meta, &len);

  fd = openat (self->dir_fd, self->meta_name,
               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return mesh_transfer_error_from_errno (error, errno, "Cannot create", self->meta_name);
  ok = write_all_at (fd, (const guint8 *) json, len, 0, self->meta_name, error);
  close (fd);
  return ok;
}

/* Opens the .part file of this content and locks it for this session.  Its
 * name carries the start of the announced hash, so that another file of the
 * same name never meets it; a second session for the very same content while
 * the first still runs gets a fresh file of its own (and starts at 0). */
static gboolean
receiver_open_part (MeshFileReceiver  *self,
                    gboolean          *fresh,
                    GError           **error)
{
  g_autofree char *tag = g_strndup (self->hash, 16);

  *fresh = FALSE;
  for (guint n = 0; n < MAX_UNIQUE_TRIES; n++) {
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (n > 0 ? O_EXCL : 0);
    struct stat st, now;
    gboolean locked;
    int fd, saved_errno;

    g_free (self->part_name);
    g_free (self->meta_name);
    self->part_name = n == 0 ? g_strdup_printf ("%s.%s.part", self->safe_name, tag)
                             : g_strdup_printf ("%s.%s-%u.part", self->safe_name, tag, n);
    self->meta_name = g_strconcat (".", self->part_name, ".meta", NULL);
    fd = openat (self->dir_fd, self->part_name, flags, 0644);
    if (fd < 0 && errno == EEXIST)
      continue;
    if (fd < 0)
      return mesh_transfer_error_from_errno (error, errno, "Cannot create", self->part_name);
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
      close (fd);
      return mesh_transfer_error_from_errno (error, EINVAL, "Cannot create", self->part_name);
    }
    /* The session this one replaces (mesh-agent-controller.c) may take a
     * moment to let go. */
    locked = flock (fd, LOCK_EX | LOCK_NB) == 0;
    saved_errno = errno;
    for (guint wait = 0; !locked && saved_errno == EWOULDBLOCK && n == 0 &&
                         wait < PART_LOCK_WAIT_MS / 20; wait++) {
      g_usleep (20 * 1000);
      locked = flock (fd, LOCK_EX | LOCK_NB) == 0;
      saved_errno = errno;
    }
    if (!locked) {
      close (fd);
      if (saved_errno == EWOULDBLOCK)
        continue;
      return mesh_transfer_error_from_errno (error, saved_errno, "Cannot lock", self->part_name);
    }
    /* The holder may have finished meanwhile and given the file its final
     * name: then this is no longer the .part (a rare race: take a new one). */
    if (fstatat (self->dir_fd, self->part_name, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
      close (fd);
      continue;
    }
    self->fd = fd;
    *fresh = n > 0;
    /* Nothing would ever resume a second file: it goes if this one fails. */
    if (*fresh)
      self->discard = TRUE;
    return TRUE;
  }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
               "no free .part name for “%s” in the download folder", self->safe_name);
  return FALSE;
}

/* Opens (or reopens) the .part and decides where to resume: an earlier
 * .part counts only when its sidecar records the same size and hash, and
 * its bytes are hashed again so that the final check covers the whole file.
 * What is still to come must fit in the free space of the folder. */
static void
receiver_prepare_thread (GTask        *task,
                         gpointer      source_object,
                         gpointer      task_data,
                         GCancellable *cancellable)
{
  MeshFileReceiver *self = source_object;
  const char *dir = g_file_peek_path (self->engine.file);
  GError *error = NULL;
  struct statvfs vfs;
  struct stat st;
  guint64 offset = 0;
  gboolean fresh = FALSE;

  if (dir == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                             "the download folder must be local");
    return;
  }
  if (g_mkdir_with_parents (dir, 0755) != 0 ||
      (self->dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    mesh_transfer_error_from_errno (&error, errno, "Cannot open the download folder", dir);
    g_task_return_error (task, error);
    return;
  }

  if (!receiver_open_part (self, &fresh, &error)) {
    g_task_return_error (task, error);
    return;
  }
  if (fstat (self->fd, &st) != 0) {
    mesh_transfer_error_from_errno (&error, errno, "Cannot read", self->part_name);
    g_task_return_error (task, error);
    return;
  }

  self->sha = mesh_sha256_new ();
  if (!fresh && (guint64) st.st_size <= self->size && st.st_size > 0 &&
      receiver_sidecar_matches (self)) {
    g_autofree guint8 *buffer = g_malloc (4 * CHUNK_SIZE);

    while (offset < (guint64) st.st_size) {
      gssize n = pread (self->fd, buffer, MIN (4 * CHUNK_SIZE, st.st_size - offset), offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      mesh_sha256_update (self->sha, buffer, n);
      offset += n;
      if (g_task_return_error_if_cancelled (task))
        return;
    }
  }

  /* Refused before a byte is written, rather than a full disk halfway. */
  if (fstatvfs (self->dir_fd, &vfs) == 0 &&
      self->size - offset > (guint64) vfs.f_bavail * vfs.f_frsize) {
    if (offset == 0) {
      unlinkat (self->dir_fd, self->part_name, 0);
      unlinkat (self->dir_fd, self->meta_name, 0);
      close (self->fd);
      self->fd = -1;
    }
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                             "not enough free space in the download folder: the file needs %"
                             G_GUINT64_FORMAT " more bytes, %" G_GUINT64_FORMAT " are free",
                             self->size - offset, (guint64) vfs.f_bavail * vfs.f_frsize);
    return;
  }

  if (offset == 0) {
    mesh_sha256_free (self->sha);
    self->sha = mesh_sha256_new ();
    if (ftruncate (self->fd, 0) != 0) {
      mesh_transfer_error_from_errno (&error, errno, "Cannot truncate", self->part_name);
      g_task_return_error (task, error);
      return;
    }
    if (!receiver_write_sidecar (self, &error)) {
      g_task_return_error (task, error);
      return;
    }
  }
  self->resumed_from = offset;
  self->received = offset;
  self->bytes_done = offset;
  self->last_ack = offset;
  g_task_return_boolean (task, TRUE);
}

/* In the disk worker: appends a chunk to the .part and hashes it. */
static gpointer
receiver_write_job (gpointer   job,
                    gpointer   user_data,
                    GError   **error)
{
  MeshFileReceiver *self = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (job, &len);

  if (write_all_at (self->fd, data, len, self->write_offset, self->part_name, error)) {
    self->write_offset += len;
    mesh_sha256_update (self->sha, data, len);
  }
  return NULL;
}

/* Checks the hash and moves name.part to a free name; on a mismatch the
 * .part and its sidecar go, since resuming them could never succeed. */
static void
receiver_finish_thread (GTask        *task,
                        gpointer      source_object,
                        gpointer      task_data,
                        GCancellable *cancellable)
{
  MeshFileReceiver *self = source_object;
  g_autofree char *hash = mesh_sha256_free_to_hex (g_steal_pointer (&self->sha));
  GError *error = NULL;

  if (!g_str_equal (hash, self->hash) || !g_str_equal (hash, self->done_hash)) {
    /* Removed before the lock goes with the descriptor. */
    unlinkat (self->dir_fd, self->part_name, 0);
    unlinkat (self->dir_fd, self->meta_name, 0);
    close (self->fd);
    self->fd = -1;
    g_task_return_new_error (task, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH,
                             "“%s” arrived with SHA-256 %s, expected %s",
                             self->safe_name, hash, self->hash);
    return;
  }

  /* FILE_DONE {ok:true} promises the file survives a power cut: its data
   * reaches the disk before it gets its name, and the name after that.  The
   * .part stays open (and locked) until it has its final name. */
  if (fsync (self->fd) != 0) {
    mesh_transfer_error_from_errno (&error, errno, "Cannot write", self->part_name);
    g_task_return_error (task, error);
    return;
  }

  for (guint n = 0; n < MAX_UNIQUE_TRIES; n++) {
    g_autofree char *target = mesh_safe_path_unique_name (self->safe_name, n);
    int r = renameat2 (self->dir_fd, self->part_name, self->dir_fd, target, RENAME_NOREPLACE);

    /* Some file systems cannot rename without replacing: link, then unlink. */
    if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {
      r = linkat (self->dir_fd, self->part_name, self->dir_fd, target, 0);
      if (r == 0)
        unlinkat (self->dir_fd, self->part_name, 0);
    }
    if (r == 0) {
      unlinkat (self->dir_fd, self->meta_name, 0);
      close (self->fd);
      self->fd = -1;
      if (fsync (self->dir_fd) != 0) {
        mesh_transfer_error_from_errno (&error, errno,
                                        "Cannot sync the download folder after saving", target);
        g_task_return_error (task, error);
        return;
      }
      self->result_file = g_file_get_child (self->engine.file, target);
      g_task_return_boolean (task, TRUE);
      return;
    }
    if (errno != EEXIST) {
      mesh_transfer_error_from_errno (&error, errno, "Cannot rename", self->part_name);
      g_task_return_error (task, error);
      return;
    }
  }
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_EXISTS,
                           "no free name for “%s” in the download folder", self->safe_name);
}

static void
on_receiver_done_sent (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(MeshFileReceiver) self = user_data;
  GError *error = NULL;

  /* The file is complete on disk even if the confirmation got lost. */
  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error))
    g_debug ("FILE_DONE not delivered: %s", error->message);
  g_clear_error (&error);
  receiver_complete (self, NULL);
}

static void
on_receiver_finished (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  MeshFileReceiver *self = MESH_FILE_RECEIVER (source);
  g_autoptr(JsonObject) done = NULL;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    receiver_fail_and_tell (self, error);
    return;
  }
  done = mesh_frame_control_new ("FILE_DONE");
  json_object_set_string_member (done, "hash", self->hash);
  json_object_set_boolean_member (done, "ok", TRUE);
  mesh_frame_writer_write_control_async (self->engine.writer, done, NULL, on_receiver_done_sent,
                                         g_object_ref (self));
}

static void receiver_read_next (MeshFileReceiver *self);

static void
receiver_start_finish (MeshFileReceiver *self)
{
  g_autoptr(GTask) job = g_task_new (self, NULL, on_receiver_finished, NULL);

  g_task_run_in_thread (job, receiver_finish_thread);
}

static void receiver_start_write (MeshFileReceiver *self,
                                  GBytes           *chunk);

/* The disk worker wrote one or more chunks (or failed). */
static void
on_receiver_written (gpointer user_data)
{
  g_autoptr(MeshFileReceiver) self = g_object_ref (user_data);
  GError *error = mesh_io_worker_take_error (self->disk);

  self->writing = !mesh_io_worker_is_idle (self->disk);
  self->bytes_done = self->resumed_from + mesh_io_worker_get_done (self->disk);
  if (error != NULL) {
    receiver_fail_and_tell (self, error);
    return;
  }
  if (self->engine.task == NULL || self->error != NULL) {
    receiver_maybe_fail (self);
    return;
  }
  if (mesh_transfer_engine_is_cancelled (&self->engine)) {
    receiver_complete (self, mesh_transfer_engine_cancelled_error ());
    return;
  }
  receiver_emit_progress (self);

  if (self->bytes_done - self->last_ack >= ACK_INTERVAL && self->bytes_done < self->size) {
    g_autoptr(JsonObject) ack = mesh_frame_control_new ("FILE_ACK");

    json_object_set_int_member (ack, "last_offset", self->bytes_done);
    mesh_frame_writer_write_control_async (self->engine.writer, ack, NULL, NULL, NULL);
    self->last_ack = self->bytes_done;
  }

  if (self->held_chunk != NULL) {
    if (mesh_io_worker_get_pending (self->disk) < WRITE_QUEUE_BYTES) {
      g_autoptr(GBytes) held = g_steal_pointer (&self->held_chunk);

      receiver_start_write (self, held);
      receiver_read_next (self);
    }
  } else if (self->done_hash != NULL && !self->writing) {
    receiver_start_finish (self);
  }
}

/* Queues @chunk for the disk worker; the stream is read on while less than
 * WRITE_QUEUE_BYTES wait, then QUIC flow control holds the sender back. */
static void
receiver_start_write (MeshFileReceiver *self,
                      GBytes           *chunk)
{
  if (self->disk == NULL) {
    self->write_offset = self->bytes_done;
    self->disk = mesh_io_worker_new ("mesh-file-write", receiver_write_job,
                                     (GDestroyNotify) g_bytes_unref, NULL, on_receiver_written,
                                     self);
  }
  self->writing = TRUE;
  mesh_io_worker_push (self->disk, g_bytes_ref (chunk), g_bytes_get_size (chunk));
}

static gboolean
receiver_handle_chunk (MeshFileReceiver  *self,
                       GBytes            *payload,
                       GError           **error)
{
  g_autoptr(GBytes) data = NULL;
  guint64 offset;
  gsize len;

  if (!mesh_frame_chunk_parse (payload, &offset, &data, error))
    return FALSE;
  len = g_bytes_get_size (data);
  if (offset != self->received) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "FILE_CHUNK at offset %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT,
                 offset, self->received);
    return FALSE;
  }
  if (len > self->size - self->received) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "FILE_CHUNK goes past the announced size of %" G_GUINT64_FORMAT " bytes",
                 self->size);
    return FALSE;
  }
  self->received += len;
  if (len == 0)
    return TRUE;
  if (self->disk != NULL && mesh_io_worker_get_pending (self->disk) >= WRITE_QUEUE_BYTES)
    self->held_chunk = g_steal_pointer (&data);
  else
    receiver_start_write (self, data);
  return TRUE;
}

/* Returns FALSE with @error set for a protocol error; a finished transfer
 * returns TRUE without asking for more frames. */
static gboolean
receiver_handle_frame (MeshFileReceiver  *self,
                       MeshFrameType      type,
                       GBytes            *payload,
                       gboolean          *read_more,
                       gboolean          *tell_peer,
                       GError           **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;
  const char *hash = NULL;
  gboolean peer_error = FALSE;

  *read_more = FALSE;
  *tell_peer = TRUE;
  if (type == MESH_FRAME_CHUNK) {
    if (!receiver_handle_chunk (self, payload, error))
      return FALSE;
    *read_more = self->held_chunk == NULL;
    return TRUE;
  }
  control = mesh_transfer_engine_parse_control (type, payload, NULL, "during a file transfer",
                                                &t, &peer_error, error);
  *tell_peer = !peer_error;
  if (control == NULL)
    return FALSE;
  if (!g_str_equal (t, "FILE_DONE")) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "unexpected %s during a file transfer", t);
    return FALSE;
  }
  if (!mesh_json_get_string (control, "hash", TRUE, &hash, error))
    return FALSE;
  if (self->received != self->size) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "FILE_DONE after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
                 self->received, self->size);
    return FALSE;
  }
  self->done_hash = g_strdup (hash);
  if (!self->writing)
    receiver_start_finish (self);
  return TRUE;
}

static void
on_receiver_frame (MeshTransferEngine *engine,
                   MeshFrameType       type,
                   GBytes             *payload,
                   GError             *error)
{
  MeshFileReceiver *self = MESH_FILE_RECEIVER (engine);
  gboolean read_more = FALSE;
  gboolean tell_peer = FALSE;

  if (error != NULL) {
    if (error->domain == G_IO_ERROR && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      GError *lost = g_error_new (G_IO_ERROR, error->code,
                                  "the sender went away after %" G_GUINT64_FORMAT " of %"
                                  G_GUINT64_FORMAT " bytes (%s); “%s” is kept to resume later",
                                  self->received, self->size, error->message, self->part_name);
      g_error_free (error);
      error = lost;
    }
    if (error->domain == MESH_ERROR)
      receiver_fail_and_tell (self, error);
    else
      receiver_complete (self, error);
    return;
  }
  if (!receiver_handle_frame (self, type, payload, &read_more, &tell_peer, &error)) {
    if (tell_peer)
      receiver_fail_and_tell (self, error);
    else
      receiver_complete (self, error);
    return;
  }
  if (read_more)
    receiver_read_next (self);
}

static void
receiver_read_next (MeshFileReceiver *self)
{
  if (self->error == NULL)
    mesh_transfer_engine_read (&self->engine, on_receiver_frame);
}

static void
on_receiver_prepared (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  MeshFileReceiver *self = MESH_FILE_RECEIVER (source);
  g_autoptr(JsonObject) ack = NULL;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    receiver_fail_and_tell (self, error);
    return;
  }
  if (self->engine.task == NULL || self->error != NULL)
    return;

  ack = mesh_frame_control_new ("FILE_ACK");
  json_object_set_int_member (ack, "last_offset", self->resumed_from);
  mesh_frame_writer_write_control_async (self->engine.writer, ack, NULL, NULL, NULL);
  receiver_emit_progress (self);
  receiver_read_next (self);
}

static gboolean
receiver_parse_meta (MeshFileReceiver  *self,
                     MeshFrameType      type,
                     GBytes            *payload,
                     gboolean          *peer_error,
                     GError           **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *name = NULL;
  const char *hash = NULL;
  gint64 size = 0;

  control = mesh_transfer_engine_parse_control (type, payload, "FILE_META", NULL, NULL,
                                                peer_error, error);
  if (control == NULL)
    return FALSE;
  if (!mesh_json_get_string (control, "name", TRUE, &name, error) ||
      !mesh_json_get_int (control, "size", TRUE, &size, error) ||
      !mesh_json_get_string (control, "hash", TRUE, &hash, error))
    return FALSE;
  if (size < 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "negative file size");
    return FALSE;
  }
  if (!mesh_sha256_hex_is_valid (hash)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "hash must be 64 lower-case hex digits (SHA-256)");
    return FALSE;
  }
  if (!mesh_transfer_engine_check_offer (&self->engine, "FILE_META", "file", name, size, hash,
                                         error))
    return FALSE;

  self->engine.name = g_strdup (name);
  self->size = size;
  self->hash = g_strdup (hash);
  self->safe_name = mesh_safe_path_sanitize_name (name);
  return TRUE;
}

static void
on_receiver_meta (MeshTransferEngine *engine,
                  MeshFrameType       type,
                  GBytes             *payload,
                  GError             *error)
{
  MeshFileReceiver *self = MESH_FILE_RECEIVER (engine);
  g_autoptr(GTask) job = NULL;
  gboolean peer_error = FALSE;

  if (error == NULL && !receiver_parse_meta (self, type, payload, &peer_error, &error) &&
      !peer_error) {
    receiver_fail_and_tell (self, error);
    return;
  }
  /* A broken stream, or the sender's own ERROR: nothing to tell it. */
  if (error != NULL) {
    receiver_complete (self, error);
    return;
  }

  job = g_task_new (self, g_task_get_cancellable (self->engine.task), on_receiver_prepared, NULL);
  g_task_run_in_thread (job, receiver_prepare_thread);
}

static void
mesh_file_receiver_finalize (GObject *object)
{
  MeshFileReceiver *self = MESH_FILE_RECEIVER (object);

  /* Its running write ends first: it uses fd. */
  g_clear_pointer (&self->disk, mesh_io_worker_free);
  if (self->fd >= 0)
    close (self->fd);
  if (self->dir_fd >= 0)
    close (self->dir_fd);
  g_clear_pointer (&self->sha, mesh_sha256_free);
  g_clear_object (&self->result_file);
  g_clear_pointer (&self->held_chunk, g_bytes_unref);
  g_clear_pointer (&self->safe_name, g_free);
  g_clear_pointer (&self->part_name, g_free);
  g_clear_pointer (&self->meta_name, g_free);
  g_clear_pointer (&self->hash, g_free);
  g_clear_pointer (&self->done_hash, g_free);
  g_clear_error (&self->error);

  G_OBJECT_CLASS (mesh_file_receiver_parent_class)->finalize (object);
}

static void
mesh_file_receiver_class_init (MeshFileReceiverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  /* Its progress: bytes written to disk (with a resumed prefix), of the announced size. */
  object_class->finalize = mesh_file_receiver_finalize;
}

static void
mesh_file_receiver_init (MeshFileReceiver *self)
{
  self->fd = -1;
  self->dir_fd = -1;
}

MeshFileReceiver *
mesh_file_receiver_new (GIOStream *stream,
                        GFile     *download_dir)
{
  return mesh_transfer_engine_new (MESH_TYPE_FILE_RECEIVER, stream, download_dir);
}

/* The cap token's max_size: a larger FILE_META is refused with
 * PAYLOAD_TOO_LARGE.  0 means no limit. */
void
mesh_file_receiver_set_max_size (MeshFileReceiver *self,
                                 guint64           max_size)
{
  mesh_transfer_engine_set_max_size (MESH_TRANSFER_ENGINE (self), max_size);
}

/**
 * mesh_file_receiver_set_offer:
 * @name: the name of the offer the user accepted
 * @size: its size: FILE_META may announce less, never more
 * @hash: (nullable): its SHA-256 hex, when the offer gave one
 *
 * Binds the receiver to the accepted offer: a FILE_META with another name or
 * hash is refused (FORBIDDEN), a larger one too (PAYLOAD_TOO_LARGE), before
 * anything is written.
 */
void
mesh_file_receiver_set_offer (MeshFileReceiver *self,
                              const char       *name,
                              guint64           size,
                              const char       *hash)
{
  mesh_transfer_engine_set_offer (MESH_TRANSFER_ENGINE (self), name, size, hash);
}

/* Our user gave the transfer up: when it ends without a file, its .part
 * and sidecar are removed instead of kept for a resume. */
void
mesh_file_receiver_discard (MeshFileReceiver *self)
{
  g_return_if_fail (MESH_IS_FILE_RECEIVER (self));

  self->discard = TRUE;
  if (self->engine.task == NULL && !self->writing)
    receiver_remove_discarded (self);
}

/**
 * mesh_file_receiver_receive_async:
 *
 * Reads FILE_META, answers FILE_ACK (resuming a matching name.part), stores
 * the chunks and checks the SHA-256 on FILE_DONE.  If the stream breaks, the
 * .part and its sidecar stay for the next try.  The caller closes the stream.
 */
void
mesh_file_receiver_receive_async (MeshFileReceiver    *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (MESH_IS_FILE_RECEIVER (self));
  g_return_if_fail (self->engine.task == NULL && self->engine.name == NULL);

  mesh_transfer_engine_start (&self->engine, cancellable, callback, user_data,
                              mesh_file_receiver_receive_async);
  mesh_transfer_engine_read (&self->engine, on_receiver_meta);
}

gboolean
mesh_file_receiver_receive_finish (MeshFileReceiver  *self,
                                   GAsyncResult      *result,
                                   GError           **error)
{
  return mesh_transfer_engine_finish (MESH_TRANSFER_ENGINE (self), result, error);
}

/* The name the sender offered (not sanitised), or NULL before FILE_META. */
const char *
mesh_file_receiver_get_name (MeshFileReceiver *self)
{
  return mesh_transfer_engine_get_name (MESH_TRANSFER_ENGINE (self));
}

/**
 * mesh_file_receiver_get_file:
 *
 * Returns: (transfer none) (nullable): where the file landed, once done
 */
GFile *
mesh_file_receiver_get_file (MeshFileReceiver *self)
{
  g_return_val_if_fail (MESH_IS_FILE_RECEIVER (self), NULL);

  return self->result_file;
}

guint64
mesh_file_receiver_get_bytes_done (MeshFileReceiver *self)
{
  g_return_val_if_fail (MESH_IS_FILE_RECEIVER (self), 0);

  return self->bytes_done;
}

guint64
mesh_file_receiver_get_total (MeshFileReceiver *self)
{
  g_return_val_if_fail (MESH_IS_FILE_RECEIVER (self), 0);

  return self->size;
}

guint64
mesh_file_receiver_get_resumed_from (MeshFileReceiver *self)
{
  g_return_val_if_fail (MESH_IS_FILE_RECEIVER (self), 0);

  return self->resumed_from;
}

const char *
mesh_file_receiver_get_hash (MeshFileReceiver *self)
{
  g_return_val_if_fail (MESH_IS_FILE_RECEIVER (self), NULL);

  return self->hash;
}
