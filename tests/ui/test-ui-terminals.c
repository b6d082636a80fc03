/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Issue #11 item 4: the first terminal share after signing in gets its
 * shell (it used to stay on "Starting Your Shell…" until another share
 * started), and a member can watch it at once. */
/* The mesh-server this test started (a child of this process). */
static GPid
server_pid (void)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  while (proc != NULL && (entry = g_dir_read_name (proc)) != NULL) {
    g_autofree char *path = g_build_filename ("/proc", entry, "stat", NULL);
    g_autofree char *stat = NULL;
    const char *end;
    int ppid = 0;

    if (!g_ascii_isdigit (entry[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    end = strrchr (stat, ')');
    if (strstr (stat, "(mesh-server)") == NULL || end == NULL ||
        sscanf (end + 1, " %*c %d", &ppid) != 1 || ppid != getpid ())
      continue;
    return (GPid) atoi (entry);
  }
  g_assert_not_reached ();
}

static void
first_share (gboolean tls)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GSubprocess) view = NULL;
  g_autoptr(MeshClientRest) alice_rest = NULL;
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("mesh-ui-share-XXXXXX", NULL);
  g_autofree char *bob_state = g_build_filename (tmp, "bob-agent", NULL);
  g_autofree char *invite = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *room_id = NULL;
  UiTestPeer bob = { NULL };
  GtkWindow *terminal_window;
  MeshWindow *window;
  const char *url;

  if (tls) {
    g_autofree char *cert = NULL;
    g_autofree char *key = NULL;

    fingerprint = mesh_test_make_certificate (mesh_test_server_get_data_dir (server), &cert,
                                                &key);
    mesh_test_server_set_tls (server, cert, key);
  }
  ui_test_start_server (server, "alice", "bob", NULL);
  url = mesh_test_server_get_base_url (server);
  if (!tls) {
    ui_test_peer_start (&bob, url, "bob", "bob-password");
    room_id = ui_test_peer_create_room (&bob, "Lab", &invite);
    ui_test_agent_login (url, bob_state, "bob", "bob-password", NULL);
  }

  alice_rest = ui_test_rest_login (url, fingerprint, "alice", "alice-password");
  if (tls) {
    /* Alice's own room (the CLI peers do not pin certificates). */
    room_id = ui_test_rest_create_room (alice_rest, "Lab");
  } else {
    ui_test_rest_accept_invite (alice_rest, invite);
  }

  window = ui_test_window_new (app, 1280, 800);
  if (tls) {
    ui_test_fill_sign_in (window, url, "alice", "alice-password");
    ui_test_click_sign_in (window);
    adw_message_dialog_response (ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (
                                   ADW_TYPE_MESSAGE_DIALOG, "the trust question")), "trust");
    ui_test_wait_page (window, "rooms");
  } else {
    ui_test_sign_in (window, url, "alice", "alice-password");
  }
  ui_test_wait_agent_ready (window, "alice's embedded agent");
  ui_test_open_room (window, room_id);

  /* The first thing Alice does: share her shell. */
  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING,
                               "alice's first share to start");
  g_assert_null (mesh_shared_terminal_get_error (terminal));

  /* Bob watches it and sees what Alice's shell prints. */
  if (!tls)
    view = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "view-terminal", "--state-dir",
                              bob_state, "--room", "Lab", "--share",
                              mesh_shared_terminal_get_share_id (terminal), NULL);
  {
    const char *command = "echo first-$((20+22))\n";

    mesh_shared_terminal_write (terminal, command, strlen (command));
  }
  ui_test_wait_until (terminal_shows, "first-42", UI_TEST_WAIT_S, "alice's shell to answer");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-first-share"));

  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "alice's share to end");
  if (view != NULL)
    ui_test_wait_until (process_exited, view, UI_TEST_WAIT_S, "bob's viewer to end");
  gtk_window_destroy (terminal_window);
  ui_test_sign_out_and_close (window);
  if (!tls)
    ui_test_peer_clear (&bob);
  mesh_test_remove_tree (tmp);
}

static void
test_first_share (void)
{
  first_share (FALSE);
}

/* Every step of starting a share has a time limit: with a server that
 * stopped answering, "Starting Your Shell…" gives way to an error in words,
 * and the next try works once the server is back. */
static void
test_share_server_silent (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autofree char *room_id = NULL;
  GtkWindow *terminal_window;
  MeshWindow *window;
  GPid pid;

  window = ui_test_alone_in_room (app, server, "Lab", &room_id);

  pid = server_pid ();
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to give up");
  g_assert_cmpstr (mesh_shared_terminal_get_error (terminal), ==,
                   "The server did not answer in time. Check the connection and try again.");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-share-timeout"));
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  gtk_window_destroy (terminal_window);
  g_clear_object (&terminal);

  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING, "the next share to start");
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to end");
  gtk_window_destroy (terminal_window);
  ui_test_sign_out_and_close (window);
}

/* The same over TLS, as most servers are. */
static void
test_first_share_tls (void)
{
  first_share (TRUE);
}

/* The first terminal share after signing in, in plain and over TLS, and
 * a share against a silent server. */
void
test_ui_add_terminals_tests (void)
{
  g_test_add_func ("/mesh/ui/first-terminal-share", test_first_share);
  g_test_add_func ("/mesh/ui/first-terminal-share-tls", test_first_share_tls);
  g_test_add_func ("/mesh/ui/terminal-share-server-silent", test_share_server_silent);
}
