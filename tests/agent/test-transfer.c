/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "test-transfer-private.h"

#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>

/* The agent-transfer suite: this file has the fixture, the helpers the
 * themes share (declared in test-transfer-private.h) and main(); each
 * test-transfer-<theme>.c adds its tests with test_transfer_add_<theme>_tests(). */

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *downloads = NULL;

  fixture->root = g_dir_make_tmp ("mesh-transfer-XXXXXX", &error);
  g_assert_no_error (error);
  downloads = g_build_filename (fixture->root, "downloads", NULL);
  fixture->downloads = g_file_new_for_path (downloads);
  fixture->outside = g_build_filename (fixture->root, "outside", NULL);
  g_assert_no_errno (g_mkdir (fixture->outside, 0755));
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode) && (dir = g_dir_open (path, 0, NULL)) != NULL) {
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);

      rm_rf (child);
    }
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  rm_rf (fixture->root);
  g_free (fixture->root);
  g_free (fixture->outside);
  g_object_unref (fixture->downloads);
}

/* Deterministic but not repetitive content, fast to generate. */
char *
make_file (const char *dir,
           const char *name,
           gsize       size,
           guint32     seed)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree guint32 *block = g_new (guint32, 256 * 1024);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  FILE *file = fopen (path, "wb");
  gsize left = size;

  g_assert_nonnull (file);
  for (guint i = 0; i < 256 * 1024; i++)
    block[i] = g_rand_int (rand);
  while (left > 0) {
    gsize n = MIN (left, 256 * 1024 * sizeof (guint32));

    block[0]++;
    g_assert_cmpuint (fwrite (block, 1, n, file), ==, n);
    left -= n;
  }
  g_assert_cmpint (fclose (file), ==, 0);
  return g_steal_pointer (&path);
}

MeshHashCache *transfer_hash_cache;

void
outcome_clear (Outcome *outcome)
{
  g_clear_error (&outcome->send_error);
  g_clear_error (&outcome->receive_error);
  g_clear_pointer (&outcome->result_path, g_free);
  g_clear_pointer (&outcome->hash_sender, g_free);
  g_clear_pointer (&outcome->hash_receiver, g_free);
}

static void
on_progress (GObject  *object,
             guint64   done,
             guint64   total,
             Outcome  *outcome)
{
  g_assert_cmpuint (done, <=, total);
  outcome->progress_events++;
}

typedef struct {
  GIOStream *stream;
  guint64    limit;
} Interrupt;

/* Cuts the sender's stream once the receiver wrote @limit bytes. */
static void
on_receiver_progress_interrupt (MeshFileReceiver *receiver,
                                guint64           done,
                                guint64           total,
                                Interrupt        *interrupt)
{
  if (done >= interrupt->limit && interrupt->stream != NULL) {
    g_io_stream_close (interrupt->stream, NULL, NULL);
    interrupt->stream = NULL;
  }
}

void
run_file_transfer (Fixture    *fixture,
                   const char *path,
                   const char *offered_name,
                   guint64     max_size,
                   guint64     interrupt_at,
                   Outcome    *outcome)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(MeshFileSender) sender = NULL;
  g_autoptr(MeshFileReceiver) receiver = NULL;
  g_autoptr(GAsyncResult) sent = NULL;
  g_autoptr(GAsyncResult) received = NULL;
  Interrupt interrupt = { NULL, interrupt_at };

  agent_test_stream_pair (&a, &b);
  sender = mesh_file_sender_new (a, file);
  mesh_file_sender_set_hash_cache (sender, transfer_hash_cache);
  if (offered_name != NULL)
    mesh_file_sender_set_name (sender, offered_name);
  receiver = mesh_file_receiver_new (b, fixture->downloads);
  mesh_file_receiver_set_max_size (receiver, max_size);
  g_signal_connect (sender, "progress", G_CALLBACK (on_progress), outcome);
  if (interrupt_at > 0) {
    interrupt.stream = a;
    g_signal_connect (receiver, "progress", G_CALLBACK (on_receiver_progress_interrupt),
                      &interrupt);
  }

  mesh_file_receiver_receive_async (receiver, NULL, agent_test_store_result, &received);
  mesh_file_sender_send_async (sender, NULL, agent_test_store_result, &sent);

  mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&received),
                                     &outcome->receive_error);
  /* Once the receiver is done, a sender still waiting must learn it. */
  if (outcome->receive_error != NULL)
    g_io_stream_close (b, NULL, NULL);
  mesh_file_sender_send_finish (sender, agent_test_wait_result (&sent), &outcome->send_error);

  outcome->hash_cached = mesh_file_sender_get_hash_cached (sender);
  outcome->resumed_sender = mesh_file_sender_get_resumed_from (sender);
  outcome->resumed_receiver = mesh_file_receiver_get_resumed_from (receiver);
  outcome->hash_sender = g_strdup (mesh_file_sender_get_hash (sender));
  outcome->hash_receiver = g_strdup (mesh_file_receiver_get_hash (receiver));
  if (mesh_file_receiver_get_file (receiver) != NULL)
    outcome->result_path = g_file_get_path (mesh_file_receiver_get_file (receiver));
}

void
raw_open (Raw *raw)
{
  agent_test_stream_pair (&raw->a, &raw->b);
  raw->reader = mesh_frame_reader_get_for_stream (raw->a);
  raw->writer = mesh_frame_writer_get_for_stream (raw->a);
}

void
raw_clear (Raw *raw)
{
  g_clear_object (&raw->received);
  g_clear_object (&raw->writer);
  g_clear_object (&raw->reader);
  g_clear_object (&raw->b);
  g_clear_object (&raw->a);
}

void
raw_send_control (Raw        *raw,
                  JsonObject *control)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mesh_frame_writer_write_control_async (raw->writer, control, NULL, agent_test_store_result,
                                         &result);
  mesh_frame_writer_write_finish (raw->writer, agent_test_wait_result (&result), &error);
  g_assert_no_error (error);
}

void
raw_send_chunk (Raw        *raw,
                guint64     offset,
                const void *data,
                gsize       len)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) payload = mesh_frame_chunk_new (offset, data, len);
  g_autoptr(GError) error = NULL;

  mesh_frame_writer_write_async (raw->writer, MESH_FRAME_CHUNK, payload, NULL,
                                 agent_test_store_result, &result);
  mesh_frame_writer_write_finish (raw->writer, agent_test_wait_result (&result), &error);
  g_assert_no_error (error);
}

JsonObject *
raw_read_control (Raw        *raw,
                  const char *expected_t)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *control;
  MeshFrameType type;
  const char *t = NULL;

  mesh_frame_reader_read_async (raw->reader, NULL, agent_test_store_result, &result);
  mesh_frame_reader_read_finish (raw->reader, agent_test_wait_result (&result), &type, &payload,
                                 &error);
  g_assert_no_error (error);
  g_assert_cmpint (type, ==, MESH_FRAME_CONTROL);
  control = mesh_frame_control_parse (payload, &t, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t, ==, expected_t);
  return control;
}

void
raw_send_file_meta (Raw        *raw,
                    const char *name,
                    gint64      size,
                    const char *hash)
{
  g_autoptr(JsonObject) meta = mesh_frame_control_new ("FILE_META");

  json_object_set_string_member (meta, "name", name);
  json_object_set_int_member (meta, "size", size);
  json_object_set_string_member (meta, "hash", hash);
  raw_send_control (raw, meta);
}

void
raw_send_file_done (Raw        *raw,
                    const char *hash)
{
  g_autoptr(JsonObject) done = mesh_frame_control_new ("FILE_DONE");

  json_object_set_string_member (done, "hash", hash);
  raw_send_control (raw, done);
}

/* FOLDER_MODE "zip", then that ZIP_META. */
void
raw_send_zip_meta (Raw        *raw,
                   const char *name,
                   gint64      entries,
                   gint64      total_bytes)
{
  g_autoptr(JsonObject) mode = mesh_frame_control_new ("FOLDER_MODE");
  g_autoptr(JsonObject) meta = mesh_frame_control_new ("ZIP_META");

  json_object_set_string_member (mode, "mode", "zip");
  raw_send_control (raw, mode);
  json_object_set_string_member (meta, "name", name);
  json_object_set_int_member (meta, "entries", entries);
  json_object_set_int_member (meta, "total_bytes", total_bytes);
  raw_send_control (raw, meta);
}

void
raw_send_zip_done (Raw        *raw,
                   const char *hash,
                   gint64      size)
{
  g_autoptr(JsonObject) done = mesh_frame_control_new ("ZIP_DONE");

  json_object_set_string_member (done, "hash", hash);
  json_object_set_int_member (done, "size", size);
  raw_send_control (raw, done);
}

/* A file receiver on @raw's far end, receiving into the downloads folder. */
MeshFileReceiver *
raw_file_receiver_start (Raw          *raw,
                         Fixture      *fixture,
                         GCancellable *cancellable)
{
  MeshFileReceiver *receiver;

  raw_open (raw);
  receiver = mesh_file_receiver_new (raw->b, fixture->downloads);
  mesh_file_receiver_receive_async (receiver, cancellable, agent_test_store_result,
                                    &raw->received);
  return receiver;
}

char *
sha256_hex (const void *data,
            gsize       len)
{
  MeshSha256 *sha = mesh_sha256_new ();

  mesh_sha256_update (sha, data, len);
  return mesh_sha256_free_to_hex (sha);
}

void
write_bytes (const char *path,
             const void *data,
             gsize       size)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, data, size, &error);
  g_assert_no_error (error);
}

void
write_text (const char *dir,
            const char *name,
            const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

void
add_entry (struct archive *archive,
           const char     *path,
           mode_t          mode,
           const char     *symlink_target,
           const char     *text)
{
  agent_test_archive_add (archive, path, mode, symlink_target, text,
                          text != NULL ? strlen (text) : 0);
}

void
transfer_test_add (const char      *path,
                   TransferTestFunc func)
{
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down);
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  test_transfer_add_file_tests ();
  test_transfer_add_hash_cache_tests ();
  test_transfer_add_hostile_tests ();
  test_transfer_add_folder_tests ();
  test_transfer_add_archive_tests ();

  return g_test_run ();
}
