/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-folder-transfer"

#include "config.h"

#include "mesh-folder-transfer.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-json.h"
#include "mesh-safe-path.h"
#include "mesh-transfer-engine.h"
#include "mesh-transfer-util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Design: libarchive's writer pushes and its reader pulls, both
 * synchronously.  Each side therefore runs libarchive in one GTask thread
 * and trades chunks with the stream's main context through a MeshChunkPipe
 * of bounded size.  The sender's thread blocks when the network is slower
 * than the disk; the receiver stops reading frames while its pipe is full,
 * which pushes back on the sender through the transport's flow control.
 * Nothing is staged on disk and memory stays at about the pipe's capacity plus a
 * few frames per transfer. */
#define CHUNK_SIZE       (256 * 1024)
#define SENDER_IN_FLIGHT 4
/* The zip around the files: headers, names, link targets and the central
 * directory, per entry and once.  Generous (a path may be 4 KiB, twice). */

/* Entries are stored, not deflated: on a LAN the CPU is the bottleneck and
 * most large files (media, archives) do not shrink anyway. */

struct _MeshFolderSender {
  MeshTransferEngine engine;  /* file: the folder to send; name: its name */

  char            *root_path;

  /* Set by the scan thread. */
  GPtrArray       *paths;
  guint64          entries;
  guint64          total_bytes;

  /* Owned by the archive thread while it runs. */
  GByteArray      *pending;
  guint64          zip_offset;
  MeshSha256      *sha;
  char            *hash;
  guint64          data_bytes;   /* atomic: file bytes archived so far */

  /* Main context. */
  guint64          zip_sent;
  gboolean         worker_done;
  gboolean         pipe_eof;
  gboolean         done_sent;
};

G_DEFINE_FINAL_TYPE (MeshFolderSender, mesh_folder_sender, MESH_TYPE_TRANSFER_ENGINE)

/* Stops the archive thread if it still runs. */
static void
sender_completing (MeshTransferEngine *engine,
                   const GError       *error)
{
  MeshFolderSender *self = MESH_FOLDER_SENDER (engine);
  g_autoptr(GError) stop = mesh_transfer_engine_cancelled_error ();

  if (self->engine.pipe != NULL)
    mesh_chunk_pipe_abort (self->engine.pipe, error != NULL ? error : stop);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static gboolean
scan_dir (MeshFolderSender  *self,
          const char        *rel,
          GCancellable      *cancellable,
          GError           **error)
{
  g_autofree char *full = rel != NULL ? g_build_filename (self->root_path, rel, NULL)
                                      : g_strdup (self->root_path);
  g_autoptr(GDir) dir = g_dir_open (full, 0, error);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  /* A stable order makes the same folder give the same archive. */
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++) {
    g_autofree char *child_rel = rel != NULL ? g_strconcat (rel, "/", names->pdata[i], NULL)
                                             : g_strdup (names->pdata[i]);
    g_autofree char *child = g_build_filename (self->root_path, child_rel, NULL);
    GStatBuf st;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return FALSE;
    if (g_lstat (child, &st) != 0) {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot read “%s”: %s", child, g_strerror (saved_errno));
      return FALSE;
    }
    if (S_ISDIR (st.st_mode)) {
      g_ptr_array_add (self->paths, g_strdup (child_rel));
      self->entries++;
      if (!scan_dir (self, child_rel, cancellable, error))
        return FALSE;
    } else if (S_ISREG (st.st_mode) || S_ISLNK (st.st_mode)) {
      g_ptr_array_add (self->paths, g_strdup (child_rel));
      self->entries++;
      if (S_ISREG (st.st_mode))
        self->total_bytes += st.st_size;
    } else {
      g_debug ("not sending “%s”: neither a file, a folder nor a link", child);
    }
  }
  return TRUE;
}

static void
sender_scan_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  MeshFolderSender *self = source_object;
  GError *error = NULL;

  if (!scan_dir (self, NULL, cancellable, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* Sends out the pending chunk with its offset in front: the pipe carries
 * ready FILE_CHUNK payloads, so the main context only frames them. */
static gboolean
sender_flush_pending (MeshFolderSender *self,
                      struct archive   *archive)
{
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  guint64 be_offset = GUINT64_TO_BE (self->zip_offset);
  gsize len = self->pending->len - MESH_FRAME_CHUNK_HEADER_SIZE;

  if (len == 0)
    return TRUE;
  memcpy (self->pending->data, &be_offset, sizeof be_offset);
  payload = g_byte_array_free_to_bytes (self->pending);
  self->pending = g_byte_array_sized_new (MESH_FRAME_CHUNK_HEADER_SIZE + CHUNK_SIZE);
  g_byte_array_set_size (self->pending, MESH_FRAME_CHUNK_HEADER_SIZE);
  self->zip_offset += len;

  if (!mesh_chunk_pipe_push_blocking (self->engine.pipe, payload, &error)) {
    archive_set_error (archive, ECANCELED, "%s", error->message);
    return FALSE;
  }
  return TRUE;
}

static la_ssize_t
zip_write_cb (struct archive *archive,
              void           *user_data,
              const void     *buffer,
              size_t          length)
{
  MeshFolderSender *self = user_data;
  const guint8 *data = buffer;
  gsize left = length;

  mesh_sha256_update (self->sha, buffer, length);
  while (left > 0) {
    gsize room = MESH_FRAME_CHUNK_HEADER_SIZE + CHUNK_SIZE - self->pending->len;
    gsize n = MIN (room, left);

    g_byte_array_append (self->pending, data, n);
    data += n;
    left -= n;
    if (self->pending->len == MESH_FRAME_CHUNK_HEADER_SIZE + CHUNK_SIZE &&
        !sender_flush_pending (self, archive))
      return -1;
  }
  return length;
}

static int
zip_close_cb (struct archive *archive,
              void           *user_data)
{
  MeshFolderSender *self = user_data;

  return sender_flush_pending (self, archive) ? ARCHIVE_OK : ARCHIVE_FATAL;
}

static gboolean
sender_add_entry (MeshFolderSender  *self,
                  struct archive    *archive,
                  const char        *rel,
                  guint8            *buffer,
                  GError           **error)
{
  g_autofree char *full = g_build_filename (self->root_path, rel, NULL);
  g_autoptr(GError) local_error = NULL;
  struct archive_entry *entry;
  struct stat st;
  gboolean ok = FALSE;
  int fd = -1;

  if (lstat (full, &st) != 0) {
    g_debug ("“%s” vanished before it was sent", full);
    return TRUE;
  }
  if (S_ISREG (st.st_mode)) {
    fd = g_open (full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot open “%s”: %s", full, g_strerror (saved_errno));
      return FALSE;
    }
  }

  entry = archive_entry_new ();
  archive_entry_set_pathname (entry, rel);
  archive_entry_set_mode (entry, st.st_mode);
  archive_entry_set_mtime (entry, st.st_mtime, 0);
  if (S_ISREG (st.st_mode)) {
    archive_entry_set_size (entry, st.st_size);
  } else if (S_ISLNK (st.st_mode)) {
    char target[4096];
    gssize n = readlink (full, target, sizeof target - 1);

    if (n < 0) {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot read the link “%s”: %s", full, g_strerror (saved_errno));
      goto out;
    }
    target[n] = '\0';
    archive_entry_set_symlink (entry, target);
  } else if (!S_ISDIR (st.st_mode)) {
    ok = TRUE;
    goto out;
  }

  if (archive_write_header (archive, entry) < ARCHIVE_WARN) {
    mesh_transfer_archive_failed (archive, error);
    goto out;
  }
  if (fd >= 0) {
    off_t left = st.st_size;

    while (left > 0) {
      gssize n = read (fd, buffer, MIN (left, CHUNK_SIZE));

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                     "“%s” changed while it was being sent", full);
        goto out;
      }
      if (archive_write_data (archive, buffer, n) != n) {
        mesh_transfer_archive_failed (archive, error);
        goto out;
      }
      left -= n;
      mesh_transfer_counter_add (&self->data_bytes, n);
    }
  }
  ok = archive_write_finish_entry (archive) >= ARCHIVE_WARN ||
       mesh_transfer_archive_failed (archive, error);

out:
  if (fd >= 0)
    close (fd);
  archive_entry_free (entry);
  return ok;
}

static void
sender_archive_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  MeshFolderSender *self = source_object;
  g_autofree guint8 *buffer = g_malloc (CHUNK_SIZE);
  struct archive *archive = archive_write_new ();
  GError *error = NULL;

  self->sha = mesh_sha256_new ();
  self->pending = g_byte_array_sized_new (MESH_FRAME_CHUNK_HEADER_SIZE + CHUNK_SIZE);
  g_byte_array_set_size (self->pending, MESH_FRAME_CHUNK_HEADER_SIZE);

  /* "experimental" adds the 'xl' extra field: it carries each entry's
   * type and mode in the local header, which is all a streaming reader
   * sees (without it, links would arrive as plain files). */
  if (archive_write_set_format_zip (archive) != ARCHIVE_OK ||
      archive_write_zip_set_compression_store (archive) != ARCHIVE_OK ||
      archive_write_set_format_option (archive, "zip", "experimental", "1") != ARCHIVE_OK ||
      archive_write_set_bytes_per_block (archive, 0) != ARCHIVE_OK ||
      archive_write_open2 (archive, self, NULL, zip_write_cb, zip_close_cb, NULL) != ARCHIVE_OK) {
    mesh_transfer_archive_failed (archive, &error);
    goto out;
  }
  for (guint i = 0; i < self->paths->len; i++) {
    if (!sender_add_entry (self, archive, self->paths->pdata[i], buffer, &error))
      goto out;
  }
  if (archive_write_close (archive) != ARCHIVE_OK)
    mesh_transfer_archive_failed (archive, &error);

out:
  archive_write_free (archive);
  g_clear_pointer (&self->pending, g_byte_array_unref);
  if (error != NULL) {
    mesh_chunk_pipe_abort (self->engine.pipe, error);
    g_task_return_error (task, error);
    return;
  }
  self->hash = mesh_sha256_free_to_hex (g_steal_pointer (&self->sha));
  mesh_chunk_pipe_close (self->engine.pipe);
  g_task_return_boolean (task, TRUE);
}

static void sender_pump (MeshFolderSender *self);

static void
sender_chunk_sent (MeshTransferEngine *engine,
                   gsize               len)
{
  MeshFolderSender *self = MESH_FOLDER_SENDER (engine);

  self->zip_sent += len;
  mesh_transfer_engine_progress (engine, mesh_transfer_counter_get (&self->data_bytes), self->total_bytes);
  sender_pump (self);
}

/* Frames what the archive thread produced, a few chunks at a time, and
 * ends with ZIP_DONE once the archive is complete and written out. */
static void
sender_pump (MeshFolderSender *self)
{
  if (self->engine.task == NULL)
    return;

  while (!self->pipe_eof && self->engine.in_flight.length < SENDER_IN_FLIGHT) {
    g_autoptr(GBytes) payload = NULL;
    g_autoptr(GError) error = NULL;
    gboolean eof = FALSE;

    payload = mesh_chunk_pipe_try_pop (self->engine.pipe, &eof, &error);
    if (payload == NULL) {
      /* A failed archive thread reports through its own task. */
      self->pipe_eof = eof;
      break;
    }
    mesh_transfer_engine_write_chunk (&self->engine, payload);
  }

  if (self->pipe_eof && self->worker_done && g_queue_is_empty (&self->engine.in_flight) &&
      !self->done_sent) {
    g_autoptr(JsonObject) done = mesh_frame_control_new ("ZIP_DONE");

    self->done_sent = TRUE;
    json_object_set_string_member (done, "hash", self->hash);
    json_object_set_int_member (done, "size", self->zip_sent);
    mesh_transfer_engine_write_done (&self->engine, done);
  }
}

static gboolean
on_sender_pipe_notify (gpointer user_data)
{
  MeshFolderSender *self = user_data;

  if (mesh_transfer_engine_is_cancelled (&self->engine))
    mesh_transfer_engine_complete (&self->engine, mesh_transfer_engine_cancelled_error ());
  else
    sender_pump (self);
  return G_SOURCE_CONTINUE;
}

static void
on_sender_archived (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  MeshFolderSender *self = MESH_FOLDER_SENDER (source);

  self->worker_done = TRUE;
  if (mesh_transfer_engine_job_finish (&self->engine, result))
    sender_pump (self);
}

static gboolean
sender_handle_frame (MeshFolderSender  *self,
                     MeshFrameType      type,
                     GBytes            *payload,
                     GError           **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;
  const char *message = NULL;
  gboolean ok = FALSE;

  control = mesh_transfer_engine_parse_control (type, payload, NULL, "from the receiver", &t,
                                                NULL, error);
  if (control == NULL)
    return FALSE;
  if (!g_str_equal (t, "ZIP_DONE")) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "unexpected %s from the receiver", t);
    return FALSE;
  }
  if (!mesh_json_get_bool (control, "ok", TRUE, &ok, error))
    return FALSE;
  if (!ok) {
    if (!mesh_json_get_string (control, "error", FALSE, &message, NULL) || message == NULL)
      message = "no reason given";
    g_set_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_PEER,
                 "the receiver refused the folder: %s", message);
    return FALSE;
  }
  if (!self->done_sent) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "the receiver confirmed a folder that was not complete");
    return FALSE;
  }
  mesh_transfer_engine_complete (&self->engine, NULL);
  return TRUE;
}

static void
on_sender_frame (MeshTransferEngine *engine,
                 MeshFrameType       type,
                 GBytes             *payload,
                 GError             *error)
{
  if (error != NULL || !sender_handle_frame (MESH_FOLDER_SENDER (engine), type, payload, &error)) {
    mesh_transfer_engine_complete (engine, error);
    return;
  }
  mesh_transfer_engine_read (engine, on_sender_frame);
}

static void
on_sender_scanned (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  MeshFolderSender *self = MESH_FOLDER_SENDER (source);
  g_autoptr(JsonObject) mode = NULL;
  g_autoptr(JsonObject) meta = NULL;

  if (!mesh_transfer_engine_job_finish (&self->engine, result))
    return;

  mode = mesh_frame_control_new ("FOLDER_MODE");
  json_object_set_string_member (mode, "mode", "zip");
  mesh_frame_writer_write_control_async (self->engine.writer, mode, NULL, NULL, NULL);
  meta = mesh_frame_control_new ("ZIP_META");
  json_object_set_string_member (meta, "name", self->engine.name);
  json_object_set_int_member (meta, "entries", self->entries);
  json_object_set_int_member (meta, "total_bytes", self->total_bytes);
  mesh_frame_writer_write_control_async (self->engine.writer, meta, NULL, NULL, NULL);

  mesh_transfer_engine_start_worker (&self->engine, sender_archive_thread, on_sender_archived,
                                     on_sender_pipe_notify);

  mesh_transfer_engine_read (&self->engine, on_sender_frame);
}

static void
mesh_folder_sender_finalize (GObject *object)
{
  MeshFolderSender *self = MESH_FOLDER_SENDER (object);

  g_clear_pointer (&self->root_path, g_free);
  g_clear_pointer (&self->paths, g_ptr_array_unref);
  g_clear_pointer (&self->pending, g_byte_array_unref);
  g_clear_pointer (&self->sha, mesh_sha256_free);
  g_clear_pointer (&self->hash, g_free);

  G_OBJECT_CLASS (mesh_folder_sender_parent_class)->finalize (object);
}

static void
mesh_folder_sender_class_init (MeshFolderSenderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MeshTransferEngineClass *engine_class = MESH_TRANSFER_ENGINE_CLASS (klass);

  object_class->finalize = mesh_folder_sender_finalize;
  /* Its progress: file bytes archived and queued so far, of ZIP_META's total_bytes. */
  engine_class->completing = sender_completing;
  engine_class->chunk_sent = sender_chunk_sent;
}

static void
mesh_folder_sender_init (MeshFolderSender *self)
{
  self->paths = g_ptr_array_new_with_free_func (g_free);
}

MeshFolderSender *
mesh_folder_sender_new (GIOStream *stream,
                        GFile     *folder)
{
  MeshFolderSender *self = mesh_transfer_engine_new (MESH_TYPE_FOLDER_SENDER, stream, folder);

  if (self != NULL)
    self->engine.name = g_file_get_basename (folder);
  return self;
}

/**
 * mesh_folder_sender_send_async:
 *
 * Sends FOLDER_MODE {mode:"zip"} and ZIP_META, streams the folder as a zip
 * (regular files, folders, symbolic links as links) in ZIP_CHUNK frames,
 * ends with ZIP_DONE {hash, size} and completes when the receiver reports
 * ZIP_DONE {ok:true}.
 */
void
mesh_folder_sender_send_async (MeshFolderSender    *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) job = NULL;

  g_return_if_fail (MESH_IS_FOLDER_SENDER (self));
  g_return_if_fail (self->engine.task == NULL && self->engine.pipe == NULL);

  mesh_transfer_engine_start (&self->engine, cancellable, callback, user_data,
                              mesh_folder_sender_send_async);
  self->root_path = g_file_get_path (self->engine.file);
  if (self->root_path == NULL) {
    mesh_transfer_engine_complete (&self->engine,
                                   g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                                        "only local folders can be sent"));
    return;
  }
  job = g_task_new (self, cancellable, on_sender_scanned, NULL);
  g_task_run_in_thread (job, sender_scan_thread);
}

gboolean
mesh_folder_sender_send_finish (MeshFolderSender  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  return mesh_transfer_engine_finish (MESH_TRANSFER_ENGINE (self), result, error);
}

/* Bytes of zip sent so far. */
guint64
mesh_folder_sender_get_zip_size (MeshFolderSender *self)
{
  g_return_val_if_fail (MESH_IS_FOLDER_SENDER (self), 0);

  return self->zip_sent;
}

/* SHA-256 of the zip, once it is complete. */
const char *
mesh_folder_sender_get_hash (MeshFolderSender *self)
{
  g_return_val_if_fail (MESH_IS_FOLDER_SENDER (self), NULL);

  return self->worker_done ? self->hash : NULL;
}

