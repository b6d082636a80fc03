/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "mesh-transfer-util.h"
#include "agent-test-util.h"

#include "test-agent-e2e-private.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* End-to-end file and folder transfers between `mesh-agent` processes:
 * whole, resumed after a kill, refused. */

#define LARGE_SIZE  (256 * 1024 * 1024)

/* Helpers */

static char *
file_sha256 (const char *path)
{
  g_autoptr(MeshSha256) sha = mesh_sha256_new ();
  g_autofree guint8 *buffer = g_malloc (1024 * 1024);
  FILE *f = fopen (path, "rb");
  gsize n;

  g_assert_nonnull (f);
  while ((n = fread (buffer, 1, 1024 * 1024, f)) > 0)
    mesh_sha256_update (sha, buffer, n);
  fclose (f);
  return mesh_sha256_free_to_hex (g_steal_pointer (&sha));
}

/* The .part of a file being received (the receiver tags its name). */
static char *
find_part (const char *prefix)
{
  g_autoptr(GDir) dir = g_dir_open (shared.download_dir, 0, NULL);
  const char *child;

  while (dir != NULL && (child = g_dir_read_name (dir)) != NULL) {
    if (g_str_has_prefix (child, prefix) && g_str_has_suffix (child, ".part"))
      return received (child);
  }
  return NULL;
}

static int
send_path (guint        user,
           const char  *path,
           char       **err)
{
  start_bob ();
  return agent_run (NULL, NULL, err, "send", "--state-dir", shared.state_dir[user], "--room", "lab",
                    "--to", shared.device_id[BOB], "--listen", "127.0.0.1", path, NULL);
}

/* Tests: files */

static void
test_small_file (void)
{
  g_autofree char *path = g_build_filename (shared.tmp, "hello.txt", NULL);
  g_autofree char *got = received ("hello.txt");
  g_autofree char *contents = NULL;

  start_bob ();
  g_assert_true (g_file_set_contents (path, "Hello, Bob!\n", -1, NULL));
  g_assert_cmpint (send_path (ALICE, path, NULL), ==, 0);
  g_assert_true (g_file_get_contents (got, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "Hello, Bob!\n");
  g_assert_true (wait_for_text (shared.bob_log, "file session"));
}

static void
test_large_file (void)
{
  g_autofree char *path = g_build_filename (shared.tmp, "large.bin", NULL);
  g_autofree char *got = received ("large.bin");
  g_autofree char *want = NULL, *have = NULL;

  write_random_file (path, LARGE_SIZE, 1);
  want = file_sha256 (path);
  g_assert_cmpint (send_path (ALICE, path, NULL), ==, 0);
  have = file_sha256 (got);
  g_assert_cmpstr (have, ==, want);
  g_unlink (path);
  g_unlink (got);
}

/* The agent remembers the hash of a file it sent (its state folder's hash-cache), so that
 * sending it again unchanged does not read it twice: the controller hands the cache to the
 * file sender. */
static void
test_hash_cached (void)
{
  g_autofree char *path = g_build_filename (shared.tmp, "cached.bin", NULL);
  g_autofree char *got = received ("cached.bin");
  g_autofree char *cache = g_build_filename (shared.state_dir[ALICE], "hash-cache", NULL);
  g_autofree char *want = NULL, *have = NULL, *text = NULL;
  struct timespec times[2] = { { 0, UTIME_OMIT }, { 0, 0 } };

  write_random_file (path, 1024 * 1024, 4);
  want = file_sha256 (path);
  /* Saved an hour ago: not "racy" (mesh-hash-cache.c), so it may be cached. */
  times[1].tv_sec = g_get_real_time () / G_USEC_PER_SEC - 3600;
  g_assert_no_errno (utimensat (AT_FDCWD, path, times, 0));
  g_usleep (200 * 1000);

  g_assert_cmpint (send_path (ALICE, path, NULL), ==, 0);
  have = file_sha256 (got);
  g_assert_cmpstr (have, ==, want);
  g_assert_true (g_file_get_contents (cache, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, want));
  g_unlink (path);
  g_unlink (got);
}

static void
test_resume (void)
{
  g_autofree char *path = g_build_filename (shared.tmp, "resume.bin", NULL);
  g_autofree char *part = NULL;
  g_autofree char *got = received ("resume.bin");
  g_autofree char *log = g_build_filename (shared.tmp, "send-killed.log", NULL);
  g_autofree char *want = NULL, *have = NULL, *text = NULL;
  g_autoptr(GSubprocess) sender = NULL;
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;
  const char *line;
  struct stat st = { 0 };
  guint64 resumed;

  write_random_file (path, LARGE_SIZE, 2);
  want = file_sha256 (path);
  sender = agent_spawn (log, "send", "--state-dir", shared.state_dir[ALICE], "--room", "lab",
                        "--to", shared.device_id[BOB], "--listen", "127.0.0.1", path, NULL);
  /* Kill the sender once the receiver holds a good part of the file. */
  while ((part == NULL || g_stat (part, &st) != 0 || st.st_size < 32 * 1024 * 1024) &&
         g_get_monotonic_time () < end) {
    if (part == NULL)
      part = find_part ("resume.bin.");
    mesh_test_pump (20);
  }
  g_assert_cmpint (st.st_size, >=, 32 * 1024 * 1024);
  g_subprocess_send_signal (sender, SIGKILL);
  wait_process (sender);
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (got, G_FILE_TEST_EXISTS));

  g_assert_cmpint (send_path (ALICE, path, NULL), ==, 0);
  have = file_sha256 (got);
  g_assert_cmpstr (have, ==, want);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));

  /* The receiver says where it resumed. */
  g_assert_true (wait_for_text (shared.bob_log, "“resume.bin” from alice"));
  text = read_text (shared.bob_log);
  line = strstr (text, "“resume.bin” from alice");
  line = strstr (line, "resumed at ");
  g_assert_nonnull (line);
  resumed = g_ascii_strtoull (line + strlen ("resumed at "), NULL, 10);
  g_test_message ("resumed at %" G_GUINT64_FORMAT, resumed);
  g_assert_cmpuint (resumed, >=, 32 * 1024 * 1024);
  g_unlink (path);
  g_unlink (got);
}

/* Ten times in a row one side dies abruptly (SIGKILL) at a random point of a transfer: while
 * the sender hashes, right after the offer, or anywhere in the data.  Each next send resumes
 * what the .part holds, and the eleventh brings an identical file.  The points come from
 * g_test_rand_int(): --seed repeats a run. */
static void
test_resume_killed_repeatedly (void)
{
  const gsize size = 192 * 1024 * 1024;
  g_autofree char *path = g_build_filename (shared.tmp, "killed.bin", NULL);
  g_autofree char *got = received ("killed.bin");
  g_autofree char *log = g_build_filename (shared.tmp, "send-killed-again.log", NULL);
  g_autofree char *want = NULL, *have = NULL, *part = NULL, *text = NULL;
  const char *line;
  guint64 resumed;

  write_random_file (path, size, 3);
  want = file_sha256 (path);
  start_bob ();

  for (guint round = 0; round < 10; round++) {
    g_autoptr(GSubprocess) sender = NULL;
    gboolean kill_receiver = g_test_rand_int_range (0, 2) == 1;
    gint64 before = 0, target, end = g_get_monotonic_time () + WAIT_MS * 1000, early_kill;
    struct stat st = { 0 };

    g_clear_pointer (&part, g_free);
    part = find_part ("killed.bin.");
    if (part != NULL && g_stat (part, &st) == 0)
      before = st.st_size;
    /* Somewhere in the next fifteenth of the file (so that ten rounds never finish it); the
     * nearest points become a random moment instead: while the sender hashes, the session is
     * set up or the receiver re-reads its .part, possibly before it made one at all. */
    target = before + (gint64) (size / 15 * g_test_rand_double ());
    early_kill = g_get_monotonic_time () + g_test_rand_int_range (0, 100) * 1000;

    sender = agent_spawn (log, "send", "--state-dir", shared.state_dir[ALICE], "--room", "lab",
                          "--to", shared.device_id[BOB], "--listen", "127.0.0.1", path, NULL);
    for (;;) {
      g_clear_pointer (&part, g_free);
      part = find_part ("killed.bin.");
      if (part == NULL || g_stat (part, &st) != 0)
        st.st_size = 0;
      if (target - before < 4 * 1024 * 1024 ? g_get_monotonic_time () >= early_kill
                                             : st.st_size >= target)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      /* Killed before it ends: a complete file here would prove nothing. */
      g_assert_false (g_file_test (got, G_FILE_TEST_EXISTS));
      mesh_test_pump (5);
    }
    if (kill_receiver) {
      g_subprocess_send_signal (shared.bob_run, SIGKILL);
      wait_process (shared.bob_run);
      g_clear_object (&shared.bob_run);
    }
    g_subprocess_send_signal (sender, SIGKILL);
    wait_process (sender);
    g_assert_false (g_file_test (got, G_FILE_TEST_EXISTS));
    g_clear_pointer (&part, g_free);
    part = find_part ("killed.bin.");
    if (part == NULL || g_stat (part, &st) != 0)
      st.st_size = 0;
    g_test_message ("round %u: killed the %s with %" G_GINT64_FORMAT " bytes in the .part (had %"
                    G_GINT64_FORMAT ", target %" G_GINT64_FORMAT ")", round,
                    kill_receiver ? "receiver" : "sender", (gint64) st.st_size, before, target);
    /* What was received stays received: each try resumes, none starts over. */
    g_assert_cmpint (st.st_size, >=, before);
    start_bob ();
  }

  g_assert_cmpint (send_path (ALICE, path, NULL), ==, 0);
  have = file_sha256 (got);
  g_assert_cmpstr (have, ==, want);
  g_clear_pointer (&part, g_free);
  part = find_part ("killed.bin.");
  g_assert_null (part);

  /* The last send did resume (unless the last kill came before any byte was written). */
  g_assert_true (wait_for_text (shared.bob_log, "“killed.bin” from alice"));
  text = read_text (shared.bob_log);
  line = strstr (text, "“killed.bin” from alice");
  line = line != NULL ? strstr (line, "resumed at ") : NULL;
  resumed = line != NULL ? g_ascii_strtoull (line + strlen ("resumed at "), NULL, 10) : 0;
  g_test_message ("the last send resumed at %" G_GUINT64_FORMAT, resumed);
  g_unlink (path);
  g_unlink (got);
}

static void
test_rejected (void)
{
  g_autofree char *path = g_build_filename (shared.tmp, "from-carol.txt", NULL);
  g_autofree char *got = received ("from-carol.txt");
  g_autofree char *err = NULL;

  g_assert_true (g_file_set_contents (path, "unwanted", -1, NULL));
  g_assert_cmpint (send_path (CAROL, path, &err), ==, 1);
  g_assert_nonnull (strstr (err, "P2P_SESSION_DENIED"));
  g_assert_false (g_file_test (got, G_FILE_TEST_EXISTS));
  g_assert_true (wait_for_text (shared.bob_log, "Refused file session"));
}

/* Tests: folders */

static void
test_folder (void)
{
  g_autofree char *root = g_build_filename (shared.tmp, "tree", NULL);
  g_autofree char *deep = g_build_filename (root, "a", "b", "c", NULL);
  g_autofree char *unicode = g_build_filename (root, "ünïcødé 名前", NULL);
  g_autofree char *empty_dir = g_build_filename (root, "empty-dir", NULL);
  g_autofree char *got = received ("tree");
  g_autofree char *p = NULL;

  g_assert_cmpint (g_mkdir_with_parents (deep, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (unicode, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (empty_dir, 0755), ==, 0);
  p = g_build_filename (deep, "deep.txt", NULL);
  g_assert_true (g_file_set_contents (p, "deep down\n", -1, NULL));
  g_free (p);
  p = g_build_filename (unicode, "файл ☃.txt", NULL);
  g_assert_true (g_file_set_contents (p, "snow\n", -1, NULL));
  g_free (p);
  p = g_build_filename (root, "empty.txt", NULL);
  g_assert_true (g_file_set_contents (p, "", 0, NULL));
  g_free (p);
  p = g_build_filename (root, "link", NULL);
  g_assert_cmpint (symlink ("a/b/c/deep.txt", p), ==, 0);
  g_free (p);
  p = g_build_filename (root, "big.bin", NULL);
  write_random_file (p, 3 * 1024 * 1024 + 17, 3);

  g_assert_cmpint (send_path (ALICE, root, NULL), ==, 0);
  agent_test_assert_same_tree (root, got);
}

void
test_agent_e2e_add_files_tests (void)
{
  g_test_add_func ("/mesh/agent-e2e/file-small", test_small_file);
  g_test_add_func ("/mesh/agent-e2e/file-large", test_large_file);
  g_test_add_func ("/mesh/agent-e2e/file-hash-cached", test_hash_cached);
  g_test_add_func ("/mesh/agent-e2e/file-resume", test_resume);
  g_test_add_func ("/mesh/agent-e2e/file-resume-killed-repeatedly", test_resume_killed_repeatedly);
  g_test_add_func ("/mesh/agent-e2e/file-rejected", test_rejected);
  g_test_add_func ("/mesh/agent-e2e/folder", test_folder);
}
