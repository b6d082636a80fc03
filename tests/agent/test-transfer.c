/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "mesh-error.h"
#include "mesh-file-transfer.h"
#include "mesh-folder-transfer.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-transfer-util.h"

#include <archive.h>
#include <archive_entry.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  char  *root;      /* temporary folder of the test */
  GFile *downloads; /* root/downloads: the receiver's folder */
  char  *outside;   /* root/outside: must stay empty */
} Fixture;

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

static void
make_pair (GIOStream **a,
           GIOStream **b)
{
  g_autoptr(GError) error = NULL;
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  for (guint i = 0; i < 2; i++) {
    g_autoptr(GSocket) socket = g_socket_new_from_fd (fds[i], &error);

    g_assert_no_error (error);
    *(i == 0 ? a : b) = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  }
}

static void
on_done (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

/* Deterministic but not repetitive content, fast to generate. */
static char *
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

static void
assert_same_file (const char *a,
                  const char *b)
{
  FILE *fa = fopen (a, "rb");
  FILE *fb = fopen (b, "rb");
  g_autofree char *ba = g_malloc (1 << 20);
  g_autofree char *bb = g_malloc (1 << 20);

  g_assert_nonnull (fa);
  g_assert_nonnull (fb);
  for (;;) {
    gsize na = fread (ba, 1, 1 << 20, fa);
    gsize nb = fread (bb, 1, 1 << 20, fb);

    g_assert_cmpuint (na, ==, nb);
    if (na == 0)
      break;
    g_assert_true (memcmp (ba, bb, na) == 0);
  }
  fclose (fa);
  fclose (fb);
}

static guint
count_entries (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* The .part file whose name starts with @name (the receiver adds a tag). */
static char *
find_part (const char *dir,
           const char *name)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *child;

  while (d != NULL && (child = g_dir_read_name (d)) != NULL) {
    if (g_str_has_prefix (child, name) && g_str_has_suffix (child, ".part"))
      return g_build_filename (dir, child, NULL);
  }
  return NULL;
}

typedef struct {
  GError           *send_error;
  GError           *receive_error;
  guint64           resumed_sender;
  guint64           resumed_receiver;
  char             *result_path;
  char             *hash_sender;
  char             *hash_receiver;
  guint             progress_events;
} Outcome;

static void
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

static void
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

  make_pair (&a, &b);
  sender = mesh_file_sender_new (a, file);
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

  mesh_file_receiver_receive_async (receiver, NULL, on_done, &received);
  mesh_file_sender_send_async (sender, NULL, on_done, &sent);

  mesh_file_receiver_receive_finish (receiver, wait_for (&received), &outcome->receive_error);
  /* Once the receiver is done, a sender still waiting must learn it. */
  if (outcome->receive_error != NULL)
    g_io_stream_close (b, NULL, NULL);
  mesh_file_sender_send_finish (sender, wait_for (&sent), &outcome->send_error);

  outcome->resumed_sender = mesh_file_sender_get_resumed_from (sender);
  outcome->resumed_receiver = mesh_file_receiver_get_resumed_from (receiver);
  outcome->hash_sender = g_strdup (mesh_file_sender_get_hash (sender));
  outcome->hash_receiver = g_strdup (mesh_file_receiver_get_hash (receiver));
  if (mesh_file_receiver_get_file (receiver) != NULL)
    outcome->result_path = g_file_get_path (mesh_file_receiver_get_file (receiver));
}

static void
test_small_file (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *path = make_file (fixture->root, "notes.txt", 1000, 1);
  g_autofree char *empty = make_file (fixture->root, "empty.bin", 0, 2);
  g_autofree char *expected = g_build_filename (g_file_peek_path (fixture->downloads),
                                                "notes.txt", NULL);
  g_autofree char *second = g_build_filename (g_file_peek_path (fixture->downloads),
                                              "notes (1).txt", NULL);
  Outcome outcome = { 0 };

  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.send_error);
  g_assert_no_error (outcome.receive_error);
  g_assert_cmpstr (outcome.result_path, ==, expected);
  g_assert_cmpstr (outcome.hash_sender, ==, outcome.hash_receiver);
  g_assert_cmpuint (outcome.progress_events, >, 0);
  assert_same_file (path, expected);
  outcome_clear (&outcome);

  /* The same name again lands next to the first, never over it. */
  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_cmpstr (outcome.result_path, ==, second);
  outcome_clear (&outcome);

  run_file_transfer (fixture, empty, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.send_error);
  g_assert_no_error (outcome.receive_error);
  assert_same_file (empty, outcome.result_path);
  outcome_clear (&outcome);

  /* Only finished files remain: no .part, no sidecar. */
  g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 3);
}

static void
test_large_file (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *path = make_file (fixture->root, "big.bin", 256 * 1024 * 1024 + 12345, 3);
  Outcome outcome = { 0 };
  gint64 start = g_get_monotonic_time ();

  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.send_error);
  g_assert_no_error (outcome.receive_error);
  g_test_message ("256 MiB in %.2f s (both hashes included)",
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_true (mesh_sha256_hex_is_valid (outcome.hash_sender));
  g_assert_cmpstr (outcome.hash_sender, ==, outcome.hash_receiver);
  assert_same_file (path, outcome.result_path);
  outcome_clear (&outcome);
}

static void
test_resume (Fixture       *fixture,
             gconstpointer  data)
{
  const gsize size = 64 * 1024 * 1024;
  g_autofree char *path = make_file (fixture->root, "video.mkv", size, 4);
  g_autofree char *part = NULL;
  GStatBuf st;
  Outcome outcome = { 0 };

  run_file_transfer (fixture, path, NULL, 0, size * 4 / 10, &outcome);
  part = find_part (g_file_peek_path (fixture->downloads), "video.mkv.");
  g_assert_nonnull (part);
  g_assert_nonnull (outcome.receive_error);
  g_assert_true (outcome.receive_error->domain == G_IO_ERROR);
  g_assert_nonnull (strstr (outcome.receive_error->message, "resume"));
  g_assert_nonnull (outcome.send_error);
  g_assert_null (outcome.result_path);
  g_assert_no_errno (g_stat (part, &st));
  g_assert_cmpuint (st.st_size, >=, size * 4 / 10);
  g_assert_cmpuint (st.st_size, <, size);
  outcome_clear (&outcome);

  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.send_error);
  g_assert_no_error (outcome.receive_error);
  g_assert_cmpuint (outcome.resumed_receiver, ==, st.st_size);
  g_assert_cmpuint (outcome.resumed_sender, ==, st.st_size);
  assert_same_file (path, outcome.result_path);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 1);
  outcome_clear (&outcome);
}

static void
test_no_resume_for_other_file (Fixture       *fixture,
                               gconstpointer  data)
{
  const gsize size = 16 * 1024 * 1024;
  g_autofree char *dir_a = g_build_filename (fixture->root, "a", NULL);
  g_autofree char *dir_b = g_build_filename (fixture->root, "b", NULL);
  g_autofree char *first = NULL;
  g_autofree char *other = NULL;
  Outcome outcome = { 0 };

  g_assert_no_errno (g_mkdir (dir_a, 0755));
  g_assert_no_errno (g_mkdir (dir_b, 0755));
  first = make_file (dir_a, "same.bin", size, 5);
  other = make_file (dir_b, "same.bin", size, 6);

  run_file_transfer (fixture, first, NULL, 0, size / 2, &outcome);
  g_assert_nonnull (outcome.receive_error);
  outcome_clear (&outcome);

  run_file_transfer (fixture, other, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.send_error);
  g_assert_no_error (outcome.receive_error);
  g_assert_cmpuint (outcome.resumed_receiver, ==, 0);
  g_assert_cmpuint (outcome.resumed_sender, ==, 0);
  assert_same_file (other, outcome.result_path);
  outcome_clear (&outcome);
}

static void
test_hostile_names (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char *names[] = { "../x", "/etc/passwd", "a/b", "..", "", ".",
                                 "../../outside/evil", "ctl\x01\x1b[2J", "..\\..\\win" };
  g_autofree char *path = make_file (fixture->root, "payload", 100, 7);
  g_autofree char *downloads = g_file_get_path (fixture->downloads);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *parent = NULL;
    Outcome outcome = { 0 };

    run_file_transfer (fixture, path, names[i], 0, 0, &outcome);
    g_assert_no_error (outcome.send_error);
    g_assert_no_error (outcome.receive_error);
    parent = g_path_get_dirname (outcome.result_path);
    g_assert_cmpstr (parent, ==, downloads);
    assert_same_file (path, outcome.result_path);
    outcome_clear (&outcome);
  }
  g_assert_cmpuint (count_entries (fixture->outside), ==, 0);
  g_assert_cmpuint (count_entries (downloads), ==, G_N_ELEMENTS (names));
  g_assert_cmpuint (count_entries (fixture->root), ==, 3);
}

static void
test_max_size (Fixture       *fixture,
               gconstpointer  data)
{
  g_autofree char *path = make_file (fixture->root, "too-big.bin", 2000, 8);
  Outcome outcome = { 0 };

  run_file_transfer (fixture, path, NULL, 1999, 0, &outcome);
  g_assert_error (outcome.receive_error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_error (outcome.send_error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  outcome_clear (&outcome);

  run_file_transfer (fixture, path, NULL, 2000, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_no_error (outcome.send_error);
  outcome_clear (&outcome);
}

/* A hand-driven sender, to say what a real one never would. */
static void
raw_send_control (MeshFrameWriter *writer,
                  JsonObject      *control)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  mesh_frame_writer_write_control_async (writer, control, NULL, on_done, &result);
  mesh_frame_writer_write_finish (writer, wait_for (&result), &error);
  g_assert_no_error (error);
}

static void
raw_send_chunk (MeshFrameWriter *writer,
                guint64          offset,
                const void      *data,
                gsize            len)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) payload = mesh_frame_chunk_new (offset, data, len);
  g_autoptr(GError) error = NULL;

  mesh_frame_writer_write_async (writer, MESH_FRAME_CHUNK, payload, NULL, on_done, &result);
  mesh_frame_writer_write_finish (writer, wait_for (&result), &error);
  g_assert_no_error (error);
}

static JsonObject *
raw_read_control (MeshFrameReader *reader,
                  const char      *expected_t)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *control;
  MeshFrameType type;
  const char *t = NULL;

  mesh_frame_reader_read_async (reader, NULL, on_done, &result);
  mesh_frame_reader_read_finish (reader, wait_for (&result), &type, &payload, &error);
  g_assert_no_error (error);
  g_assert_cmpint (type, ==, MESH_FRAME_CONTROL);
  control = mesh_frame_control_parse (payload, &t, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t, ==, expected_t);
  return control;
}

static char *
sha256_hex (const void *data,
            gsize       len)
{
  MeshSha256 *sha = mesh_sha256_new ();

  mesh_sha256_update (sha, data, len);
  return mesh_sha256_free_to_hex (sha);
}

static void
test_hash_mismatch (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char content[] = "the real content of the file";
  g_autofree char *hash = sha256_hex (content, sizeof content);
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFileReceiver) receiver = NULL;
  g_autoptr(GAsyncResult) received = NULL;
  g_autoptr(JsonObject) meta = mesh_frame_control_new ("FILE_META");
  g_autoptr(JsonObject) done = mesh_frame_control_new ("FILE_DONE");
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(GError) error = NULL;

  make_pair (&a, &b);
  reader = mesh_frame_reader_get_for_stream (a);
  writer = mesh_frame_writer_get_for_stream (a);
  receiver = mesh_file_receiver_new (b, fixture->downloads);
  mesh_file_receiver_receive_async (receiver, NULL, on_done, &received);

  json_object_set_string_member (meta, "name", "doc.txt");
  json_object_set_int_member (meta, "size", sizeof content);
  json_object_set_string_member (meta, "hash", hash);
  raw_send_control (writer, meta);
  ack = raw_read_control (reader, "FILE_ACK");
  g_assert_cmpint (json_object_get_int_member (ack, "last_offset"), ==, 0);

  raw_send_chunk (writer, 0, content, sizeof content);
  json_object_set_string_member (done, "hash", "00000000000000000000000000000000"
                                               "00000000000000000000000000000000");
  raw_send_control (writer, done);

  answer = raw_read_control (reader, "ERROR");
  g_assert_cmpstr (json_object_get_string_member (answer, "code"), ==, "HASH_MISMATCH");
  mesh_file_receiver_receive_finish (receiver, wait_for (&received), &error);
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH);
  /* Nothing is kept: neither a final file nor a .part to resume. */
  g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

static void
test_wrong_offset (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char content[] = "0123456789";
  g_autofree char *hash = sha256_hex (content, 10);
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFileReceiver) receiver = NULL;
  g_autoptr(GAsyncResult) received = NULL;
  g_autoptr(JsonObject) meta = mesh_frame_control_new ("FILE_META");
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(GError) error = NULL;

  make_pair (&a, &b);
  reader = mesh_frame_reader_get_for_stream (a);
  writer = mesh_frame_writer_get_for_stream (a);
  receiver = mesh_file_receiver_new (b, fixture->downloads);
  mesh_file_receiver_receive_async (receiver, NULL, on_done, &received);

  json_object_set_string_member (meta, "name", "digits");
  json_object_set_int_member (meta, "size", 10);
  json_object_set_string_member (meta, "hash", hash);
  raw_send_control (writer, meta);
  ack = raw_read_control (reader, "FILE_ACK");
  raw_send_chunk (writer, 5, content + 5, 5);

  answer = raw_read_control (reader, "ERROR");
  g_assert_cmpstr (json_object_get_string_member (answer, "code"), ==, "BAD_REQUEST");
  mesh_file_receiver_receive_finish (receiver, wait_for (&received), &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

/* ---------------------------------------------------------------- */
/* Folders                                                            */
/* ---------------------------------------------------------------- */

static void
write_text (const char *dir,
            const char *name,
            const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
assert_same_tree (const char *a,
                  const char *b)
{
  g_autoptr(GDir) dir = g_dir_open (a, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  g_assert_cmpuint (count_entries (a), ==, count_entries (b));
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *pa = g_build_filename (a, name, NULL);
    g_autofree char *pb = g_build_filename (b, name, NULL);
    GStatBuf sa, sb;

    g_assert_no_errno (g_lstat (pa, &sa));
    g_assert_no_errno (g_lstat (pb, &sb));
    g_assert_cmpuint (sa.st_mode & S_IFMT, ==, sb.st_mode & S_IFMT);
    if (S_ISDIR (sa.st_mode)) {
      assert_same_tree (pa, pb);
    } else if (S_ISLNK (sa.st_mode)) {
      g_autofree char *ta = g_file_read_link (pa, NULL);
      g_autofree char *tb = g_file_read_link (pb, NULL);

      g_assert_cmpstr (ta, ==, tb);
    } else {
      g_assert_cmpuint (sa.st_size, ==, sb.st_size);
      assert_same_file (pa, pb);
    }
  }
}

static void
run_folder_transfer (Fixture    *fixture,
                     const char *path,
                     guint64     max_size,
                     GError    **send_error,
                     GError    **receive_error,
                     char      **result_path)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GFile) folder = g_file_new_for_path (path);
  g_autoptr(MeshFolderSender) sender = NULL;
  g_autoptr(MeshFolderReceiver) receiver = NULL;
  g_autoptr(GAsyncResult) sent = NULL;
  g_autoptr(GAsyncResult) received = NULL;

  make_pair (&a, &b);
  sender = mesh_folder_sender_new (a, folder);
  receiver = mesh_folder_receiver_new (b, fixture->downloads);
  mesh_folder_receiver_set_max_size (receiver, max_size);
  mesh_folder_receiver_receive_async (receiver, NULL, on_done, &received);
  mesh_folder_sender_send_async (sender, NULL, on_done, &sent);

  mesh_folder_receiver_receive_finish (receiver, wait_for (&received), receive_error);
  g_io_stream_close (b, NULL, NULL);
  mesh_folder_sender_send_finish (sender, wait_for (&sent), send_error);
  if (result_path != NULL && mesh_folder_receiver_get_folder (receiver) != NULL)
    *result_path = g_file_get_path (mesh_folder_receiver_get_folder (receiver));
}

static char *
make_tree (Fixture *fixture)
{
  g_autofree char *root = g_build_filename (fixture->root, "Projekt ✓", NULL);
  g_autofree char *nested = g_build_filename (root, "a", "b", "c", NULL);
  g_autofree char *japanese = g_build_filename (root, "日本語", NULL);
  g_autofree char *empty_dir = g_build_filename (root, "empty dir", NULL);
  g_autofree char *link = g_build_filename (root, "a", "link-to-c", NULL);
  g_autofree char *dangling = g_build_filename (root, "dangling", NULL);
  g_autofree char *big = NULL;

  g_assert_no_errno (g_mkdir_with_parents (nested, 0755));
  g_assert_no_errno (g_mkdir_with_parents (japanese, 0755));
  g_assert_no_errno (g_mkdir_with_parents (empty_dir, 0755));
  write_text (root, "README.md", "# hello\n");
  write_text (root, "empty.txt", "");
  write_text (nested, "deep.txt", "deep inside\n");
  write_text (japanese, "ファイル.txt", "こんにちは\n");
  write_text (root, "ünïcödé name.txt", "ü\n");
  big = make_file (japanese, "big.bin", 3 * 1024 * 1024 + 17, 9);
  g_assert_no_errno (symlink ("b/c/deep.txt", link));
  g_assert_no_errno (symlink ("does-not-exist", dangling));
  return g_steal_pointer (&root);
}

static void
test_folder (Fixture       *fixture,
             gconstpointer  data)
{
  g_autofree char *tree = make_tree (fixture);
  g_autofree char *result = NULL;
  g_autofree char *expected = g_build_filename (g_file_peek_path (fixture->downloads),
                                                "Projekt ✓", NULL);
  g_autoptr(GError) send_error = NULL;
  g_autoptr(GError) receive_error = NULL;

  run_folder_transfer (fixture, tree, 0, &send_error, &receive_error, &result);
  g_assert_no_error (receive_error);
  g_assert_no_error (send_error);
  g_assert_cmpstr (result, ==, expected);
  assert_same_tree (tree, result);
}

static void
test_folder_max_size (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *tree = make_tree (fixture);
  g_autoptr(GError) send_error = NULL;
  g_autoptr(GError) receive_error = NULL;

  run_folder_transfer (fixture, tree, 1024, &send_error, &receive_error, NULL);
  g_assert_error (receive_error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_error (send_error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

/* Hostile archives, written with libarchive the way an attacker could. */
typedef enum {
  EVIL_DOTDOT,
  EVIL_ABSOLUTE,
  EVIL_SYMLINK_ESCAPE,
  EVIL_SYMLINK_CLIMB,
  EVIL_DEVICE,
} Evil;

/* Hard links need no case: libarchive's zip format has no way to store
 * one (it writes the entry as an empty file); the receiver refuses them
 * anyway in case a future reader reports them. */

static la_ssize_t
collect_cb (struct archive *archive,
            void           *user_data,
            const void     *buffer,
            size_t          length)
{
  g_byte_array_append (user_data, buffer, length);
  return length;
}

static void
add_entry (struct archive *archive,
           const char     *path,
           mode_t          mode,
           const char     *symlink_target,
           const char     *text)
{
  struct archive_entry *entry = archive_entry_new ();

  archive_entry_set_pathname (entry, path);
  archive_entry_set_mode (entry, mode);
  if (symlink_target != NULL)
    archive_entry_set_symlink (entry, symlink_target);
  archive_entry_set_size (entry, text != NULL ? strlen (text) : 0);
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  if (text != NULL)
    g_assert_cmpint (archive_write_data (archive, text, strlen (text)), ==, strlen (text));
  archive_entry_free (entry);
}

/* libarchive will not write a device into a zip, so the test writes a file
 * and then edits the mode in the local header's "xl" extra field, which is
 * where a streaming reader learns an entry's type. */
static void
patch_mode (GByteArray *zip,
            const char *name,
            guint32     mode)
{
  gsize name_len = strlen (name);

  for (guint i = 0; i + 30 + name_len < zip->len; i++) {
    guint8 *h = zip->data + i;
    guint extra_len;
    guint8 *extra;

    if (memcmp (h, "PK\003\004", 4) != 0 || (gsize) (h[26] + (h[27] << 8)) != name_len ||
        memcmp (h + 30, name, name_len) != 0)
      continue;
    extra_len = h[28] + (h[29] << 8);
    extra = h + 30 + name_len;
    for (guint off = 0; off + 4 <= extra_len;) {
      guint id = extra[off] + (extra[off + 1] << 8);
      guint size = extra[off + 2] + (extra[off + 3] << 8);
      guint8 *field = extra + off + 4;

      if (id == 0x6c78) {
        guint pos = 1;
        guint8 bitmap = field[0];

        g_assert_true (bitmap & 4);
        pos += (bitmap & 1) ? 2 : 0;
        pos += (bitmap & 2) ? 2 : 0;
        field[pos + 2] = mode & 0xff;
        field[pos + 3] = (mode >> 8) & 0xff;
        return;
      }
      off += 4 + size;
    }
  }
  g_assert_not_reached ();
}

static GBytes *
make_evil_zip (Evil        evil,
               const char *outside)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = archive_write_new ();
  g_autofree char *absolute = g_build_filename (outside, "evil-abs", NULL);

  archive_write_set_format_zip (archive);
  archive_write_set_format_option (archive, "zip", "experimental", "1");
  archive_write_set_bytes_per_block (archive, 0);
  g_assert_cmpint (archive_write_open2 (archive, zip, NULL, collect_cb, NULL, NULL), ==,
                   ARCHIVE_OK);
  add_entry (archive, "harmless.txt", AE_IFREG | 0644, NULL, "fine\n");
  switch (evil) {
  case EVIL_DOTDOT:
    add_entry (archive, "../../outside/evil", AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_ABSOLUTE:
    add_entry (archive, absolute, AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_SYMLINK_ESCAPE:
    add_entry (archive, "link", AE_IFLNK | 0777, outside, NULL);
    add_entry (archive, "link/passwd", AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_SYMLINK_CLIMB:
    add_entry (archive, "sub/up", AE_IFLNK | 0777, "../../outside", NULL);
    add_entry (archive, "sub/up/evil", AE_IFREG | 0644, NULL, "evil\n");
    break;
  case EVIL_DEVICE:
    add_entry (archive, "dev-node", AE_IFREG | 0644, NULL, NULL);
    break;
  default:
    g_assert_not_reached ();
  }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  if (evil == EVIL_DEVICE)
    patch_mode (zip, "dev-node", S_IFCHR | 0644);
  return g_byte_array_free_to_bytes (g_steal_pointer (&zip));
}

static void
test_hostile_archives (Fixture       *fixture,
                       gconstpointer  data)
{
  for (Evil evil = EVIL_DOTDOT; evil <= EVIL_DEVICE; evil++) {
    g_autoptr(GBytes) zip = make_evil_zip (evil, fixture->outside);
    g_autofree char *hash = sha256_hex (g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(MeshFrameReader) reader = NULL;
    g_autoptr(MeshFrameWriter) writer = NULL;
    g_autoptr(MeshFolderReceiver) receiver = NULL;
    g_autoptr(GAsyncResult) received = NULL;
    g_autoptr(JsonObject) mode = mesh_frame_control_new ("FOLDER_MODE");
    g_autoptr(JsonObject) meta = mesh_frame_control_new ("ZIP_META");
    g_autoptr(JsonObject) done = mesh_frame_control_new ("ZIP_DONE");
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GError) error = NULL;

    make_pair (&a, &b);
    reader = mesh_frame_reader_get_for_stream (a);
    writer = mesh_frame_writer_get_for_stream (a);
    receiver = mesh_folder_receiver_new (b, fixture->downloads);
    mesh_folder_receiver_receive_async (receiver, NULL, on_done, &received);

    json_object_set_string_member (mode, "mode", "zip");
    raw_send_control (writer, mode);
    json_object_set_string_member (meta, "name", "innocent");
    json_object_set_int_member (meta, "entries", 3);
    json_object_set_int_member (meta, "total_bytes", 10);
    raw_send_control (writer, meta);
    raw_send_chunk (writer, 0, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    json_object_set_string_member (done, "hash", hash);
    json_object_set_int_member (done, "size", g_bytes_get_size (zip));
    /* The receiver may already have refused and closed nothing: the write
     * still succeeds on a socket pair. */
    raw_send_control (writer, done);

    answer = raw_read_control (reader, "ZIP_DONE");
    g_assert_false (json_object_get_boolean_member (answer, "ok"));
    g_test_message ("case %d refused: %s", evil, json_object_get_string_member (answer, "error"));
    mesh_folder_receiver_receive_finish (receiver, wait_for (&received), &error);
    g_assert_nonnull (error);
    g_assert_null (mesh_folder_receiver_get_folder (receiver));

    /* Nothing outside, and the partial tree is gone. */
    g_assert_cmpuint (count_entries (fixture->outside), ==, 0);
    g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
}

static void
test_folder_hash_mismatch (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = archive_write_new ();
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFolderReceiver) receiver = NULL;
  g_autoptr(GAsyncResult) received = NULL;
  g_autoptr(JsonObject) mode = mesh_frame_control_new ("FOLDER_MODE");
  g_autoptr(JsonObject) meta = mesh_frame_control_new ("ZIP_META");
  g_autoptr(JsonObject) done = mesh_frame_control_new ("ZIP_DONE");
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(GError) error = NULL;

  archive_write_set_format_zip (archive);
  archive_write_set_bytes_per_block (archive, 0);
  archive_write_open2 (archive, zip, NULL, collect_cb, NULL, NULL);
  add_entry (archive, "a.txt", AE_IFREG | 0644, NULL, "content\n");
  archive_write_close (archive);
  archive_write_free (archive);

  make_pair (&a, &b);
  reader = mesh_frame_reader_get_for_stream (a);
  writer = mesh_frame_writer_get_for_stream (a);
  receiver = mesh_folder_receiver_new (b, fixture->downloads);
  mesh_folder_receiver_receive_async (receiver, NULL, on_done, &received);

  json_object_set_string_member (mode, "mode", "zip");
  raw_send_control (writer, mode);
  json_object_set_string_member (meta, "name", "folder");
  json_object_set_int_member (meta, "entries", 1);
  json_object_set_int_member (meta, "total_bytes", 8);
  raw_send_control (writer, meta);
  raw_send_chunk (writer, 0, zip->data, zip->len);
  json_object_set_string_member (done, "hash", "11111111111111111111111111111111"
                                               "11111111111111111111111111111111");
  json_object_set_int_member (done, "size", zip->len);
  raw_send_control (writer, done);

  answer = raw_read_control (reader, "ZIP_DONE");
  g_assert_false (json_object_get_boolean_member (answer, "ok"));
  mesh_folder_receiver_receive_finish (receiver, wait_for (&received), &error);
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH);
  g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/mesh/transfer/file/small", test_small_file);
  ADD ("/mesh/transfer/file/256mib", test_large_file);
  ADD ("/mesh/transfer/file/resume", test_resume);
  ADD ("/mesh/transfer/file/no-resume-for-other-file", test_no_resume_for_other_file);
  ADD ("/mesh/transfer/file/hostile-names", test_hostile_names);
  ADD ("/mesh/transfer/file/max-size", test_max_size);
  ADD ("/mesh/transfer/file/hash-mismatch", test_hash_mismatch);
  ADD ("/mesh/transfer/file/wrong-offset", test_wrong_offset);
  ADD ("/mesh/transfer/folder/tree", test_folder);
  ADD ("/mesh/transfer/folder/max-size", test_folder_max_size);
  ADD ("/mesh/transfer/folder/hostile-archives", test_hostile_archives);
  ADD ("/mesh/transfer/folder/hash-mismatch", test_folder_hash_mismatch);

#undef ADD

  return g_test_run ();
}
