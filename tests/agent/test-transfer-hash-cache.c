/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "test-transfer-private.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

/* The sender's hash cache: what it may skip hashing, and its bound. */

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

void
test_transfer_add_hash_cache_tests (void)
{
  transfer_test_add ("/mesh/transfer/file/hash-cache", test_hash_cache);
  transfer_test_add ("/mesh/transfer/file/hash-cache-bounded", test_hash_cache_bounded);
}
