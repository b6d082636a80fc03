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
#define MAX_UNIQUE_TRIES 10000
/* The zip around the files: headers, names, link targets and the central
 * directory, per entry and once.  Generous (a path may be 4 KiB, twice). */
#define ZIP_OVERHEAD_PER_ENTRY (16 * 1024)
#define ZIP_OVERHEAD           (64 * 1024)

/* Entries are stored, not deflated: on a LAN the CPU is the bottleneck and
 * most large files (media, archives) do not shrink anyway. */

struct _MeshFolderReceiver {
  MeshTransferEngine engine;  /* file: the download folder; name: the folder's, as offered */

  char            *safe_name;
  guint64          entries;
  guint64          total_bytes;
  guint64          zip_limit;     /* most zip bytes ZIP_META allows */

  /* Owned by the extraction thread while it runs. */
  char            *root_path;
  int              root_fd;
  MeshExtractLimits limits;       /* limits.bytes: atomic, read for progress */
  GBytes          *current;
  MeshSha256      *sha;
  guint64          zip_bytes;

  /* Written by the main context before it closes the pipe. */
  char            *expected_hash;
  guint64          expected_size;

  /* Main context. */
  GFile           *result_folder;
  guint64          received;
  GError          *main_error;
  gboolean         tell_peer;    /* whether main_error is news to the sender */
  gboolean         paused;
  gboolean         done_received;
};

G_DEFINE_FINAL_TYPE (MeshFolderReceiver, mesh_folder_receiver, MESH_TYPE_TRANSFER_ENGINE)

/* Deletes a tree without ever following a symbolic link out of it. */
static void
remove_tree_at (int         parent_fd,
                const char *name)
{
  int fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *dir;
  struct dirent *child;

  if (fd < 0) {
    unlinkat (parent_fd, name, 0);
    return;
  }
  dir = fdopendir (fd);
  if (dir == NULL) {
    close (fd);
    return;
  }
  while ((child = readdir (dir)) != NULL) {
    if (g_str_equal (child->d_name, ".") || g_str_equal (child->d_name, ".."))
      continue;
    remove_tree_at (dirfd (dir), child->d_name);
  }
  closedir (dir);
  unlinkat (parent_fd, name, AT_REMOVEDIR);
}

static void
remove_tree (const char *path)
{
  g_autofree char *parent = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  int fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return;
  remove_tree_at (fd, base);
  close (fd);
}

/* Takes the next chunk off the pipe and hashes it; NULL at the end. */
static GBytes *
receiver_pull (MeshFolderReceiver  *self,
               GError             **error)
{
  GBytes *chunk = mesh_chunk_pipe_pop_blocking (self->engine.pipe, error);
  gsize len;
  const void *data;

  if (chunk == NULL)
    return NULL;
  data = g_bytes_get_data (chunk, &len);
  mesh_sha256_update (self->sha, data, len);
  self->zip_bytes += len;
  return chunk;
}

static la_ssize_t
zip_read_cb (struct archive  *archive,
             void            *user_data,
             const void     **buffer)
{
  MeshFolderReceiver *self = user_data;
  g_autoptr(GError) error = NULL;
  gsize len;

  g_clear_pointer (&self->current, g_bytes_unref);
  self->current = receiver_pull (self, &error);
  if (error != NULL) {
    archive_set_error (archive, ECANCELED, "%s", error->message);
    return -1;
  }
  if (self->current == NULL)
    return 0;
  *buffer = g_bytes_get_data (self->current, &len);
  return len;
}

static gboolean
receiver_make_root (MeshFolderReceiver  *self,
                    GError             **error)
{
  g_autofree char *dir = g_file_get_path (self->engine.file);
  g_autofree char *real = NULL;
  int saved_errno;

  if (dir == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         "the download folder must be local");
    return FALSE;
  }
  /* Resolved once: the root's path is used again to remove a partial tree. */
  if (g_mkdir_with_parents (dir, 0755) != 0 || (real = realpath (dir, NULL)) == NULL) {
    saved_errno = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                 "Cannot open the download folder “%s”: %s", dir, g_strerror (saved_errno));
    return FALSE;
  }
  for (guint n = 0; n < MAX_UNIQUE_TRIES; n++) {
    g_autofree char *name = mesh_safe_path_unique_name (self->safe_name, n);
    g_autofree char *path = g_build_filename (real, name, NULL);

    if (g_mkdir (path, 0755) == 0) {
      self->root_path = g_steal_pointer (&path);
      return TRUE;
    }
    if (errno != EEXIST) {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot create “%s”: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
               "no free name for “%s” in the download folder", self->safe_name);
  return FALSE;
}

/* Entries are created by mesh_safe_path_extract_entry() below a descriptor
 * of the new root, never through a link; ZIP_META's entries and
 * total_bytes are hard limits on what is created and written. */
static gboolean
receiver_extract (MeshFolderReceiver  *self,
                  struct archive      *in,
                  GError             **error)
{
  struct statvfs vfs;

  self->root_fd = open (self->root_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (self->root_fd < 0) {
    int saved_errno = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "Cannot open “%s”: %s",
                 self->root_path, g_strerror (saved_errno));
    return FALSE;
  }
  /* Refused before a byte is written, rather than a full disk halfway. */
  if (fstatvfs (self->root_fd, &vfs) == 0 &&
      self->total_bytes > (guint64) vfs.f_bavail * vfs.f_frsize) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "not enough free space in the download folder: the folder needs %"
                 G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " are free",
                 self->total_bytes, (guint64) vfs.f_bavail * vfs.f_frsize);
    return FALSE;
  }
  self->limits.max_created = self->entries;
  self->limits.max_bytes = self->total_bytes;
  if (self->engine.max_size > 0)
    self->limits.max_bytes = MIN (self->limits.max_bytes, self->engine.max_size);

  archive_read_support_format_zip_streamable (in);
  if (archive_read_open (in, self, NULL, zip_read_cb, NULL) != ARCHIVE_OK)
    return mesh_transfer_archive_failed (in, error);

  for (;;) {
    struct archive_entry *entry;
    int r = archive_read_next_header (in, &entry);

    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return mesh_transfer_archive_failed (in, error);
    if (!mesh_safe_path_extract_entry (self->root_fd, in, entry, &self->limits, error))
      return FALSE;
  }
  return TRUE;
}

static void
receiver_extract_thread (GTask        *task,
                         gpointer      source_object,
                         gpointer      task_data,
                         GCancellable *cancellable)
{
  MeshFolderReceiver *self = source_object;
  struct archive *in = archive_read_new ();
  g_autofree char *hash = NULL;
  GError *error = NULL;
  GBytes *rest;
  gboolean ok;

  self->sha = mesh_sha256_new ();
  ok = receiver_make_root (self, &error) && receiver_extract (self, in, &error);
  archive_read_free (in);
  if (self->root_fd >= 0) {
    close (self->root_fd);
    self->root_fd = -1;
  }
  g_clear_pointer (&self->current, g_bytes_unref);

  /* The hash covers every byte sent, also any after the zip's end. */
  while (ok && (rest = receiver_pull (self, &error)) != NULL)
    g_bytes_unref (rest);
  ok = ok && error == NULL;
  hash = mesh_sha256_free_to_hex (g_steal_pointer (&self->sha));

  if (ok && (self->expected_hash == NULL || !g_str_equal (hash, self->expected_hash) ||
             self->expected_size != self->zip_bytes)) {
    g_set_error (&error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH,
                 "the zip arrived with %" G_GUINT64_FORMAT " bytes and SHA-256 %s, expected %"
                 G_GUINT64_FORMAT " bytes and %s", self->zip_bytes, hash,
                 self->expected_size, self->expected_hash != NULL ? self->expected_hash : "?");
    ok = FALSE;
  }
  if (!ok) {
    mesh_chunk_pipe_abort (self->engine.pipe, error);
    if (self->root_path != NULL)
      remove_tree (self->root_path);
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

/* A failure seen by the main context: the extraction thread stops, removes
 * the partial tree and then the transfer completes with @error. */
static void
receiver_fail (MeshFolderReceiver *self,
               GError             *error,
               gboolean            tell_peer)
{
  if (self->main_error == NULL) {
    self->main_error = error;
    self->tell_peer = tell_peer;
    mesh_chunk_pipe_abort (self->engine.pipe, error);
  } else {
    g_error_free (error);
  }
}

static void
on_receiver_reply_sent (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(MeshFolderReceiver) self = user_data;
  GError *error = g_steal_pointer (&self->main_error);

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  mesh_transfer_engine_complete (&self->engine, error);
}

static void
on_receiver_extracted (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  MeshFolderReceiver *self = MESH_FOLDER_RECEIVER (source);
  g_autoptr(JsonObject) done = mesh_frame_control_new ("ZIP_DONE");
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    /* After a failure of ours the thread only echoes it. */
    if (self->main_error == NULL) {
      self->main_error = error;
      self->tell_peer = TRUE;
    } else {
      g_clear_error (&error);
    }
  }

  if (self->main_error != NULL && !self->tell_peer) {
    mesh_transfer_engine_complete (&self->engine, g_steal_pointer (&self->main_error));
    return;
  }

  json_object_set_boolean_member (done, "ok", self->main_error == NULL);
  if (self->main_error != NULL) {
    json_object_set_string_member (done, "error", self->main_error->message);
  } else {
    json_object_set_string_member (done, "hash", self->expected_hash);
    self->result_folder = g_file_new_for_path (self->root_path);
  }
  mesh_frame_writer_write_control_async (self->engine.writer, done, NULL, on_receiver_reply_sent,
                                         g_object_ref (self));
}

static void receiver_read_next (MeshFolderReceiver *self);

static gboolean
on_receiver_pipe_notify (gpointer user_data)
{
  MeshFolderReceiver *self = user_data;

  mesh_transfer_engine_progress (&self->engine, mesh_transfer_counter_get (&self->limits.bytes),
                                 self->total_bytes);
  if (self->paused && !mesh_chunk_pipe_is_full (self->engine.pipe)) {
    self->paused = FALSE;
    receiver_read_next (self);
  }
  return G_SOURCE_CONTINUE;
}

/* Returns TRUE when more frames are wanted now. */
static gboolean
receiver_handle_frame (MeshFolderReceiver  *self,
                       MeshFrameType        type,
                       GBytes              *payload,
                       gboolean            *tell_peer,
                       GError             **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *t = NULL;
  gboolean peer_error = FALSE;

  *tell_peer = TRUE;
  if (type == MESH_FRAME_CHUNK) {
    g_autoptr(GBytes) data = NULL;
    guint64 offset;

    if (!mesh_frame_chunk_parse (payload, &offset, &data, error))
      return FALSE;
    if (offset != self->received) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "ZIP_CHUNK at offset %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT,
                   offset, self->received);
      return FALSE;
    }
    if (g_bytes_get_size (data) > self->zip_limit - MIN (self->zip_limit, self->received)) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                   "the zip is larger than %" G_GUINT64_FORMAT " entries of %" G_GUINT64_FORMAT
                   " bytes in all can be", self->entries, self->total_bytes);
      return FALSE;
    }
    self->received += g_bytes_get_size (data);
    /* A refused push means the extraction already failed; it reports. */
    if (!mesh_chunk_pipe_push (self->engine.pipe, data))
      return FALSE;
    self->paused = mesh_chunk_pipe_is_full (self->engine.pipe);
    return !self->paused;
  }
  control = mesh_transfer_engine_parse_control (type, payload, NULL, "during a folder transfer",
                                                &t, &peer_error, error);
  *tell_peer = !peer_error;
  if (control == NULL)
    return FALSE;
  if (g_str_equal (t, "ZIP_DONE")) {
    const char *hash = NULL;
    gint64 size = 0;

    if (!mesh_json_get_string (control, "hash", TRUE, &hash, error) ||
        !mesh_json_get_int (control, "size", TRUE, &size, error))
      return FALSE;
    self->expected_hash = g_strdup (hash);
    self->expected_size = size;
    self->done_received = TRUE;
    mesh_chunk_pipe_close (self->engine.pipe);
    return FALSE;
  }
  g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
               "unexpected %s during a folder transfer", t);
  return FALSE;
}

static void
on_receiver_frame (MeshTransferEngine *engine,
                   MeshFrameType       type,
                   GBytes             *payload,
                   GError             *error)
{
  MeshFolderReceiver *self = MESH_FOLDER_RECEIVER (engine);
  gboolean tell_peer = FALSE;

  if (error != NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
      g_prefix_error (&error, "the sender went away after %" G_GUINT64_FORMAT " bytes: ",
                      self->received);
    /* A malformed frame deserves an answer, a broken stream cannot get one. */
    receiver_fail (self, error, error->domain == MESH_ERROR);
    return;
  }
  if (receiver_handle_frame (self, type, payload, &tell_peer, &error))
    receiver_read_next (self);
  else if (error != NULL)
    receiver_fail (self, error, tell_peer);
}

static void
receiver_read_next (MeshFolderReceiver *self)
{
  if (self->main_error == NULL)
    mesh_transfer_engine_read (&self->engine, on_receiver_frame);
}

static gboolean
receiver_parse_meta (MeshFolderReceiver  *self,
                     MeshFrameType        type,
                     GBytes              *payload,
                     const char          *expected,
                     gboolean            *peer_error,
                     GError             **error)
{
  g_autoptr(JsonObject) control = NULL;
  const char *value = NULL;
  gint64 entries = 0;
  gint64 total = 0;

  control = mesh_transfer_engine_parse_control (type, payload, expected, NULL, NULL, peer_error,
                                                error);
  if (control == NULL)
    return FALSE;

  if (g_str_equal (expected, "FOLDER_MODE")) {
    if (!mesh_json_get_string (control, "mode", TRUE, &value, error))
      return FALSE;
    if (!g_str_equal (value, "zip")) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "folder mode “%s” is not supported (only zip)", value);
      return FALSE;
    }
    return TRUE;
  }

  if (!mesh_json_get_string (control, "name", TRUE, &value, error) ||
      !mesh_json_get_int (control, "entries", TRUE, &entries, error) ||
      !mesh_json_get_int (control, "total_bytes", TRUE, &total, error))
    return FALSE;
  if (entries < 0 || total < 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "entries and total_bytes must not be negative");
    return FALSE;
  }
  if (!mesh_transfer_engine_check_offer (&self->engine, "ZIP_META", "folder", value, total, NULL,
                                         error))
    return FALSE;
  self->engine.name = g_strdup (value);
  self->safe_name = mesh_safe_path_sanitize_name (value);
  self->entries = entries;
  self->total_bytes = total;
  /* Saturating: entries and total_bytes come from the peer. */
  self->zip_limit = ZIP_OVERHEAD + total;
  if (self->zip_limit < (guint64) total ||
      (guint64) entries > (G_MAXUINT64 - self->zip_limit) / ZIP_OVERHEAD_PER_ENTRY)
    self->zip_limit = G_MAXUINT64;
  else
    self->zip_limit += (guint64) entries * ZIP_OVERHEAD_PER_ENTRY;
  return TRUE;
}

/* Takes FOLDER_MODE or ZIP_META (@expected), or refuses the transfer before
 * any zip: the sender learns why from ERROR, unless that is what it sent or
 * the stream broke. */
static gboolean
receiver_take_meta (MeshFolderReceiver *self,
                    MeshFrameType       type,
                    GBytes             *payload,
                    GError             *error,
                    const char         *expected)
{
  gboolean peer_error = FALSE;

  if (error == NULL && receiver_parse_meta (self, type, payload, expected, &peer_error, &error))
    return TRUE;
  if (peer_error || error->domain != MESH_ERROR) {
    mesh_transfer_engine_complete (&self->engine, error);
    return FALSE;
  }
  self->main_error = error;
  mesh_transfer_engine_tell (&self->engine, error, on_receiver_reply_sent);
  return FALSE;
}

static void
on_receiver_meta (MeshTransferEngine *engine,
                  MeshFrameType       type,
                  GBytes             *payload,
                  GError             *error)
{
  if (!receiver_take_meta (MESH_FOLDER_RECEIVER (engine), type, payload, error, "ZIP_META"))
    return;
  mesh_transfer_engine_start_worker (engine, receiver_extract_thread, on_receiver_extracted,
                                     on_receiver_pipe_notify);
  receiver_read_next (MESH_FOLDER_RECEIVER (engine));
}

static void
on_receiver_mode (MeshTransferEngine *engine,
                  MeshFrameType       type,
                  GBytes             *payload,
                  GError             *error)
{
  if (receiver_take_meta (MESH_FOLDER_RECEIVER (engine), type, payload, error, "FOLDER_MODE"))
    mesh_transfer_engine_read (engine, on_receiver_meta);
}

static void
mesh_folder_receiver_finalize (GObject *object)
{
  MeshFolderReceiver *self = MESH_FOLDER_RECEIVER (object);

  g_clear_object (&self->result_folder);
  g_clear_pointer (&self->safe_name, g_free);
  g_clear_pointer (&self->root_path, g_free);
  g_clear_pointer (&self->current, g_bytes_unref);
  g_clear_pointer (&self->sha, mesh_sha256_free);
  g_clear_pointer (&self->expected_hash, g_free);
  g_clear_error (&self->main_error);
  if (self->root_fd >= 0)
    close (self->root_fd);

  G_OBJECT_CLASS (mesh_folder_receiver_parent_class)->finalize (object);
}

static void
mesh_folder_receiver_class_init (MeshFolderReceiverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  /* Its progress: file bytes extracted so far, of ZIP_META's total_bytes. */
  object_class->finalize = mesh_folder_receiver_finalize;
}

static void
mesh_folder_receiver_init (MeshFolderReceiver *self)
{
  self->root_fd = -1;
}

MeshFolderReceiver *
mesh_folder_receiver_new (GIOStream *stream,
                          GFile     *download_dir)
{
  return mesh_transfer_engine_new (MESH_TYPE_FOLDER_RECEIVER, stream, download_dir);
}

/* The cap token's max_size, checked against ZIP_META and against the bytes
 * actually extracted.  0 means no limit. */
void
mesh_folder_receiver_set_max_size (MeshFolderReceiver *self,
                                   guint64             max_size)
{
  mesh_transfer_engine_set_max_size (MESH_TRANSFER_ENGINE (self), max_size);
}

/**
 * mesh_folder_receiver_set_offer:
 * @name: the folder name of the offer the user accepted
 * @size: its size (the sum of its files): ZIP_META's total_bytes may be
 *   less, never more
 *
 * Binds the receiver to the accepted offer: a ZIP_META with another name is
 * refused (FORBIDDEN), a larger one too (PAYLOAD_TOO_LARGE).
 */
void
mesh_folder_receiver_set_offer (MeshFolderReceiver *self,
                                const char         *name,
                                guint64             size)
{
  mesh_transfer_engine_set_offer (MESH_TRANSFER_ENGINE (self), name, size, NULL);
}

/**
 * mesh_folder_receiver_receive_async:
 *
 * Extracts the incoming zip into a new folder under the download folder.
 * Any unsafe entry, a hash mismatch or a broken stream removes everything
 * extracted so far; the sender learns why through ZIP_DONE {ok:false}.
 */
void
mesh_folder_receiver_receive_async (MeshFolderReceiver  *self,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_return_if_fail (MESH_IS_FOLDER_RECEIVER (self));
  g_return_if_fail (self->engine.task == NULL && self->engine.pipe == NULL);

  mesh_transfer_engine_start (&self->engine, cancellable, callback, user_data,
                              mesh_folder_receiver_receive_async);
  mesh_transfer_engine_read (&self->engine, on_receiver_mode);
}

gboolean
mesh_folder_receiver_receive_finish (MeshFolderReceiver  *self,
                                     GAsyncResult        *result,
                                     GError             **error)
{
  return mesh_transfer_engine_finish (MESH_TRANSFER_ENGINE (self), result, error);
}

/* The folder name the sender offered (not sanitised). */
const char *
mesh_folder_receiver_get_name (MeshFolderReceiver *self)
{
  return mesh_transfer_engine_get_name (MESH_TRANSFER_ENGINE (self));
}

/**
 * mesh_folder_receiver_get_folder:
 *
 * Returns: (transfer none) (nullable): the extracted folder, once done
 */
GFile *
mesh_folder_receiver_get_folder (MeshFolderReceiver *self)
{
  g_return_val_if_fail (MESH_IS_FOLDER_RECEIVER (self), NULL);

  return self->result_folder;
}
