/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "mesh-error.h"
#include "mesh-file-transfer.h"
#include "mesh-folder-transfer.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-safe-path.h"
#include "mesh-transfer-util.h"

#include "agent-test-util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>
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

/* The sender's hash cache in run_file_transfer(), if any. */
static MeshHashCache *transfer_hash_cache;

typedef struct {
  gboolean          hash_cached;
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

/* Gives @path the mtime of an hour ago (or @mtime), like a file that was saved a while back. */
static void
set_old_mtime (const char *path,
               gint64      mtime)
{
  struct timespec times[2] = { { 0, UTIME_OMIT }, { mtime, 0 } };

  g_assert_no_errno (utimensat (AT_FDCWD, path, times, 0));
  /* The ctime that utimensat() set must not be "racy" either (mesh-hash-cache.c). */
  g_usleep (200 * 1000);
}

/* A file sent again unchanged is not read to be hashed; a changed one is, even when its size
 * and mtime are the same as before; and a file that changed a moment ago is not cached. */
static void
test_hash_cache (Fixture       *fixture,
                 gconstpointer  data)
{
  const gsize size = 3 * 1024 * 1024 + 7;
  g_autofree char *path = make_file (fixture->root, "report.pdf", size, 21);
  g_autofree char *cache_path = g_build_filename (fixture->root, "state", "hash-cache", NULL);
  g_autofree char *state = g_build_filename (fixture->root, "state", NULL);
  gint64 old = g_get_real_time () / G_USEC_PER_SEC - 3600;
  Outcome outcome = { 0 };
  g_autofree char *first_hash = NULL;
  FILE *file;

  g_assert_no_errno (g_mkdir (state, 0700));
  set_old_mtime (path, old);
  transfer_hash_cache = mesh_hash_cache_get_for_dir (state);

  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_no_error (outcome.send_error);
  g_assert_false (outcome.hash_cached);
  g_assert_cmpuint (mesh_hash_cache_get_n_entries (transfer_hash_cache), ==, 1);
  first_hash = g_strdup (outcome.hash_sender);
  outcome_clear (&outcome);

  /* Re-sent from a cache read back from the state folder (a new agent process). */
  g_clear_pointer (&transfer_hash_cache, mesh_hash_cache_unref);
  transfer_hash_cache = mesh_hash_cache_new (cache_path);
  g_assert_cmpuint (mesh_hash_cache_get_n_entries (transfer_hash_cache), ==, 1);
  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_no_error (outcome.send_error);
  g_assert_true (outcome.hash_cached);
  g_assert_cmpstr (outcome.hash_sender, ==, first_hash);
  agent_test_assert_same_file (path, outcome.result_path);
  outcome_clear (&outcome);

  /* Other bytes, same size, and the old mtime put back: hashed again. */
  file = fopen (path, "r+b");
  g_assert_nonnull (file);
  g_assert_cmpint (fseek (file, size / 2, SEEK_SET), ==, 0);
  g_assert_cmpuint (fwrite ("changed", 1, 7, file), ==, 7);
  g_assert_cmpint (fclose (file), ==, 0);
  set_old_mtime (path, old);
  run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
  g_assert_no_error (outcome.receive_error);
  g_assert_no_error (outcome.send_error);
  g_assert_false (outcome.hash_cached);
  g_assert_cmpstr (outcome.hash_sender, !=, first_hash);
  agent_test_assert_same_file (path, outcome.result_path);
  outcome_clear (&outcome);

  /* A file written just now is hashed every time: its timestamps cannot vouch for it yet. */
  file = fopen (path, "r+b");
  g_assert_nonnull (file);
  g_assert_cmpuint (fwrite ("again", 1, 5, file), ==, 5);
  g_assert_cmpint (fclose (file), ==, 0);
  for (guint i = 0; i < 2; i++) {
    run_file_transfer (fixture, path, NULL, 0, 0, &outcome);
    g_assert_no_error (outcome.receive_error);
    g_assert_false (outcome.hash_cached);
    agent_test_assert_same_file (path, outcome.result_path);
    outcome_clear (&outcome);
  }

  g_clear_pointer (&transfer_hash_cache, mesh_hash_cache_unref);
}

/* The cache stays bounded: the least recently used entries go first.  (In memory: the
 * file round trip is test_hash_cache's.) */
static void
test_hash_cache_bounded (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(MeshHashCache) cache = mesh_hash_cache_new (NULL);
  const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  struct stat st = { 0 };
  g_autofree char *found = NULL;

  st.st_dev = 1;
  st.st_mtim.tv_sec = 1000;
  st.st_ctim.tv_sec = 1000;
  for (guint i = 0; i < MESH_HASH_CACHE_MAX_ENTRIES + 10; i++) {
    st.st_ino = i + 1;
    mesh_hash_cache_store (cache, &st, g_get_real_time (), hash);
    if (i == MESH_HASH_CACHE_MAX_ENTRIES - 1) {
      /* The first one, used again: it must outlive those stored after it. */
      st.st_ino = 1;
      g_free (mesh_hash_cache_lookup (cache, &st));
    }
  }
  g_assert_cmpuint (mesh_hash_cache_get_n_entries (cache), ==, MESH_HASH_CACHE_MAX_ENTRIES);
  st.st_ino = 1;
  found = mesh_hash_cache_lookup (cache, &st);
  g_assert_cmpstr (found, ==, hash);
  g_clear_pointer (&found, g_free);
  st.st_ino = 2;
  found = mesh_hash_cache_lookup (cache, &st);
  g_assert_null (found);
  st.st_ino = MESH_HASH_CACHE_MAX_ENTRIES + 10;
  found = mesh_hash_cache_lookup (cache, &st);
  g_assert_cmpstr (found, ==, hash);
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
test_hostile_names (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char *names[] = { "../x", "/etc/passwd", "a/b", "..", "", ".",
                                 "../../outside/evil", "ctl\x01\x1b[2J", "..\\..\\win",
                                 /* the longest name still leaves room for the tagged .part */
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllll.txt" };
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
    agent_test_assert_same_file (path, outcome.result_path);
    outcome_clear (&outcome);
  }
  g_assert_cmpuint (agent_test_count_entries (fixture->outside), ==, 0);
  g_assert_cmpuint (agent_test_count_entries (downloads), ==, G_N_ELEMENTS (names));
  g_assert_cmpuint (agent_test_count_entries (fixture->root), ==, 3);
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

/* A hand-driven sender, to say what a real one never would: its end of a
 * socket pair, the receiver under test on the other. */
typedef struct {
  GIOStream       *a;         /* the sender's end */
  GIOStream       *b;         /* the receiver's end */
  MeshFrameReader *reader;
  MeshFrameWriter *writer;
  GAsyncResult    *received;  /* the receiver's, once it is done */
} Raw;

static void
raw_open (Raw *raw)
{
  agent_test_stream_pair (&raw->a, &raw->b);
  raw->reader = mesh_frame_reader_get_for_stream (raw->a);
  raw->writer = mesh_frame_writer_get_for_stream (raw->a);
}

static void
raw_clear (Raw *raw)
{
  g_clear_object (&raw->received);
  g_clear_object (&raw->writer);
  g_clear_object (&raw->reader);
  g_clear_object (&raw->b);
  g_clear_object (&raw->a);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Raw, raw_clear)

static void
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

static void
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

static JsonObject *
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

static void
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

static void
raw_send_file_done (Raw        *raw,
                    const char *hash)
{
  g_autoptr(JsonObject) done = mesh_frame_control_new ("FILE_DONE");

  json_object_set_string_member (done, "hash", hash);
  raw_send_control (raw, done);
}

/* FOLDER_MODE "zip", then that ZIP_META. */
static void
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

static void
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
static MeshFileReceiver *
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

/* The receiver answers ERROR @code and ends with that error. */
static void
raw_assert_file_refused (Raw              *raw,
                         MeshFileReceiver *receiver,
                         const char       *code,
                         GQuark            domain,
                         int               error_code)
{
  g_autoptr(JsonObject) answer = raw_read_control (raw, "ERROR");
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (json_object_get_string_member (answer, "code"), ==, code);
  mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&raw->received), &error);
  g_assert_error (error, domain, error_code);
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
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFileReceiver) receiver = raw_file_receiver_start (&raw, fixture, NULL);
  g_autoptr(JsonObject) ack = NULL;

  raw_send_file_meta (&raw, "doc.txt", sizeof content, hash);
  ack = raw_read_control (&raw, "FILE_ACK");
  g_assert_cmpint (json_object_get_int_member (ack, "last_offset"), ==, 0);

  raw_send_chunk (&raw, 0, content, sizeof content);
  raw_send_file_done (&raw, "00000000000000000000000000000000"
                            "00000000000000000000000000000000");

  raw_assert_file_refused (&raw, receiver, "HASH_MISMATCH", MESH_FRAME_ERROR,
                           MESH_FRAME_ERROR_HASH_MISMATCH);
  /* Nothing is kept: neither a final file nor a .part to resume. */
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

static void
test_wrong_offset (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char content[] = "0123456789";
  g_autofree char *hash = sha256_hex (content, 10);
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFileReceiver) receiver = raw_file_receiver_start (&raw, fixture, NULL);
  g_autoptr(JsonObject) ack = NULL;

  raw_send_file_meta (&raw, "digits", 10, hash);
  ack = raw_read_control (&raw, "FILE_ACK");
  raw_send_chunk (&raw, 5, content + 5, 5);

  raw_assert_file_refused (&raw, receiver, "BAD_REQUEST", MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

/* A sender that fails before it offers anything says why with ERROR: both
 * receivers end with that reason (not with a complaint about the frame) and
 * write nothing. */
static void
test_sender_error_first (Fixture       *fixture,
                         gconstpointer  data)
{
  for (guint folder = 0; folder <= 1; folder++) {
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(MeshFrameWriter) writer = NULL;
    g_autoptr(MeshFileReceiver) file_receiver = NULL;
    g_autoptr(MeshFolderReceiver) folder_receiver = NULL;
    g_autoptr(GAsyncResult) received = NULL;
    g_autoptr(JsonObject) refusal = mesh_frame_error_new ("FORBIDDEN",
                                                          "the sender may not share that");
    g_autoptr(GError) error = NULL;

    make_pair (&a, &b);
    writer = mesh_frame_writer_get_for_stream (a);
    if (folder) {
      folder_receiver = mesh_folder_receiver_new (b, fixture->downloads);
      mesh_folder_receiver_receive_async (folder_receiver, NULL, on_done, &received);
    } else {
      file_receiver = mesh_file_receiver_new (b, fixture->downloads);
      mesh_file_receiver_receive_async (file_receiver, NULL, on_done, &received);
    }
    raw_send_control (writer, refusal);

    if (folder)
      mesh_folder_receiver_receive_finish (folder_receiver, wait_for (&received), &error);
    else
      mesh_file_receiver_receive_finish (file_receiver, wait_for (&received), &error);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
    g_assert_nonnull (strstr (error->message, "the sender may not share that"));
    g_assert_cmpuint (count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
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

static void
write_bytes (const char *path,
             const void *data,
             gsize       size)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, data, size, &error);
  g_assert_no_error (error);
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

/* Issue #10, 2: FILE_META against the offer the user accepted, and against
 * the free space of the download folder. */
static void
test_file_offer (Fixture       *fixture,
                 gconstpointer  data)
{
  static const char content[] = "#!/bin/sh\necho pwned\n";
  g_autofree char *hash = sha256_hex (content, strlen (content));
  struct {
    const char *name;
    gint64      size;
    const char *hash;
    int         code;
  } cases[] = {
    { "holiday.jpg", 6, NULL, MESH_ERROR_PAYLOAD_TOO_LARGE },      /* more than offered */
    { "payload.sh", 21, NULL, MESH_ERROR_PAYLOAD_TOO_LARGE },      /* still more */
    { "payload.sh", G_MAXINT64 / 2, hash, MESH_ERROR_PAYLOAD_TOO_LARGE }, /* no disk that big */
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_auto(Raw) raw = { 0 };
    g_autoptr(MeshFileReceiver) receiver = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GError) error = NULL;

    raw_open (&raw);
    receiver = mesh_file_receiver_new (raw.b, fixture->downloads);
    if (i < 2)
      mesh_file_receiver_set_offer (receiver, cases[i].name, cases[i].size, cases[i].hash);
    mesh_file_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);
    raw_send_file_meta (&raw, "payload.sh", i < 2 ? (gint64) strlen (content) + 1 : cases[i].size,
                        hash);
    answer = raw_read_control (&raw, "ERROR");
    g_test_message ("case %u: %s", i, json_object_get_string_member (answer, "message"));
    mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
    g_assert_error (error, MESH_ERROR, cases[i].code);
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }

  /* Name and hash: FORBIDDEN; the right ones pass. */
  for (guint i = 0; i < 3; i++) {
    g_autofree char *path = g_build_filename (fixture->root, i == 0 ? "payload.sh" : "holiday.jpg",
                                              NULL);
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(GFile) file = NULL;
    g_autoptr(MeshFileSender) sender = NULL;
    g_autoptr(MeshFileReceiver) receiver = NULL;
    g_autoptr(GAsyncResult) sent = NULL;
    g_autoptr(GAsyncResult) received = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) send_error = NULL;
    const char *offered_hash = i == 1 ? "00000000000000000000000000000000"
                                        "00000000000000000000000000000000" : hash;

    write_bytes (path, content, strlen (content));
    file = g_file_new_for_path (path);
    agent_test_stream_pair (&a, &b);
    sender = mesh_file_sender_new (a, file);
    receiver = mesh_file_receiver_new (b, fixture->downloads);
    mesh_file_receiver_set_offer (receiver, "holiday.jpg", strlen (content), offered_hash);
    mesh_file_receiver_receive_async (receiver, NULL, agent_test_store_result, &received);
    mesh_file_sender_send_async (sender, NULL, agent_test_store_result, &sent);
    mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&received), &error);
    g_io_stream_close (b, NULL, NULL);
    mesh_file_sender_send_finish (sender, agent_test_wait_result (&sent), &send_error);
    if (i < 2) {
      g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
      g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
    } else {
      g_assert_no_error (error);
      g_assert_no_error (send_error);
      g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 1);
    }
    g_unlink (path);
  }
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

  agent_test_stream_pair (&a, &b);
  sender = mesh_folder_sender_new (a, folder);
  receiver = mesh_folder_receiver_new (b, fixture->downloads);
  mesh_folder_receiver_set_max_size (receiver, max_size);
  mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &received);
  mesh_folder_sender_send_async (sender, NULL, agent_test_store_result, &sent);

  mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&received), receive_error);
  g_io_stream_close (b, NULL, NULL);
  mesh_folder_sender_send_finish (sender, agent_test_wait_result (&sent), send_error);
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
  agent_test_assert_same_tree (tree, result);
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
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
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

static void
add_entry (struct archive *archive,
           const char     *path,
           mode_t          mode,
           const char     *symlink_target,
           const char     *text)
{
  agent_test_archive_add (archive, path, mode, symlink_target, text,
                          text != NULL ? strlen (text) : 0);
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
  g_assert_cmpint (archive_write_open2 (archive, zip, NULL, agent_test_archive_collect, NULL,
                                        NULL), ==, ARCHIVE_OK);
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
    g_auto(Raw) raw = { 0 };
    g_autoptr(MeshFolderReceiver) receiver = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GError) error = NULL;

    raw_open (&raw);
    receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
    mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);

    raw_send_zip_meta (&raw, "innocent", 3, 10);
    raw_send_chunk (&raw, 0, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    /* The receiver may already have refused and closed nothing: the write
     * still succeeds on a socket pair. */
    raw_send_zip_done (&raw, hash, g_bytes_get_size (zip));

    answer = raw_read_control (&raw, "ZIP_DONE");
    g_assert_false (json_object_get_boolean_member (answer, "ok"));
    g_test_message ("case %d refused: %s", evil, json_object_get_string_member (answer, "error"));
    mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
    g_assert_nonnull (error);
    g_assert_null (mesh_folder_receiver_get_folder (receiver));

    /* Nothing outside, and the partial tree is gone. */
    g_assert_cmpuint (agent_test_count_entries (fixture->outside), ==, 0);
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
}

static void
test_folder_hash_mismatch (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = archive_write_new ();
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFolderReceiver) receiver = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(GError) error = NULL;

  archive_write_set_format_zip (archive);
  archive_write_set_bytes_per_block (archive, 0);
  archive_write_open2 (archive, zip, NULL, agent_test_archive_collect, NULL, NULL);
  add_entry (archive, "a.txt", AE_IFREG | 0644, NULL, "content\n");
  archive_write_close (archive);
  archive_write_free (archive);

  raw_open (&raw);
  receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
  mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);

  raw_send_zip_meta (&raw, "folder", 1, 8);
  raw_send_chunk (&raw, 0, zip->data, zip->len);
  raw_send_zip_done (&raw, "11111111111111111111111111111111"
                           "11111111111111111111111111111111", zip->len);

  answer = raw_read_control (&raw, "ZIP_DONE");
  g_assert_false (json_object_get_boolean_member (answer, "ok"));
  mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH);
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

/* A zip of entries written as given (links stored as links). */
typedef struct {
  const char *path;
  mode_t      mode;
  const char *target;
  const char *text;
} Entry;

static GBytes *
make_zip (const Entry *entries,
          guint        n)
{
  g_autoptr(GByteArray) zip = g_byte_array_new ();
  struct archive *archive = agent_test_zip_writer_new (zip);

  for (guint i = 0; i < n; i++)
    add_entry (archive, entries[i].path, entries[i].mode, entries[i].target, entries[i].text);
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  return g_byte_array_free_to_bytes (g_steal_pointer (&zip));
}

/* Sends @zip as folder @name with that ZIP_META; returns the receiver's
 * error (NULL: extracted). */
static GError *
send_zip (Fixture    *fixture,
          GBytes     *zip,
          const char *offered_name,
          guint64     offered_size,
          const char *name,
          gint64      entries,
          gint64      total_bytes,
          gsize       pad)
{
  g_autofree char *hash = NULL;
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFolderReceiver) receiver = NULL;
  g_autoptr(JsonObject) answer = NULL;
  g_autoptr(MeshSha256) sha = mesh_sha256_new ();
  g_autofree guint8 *zeros = g_malloc0 (256 * 1024);
  GError *error = NULL;
  guint64 offset = 0;
  const char *t;

  raw_open (&raw);
  receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
  if (offered_name != NULL)
    mesh_folder_receiver_set_offer (receiver, offered_name, offered_size);
  mesh_folder_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);

  raw_send_zip_meta (&raw, name, entries, total_bytes);
  /* A socket pair takes the writes even after the receiver stopped reading
   * (up to its buffer): stop at the first refusal. */
  if (raw.received == NULL) {
    raw_send_chunk (&raw, 0, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    mesh_sha256_update (sha, g_bytes_get_data (zip, NULL), g_bytes_get_size (zip));
    offset = g_bytes_get_size (zip);
  }
  /* Bytes after the zip's end (hashed, never extracted). */
  while (raw.received == NULL && pad > 0) {
    gsize n = MIN (pad, 256 * 1024);
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GBytes) payload = mesh_frame_chunk_new (offset, zeros, n);

    mesh_frame_writer_write_async (raw.writer, MESH_FRAME_CHUNK, payload, NULL,
                                   agent_test_store_result, &result);
    while (result == NULL && raw.received == NULL)
      g_main_context_iteration (NULL, TRUE);
    /* Refused meanwhile: its answer is already on its way to us; closing
     * its end unblocks our write. */
    if (result == NULL)
      g_io_stream_close (raw.b, NULL, NULL);
    if (!mesh_frame_writer_write_finish (raw.writer, agent_test_wait_result (&result), NULL))
      break;
    mesh_sha256_update (sha, zeros, n);
    offset += n;
    pad -= n;
  }
  hash = mesh_sha256_free_to_hex (g_steal_pointer (&sha));
  if (raw.received == NULL)
    raw_send_zip_done (&raw, hash, offset);

  {
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GBytes) payload = NULL;
    MeshFrameType type;

    mesh_frame_reader_read_async (raw.reader, NULL, agent_test_store_result, &result);
    mesh_frame_reader_read_finish (raw.reader, agent_test_wait_result (&result), &type, &payload,
                                   NULL);
    answer = payload != NULL ? mesh_frame_control_parse (payload, &t, NULL) : NULL;
  }
  mesh_folder_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
  g_test_message ("%s: %s", name, error != NULL ? error->message : "extracted");
  if (error != NULL) {
    /* The sender hears why, and nothing stays behind. */
    g_assert_nonnull (answer);
    g_assert_null (mesh_folder_receiver_get_folder (receiver));
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
  g_assert_cmpuint (agent_test_count_entries (fixture->outside), ==, 0);
  return error;
}

/* Issue #10, 3: links checked as text let a chain climb out; now no link may
 * have ".." or an absolute target, and no entry is created through a link. */
static void
test_link_chains (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autofree char *abs_target = g_build_filename (fixture->outside, "x", NULL);
  const Entry chain[] = {
    { "a", AE_IFLNK | 0777, ".", NULL },
    { "b", AE_IFLNK | 0777, "a/..", NULL },
    { "c", AE_IFLNK | 0777, "b/..", NULL },
  };
  const Entry deep_chain[] = {
    { "d/e", AE_IFLNK | 0777, ".", NULL },
    { "d/f", AE_IFLNK | 0777, "e/e/e/..", NULL },
  };
  const Entry through[] = {
    { "sub/", AE_IFDIR | 0755, NULL, NULL },
    { "in", AE_IFLNK | 0777, "sub", NULL },
    { "in/file.txt", AE_IFREG | 0644, NULL, "through a link\n" },
  };
  const Entry dot_through[] = {
    { "here", AE_IFLNK | 0777, ".", NULL },
    { "here/here/file.txt", AE_IFREG | 0644, NULL, "x\n" },
  };
  const Entry absolute[] = {
    { "abs", AE_IFLNK | 0777, abs_target, NULL },
  };
  const Entry file_as_dir[] = {
    { "plain", AE_IFREG | 0644, NULL, "x\n" },
    { "plain/inner", AE_IFREG | 0644, NULL, "x\n" },
  };
  const Entry twice[] = {
    { "same.txt", AE_IFREG | 0644, NULL, "1\n" },
    { "same.txt", AE_IFREG | 0644, NULL, "2\n" },
  };
  const Entry fine[] = {
    { "dir/", AE_IFDIR | 0755, NULL, NULL },
    { "dir/file.txt", AE_IFREG | 0644, NULL, "ok\n" },
    { "dot", AE_IFLNK | 0777, ".", NULL },
    { "down", AE_IFLNK | 0777, "dir/file.txt", NULL },
    { "via", AE_IFLNK | 0777, "dot/dot/down", NULL },
  };
  struct {
    const Entry *entries;
    guint        n;
  } refused[] = {
    { chain, G_N_ELEMENTS (chain) },
    { deep_chain, G_N_ELEMENTS (deep_chain) },
    { through, G_N_ELEMENTS (through) },
    { dot_through, G_N_ELEMENTS (dot_through) },
    { absolute, G_N_ELEMENTS (absolute) },
    { file_as_dir, G_N_ELEMENTS (file_as_dir) },
    { twice, G_N_ELEMENTS (twice) },
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr(GBytes) zip = make_zip (refused[i].entries, refused[i].n);
    g_autoptr(GError) error = send_zip (fixture, zip, NULL, 0, "links", 10, 100, 0);

    g_assert_nonnull (error);
  }

  /* Links that only lead down still arrive, chained or not. */
  {
    g_autoptr(GBytes) zip = make_zip (fine, G_N_ELEMENTS (fine));
    g_autoptr(GError) error = send_zip (fixture, zip, NULL, 0, "fine", 5, 3, 0);
    g_autofree char *via = g_build_filename (g_file_peek_path (fixture->downloads), "fine", "via",
                                             NULL);
    g_autofree char *text = NULL;

    g_assert_no_error (error);
    g_assert_true (g_file_get_contents (via, &text, NULL, NULL));
    g_assert_cmpstr (text, ==, "ok\n");
  }
}

/* Hard links cannot be stored in a zip by libarchive; a tar can carry them,
 * so the extraction step is fed one directly. */
static void
test_hard_links (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GByteArray) tar = g_byte_array_new ();
  g_autofree char *outside_file = g_build_filename (fixture->outside, "secret", NULL);
  g_autofree char *root = g_build_filename (fixture->root, "extract", NULL);
  struct archive *out = archive_write_new ();
  struct archive *in = archive_read_new ();
  struct archive_entry *entry;
  const char *targets[] = { outside_file, "../outside/secret", "inside.txt" };
  MeshExtractLimits limits = { .max_created = 10, .max_bytes = 1000 };
  int root_fd;

  write_text (fixture->outside, "secret", "secret\n");
  archive_write_set_format_pax_restricted (out);
  g_assert_cmpint (archive_write_open2 (out, tar, NULL, agent_test_archive_collect, NULL, NULL), ==,
                   ARCHIVE_OK);
  add_entry (out, "inside.txt", AE_IFREG | 0644, NULL, "inside\n");
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++) {
    g_autofree char *name = g_strdup_printf ("hard-%u", i);

    entry = archive_entry_new ();
    archive_entry_set_pathname (entry, name);
    archive_entry_set_mode (entry, AE_IFREG | 0644);
    archive_entry_set_hardlink (entry, targets[i]);
    g_assert_cmpint (archive_write_header (out, entry), ==, ARCHIVE_OK);
    archive_entry_free (entry);
  }
  archive_write_close (out);
  archive_write_free (out);

  g_assert_no_errno (g_mkdir (root, 0755));
  root_fd = open (root, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint (root_fd, >=, 0);
  archive_read_support_format_tar (in);
  g_assert_cmpint (archive_read_open_memory (in, tar->data, tar->len), ==, ARCHIVE_OK);
  for (guint i = 0; archive_read_next_header (in, &entry) == ARCHIVE_OK; i++) {
    g_autoptr(GError) error = NULL;
    gboolean ok = mesh_safe_path_extract_entry (root_fd, in, entry, &limits, &error);

    if (i == 0) {
      g_assert_no_error (error);
      g_assert_true (ok);
    } else {
      g_test_message ("%s", error->message);
      g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_UNSAFE_ENTRY);
    }
  }
  archive_read_free (in);
  close (root_fd);
  g_assert_cmpuint (agent_test_count_entries (root), ==, 1);
  g_assert_cmpuint (limits.bytes, ==, strlen ("inside\n"));
  g_assert_cmpuint (limits.created, ==, 1);
}

/* Issue #10, 2: ZIP_META against the accepted offer, the zip against
 * ZIP_META (counting what is written, not what headers say), and the free
 * space of the download folder. */
static void
test_folder_limits (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autofree char *big = g_malloc0 (100 * 1024 + 1);
  const Entry three[] = {
    { "a.txt", AE_IFREG | 0644, NULL, "aaaa" },
    { "b/", AE_IFDIR | 0755, NULL, NULL },
    { "b/c.txt", AE_IFREG | 0644, NULL, "cccc" },
  };
  Entry large[] = {
    { "large.bin", AE_IFREG | 0644, NULL, NULL },
  };
  g_autoptr(GBytes) zip = make_zip (three, G_N_ELEMENTS (three));
  g_autoptr(GBytes) large_zip = NULL;
  g_autoptr(GBytes) deep_zip = NULL;
  g_autoptr(GString) deep_path = g_string_new (NULL);
  Entry deep[] = {
    { NULL, AE_IFREG | 0644, NULL, "x" },
  };
  GError *error;

  for (guint i = 0; i < 40; i++)
    g_string_append (deep_path, "d/");
  g_string_append (deep_path, "file");
  deep[0].path = deep_path->str;
  deep_zip = make_zip (deep, 1);

  memset (big, 'x', 100 * 1024);
  large[0].text = big;
  large_zip = make_zip (large, 1);

  /* More entries, or more bytes, than ZIP_META said. */
  error = send_zip (fixture, zip, NULL, 0, "entries", 2, 8, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* Folders made on the way count: one entry, 40 folders on disk. */
  error = send_zip (fixture, deep_zip, NULL, 0, "implicit", 1, 1, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  error = send_zip (fixture, zip, NULL, 0, "bytes", 3, 7, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  error = send_zip (fixture, large_zip, NULL, 0, "large", 1, 100 * 1024 - 1, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* A zip much larger than its entries can be (padding after its end). */
  error = send_zip (fixture, zip, NULL, 0, "padded", 3, 8, 4 * 1024 * 1024);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* ZIP_META against the offer: more bytes, another name. */
  error = send_zip (fixture, zip, "album", 7, "album", 3, 8, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  error = send_zip (fixture, zip, "album", 8, "other", 3, 8, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
  g_clear_error (&error);
  /* More than any disk holds. */
  error = send_zip (fixture, zip, NULL, 0, "huge", 3, G_MAXINT64 / 2, 0);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "free space"));
  g_clear_error (&error);

  /* Exactly what was offered and announced arrives. */
  error = send_zip (fixture, zip, "album", 8, "album", 3, 8, 0);
  g_assert_no_error (error);
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
  ADD ("/mesh/transfer/file/hash-cache", test_hash_cache);
  ADD ("/mesh/transfer/file/hash-cache-bounded", test_hash_cache_bounded);
  ADD ("/mesh/transfer/file/no-resume-for-other-file", test_no_resume_for_other_file);
  ADD ("/mesh/transfer/file/hostile-names", test_hostile_names);
  ADD ("/mesh/transfer/file/max-size", test_max_size);
  ADD ("/mesh/transfer/file/hash-mismatch", test_hash_mismatch);
  ADD ("/mesh/transfer/file/wrong-offset", test_wrong_offset);
  ADD ("/mesh/transfer/sender-error-first", test_sender_error_first);
  ADD ("/mesh/transfer/file/part-per-session", test_part_per_session);
  ADD ("/mesh/transfer/file/discard", test_discard);
  ADD ("/mesh/transfer/file/offer", test_file_offer);
  ADD ("/mesh/transfer/folder/tree", test_folder);
  ADD ("/mesh/transfer/folder/max-size", test_folder_max_size);
  ADD ("/mesh/transfer/folder/hostile-archives", test_hostile_archives);
  ADD ("/mesh/transfer/folder/hash-mismatch", test_folder_hash_mismatch);
  ADD ("/mesh/transfer/folder/link-chains", test_link_chains);
  ADD ("/mesh/transfer/folder/hard-links", test_hard_links);
  ADD ("/mesh/transfer/folder/limits", test_folder_limits);

#undef ADD

  return g_test_run ();
}
