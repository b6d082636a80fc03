/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "test-agent-e2e-private.h"

#include <signal.h>
#include <string.h>

/* Terminal sharing: a `mesh-agent share-terminal` host, a `view-terminal`
 * viewer and an in-process one taking and releasing control. */

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

void
test_agent_e2e_add_terminal_tests (void)
{
  g_test_add_func ("/mesh/agent-e2e/terminal", test_terminal);
}
