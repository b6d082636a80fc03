/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "mesh-agent-controller.h"
#include "mesh-agent-identity.h"
#include "mesh-agent-session.h"
#include "mesh-agent-state.h"
#include "mesh-error.h"
#include "mesh-file-transfer.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-quic-endpoint.h"
#include "mesh-test-server.h"
#include "mesh-transfer-util.h"

#include "agent-test-util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* End-to-end: a real mesh-server, real `mesh-agent` processes and, where
 * the test must see or forge the data plane, in-process controllers and a
 * raw QUIC client.  Everything on 127.0.0.1. */

#define PASSWORD    "correct horse battery"
#define WAIT_MS     60000
#define LARGE_SIZE  (256 * 1024 * 1024)

enum { ALICE, BOB, CAROL, N_USERS };
static const char *usernames[N_USERS] = { "alice", "bob", "carol" };

static struct {
  MeshTestServer *server;
  char           *tmp;
  char           *token[N_USERS];
  char           *user_id[N_USERS];
  char           *state_dir[N_USERS];
  char           *device_id[N_USERS];
  char           *room_id;
  char           *download_dir;
  GSubprocess    *bob_run;
  char           *bob_log;
  MeshTestClient *watcher;   /* alice's client in the room: sees agents join */
} shared;

/* Helpers: processes */

static const char *
agent_bin (void)
{
  static char *path;

  if (path == NULL)
    path = g_test_build_filename (G_TEST_BUILT, "mesh-agent", NULL);
  return path;
}

/* An agent left running by a test that aborted would hold the test's output
 * open and keep meson waiting until its timeout. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *
launcher_new (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);

  /* A warning in an agent must not abort it here: the test judges its output. */
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  g_subprocess_launcher_setenv (launcher, "SHELL", "/bin/sh", TRUE);
  return launcher;
}

/* Runs mesh-agent to the end; returns its exit status. */
static int
agent_run (const char  *stdin_text,
           char       **out,
           char       **err,
           ...)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *o = NULL, *e = NULL;
  const char *arg;
  va_list ap;

  g_ptr_array_add (argv, (char *) agent_bin ());
  va_start (ap, err);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                           G_SUBPROCESS_FLAGS_STDERR_PIPE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, stdin_text, NULL, &o, &e, &error);
  g_assert_no_error (error);
  g_test_message ("mesh-agent %s → %d\nstdout: %s\nstderr: %s", (char *) argv->pdata[1],
                  g_subprocess_get_exit_status (process), o, e);
  if (out != NULL)
    *out = g_steal_pointer (&o);
  if (err != NULL)
    *err = g_steal_pointer (&e);
  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

/* Starts mesh-agent with stdout and stderr going to @log. */
static GSubprocess *
agent_spawn (const char *log,
             ...)
{
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                          G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  const char *arg;
  va_list ap;

  g_ptr_array_add (argv, (char *) agent_bin ());
  va_start (ap, log);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

static int
wait_process (GSubprocess *process)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

static char *
read_text (const char *path)
{
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

/* Pumps until @path contains @needle. */
static gboolean
wait_for_text (const char *path,
               const char *needle)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (g_get_monotonic_time () < end) {
    g_autofree char *text = read_text (path);

    if (strstr (text, needle) != NULL)
      return TRUE;
    mesh_test_pump (50);
  }
  return FALSE;
}

/* Waits until the watcher saw @device_id join the room. */
static void
wait_agent_joined (const char *device_id)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (g_get_monotonic_time () < end) {
    g_autoptr(JsonObject) frame = mesh_test_client_wait_for_type (shared.watcher, "room.joined",
                                                                  1000);
    const char *joined;

    if (frame == NULL)
      continue;
    joined = json_object_get_string_member_with_default (mesh_test_frame_payload (frame),
                                                         "device_id", "");
    if (g_str_equal (joined, device_id))
      return;
  }
  g_error ("agent %s never joined the room", device_id);
}

/* Helpers: files */

static void
write_random_file (const char *path,
                   gsize       size,
                   guint32     seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autofree guint32 *block = g_new (guint32, 1024 * 1024 / 4);
  FILE *f = fopen (path, "wb");

  g_assert_nonnull (f);
  for (gsize done = 0; done < size;) {
    gsize n = MIN (size - done, 1024 * 1024);

    for (gsize i = 0; i < (n + 3) / 4; i++)
      block[i] = g_rand_int (rand);
    g_assert_cmpuint (fwrite (block, 1, n, f), ==, n);
    done += n;
  }
  fclose (f);
}

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

static char *
received (const char *name)
{
  return g_build_filename (shared.download_dir, name, NULL);
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

/* Helpers: async waits on the main context */

typedef struct {
  GAsyncResult *result;
} AsyncWait;

static void
on_async_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  AsyncWait *wait = user_data;

  wait->result = g_object_ref (result);
}

static GAsyncResult *
wait_result (AsyncWait *wait)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (wait->result == NULL && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (wait->result);
  return wait->result;
}

/* Tests: accounts */

static void
test_login (void)
{
  g_autofree char *nowhere = g_build_filename (shared.tmp, "nowhere", NULL);
  g_autofree char *agent_json = NULL;
  g_autofree char *out = NULL, *err = NULL;
  const char *url = mesh_test_server_get_base_url (shared.server);
  struct stat st;

  /* Usage errors. */
  g_assert_cmpint (agent_run (NULL, NULL, NULL, NULL), ==, 2);
  g_assert_cmpint (agent_run (NULL, NULL, NULL, "frobnicate", NULL), ==, 2);
  g_assert_cmpint (agent_run (NULL, NULL, NULL, "send", "--state-dir", nowhere, NULL), ==, 2);
  g_assert_cmpint (agent_run (NULL, &out, NULL, "send", "--help", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "--room"));
  /* Not logged in. */
  g_assert_cmpint (agent_run (NULL, NULL, NULL, "devices", "--state-dir", nowhere, NULL), ==, 3);
  g_assert_cmpint (agent_run (NULL, NULL, NULL, "run", "--state-dir", nowhere, NULL), ==, 3);
  /* A wrong password, and a server that is not there. */
  g_assert_cmpint (agent_run ("not the password\n", NULL, NULL, "login", "--state-dir", nowhere,
                              "--server", url, "--user", "alice", NULL), ==, 3);
  g_assert_cmpint (agent_run (PASSWORD "\n", NULL, NULL, "login", "--state-dir", nowhere,
                              "--server", "http://127.0.0.1:1", "--user", "alice", NULL), ==, 4);

  for (guint i = 0; i < N_USERS; i++) {
    g_autofree char *device_out = NULL;
    g_autofree char *name = g_strdup_printf ("%s-box", usernames[i]);

    g_assert_cmpint (agent_run (PASSWORD "\n", &device_out, NULL, "login", "--state-dir",
                                shared.state_dir[i], "--server", url, "--user", usernames[i],
                                "--device-name", name, NULL), ==, 0);
    g_strstrip (device_out);
    g_assert_cmpuint (strlen (device_out), ==, 36);
    shared.device_id[i] = g_steal_pointer (&device_out);
  }

  agent_json = g_build_filename (shared.state_dir[ALICE], "agent.json", NULL);
  g_assert_cmpint (g_stat (agent_json, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_clear_pointer (&out, g_free);
  g_assert_cmpint (agent_run (NULL, &out, &err, "devices", "--state-dir", shared.state_dir[ALICE],
                              NULL), ==, 0);
  g_assert_nonnull (strstr (out, shared.device_id[ALICE]));
  g_assert_nonnull (strstr (out, "alice-box"));
  g_assert_nonnull (strstr (out, "(this device)"));
  g_assert_null (strstr (out, shared.device_id[BOB]));
}

static void
start_bob (void)
{
  if (shared.bob_run != NULL)
    return;
  g_free (shared.bob_log);
  shared.bob_log = g_build_filename (shared.tmp, "bob-run.log", NULL);
  shared.bob_run = agent_spawn (shared.bob_log, "run", "--state-dir", shared.state_dir[BOB],
                                "--download-dir", shared.download_dir, "--accept-from", "alice",
                                "--listen", "127.0.0.1", NULL);
  wait_agent_joined (shared.device_id[BOB]);
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

/* Tests: the data plane against a forged client */

typedef struct {
  MeshAgentIdentity *identity;
  MeshQuicEndpoint  *endpoint;
  MeshTestClient    *client;
  char              *device_id;
} Raw;

static void
raw_free (Raw *raw)
{
  g_clear_pointer (&raw->client, mesh_test_client_free);
  if (raw->endpoint != NULL)
    mesh_quic_endpoint_shutdown (raw->endpoint);
  g_clear_object (&raw->endpoint);
  g_clear_object (&raw->identity);
  g_free (raw->device_id);
  g_free (raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Raw, raw_free)

/* An agent of alice's made by hand: its own identity, device and socket.
 * Every one shares the same identity (certificate); @device_name picks the
 * device. */
static Raw *
raw_new_named (const char *device_name)
{
  g_autofree char *dir = g_build_filename (shared.tmp, "raw-agent", NULL);
  g_autofree char *body = NULL, *quic = NULL, *join = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) bind = g_inet_socket_address_new (loopback, 0);
  g_autoptr(MeshTestResponse) r = NULL;
  g_autoptr(JsonObject) joined = NULL;
  Raw *raw = g_new0 (Raw, 1);
  JsonObject *obj;

  g_mkdir_with_parents (dir, 0700);
  raw->identity = mesh_agent_identity_load_or_create (dir, &error);
  g_assert_no_error (error);
  raw->endpoint = mesh_quic_endpoint_new (raw->identity, G_INET_SOCKET_ADDRESS (bind), &error);
  g_assert_no_error (error);
  body = g_strdup_printf ("{\"name\":\"%s\",\"fingerprint\":\"%s\"}", device_name,
                          mesh_agent_identity_get_fingerprint (raw->identity));
  r = mesh_test_request (shared.server, "POST", "/api/v1/devices", shared.token[ALICE], body);
  g_assert_cmpuint (r->status, ==, 201);
  obj = mesh_test_response_object (r);
  raw->device_id = g_strdup (json_object_get_string_member (obj, "device_id"));
  quic = g_strdup_printf ("\"quic\":{\"port\":%u,\"fingerprint\":\"%s\"}",
                          mesh_quic_endpoint_get_port (raw->endpoint),
                          mesh_agent_identity_get_fingerprint (raw->identity));
  raw->client = mesh_test_client_new_hello (shared.server,
                                            json_object_get_string_member (obj, "device_token"),
                                            "agent", quic, NULL);
  join = g_strdup_printf ("{\"room_id\":\"%s\"}", shared.room_id);
  mesh_test_client_send (raw->client, "room.join", join);
  joined = mesh_test_client_wait_for_type (raw->client, "room.joined", MESH_TEST_TIMEOUT_MS);
  g_assert_nonnull (joined);
  return raw;
}

static Raw *
raw_new (void)
{
  return raw_new_named ("raw");
}

static char *
issue_cap (const char *cap,
           const char *target_device_id,
           gint64      max_size)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", shared.room_id);
  g_autofree char *body = NULL;
  g_autoptr(MeshTestResponse) r = NULL;

  body = max_size >= 0
    ? g_strdup_printf ("{\"caps\":[\"%s\"],\"target_device_id\":\"%s\",\"max_size\":%" G_GINT64_FORMAT
                       "}", cap, target_device_id, max_size)
    : g_strdup_printf ("{\"caps\":[\"%s\"],\"target_device_id\":\"%s\"}", cap, target_device_id);
  r = mesh_test_request (shared.server, "POST", path, shared.token[ALICE], body);
  g_assert_cmpuint (r->status, ==, 200);
  return g_strdup (json_object_get_string_member (mesh_test_response_object (r), "cap_token"));
}

/* Sends p2p.session.request with @meta (JSON) and returns the answer. */
static JsonObject *
raw_request_meta (Raw        *raw,
                  const char *target,
                  const char *cap_token,
                  const char *kind,
                  const char *meta)
{
  g_autofree char *cap = cap_token != NULL ? g_strdup_printf (",\"cap_token\":\"%s\"", cap_token)
                                           : g_strdup ("");
  g_autofree char *payload = g_strdup_printf (
    "{\"room_id\":\"%s\",\"target_device_id\":\"%s\",\"kind\":\"%s\"%s,\"meta\":%s}",
    shared.room_id, target, kind, cap, meta);
  const char *id = mesh_test_client_send (raw->client, "p2p.session.request", payload);
  JsonObject *answer = mesh_test_client_wait_for_ref (raw->client, id, WAIT_MS);

  g_assert_nonnull (answer);
  return answer;
}

/* Sends p2p.session.request and returns the answer (created or error). */
static JsonObject *
raw_request (Raw        *raw,
             const char *target,
             const char *cap_token,
             const char *name,
             gint64      size)
{
  g_autofree char *meta = g_strdup_printf ("{\"name\":\"%s\",\"size\":%" G_GINT64_FORMAT "}",
                                           name, size);

  return raw_request_meta (raw, target, cap_token, "file", meta);
}

static const char *
answer_error_code (JsonObject *answer)
{
  if (!g_str_equal (json_object_get_string_member (answer, "type"), "error"))
    return NULL;
  return json_object_get_string_member (mesh_test_frame_payload (answer), "code");
}

/* A created session that the target accepted. */
static JsonObject *
raw_open_session (Raw        *raw,
                  const char *target,
                  gint64      max_size,
                  gint64      size)
{
  g_autofree char *cap = issue_cap ("file", target, max_size);
  g_autoptr(JsonObject) answer = raw_request (raw, target, cap, "forged.bin", size);
  g_autoptr(JsonObject) accept = NULL;
  JsonObject *created;

  g_assert_cmpstr (json_object_get_string_member (answer, "type"), ==, "p2p.session.created");
  created = json_object_ref (mesh_test_frame_payload (answer));
  accept = mesh_test_client_wait_for_type (raw->client, "p2p.session.accept", WAIT_MS);
  g_assert_nonnull (accept);
  g_assert_cmpstr (json_object_get_string_member (mesh_test_frame_payload (accept), "session_id"),
                   ==, json_object_get_string_member (created, "session_id"));
  return created;
}

static MeshQuicConnection *
raw_connect (Raw        *raw,
             JsonObject *created,
             const char *pin,
             GError    **error)
{
  JsonObject *b = json_object_get_object_member (json_object_get_object_member (created,
                                                                                "endpoints"), "b");
  g_autoptr(GInetAddress) ip = g_inet_address_new_from_string (json_object_get_string_member (b,
                                                                                              "ip"));
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (ip,
                                                                 json_object_get_int_member (b, "port"));
  AsyncWait wait = { NULL };
  MeshQuicConnection *connection;

  if (pin == NULL)
    pin = json_object_get_string_member (json_object_get_object_member (created, "auth"),
                                         "fingerprint");
  mesh_quic_endpoint_connect_async (raw->endpoint, address, pin, NULL, on_async_done, &wait);
  connection = mesh_quic_endpoint_connect_finish (raw->endpoint, wait_result (&wait), error);
  g_object_unref (wait.result);
  return connection;
}

/* Opens a stream, sends P2P_HELLO and returns the answer's error (NULL: P2P_OK). */
static GError *
raw_hello (MeshQuicConnection *connection,
           const char         *session_id,
           const char         *token,
           const char         *device_id,
           GIOStream         **stream_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshQuicStream) quic = mesh_quic_connection_open_stream (connection, &error);
  g_autoptr(MeshAgentSessionStream) stream = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(JsonObject) hello = mesh_frame_p2p_hello_new (session_id, token, device_id);
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GBytes) payload = NULL;
  AsyncWait wait = { NULL };
  MeshFrameType type;
  const char *t;

  g_assert_no_error (error);
  /* Writes must stay on this thread (see mesh-agent-session.h). */
  stream = mesh_agent_session_stream_new (G_IO_STREAM (quic), NULL, NULL, NULL, NULL);
  writer = mesh_frame_writer_get_for_stream (G_IO_STREAM (stream));
  reader = mesh_frame_reader_get_for_stream (G_IO_STREAM (stream));
  mesh_frame_writer_write_control_async (writer, hello, NULL, on_async_done, &wait);
  g_assert_true (mesh_frame_writer_write_finish (writer, wait_result (&wait), NULL));
  g_clear_object (&wait.result);
  mesh_frame_reader_read_async (reader, NULL, on_async_done, &wait);
  g_assert_true (mesh_frame_reader_read_finish (reader, wait_result (&wait), &type, &payload,
                                                &error));
  g_clear_object (&wait.result);
  g_assert_cmpint (type, ==, MESH_FRAME_CONTROL);
  control = mesh_frame_control_parse (payload, &t, &error);
  g_assert_no_error (error);
  mesh_frame_p2p_reply_parse (control, &error);
  if (stream_out != NULL)
    *stream_out = G_IO_STREAM (g_object_ref (stream));
  return g_steal_pointer (&error);
}

static void
assert_denied (GError     *error,
               const char *reason)
{
  g_assert_error (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED);
  g_assert_nonnull (strstr (error->message, reason));
  g_error_free (error);
}

static void
test_session_tokens (void)
{
  g_autoptr(Raw) raw = (start_bob (), raw_new ());
  g_autoptr(JsonObject) created = raw_open_session (raw, shared.device_id[BOB], -1, 6);
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(MeshQuicConnection) wrong_pin = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(MeshFileSender) sender = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = g_build_filename (shared.tmp, "forged.bin", NULL);
  g_autofree char *got = received ("forged.bin");
  g_autofree char *contents = NULL;
  const char *session_id = json_object_get_string_member (created, "session_id");
  const char *token = json_object_get_string_member (json_object_get_object_member (created, "auth"),
                                                     "session_token");
  AsyncWait wait = { NULL };

  /* Pinning another certificate than the peer's: no connection. */
  wrong_pin = raw_connect (raw, created, mesh_agent_identity_get_fingerprint (raw->identity),
                           &error);
  g_assert_null (wrong_pin);
  g_assert_nonnull (error);
  g_clear_error (&error);

  connection = raw_connect (raw, created, NULL, &error);
  g_assert_no_error (error);
  assert_denied (raw_hello (connection, session_id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                            raw->device_id, NULL), "wrong session token");
  assert_denied (raw_hello (connection, session_id, token, shared.device_id[CAROL], NULL),
                 "another device");
  assert_denied (raw_hello (connection, "00000000-0000-4000-8000-000000000000", token,
                            raw->device_id, NULL), "unknown");

  g_assert_null (raw_hello (connection, session_id, token, raw->device_id, &stream));
  /* The session works... */
  g_assert_true (g_file_set_contents (path, "forged", -1, NULL));
  file = g_file_new_for_path (path);
  sender = mesh_file_sender_new (stream, file);
  mesh_file_sender_send_async (sender, NULL, on_async_done, &wait);
  g_assert_true (mesh_file_sender_send_finish (sender, wait_result (&wait), &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_true (g_file_get_contents (got, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "forged");
  /* ...once: the token is single use. */
  assert_denied (raw_hello (connection, session_id, token, raw->device_id, NULL), "already used");
  mesh_quic_connection_close (connection, 0, NULL);
}

static void
on_ready (MeshAgentController *controller,
          gboolean            *flag)
{
  *flag = TRUE;
}

static MeshAgentController *
controller_new (guint user)
{
  g_autoptr(MeshAgentState) state = mesh_agent_state_new (shared.state_dir[user]);
  g_autoptr(MeshAgentIdentity) identity = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) bind = g_inet_socket_address_new (loopback, 0);
  MeshAgentController *controller;
  gboolean ready = FALSE;
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  g_assert_true (mesh_agent_state_load (state, &error));
  identity = mesh_agent_state_load_identity (state, &error);
  g_assert_no_error (error);
  controller = mesh_agent_controller_new (state, identity);
  mesh_agent_controller_set_quic_address (controller, G_INET_SOCKET_ADDRESS (bind));
  g_signal_connect (controller, "ready", G_CALLBACK (on_ready), &ready);
  g_assert_true (mesh_agent_controller_start (controller, &error));
  while (!ready && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (ready);
  g_signal_handlers_disconnect_by_func (controller, on_ready, &ready);
  return controller;
}

static void
test_session_expired (void)
{
  g_autoptr(Raw) raw = raw_new ();
  g_autoptr(MeshAgentController) carol = controller_new (CAROL);
  g_autoptr(JsonObject) created = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  gint64 end;

  /* carol's agent takes alice's offers, with tokens that live one second. */
  mesh_agent_controller_set_accept_offers (carol, TRUE);
  mesh_agent_controller_set_accept_from (carol, (const char * const[]) { "alice", NULL });
  mesh_agent_controller_set_max_token_lifetime (carol, 1);
  created = raw_open_session (raw, shared.device_id[CAROL], -1, 6);
  connection = raw_connect (raw, created, NULL, &error);
  g_assert_no_error (error);
  end = g_get_monotonic_time () + 1500 * 1000;
  while (g_get_monotonic_time () < end)
    mesh_test_pump (100);
  assert_denied (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                            json_object_get_string_member (json_object_get_object_member (created,
                                                                                         "auth"),
                                                           "session_token"),
                            raw->device_id, NULL), "expired");
  mesh_quic_connection_close (connection, 0, NULL);
  mesh_agent_controller_stop (carol);
}

static void
test_session_caps (void)
{
  g_autoptr(Raw) raw = (start_bob (), raw_new ());
  g_autoptr(JsonObject) no_cap = NULL;
  g_autoptr(JsonObject) too_big = NULL;
  g_autoptr(JsonObject) created = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(MeshFileSender) sender = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cap = issue_cap ("file", shared.device_id[BOB], 100);
  g_autofree char *path = g_build_filename (shared.tmp, "liar.bin", NULL);
  g_autofree char *liar_got = received ("liar.bin");
  AsyncWait wait = { NULL };

  no_cap = raw_request (raw, shared.device_id[BOB], NULL, "x.bin", 10);
  g_assert_cmpstr (answer_error_code (no_cap), ==, "CAP_REQUIRED");
  too_big = raw_request (raw, shared.device_id[BOB], cap, "x.bin", 1000);
  g_assert_cmpstr (answer_error_code (too_big), ==, "PAYLOAD_TOO_LARGE");

  /* A sender announcing less than it sends: the receiver holds it to max_size. */
  created = raw_open_session (raw, shared.device_id[BOB], 100, 50);
  g_assert_cmpint (json_object_get_int_member (created, "max_size"), ==, 100);
  connection = raw_connect (raw, created, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                            json_object_get_string_member (json_object_get_object_member (created,
                                                                                         "auth"),
                                                           "session_token"),
                            raw->device_id, &stream));
  write_random_file (path, 4000, 4);
  file = g_file_new_for_path (path);
  sender = mesh_file_sender_new (stream, file);
  mesh_file_sender_send_async (sender, NULL, on_async_done, &wait);
  g_assert_false (mesh_file_sender_send_finish (sender, wait_result (&wait), &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_object (&wait.result);
  g_assert_false (g_file_test (liar_got, G_FILE_TEST_EXISTS));
  mesh_quic_connection_close (connection, 0, NULL);
}

/* Tests: what a hostile peer with a connection can do to a receiver */

static void
on_offered (MeshAgentController *controller,
            const char          *session_id,
            const char          *kind,
            const char          *room_id,
            const char          *username,
            const char          *device_id,
            const char          *name,
            guint64              size,
            GPtrArray           *offers)
{
  g_ptr_array_add (offers, g_strdup (session_id));
}

static void
wait_offers (GPtrArray *offers,
             guint      n)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (offers->len < n && g_get_monotonic_time () < end)
    mesh_test_pump (20);
  g_assert_cmpuint (offers->len, ==, n);
}

static const char *
created_token (JsonObject *created)
{
  return json_object_get_string_member (json_object_get_object_member (created, "auth"),
                                        "session_token");
}

/* p2p.session.created for an offer the target still has to answer. */
static JsonObject *
raw_offer (Raw        *raw,
           const char *target,
           const char *kind,
           const char *meta)
{
  g_autofree char *cap = issue_cap (kind, target, -1);
  g_autoptr(JsonObject) answer = raw_request_meta (raw, target, cap, kind, meta);

  g_assert_cmpstr (json_object_get_string_member (answer, "type"), ==, "p2p.session.created");
  return json_object_ref (mesh_test_frame_payload (answer));
}

static void
wait_accepted (Raw        *raw,
               JsonObject *created)
{
  g_autoptr(JsonObject) accept = mesh_test_client_wait_for_type (raw->client, "p2p.session.accept",
                                                                 WAIT_MS);

  g_assert_nonnull (accept);
  g_assert_cmpstr (json_object_get_string_member (mesh_test_frame_payload (accept), "session_id"),
                   ==, json_object_get_string_member (created, "session_id"));
}

/* Sends @path over @stream as FILE_META @name; returns the sender's error. */
static GError *
raw_send_file (GIOStream  *stream,
               const char *path,
               const char *name)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(MeshFileSender) sender = mesh_file_sender_new (stream, file);
  GError *error = NULL;
  AsyncWait wait = { NULL };

  mesh_file_sender_set_name (sender, name);
  mesh_file_sender_send_async (sender, NULL, on_async_done, &wait);
  mesh_file_sender_send_finish (sender, wait_result (&wait), &error);
  g_clear_object (&wait.result);
  return error;
}

static void
write_control (MeshFrameWriter *writer,
               JsonObject      *control)
{
  AsyncWait wait = { NULL };

  mesh_frame_writer_write_control_async (writer, control, NULL, on_async_done, &wait);
  mesh_frame_writer_write_finish (writer, wait_result (&wait), NULL);
  g_object_unref (wait.result);
}

static void
write_chunk (MeshFrameWriter *writer,
             guint64          offset,
             const void      *data,
             gsize            len)
{
  g_autoptr(GBytes) chunk = mesh_frame_chunk_new (offset, data, len);
  AsyncWait wait = { NULL };

  mesh_frame_writer_write_async (writer, MESH_FRAME_CHUNK, chunk, NULL, on_async_done, &wait);
  g_assert_true (mesh_frame_writer_write_finish (writer, wait_result (&wait), NULL));
  g_object_unref (wait.result);
}

/* Size of the .part in @dir, -1 when there is none. */
static gint64
part_size (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *child;

  while (d != NULL && (child = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, child, NULL);
    struct stat st;

    if (g_str_has_suffix (child, ".part") && g_stat (path, &st) == 0)
      return st.st_size;
  }
  return -1;
}

static MeshAgentController *
receiver_new (guint        user,
              const char  *dir,
              gboolean     ask)
{
  MeshAgentController *controller = controller_new (user);
  g_autoptr(GFile) folder = g_file_new_for_path (dir);

  g_mkdir_with_parents (dir, 0755);
  mesh_agent_controller_set_download_dir (controller, folder);
  if (ask) {
    mesh_agent_controller_set_ask_offers (controller, TRUE);
  } else {
    mesh_agent_controller_set_accept_offers (controller, TRUE);
    mesh_agent_controller_set_accept_from (controller, (const char * const[]) { "alice", NULL });
  }
  return controller;
}

/* Issue #10, 1: a connection from an accepted session carries a hello for an
 * offer the user has not answered; then for another device's session. */
static void
test_consent (void)
{
  g_autoptr(Raw) raw = raw_new ();
  g_autoptr(Raw) other = raw_new_named ("raw-2");   /* same certificate, another device */
  g_autofree char *dir = g_build_filename (shared.tmp, "carol-consent", NULL);
  g_autoptr(MeshAgentController) carol = receiver_new (CAROL, dir, TRUE);
  g_autoptr(GPtrArray) offers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GFile) folder = g_file_new_for_path (dir);
  g_autoptr(JsonObject) first = NULL, second = NULL, third = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GIOStream) sneaky = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (shared.tmp, "first.txt", NULL);
  g_autofree char *payload = g_build_filename (shared.tmp, "holiday.jpg", NULL);
  g_autofree char *got = g_build_filename (dir, "first.txt", NULL);

  g_signal_connect (carol, "session-offered", G_CALLBACK (on_offered), offers);

  /* An offer the user accepts: the peer now has a connection. */
  first = raw_offer (raw, shared.device_id[CAROL], "file", "{\"name\":\"first.txt\",\"size\":5}");
  wait_offers (offers, 1);
  g_assert_true (mesh_agent_controller_answer_offer (carol, offers->pdata[0], folder));
  wait_accepted (raw, first);
  connection = raw_connect (raw, first, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (raw_hello (connection, json_object_get_string_member (first, "session_id"),
                            created_token (first), raw->device_id, &stream));
  g_assert_true (g_file_set_contents (path, "first", -1, NULL));
  g_assert_no_error (raw_send_file (stream, path, "first.txt"));
  g_assert_true (g_file_test (got, G_FILE_TEST_EXISTS));

  /* A second offer the user has not answered: the same connection cannot
   * use it, and nothing is written. */
  second = raw_offer (raw, shared.device_id[CAROL], "file", "{\"name\":\"holiday.jpg\",\"size\":6}");
  wait_offers (offers, 2);
  error = raw_hello (connection, json_object_get_string_member (second, "session_id"),
                     created_token (second), raw->device_id, &sneaky);
  if (error == NULL) {
    /* Today's bug: show what lands on disk. */
    g_assert_true (g_file_set_contents (payload, "abcdef", -1, NULL));
    raw_send_file (sneaky, payload, "holiday.jpg");
  }
  assert_denied (g_steal_pointer (&error), "not accepted");
  g_assert_cmpuint (agent_test_count_entries (dir), ==, 1);

  /* Declined: the token is dead. */
  g_assert_true (mesh_agent_controller_answer_offer (carol, offers->pdata[1], NULL));
  assert_denied (raw_hello (connection, json_object_get_string_member (second, "session_id"),
                            created_token (second), raw->device_id, NULL), "unknown");
  g_assert_cmpuint (agent_test_count_entries (dir), ==, 1);

  /* Accepted for another device: not on this device's connection, even with
   * the same certificate and the right token. */
  third = raw_offer (other, shared.device_id[CAROL], "file", "{\"name\":\"third.txt\",\"size\":5}");
  wait_offers (offers, 3);
  g_assert_true (mesh_agent_controller_answer_offer (carol, offers->pdata[2], folder));
  wait_accepted (other, third);
  assert_denied (raw_hello (connection, json_object_get_string_member (third, "session_id"),
                            created_token (third), other->device_id, NULL), "another device");
  g_assert_cmpuint (agent_test_count_entries (dir), ==, 1);

  /* Accepted and halfway, then the user cancels: the partial file goes. */
  {
    const gsize size = 1024 * 1024, half = 512 * 1024;
    g_autofree guint8 *data = g_malloc0 (size);
    g_autoptr(JsonObject) fourth = NULL;
    g_autoptr(GIOStream) halfway = NULL;
    g_autoptr(MeshFrameWriter) writer = NULL;
    g_autoptr(MeshSha256) sha = mesh_sha256_new ();
    g_autoptr(JsonObject) meta = mesh_frame_control_new ("FILE_META");
    g_autofree char *hash = NULL;
    g_autofree char *offer = g_strdup_printf ("{\"name\":\"big.bin\",\"size\":%" G_GSIZE_FORMAT "}",
                                              size);
    gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

    mesh_sha256_update (sha, data, size);
    hash = mesh_sha256_free_to_hex (g_steal_pointer (&sha));
    fourth = raw_offer (raw, shared.device_id[CAROL], "file", offer);
    wait_offers (offers, 4);
    g_assert_true (mesh_agent_controller_answer_offer (carol, offers->pdata[3], folder));
    wait_accepted (raw, fourth);
    g_assert_null (raw_hello (connection, json_object_get_string_member (fourth, "session_id"),
                              created_token (fourth), raw->device_id, &halfway));
    writer = mesh_frame_writer_get_for_stream (halfway);
    json_object_set_string_member (meta, "name", "big.bin");
    json_object_set_int_member (meta, "size", size);
    json_object_set_string_member (meta, "hash", hash);
    write_control (writer, meta);
    write_chunk (writer, 0, data, half);
    while (part_size (dir) < (gint64) half && g_get_monotonic_time () < end)
      mesh_test_pump (20);
    g_assert_cmpint (part_size (dir), ==, half);
    mesh_agent_controller_cancel_session (carol, offers->pdata[3]);
    while (part_size (dir) >= 0 && g_get_monotonic_time () < end)
      mesh_test_pump (20);
    g_assert_cmpint (part_size (dir), ==, -1);
    g_assert_cmpuint (agent_test_count_entries (dir), ==, 1);
  }

  mesh_quic_connection_close (connection, 0, NULL);
  mesh_agent_controller_stop (carol);
}

/* Sends FOLDER_MODE, ZIP_META and @zip; returns the receiver's answer
 * (ZIP_DONE or ERROR). */
static JsonObject *
raw_send_zip (GIOStream  *stream,
              const char *name,
              gint64      entries,
              gint64      total_bytes,
              GByteArray *zip)
{
  g_autoptr(MeshFrameWriter) writer = mesh_frame_writer_get_for_stream (stream);
  g_autoptr(MeshFrameReader) reader = mesh_frame_reader_get_for_stream (stream);
  g_autoptr(JsonObject) mode = mesh_frame_control_new ("FOLDER_MODE");
  g_autoptr(JsonObject) meta = mesh_frame_control_new ("ZIP_META");
  g_autoptr(JsonObject) done = mesh_frame_control_new ("ZIP_DONE");
  g_autoptr(MeshSha256) sha = mesh_sha256_new ();
  g_autofree char *hash = NULL;
  g_autoptr(GBytes) payload = NULL;
  AsyncWait wait = { NULL };
  MeshFrameType type;
  const char *t;

  json_object_set_string_member (mode, "mode", "zip");
  write_control (writer, mode);
  json_object_set_string_member (meta, "name", name);
  json_object_set_int_member (meta, "entries", entries);
  json_object_set_int_member (meta, "total_bytes", total_bytes);
  write_control (writer, meta);
  for (guint offset = 0; offset < zip->len; offset += 256 * 1024) {
    guint len = MIN (256 * 1024, zip->len - offset);
    g_autoptr(GBytes) chunk = mesh_frame_chunk_new (offset, zip->data + offset, len);

    mesh_frame_writer_write_async (writer, MESH_FRAME_CHUNK, chunk, NULL, on_async_done, &wait);
    /* The receiver may stop reading once it refused: a failed write is fine. */
    if (!mesh_frame_writer_write_finish (writer, wait_result (&wait), NULL)) {
      g_clear_object (&wait.result);
      break;
    }
    g_clear_object (&wait.result);
  }
  mesh_sha256_update (sha, zip->data, zip->len);
  hash = mesh_sha256_free_to_hex (g_steal_pointer (&sha));
  json_object_set_string_member (done, "hash", hash);
  json_object_set_int_member (done, "size", zip->len);
  mesh_frame_writer_write_control_async (writer, done, NULL, on_async_done, &wait);
  mesh_frame_writer_write_finish (writer, wait_result (&wait), NULL);
  g_clear_object (&wait.result);

  mesh_frame_reader_read_async (reader, NULL, on_async_done, &wait);
  g_assert_true (mesh_frame_reader_read_finish (reader, wait_result (&wait), &type, &payload,
                                                NULL));
  g_clear_object (&wait.result);
  g_assert_cmpint (type, ==, MESH_FRAME_CONTROL);
  return mesh_frame_control_parse (payload, &t, NULL);
}

static void
assert_zip_refused (JsonObject *answer)
{
  const char *t = json_object_get_string_member (answer, "t");

  if (g_str_equal (t, "ZIP_DONE")) {
    g_test_message ("refused: %s", json_object_get_string_member_with_default (answer, "error",
                                                                               "(accepted!)"));
    g_assert_false (json_object_get_boolean_member (answer, "ok"));
  } else {
    g_assert_cmpstr (t, ==, "ERROR");
    g_test_message ("refused: %s", json_object_get_string_member (answer, "message"));
  }
}

typedef enum {
  ZIP_LINK_CHAIN,     /* a -> ., b -> a/.., c -> b/..: each harmless as text */
  ZIP_MORE_BYTES,     /* a file larger than total_bytes */
  ZIP_MORE_ENTRIES,   /* more entries than announced */
} HostileZip;

static GByteArray *
hostile_zip (HostileZip kind)
{
  GByteArray *zip = g_byte_array_new ();
  /* Made the way an attacker would (libarchive, links stored as links). */
  struct archive *archive = agent_test_zip_writer_new (zip);
  g_autofree char *big = g_malloc0 (64 * 1024);

  agent_test_archive_add (archive, "ok.txt", AE_IFREG | 0644, NULL, "fine", 4);
  switch (kind) {
  case ZIP_LINK_CHAIN:
    agent_test_archive_add (archive, "a", AE_IFLNK | 0777, ".", NULL, 0);
    agent_test_archive_add (archive, "b", AE_IFLNK | 0777, "a/..", NULL, 0);
    agent_test_archive_add (archive, "c", AE_IFLNK | 0777, "b/..", NULL, 0);
    break;
  case ZIP_MORE_BYTES:
    agent_test_archive_add (archive, "big.bin", AE_IFREG | 0644, NULL, big, 64 * 1024);
    break;
  case ZIP_MORE_ENTRIES:
    for (guint i = 0; i < 50; i++) {
      g_autofree char *name = g_strdup_printf ("empty-%u", i);

      agent_test_archive_add (archive, name, AE_IFREG | 0644, NULL, NULL, 0);
    }
    break;
  default:
    g_assert_not_reached ();
  }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  return zip;
}

/* Issue #10, 2 and 3: the receiver holds the data to the offer its user
 * accepted, to what ZIP_META announced, and keeps links inside. */
static void
test_accepted_meta (void)
{
  g_autoptr(Raw) raw = raw_new ();
  g_autofree char *dir = g_build_filename (shared.tmp, "carol-meta", NULL);
  g_autofree char *parent_before = NULL;
  g_autoptr(MeshAgentController) carol = receiver_new (CAROL, dir, FALSE);
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *payload = g_build_filename (shared.tmp, "payload.sh", NULL);
  g_autofree char *same_size = g_build_filename (shared.tmp, "other.jpg", NULL);
  g_autofree char *real_hash = NULL;
  g_autofree char *hashed_meta = NULL;
  struct {
    const char *meta;
    const char *path;
    const char *name;
    int         code;
  } cases[] = {
    /* More than offered, under another name (the review's case). */
    { "{\"name\":\"holiday.jpg\",\"size\":6}", payload, "payload.sh",
      MESH_ERROR_PAYLOAD_TOO_LARGE },
    /* Another name. */
    { "{\"name\":\"holiday.jpg\",\"size\":21}", payload, "payload.sh", MESH_ERROR_FORBIDDEN },
    /* Same name and size, another hash than offered. */
    { NULL, same_size, "holiday.jpg", MESH_ERROR_FORBIDDEN },
  };

  g_assert_true (g_file_set_contents (payload, "#!/bin/sh\nrm -rf ~/x\n", -1, NULL));
  g_assert_true (g_file_set_contents (same_size, "ABCDEF", -1, NULL));
  {
    g_autoptr(MeshSha256) sha = mesh_sha256_new ();

    mesh_sha256_update (sha, "abcdef", 6);
    real_hash = mesh_sha256_free_to_hex (g_steal_pointer (&sha));
  }
  hashed_meta = g_strdup_printf ("{\"name\":\"holiday.jpg\",\"size\":6,\"hash\":\"%s\"}", real_hash);
  cases[2].meta = hashed_meta;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(JsonObject) created = raw_offer (raw, shared.device_id[CAROL], "file", cases[i].meta);
    g_autoptr(GIOStream) stream = NULL;

    wait_accepted (raw, created);
    if (connection == NULL) {
      connection = raw_connect (raw, created, NULL, &error);
      g_assert_no_error (error);
    }
    g_assert_null (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                              created_token (created), raw->device_id, &stream));
    error = raw_send_file (stream, cases[i].path, cases[i].name);
    g_test_message ("case %u: %s", i, error != NULL ? error->message : "(accepted!)");
    g_assert_error (error, MESH_ERROR, cases[i].code);
    g_clear_error (&error);
    g_assert_cmpuint (agent_test_count_entries (dir), ==, 0);
  }

  /* Folders: ZIP_META against the offer, the zip against ZIP_META, links. */
  parent_before = g_strdup_printf ("%u", agent_test_count_entries (shared.tmp));
  for (HostileZip kind = ZIP_LINK_CHAIN; kind <= ZIP_MORE_ENTRIES; kind++) {
    g_autoptr(JsonObject) created = raw_offer (raw, shared.device_id[CAROL], "folder",
                                               "{\"name\":\"album\",\"size\":100}");
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GByteArray) zip = hostile_zip (kind);
    g_autoptr(JsonObject) answer = NULL;

    wait_accepted (raw, created);
    g_assert_null (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                              created_token (created), raw->device_id, &stream));
    answer = raw_send_zip (stream, "album", 5, 8, zip);
    assert_zip_refused (answer);
    g_assert_cmpuint (agent_test_count_entries (dir), ==, 0);
  }
  {
    g_autofree char *parent_after = g_strdup_printf ("%u", agent_test_count_entries (shared.tmp));

    g_assert_cmpstr (parent_after, ==, parent_before);
  }
  /* A ZIP_META with more than the accepted offer is refused before any zip. */
  {
    g_autoptr(JsonObject) created = raw_offer (raw, shared.device_id[CAROL], "folder",
                                               "{\"name\":\"album\",\"size\":100}");
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GByteArray) zip = hostile_zip (ZIP_MORE_BYTES);
    g_autoptr(JsonObject) answer = NULL;

    wait_accepted (raw, created);
    g_assert_null (raw_hello (connection, json_object_get_string_member (created, "session_id"),
                              created_token (created), raw->device_id, &stream));
    answer = raw_send_zip (stream, "album", 2, 64 * 1024 + 4, zip);
    assert_zip_refused (answer);
    g_assert_cmpuint (agent_test_count_entries (dir), ==, 0);
  }

  mesh_quic_connection_close (connection, 0, NULL);
  mesh_agent_controller_stop (carol);
}

/* Tests: terminal sharing */

typedef struct {
  GString *output;
  guint    refused;
  char    *controller;
  gboolean control_changed;
  gboolean closed;
} ViewerLog;

static void
on_term_output (MeshTerminalViewer *viewer,
                GBytes             *data,
                ViewerLog          *log)
{
  g_string_append_len (log->output, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
}

static void
on_term_host_error (MeshTerminalViewer *viewer,
                    const char         *code,
                    const char         *message,
                    ViewerLog          *log)
{
  if (g_str_equal (code, "CAP_REQUIRED"))
    log->refused++;
}

static void
on_term_closed (MeshTerminalViewer *viewer,
                GError             *error,
                ViewerLog          *log)
{
  log->closed = TRUE;
}

static void
on_term_control (MeshAgentController *controller,
                 const char          *share_id,
                 const char          *peer_id,
                 ViewerLog           *log)
{
  g_free (log->controller);
  log->controller = g_strdup (peer_id);
  log->control_changed = TRUE;
}

static gboolean
pump_until_quietly (gboolean (*done) (ViewerLog *), ViewerLog *log, gint64 ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (!done (log) && g_get_monotonic_time () < end) {
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  }
  return done (log);
}

#define pump_until(done, log) \
  G_STMT_START { \
    if (!pump_until_quietly (done, log, WAIT_MS)) \
      g_error ("waited %d ms for %s; viewer output so far: %s", WAIT_MS, #done, \
               (log)->output->str); \
  } G_STMT_END

static gboolean has_mark (ViewerLog *log) { return strstr (log->output->str, "MARK-42") != NULL; }
static gboolean has_output (ViewerLog *log) { return log->output->len > 0; }
static gboolean control_changed (ViewerLog *log) { return log->control_changed; }
static gboolean is_closed (ViewerLog *log) { return log->closed; }
static guint refused_target;
static gboolean refused_enough (ViewerLog *log) { return log->refused >= refused_target; }

static char *
find_share_id (const char *log_path)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (g_get_monotonic_time () < end) {
    g_autofree char *text = read_text (log_path);
    g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
      if (strlen (lines[i]) == 36 && lines[i][8] == '-' && lines[i][14] == '4')
        return g_strdup (lines[i]);
    }
    mesh_test_pump (50);
  }
  g_error ("share-terminal printed no share id");
}

static void
test_terminal (void)
{
  g_autofree char *bob_term = g_build_filename (shared.tmp, "bob-term", NULL);
  g_autofree char *share_log = g_build_filename (shared.tmp, "share.log", NULL);
  g_autofree char *carol_log = g_build_filename (shared.tmp, "carol-view.log", NULL);
  g_autofree char *share_id = NULL, *device_out = NULL, *join = NULL, *take = NULL;
  g_autoptr(GSubprocess) share = NULL;
  g_autoptr(GSubprocess) carol_view = NULL;
  g_autoptr(MeshAgentController) alice = NULL;
  g_autoptr(MeshTerminalViewer) viewer = NULL;
  g_autoptr(MeshTestClient) carol = NULL;
  g_autoptr(JsonObject) denied = NULL;
  g_autoptr(GError) error = NULL;
  ViewerLog log = { g_string_new (NULL) };
  AsyncWait wait = { NULL };

  /* Bob's second device hosts the shell; only alice may take control. */
  g_assert_cmpint (agent_run (PASSWORD "\n", &device_out, NULL, "login", "--state-dir", bob_term,
                              "--server", mesh_test_server_get_base_url (shared.server), "--user",
                              "bob", "--device-name", "bob-term", NULL), ==, 0);
  share = agent_spawn (share_log, "share-terminal", "--state-dir", bob_term, "--room", "lab",
                       "--allow-control", "alice", "--listen", "127.0.0.1", "--", "/bin/sh", NULL);
  share_id = find_share_id (share_log);

  /* Two viewers: carol through the command, alice in process. */
  carol_view = agent_spawn (carol_log, "view-terminal", "--state-dir", shared.state_dir[CAROL],
                            "--room", "lab", "--share", share_id, "--listen", "127.0.0.1", NULL);
  alice = controller_new (ALICE);
  g_signal_connect (alice, "control-changed", G_CALLBACK (on_term_control), &log);
  mesh_agent_controller_view_terminal_async (alice, shared.room_id, share_id, NULL, on_async_done,
                                             &wait);
  viewer = mesh_agent_controller_view_terminal_finish (alice, wait_result (&wait), &error);
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_signal_connect (viewer, "output", G_CALLBACK (on_term_output), &log);
  g_signal_connect (viewer, "host-error", G_CALLBACK (on_term_host_error), &log);
  g_signal_connect (viewer, "closed", G_CALLBACK (on_term_closed), &log);

  /* The shell's prompt (sent from the scrollback) says the host has
   * attached this viewer.  Without control, input is refused. */
  pump_until (has_output, &log);
  mesh_terminal_viewer_send_input (viewer, "echo NOPE-$((40+1))\n", 21);
  refused_target = 1;
  pump_until (refused_enough, &log);
  g_assert_null (strstr (log.output->str, "NOPE-41"));

  /* With control, it runs, and both viewers see the output. */
  mesh_agent_controller_take_control (alice, share_id);
  pump_until (control_changed, &log);
  g_assert_cmpstr (log.controller, ==, mesh_agent_controller_get_peer_id (alice));
  /* The grant reaches us before the host has checked the terminal:control
   * token we present once it arrives, so input may still be refused for a
   * moment: send again after each refusal, never without the grant. */
  for (guint attempt = 0; !has_mark (&log); attempt++) {
    g_assert_cmpuint (attempt, <, 100);
    refused_target = log.refused + 1;
    mesh_terminal_viewer_send_input (viewer, "echo MARK-$((6*7))\n", 19);
    if (!pump_until_quietly (has_mark, &log, 100) && refused_enough (&log))
      continue;
    pump_until_quietly (has_mark, &log, 2000);
  }
  g_assert_true (wait_for_text (carol_log, "MARK-42"));

  /* After release, input is refused again.  carol asks for control (and is
   * denied) so that the host has surely seen the release first. */
  log.control_changed = FALSE;
  mesh_agent_controller_release_control (alice, share_id);
  pump_until (control_changed, &log);
  g_assert_null (log.controller);
  carol = mesh_test_client_new_hello (shared.server, shared.token[CAROL], "client", NULL, NULL);
  join = g_strdup_printf ("{\"room_id\":\"%s\"}", shared.room_id);
  mesh_test_client_send (carol, "room.join", join);
  g_assert_nonnull (mesh_test_client_wait_for_type (carol, "room.joined", WAIT_MS));
  take = g_strdup_printf ("{\"share_id\":\"%s\"}", share_id);
  mesh_test_client_send (carol, "terminal.control.take", take);
  denied = mesh_test_client_wait_for_type (carol, "terminal.control.denied", WAIT_MS);
  g_assert_nonnull (denied);
  mesh_terminal_viewer_send_input (viewer, "echo AFTER-$((2+2))\n", 20);
  refused_target = 2;
  pump_until (refused_enough, &log);
  g_assert_null (strstr (log.output->str, "AFTER-4"));

  /* Stopping the host ends every viewer. */
  g_subprocess_send_signal (share, SIGTERM);
  g_assert_cmpint (wait_process (share), ==, 0);
  pump_until (is_closed, &log);
  g_assert_cmpint (wait_process (carol_view), ==, 0);

  mesh_agent_controller_stop (alice);
  g_string_free (log.output, TRUE);
  g_free (log.controller);
}

/* Tests: the control plane (MeshClientSession) */

/* The hello goes through libmesh-client's session: a refused one is
 * reported with the server's reason. */
static void
test_identity_changed (void)
{
  g_autofree char *moved = g_build_filename (shared.tmp, "carol-moved", NULL);
  g_autofree char *from = g_build_filename (shared.state_dir[CAROL], "agent.json", NULL);
  g_autofree char *to = g_build_filename (moved, "agent.json", NULL);
  g_autofree char *json = NULL, *err = NULL, *line = NULL;
  const char *reason;

  /* agent.json without its key: a new identity, not the registered one. */
  g_assert_cmpint (g_mkdir_with_parents (moved, 0700), ==, 0);
  g_assert_true (g_file_get_contents (from, &json, NULL, NULL));
  g_assert_true (g_file_set_contents_full (to, json, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                           NULL));
  g_assert_cmpint (agent_run (NULL, NULL, &err, "run", "--state-dir", moved, "--listen",
                              "127.0.0.1", NULL), ==, 3);
  /* The error it exits with says why, not only a log line before it. */
  reason = strstr (err, "refused this agent: ");
  g_assert_nonnull (reason);
  line = g_strndup (reason, strcspn (reason, "\n"));
  g_assert_nonnull (strstr (line, "register the device again"));
}

static void
on_disconnected (MeshAgentController *controller,
                 GError              *error,
                 guint               *count)
{
  (*count)++;
}

/* The server restarts on the same port: the controller's session comes
 * back under libmesh-client's reconnect policy, joins the room again and
 * sessions work as before. */
static void
test_server_restart (void)
{
  g_autofree char *path = g_build_filename (shared.tmp, "after-restart.txt", NULL);
  g_autofree char *got = received ("after-restart.txt");
  g_autofree char *first_peer = NULL, *bob_device = NULL, *join = NULL, *contents = NULL;
  g_autoptr(MeshAgentController) alice = NULL;
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;
  AsyncWait wait = { NULL };
  gboolean ready = FALSE;
  guint disconnects = 0;
  gint64 end;

  start_bob ();
  alice = controller_new (ALICE);
  first_peer = g_strdup (mesh_agent_controller_get_peer_id (alice));
  g_signal_connect (alice, "disconnected", G_CALLBACK (on_disconnected), &disconnects);
  g_signal_connect (alice, "ready", G_CALLBACK (on_ready), &ready);

  mesh_test_server_stop (shared.server);
  end = g_get_monotonic_time () + WAIT_MS * 1000;
  while (disconnects == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (disconnects, >=, 1);
  g_assert_false (mesh_agent_controller_is_ready (alice));

  mesh_test_server_start (shared.server);
  end = g_get_monotonic_time () + WAIT_MS * 1000;
  while (!ready && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (ready);
  g_assert_true (mesh_agent_controller_is_ready (alice));
  g_assert_cmpstr (mesh_agent_controller_get_peer_id (alice), !=, first_peer);

  /* The watcher's socket went with the old server. */
  g_clear_pointer (&shared.watcher, mesh_test_client_free);
  shared.watcher = mesh_test_client_new_hello (shared.server, shared.token[ALICE], "client", NULL,
                                               NULL);
  join = g_strdup_printf ("{\"room_id\":\"%s\"}", shared.room_id);
  mesh_test_client_send (shared.watcher, "room.join", join);
  g_assert_nonnull (mesh_test_client_wait_for_type (shared.watcher, "room.joined", WAIT_MS));

  /* bob's `mesh-agent run` comes back too; then a file goes through. */
  end = g_get_monotonic_time () + WAIT_MS * 1000;
  while (bob_device == NULL && g_get_monotonic_time () < end) {
    bob_device = mesh_agent_controller_resolve_device (alice, shared.room_id,
                                                       shared.device_id[BOB], NULL);
    if (bob_device == NULL)
      mesh_test_pump (100);
  }
  g_assert_cmpstr (bob_device, ==, shared.device_id[BOB]);
  g_assert_true (g_file_set_contents (path, "Still here.\n", -1, NULL));
  mesh_agent_controller_send_async (alice, shared.room_id, bob_device, file, NULL, on_async_done,
                                    &wait);
  g_assert_true (mesh_agent_controller_send_finish (alice, wait_result (&wait), &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (got, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "Still here.\n");

  g_clear_object (&wait.result);
  mesh_agent_controller_stop (alice);
}

/* Setup */

static void
setup_shared (void)
{
  g_autoptr(MeshTestResponse) room = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *invite_path = NULL, *join = NULL;

  shared.tmp = g_dir_make_tmp ("mesh-agent-e2e-XXXXXX", &error);
  g_assert_no_error (error);
  shared.download_dir = g_build_filename (shared.tmp, "bob-downloads", NULL);
  shared.server = mesh_test_server_new (NULL);
  for (guint i = 0; i < N_USERS; i++) {
    shared.user_id[i] = mesh_test_server_add_user (shared.server, usernames[i], PASSWORD);
    shared.state_dir[i] = g_build_filename (shared.tmp, usernames[i], NULL);
  }
  mesh_test_server_start (shared.server);
  for (guint i = 0; i < N_USERS; i++)
    shared.token[i] = mesh_test_login (shared.server, usernames[i], PASSWORD, NULL);

  room = mesh_test_request (shared.server, "POST", "/api/v1/rooms", shared.token[ALICE],
                            "{\"name\":\"lab\"}");
  g_assert_cmpuint (room->status, ==, 201);
  shared.room_id = g_strdup (json_object_get_string_member (mesh_test_response_object (room),
                                                            "room_id"));
  invite_path = g_strdup_printf ("/api/v1/rooms/%s/invites", shared.room_id);
  for (guint i = BOB; i < N_USERS; i++) {
    g_autoptr(MeshTestResponse) invite = mesh_test_request (shared.server, "POST", invite_path,
                                                            shared.token[ALICE], NULL);
    g_autoptr(MeshTestResponse) accepted = NULL;
    g_autofree char *accept_path = NULL;

    g_assert_cmpuint (invite->status, ==, 201);
    accept_path = g_strdup_printf ("/api/v1/invites/%s/accept",
                                   json_object_get_string_member (mesh_test_response_object (invite),
                                                                  "code"));
    accepted = mesh_test_request (shared.server, "POST", accept_path, shared.token[i], NULL);
    g_assert_cmpuint (accepted->status, ==, 200);
  }

  shared.watcher = mesh_test_client_new_hello (shared.server, shared.token[ALICE], "client", NULL,
                                               NULL);
  join = g_strdup_printf ("{\"room_id\":\"%s\"}", shared.room_id);
  mesh_test_client_send (shared.watcher, "room.join", join);
  g_assert_nonnull (mesh_test_client_wait_for_type (shared.watcher, "room.joined", WAIT_MS));
}

static void
teardown_shared (void)
{
  g_autofree char *rm = NULL;

  if (shared.bob_run != NULL) {
    g_subprocess_send_signal (shared.bob_run, SIGTERM);
    g_assert_cmpint (wait_process (shared.bob_run), ==, 0);
    g_clear_object (&shared.bob_run);
  }
  g_clear_pointer (&shared.watcher, mesh_test_client_free);
  mesh_test_server_stop (shared.server);
  g_clear_pointer (&shared.server, mesh_test_server_free);
  rm = g_strdup_printf ("rm -rf '%s'", shared.tmp);
  g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/agent-e2e/login", test_login);
  g_test_add_func ("/mesh/agent-e2e/file-small", test_small_file);
  g_test_add_func ("/mesh/agent-e2e/file-large", test_large_file);
  g_test_add_func ("/mesh/agent-e2e/file-hash-cached", test_hash_cached);
  g_test_add_func ("/mesh/agent-e2e/file-resume", test_resume);
  g_test_add_func ("/mesh/agent-e2e/file-resume-killed-repeatedly", test_resume_killed_repeatedly);
  g_test_add_func ("/mesh/agent-e2e/file-rejected", test_rejected);
  g_test_add_func ("/mesh/agent-e2e/folder", test_folder);
  g_test_add_func ("/mesh/agent-e2e/session-tokens", test_session_tokens);
  g_test_add_func ("/mesh/agent-e2e/session-expired", test_session_expired);
  g_test_add_func ("/mesh/agent-e2e/session-caps", test_session_caps);
  g_test_add_func ("/mesh/agent-e2e/consent", test_consent);
  g_test_add_func ("/mesh/agent-e2e/accepted-meta", test_accepted_meta);
  g_test_add_func ("/mesh/agent-e2e/terminal", test_terminal);
  g_test_add_func ("/mesh/agent-e2e/identity-changed", test_identity_changed);
  g_test_add_func ("/mesh/agent-e2e/server-restart", test_server_restart);

  setup_shared ();
  status = g_test_run ();
  teardown_shared ();
  return status;
}
