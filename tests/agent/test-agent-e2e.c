/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "mesh-agent-state.h"
#include "mesh-test-server.h"

#include "test-agent-e2e-private.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

/* End-to-end: a real mesh-server, real `mesh-agent` processes and, where
 * the test must see or forge the data plane, in-process controllers and a
 * raw QUIC client.  Everything on 127.0.0.1. */

/* The tests live in test-agent-e2e-<theme>.c; this file holds what they
 * share: the server, the users and their agents, and the helpers. */

const char *usernames[N_USERS] = { "alice", "bob", "carol" };

AgentE2eShared shared;

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
int
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
GSubprocess *
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

int
wait_process (GSubprocess *process)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

char *
read_text (const char *path)
{
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

/* Pumps until @path contains @needle. */
gboolean
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

void
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

char *
received (const char *name)
{
  return g_build_filename (shared.download_dir, name, NULL);
}

/* Helpers: async waits on the main context */

void
on_async_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  AsyncWait *wait = user_data;

  wait->result = g_object_ref (result);
}

GAsyncResult *
wait_result (AsyncWait *wait)
{
  gint64 end = g_get_monotonic_time () + WAIT_MS * 1000;

  while (wait->result == NULL && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (wait->result);
  return wait->result;
}

void
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

void
on_ready (MeshAgentController *controller,
          gboolean            *flag)
{
  *flag = TRUE;
}

MeshAgentController *
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

  /* The order matters: the tests share one server and its state. */
  test_agent_e2e_add_login_tests ();
  test_agent_e2e_add_files_tests ();
  test_agent_e2e_add_sessions_tests ();
  test_agent_e2e_add_hostile_tests ();
  test_agent_e2e_add_terminal_tests ();
  test_agent_e2e_add_control_tests ();

  setup_shared ();
  status = g_test_run ();
  teardown_shared ();
  return status;
}
