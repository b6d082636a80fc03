/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "test-transfer-private.h"

#include <glib/gstdio.h>
#include <string.h>

/* Files sent and received for real: small, empty and large ones, a name
 * that is already taken, the size limit, resuming after a broken stream,
 * and the .part files of sessions that overlap or are cancelled. */

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
  agent_test_assert_same_file (path, expected);
  outcome_clear (&outcome);

  /* The same name again lands next to the first, never over it. */
  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_cmpstr (outcome.result_path, ==, second);
  outcome_clear (&outcome);

  run_file_transfer (fixture, empty, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.send_error);
  g_assert_no_error (outcome.receive_error);
  agent_test_assert_same_file (empty, outcome.result_path);
  outcome_clear (&outcome);

  /* Only finished files remain: no .part, no sidecar. */
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 3);
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
  agent_test_assert_same_file (path, outcome.result_path);
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
  agent_test_assert_same_file (path, outcome.result_path);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 1);
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
  agent_test_assert_same_file (other, outcome.result_path);
  outcome_clear (&outcome);
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
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  outcome_clear (&outcome);

  run_file_transfer (fixture, path, NULL, 2000, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_no_error (outcome.send_error);
  outcome_clear (&outcome);
}

/* A receiver driven by hand, stopped halfway through a file. */
typedef struct {
  Raw               raw;
  MeshFileReceiver *receiver;
  GCancellable     *cancellable;
} Halfway;

static void
halfway_start (Halfway    *h,
               Fixture    *fixture,
               const char *name,
               const void *content,
               gsize       size,
               gsize       first)
{
  g_autofree char *hash = sha256_hex (content, size);
  g_autoptr(JsonObject) ack = NULL;

  h->cancellable = g_cancellable_new ();
  h->receiver = raw_file_receiver_start (&h->raw, fixture, h->cancellable);
  raw_send_file_meta (&h->raw, name, size, hash);
  ack = raw_read_control (&h->raw, "FILE_ACK");
  g_assert_cmpint (json_object_get_int_member (ack, "last_offset"), ==, 0);
  raw_send_chunk (&h->raw, 0, content, first);
  while (mesh_file_receiver_get_bytes_done (h->receiver) < first)
    g_main_context_iteration (NULL, TRUE);
}

/* Sends the rest and FILE_DONE; returns the receiver's outcome. */
static GError *
halfway_finish (Halfway    *h,
                const void *content,
                gsize       size,
                gsize       first)
{
  g_autofree char *hash = sha256_hex (content, size);
  GError *error = NULL;

  raw_send_chunk (&h->raw, first, (const guint8 *) content + first, size - first);
  raw_send_file_done (&h->raw, hash);
  mesh_file_receiver_receive_finish (h->receiver, agent_test_wait_result (&h->raw.received),
                                     &error);
  return error;
}

static void
halfway_clear (Halfway *h)
{
  g_clear_object (&h->receiver);
  g_clear_object (&h->cancellable);
  raw_clear (&h->raw);
}

static guint8 *
pattern (gsize   size,
         guint32 seed)
{
  guint8 *data = g_malloc (size);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < size; i++)
    data[i] = g_rand_int (rand);
  return data;
}

/* Issue #10, 6: two sessions for the same name never share a .part, neither
 * for other content (which used to truncate the first one's) nor for the
 * same content (which used to write into one file from two sessions). */
static void
test_part_per_session (Fixture       *fixture,
                       gconstpointer  data)
{
  const gsize size = 1024 * 1024, first = 512 * 1024;
  g_autofree guint8 *mine = pattern (size, 21);
  g_autofree guint8 *theirs = pattern (size, 22);
  g_autofree char *dir = g_build_filename (fixture->root, "elsewhere", NULL);
  g_autofree char *other_path = g_build_filename (dir, "same.bin", NULL);
  g_autofree char *same_path = g_build_filename (dir, "copy", "same.bin", NULL);
  g_autofree char *copy_dir = g_path_get_dirname (same_path);
  const char *downloads = g_file_peek_path (fixture->downloads);
  const char *second[] = { other_path, same_path };
  Halfway h = { 0 };
  Outcome outcome = { 0 };
  GError *error;

  g_assert_no_errno (g_mkdir_with_parents (copy_dir, 0755));
  write_bytes (other_path, theirs, size);
  write_bytes (same_path, mine, size);

  /* Other content under the same name, while the first is halfway; then the
   * same content twice at once: each session has its own file. */
  for (guint i = 0; i < G_N_ELEMENTS (second); i++) {
    g_autofree char *got = NULL;

    halfway_start (&h, fixture, "same.bin", mine, size, first);
    run_file_transfer (fixture, second[i], NULL, 0, 0, &outcome);
    g_assert_no_error (outcome.receive_error);
    g_assert_cmpuint (outcome.resumed_receiver, ==, 0);
    agent_test_assert_same_file (second[i], outcome.result_path);
    outcome_clear (&outcome);
    error = halfway_finish (&h, mine, size, first);
    g_assert_no_error (error);
    got = g_file_get_path (mesh_file_receiver_get_file (h.receiver));
    agent_test_assert_same_file (same_path, got);
    halfway_clear (&h);
  }

  /* Four finished files, no .part or sidecar left. */
  g_assert_cmpuint (agent_test_count_entries (downloads), ==, 4);
}

/* Our user cancels an incoming file: its partial data goes (a broken
 * stream keeps it for a resume, see test_resume). */
static void
test_discard (Fixture       *fixture,
              gconstpointer  data)
{
  const gsize size = 1024 * 1024, first = 512 * 1024;
  g_autofree guint8 *content = pattern (size, 23);
  Halfway h = { 0 };
  g_autoptr(GError) error = NULL;

  halfway_start (&h, fixture, "cancelled.bin", content, size, first);
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 2);
  mesh_file_receiver_discard (h.receiver);
  g_cancellable_cancel (h.cancellable);
  mesh_file_receiver_receive_finish (h.receiver, agent_test_wait_result (&h.raw.received), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  halfway_clear (&h);
}

void
test_transfer_add_file_tests (void)
{
  transfer_test_add ("/mesh/transfer/file/small", test_small_file);
  transfer_test_add ("/mesh/transfer/file/256mib", test_large_file);
  transfer_test_add ("/mesh/transfer/file/resume", test_resume);
  transfer_test_add ("/mesh/transfer/file/no-resume-for-other-file",
                     test_no_resume_for_other_file);
  transfer_test_add ("/mesh/transfer/file/max-size", test_max_size);
  transfer_test_add ("/mesh/transfer/file/part-per-session", test_part_per_session);
  transfer_test_add ("/mesh/transfer/file/discard", test_discard);
}
