/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "test-agent-e2e-private.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* The control plane: logging in and registering devices with the CLI, the
 * hello (MeshClientSession) and coming back after a server restart. */

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

/* login comes first: every other test uses the devices it registers. */
void
test_agent_e2e_add_login_tests (void)
{
  g_test_add_func ("/mesh/agent-e2e/login", test_login);
}

/* Last: server-restart takes the server down under every agent. */
void
test_agent_e2e_add_control_tests (void)
{
  g_test_add_func ("/mesh/agent-e2e/identity-changed", test_identity_changed);
  g_test_add_func ("/mesh/agent-e2e/server-restart", test_server_restart);
}
