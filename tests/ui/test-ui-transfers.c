/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

#include <glib/gstdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static gboolean
transfer_finished (gpointer user_data)
{
  return mesh_transfer_is_finished (user_data);
}

static void
offer_cb (MeshEmbeddedAgent  *agent,
          MeshTransfer       *transfer,
          MeshTransfer      **out)
{
  g_set_object (out, transfer);
}

static gboolean
share_shown (gpointer user_data)
{
  GtkWidget *bar = ui_test_find_widget (user_data, MESH_TYPE_SHARE_BAR, NULL, NULL);

  return bar != NULL && mesh_share_bar_get_n_shares (MESH_SHARE_BAR (bar)) > 0;
}

static gboolean
controlled_by_bob (gpointer user_data)
{
  return g_strcmp0 (mesh_shared_terminal_get_controller_name (user_data), "bob") == 0;
}

/* Alice drops a file on the room: her embedded agent sends it to Bob's.
 * Bob's agent sends one back: Alice accepts it in a dialog.  Bob shares a
 * terminal: Alice watches it in a terminal window. */
static void
test_send_files (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) run = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = NULL;
  g_autofree char *received_path = NULL;
  g_autofree char *received = NULL;
  g_autofree char *toast = NULL;
  g_autoptr(GBytes) content = NULL;
  gsize received_len;
  Lab lab = { NULL };
  MeshWindow *window;
  GList files = { NULL };
  GListModel *transfers;
  g_autoptr(MeshTransfer) transfer = NULL;
  g_autoptr(MeshTransfer) offered = NULL;
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autoptr(GSubprocess) send = NULL;
  g_autoptr(GSubprocess) share = NULL;
  g_autoptr(GSubprocess) view = NULL;
  GtkWindow *control_dialog;
  g_autofree char *notes_path = NULL;
  g_autofree char *alice_saved = NULL;
  g_autofree char *saved_path = NULL;
  g_autofree char *received_back = NULL;
  GtkWindow *dialog, *terminal_window;
  guchar *data;
  gsize size = 300 * 1024;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  lab_start (&lab, "mesh-ui-send-XXXXXX");
  path = g_build_filename (lab.tmp, "report.bin", NULL);
  received_path = g_build_filename (lab.bob_downloads, "report.bin", NULL);
  notes_path = g_build_filename (lab.tmp, "notes.txt", NULL);
  alice_saved = g_build_filename (lab.alice_downloads, "notes.txt", NULL);
  /* Bob's agent, logged in and running as a user would start it. */
  lab_login_bob (&lab, lab.bob_state, NULL);
  run = ui_test_agent_run (lab.bob_state, lab.bob_downloads, "alice");
  lab_enter (&lab);
  window = lab.window;
  lab_wait_bob_device (&lab, NULL);

  /* Not a multiple of any buffer size, and not text. */
  data = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    data[i] = (guchar) g_random_int ();
  content = g_bytes_new_take (data, size);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (content, NULL), size, &error));
  g_assert_no_error (error);

  file = g_file_new_for_path (path);
  files.data = file;
  transfers = mesh_embedded_agent_get_transfers (mesh_window_get_agent (window));
  mesh_room_view_send_files (mesh_window_get_room_view (window), &files);
  g_assert_cmpuint (g_list_model_get_n_items (transfers), ==, 1);
  transfer = g_list_model_get_item (transfers, 0);
  g_assert_cmpint (mesh_transfer_get_direction (transfer), ==, MESH_TRANSFER_OUTGOING);
  g_assert_cmpstr (mesh_transfer_get_peer_name (transfer), ==, "bob");
  ui_test_wait_until (transfer_finished, transfer, UI_TEST_WAIT_S, "the transfer");
  g_assert_cmpstr (mesh_transfer_get_error (transfer), ==, NULL);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_DONE);
  g_assert_cmpuint (mesh_transfer_get_done (transfer), ==, size);

  /* The receiver confirmed the hash: the file is complete on Bob's disk. */
  g_assert_true (g_file_get_contents (received_path, &received, &received_len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (received, received_len, g_bytes_get_data (content, NULL), size);
  toast = g_strdup_printf ("Sent %s", "report.bin");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), toast));

  ui_test_stop_agent (run);
  g_assert_true (g_subprocess_get_if_exited (run));
  g_assert_cmpint (g_subprocess_get_exit_status (run), ==, 0);

  /* Bob sends a file back: Alice is asked (with who, what and where) and accepts. */
  g_assert_true (g_file_set_contents (notes_path, "from bob\n", -1, &error));
  g_signal_connect (mesh_window_get_agent (window), "offer", G_CALLBACK (offer_cb), &offered);
  send = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "send", "--state-dir", lab.bob_state,
                              "--room", "Lab", "--to",
                              mesh_embedded_agent_get_device_id (mesh_window_get_agent (window)),
                              notes_path, NULL);
  ui_test_wait_until (ui_test_pointer_is_set, &offered, UI_TEST_WAIT_S, "bob's offer");
  g_signal_handlers_disconnect_by_data (mesh_window_get_agent (window), &offered);
  g_assert_cmpint (mesh_transfer_get_direction (offered), ==, MESH_TRANSFER_INCOMING);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_OFFERED);
  g_assert_cmpstr (mesh_transfer_get_peer_name (offered), ==, "bob");
  g_assert_cmpstr (mesh_transfer_get_name (offered), ==, "notes.txt");
  g_assert_cmpuint (mesh_transfer_get_size (offered), ==, strlen ("from bob\n"));
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  g_free (ui_test_screenshot (GTK_WIDGET (dialog), "offer-dialog"));
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Accept");
  ui_test_wait_until (transfer_finished, offered, UI_TEST_WAIT_S, "the file from bob");
  g_assert_cmpstr (mesh_transfer_get_error (offered), ==, NULL);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_DONE);
  g_assert_nonnull (mesh_transfer_get_file (offered));
  saved_path = g_file_get_path (mesh_transfer_get_file (offered));
  g_assert_cmpstr (saved_path, ==, alice_saved);
  g_assert_true (g_file_get_contents (alice_saved, &received_back, NULL, &error));
  g_assert_cmpstr (received_back, ==, "from bob\n");
  ui_test_wait_until (process_exited, send, UI_TEST_WAIT_S, "bob's send to end");
  g_assert_true (g_subprocess_get_successful (send));

  /* Bob shares a terminal: Alice sees it in the room, watches, and sees its output. */
  share = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "share-terminal", "--state-dir",
                               lab.bob_state, "--room", "Lab", "--", "sh", "-c",
                               "echo hello-from-bob; exec sleep 60", NULL);
  ui_test_wait_until (share_shown, mesh_window_get_room_view (window), UI_TEST_WAIT_S,
                      "bob's share in the room");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), "bob is sharing a terminal"));
  ui_test_click_labelled (GTK_WIDGET (mesh_window_get_room_view (window)), "_Watch");
  ui_test_wait_until (terminal_shows, "hello-from-bob", UI_TEST_WAIT_S, "bob's terminal output");
  terminal_window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  terminal = g_object_ref (mesh_terminal_window_get_terminal (MESH_TERMINAL_WINDOW (terminal_window)));
  g_assert_cmpint (mesh_shared_terminal_get_role (terminal), ==, MESH_SHARED_TERMINAL_VIEWER);
  g_assert_false (mesh_shared_terminal_get_has_control (terminal));
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-viewer"));

  /* Bob stops sharing: Alice's view says so. */
  g_subprocess_send_signal (share, SIGTERM);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to end");
  ui_test_wait_until (process_exited, share, UI_TEST_WAIT_S, "bob's share to end");
  gtk_window_destroy (terminal_window);
  g_clear_object (&terminal);

  /* Alice shares her shell; Bob watches, asks for control, Alice allows it
   * in a dialog, and what Bob types runs in Alice's shell. */
  terminal = ui_test_share_terminal (window, &terminal_window);
  g_assert_cmpint (mesh_shared_terminal_get_role (terminal), ==, MESH_SHARED_TERMINAL_HOST);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING, "alice's share to start");
  view = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "view-terminal", "--state-dir",
                              lab.bob_state, "--room", "Lab", "--share",
                              mesh_shared_terminal_get_share_id (terminal), "--control", NULL);
  control_dialog = ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "bob's request for control");
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (control_dialog)), ==,
                   "bob wants to control your terminal");
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-host-request"));
  ui_test_click_labelled (GTK_WIDGET (control_dialog), "_Allow");
  ui_test_wait_until (controlled_by_bob, terminal, UI_TEST_WAIT_S, "bob to get control");
  g_assert_true (mesh_shared_terminal_get_has_control (terminal));
  {
    GOutputStream *input = g_subprocess_get_stdin_pipe (view);

    const char *command = "echo typed-by-$((6*7))\n";

    /* Bob's terminal echoes the command; only the shell prints the product. */
    g_assert_true (g_output_stream_write_all (input, command, strlen (command), NULL, NULL, &error));
    g_assert_no_error (error);
  }
  ui_test_wait_until (terminal_shows, "typed-by-42", UI_TEST_WAIT_S,
                      "bob's command to run in alice's shell");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-host-controlled"));

  /* Alice stops sharing: Bob's viewer ends normally. */
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "alice's share to end");
  ui_test_wait_until (process_exited, view, UI_TEST_WAIT_S, "bob's viewer to end");
  g_assert_true (g_subprocess_get_successful (view));
  gtk_window_destroy (terminal_window);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  g_assert_null (mesh_window_get_agent (window));
  lab_stop (&lab);
}

/* Issue #11 item 1: Cancel cancels, on both sides. */

/* The big file is hashed before its first byte moves: 8 GiB take a while
 * on a loaded machine. */
#define HASH_WAIT_S (4 * UI_TEST_WAIT_S)

static gboolean
transfer_moving (gpointer user_data)
{
  return mesh_transfer_get_state (user_data) == MESH_TRANSFER_RUNNING &&
         mesh_transfer_get_done (user_data) > 0;
}

/* Whether @dir holds a file whose name ends with @suffix (or is @name). */
static gboolean
dir_has (const char *dir,
         const char *name,
         const char *suffix)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL) {
    if ((name != NULL && g_str_equal (entry, name)) ||
        (suffix != NULL && g_str_has_suffix (entry, suffix)))
      return TRUE;
  }
  return FALSE;
}

static gboolean
part_in (gpointer dir)
{
  return dir_has (dir, NULL, ".part");
}

static gboolean
no_part_in (gpointer dir)
{
  return !dir_has (dir, NULL, ".part");
}

static void
count_received_cb (MeshEmbeddedAgent *agent,
                   MeshTransfer      *transfer,
                   guint             *n)
{
  (*n)++;
}

/* A file big enough that no transfer ends before its cancel (sparse: it
 * takes no room on the sender's disk). */
static void
make_big_file (const char *path)
{
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, (off_t) 8 << 30), ==, 0);
  g_assert_cmpint (write (fd, "end", 3), ==, 3);
  close (fd);
}

static void
shoot_row (MeshTransfer *transfer,
           const char   *name)
{
  GtkWidget *window = adw_window_new ();
  GtkWidget *list = gtk_list_box_new ();

  gtk_widget_add_css_class (list, "boxed-list");
  gtk_widget_set_margin_top (list, 12);
  gtk_widget_set_margin_bottom (list, 12);
  gtk_widget_set_margin_start (list, 12);
  gtk_widget_set_margin_end (list, 12);
  gtk_widget_set_valign (list, GTK_ALIGN_START);
  gtk_list_box_append (GTK_LIST_BOX (list), mesh_transfer_row_new (transfer));
  adw_window_set_content (ADW_WINDOW (window), list);
  ui_test_present (GTK_WINDOW (window), 420, 120);
  g_free (ui_test_screenshot (window, name));
  ui_test_destroy_window (GTK_WINDOW (window));
}

static void
test_transfer_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) run = NULL;
  g_autoptr(MeshAgentController) bob_agent = NULL;
  g_autoptr(GCancellable) bob_cancel = NULL;
  g_autofree char *bob_state2 = NULL;
  g_autofree char *big = NULL;
  g_autoptr(MeshTransfer) offered = NULL;
  g_autoptr(MeshTransfer) sent = NULL;
  g_autoptr(GFile) file = NULL;
  GAsyncResult *result = NULL;
  Lab lab = { NULL };
  MeshEmbeddedAgent *agent;
  GtkWindow *dialog;
  guint n_received = 0;

  lab_start (&lab, "mesh-ui-cancel-XXXXXX");
  bob_state2 = g_build_filename (lab.tmp, "bob-agent-2", NULL);
  big = g_build_filename (lab.tmp, "big.bin", NULL);
  lab_login_bob (&lab, lab.bob_state, NULL);
  agent = lab_enter (&lab);
  g_signal_connect (agent, "received", G_CALLBACK (count_received_cb), &n_received);
  make_big_file (big);

  /* 1. Bob sends, Alice accepts, Bob cancels: Alice keeps nothing, is not
   * told a file arrived, and sees who cancelled. */
  bob_agent = start_agent_here (lab.bob_state);
  ui_test_wait_until (agent_here_ready, bob_agent, UI_TEST_WAIT_S, "bob's agent");
  file = g_file_new_for_path (big);
  g_signal_connect (agent, "offer", G_CALLBACK (offer_cb), &offered);
  bob_cancel = g_cancellable_new ();
  mesh_agent_controller_send_async (bob_agent, lab.bob.room_id,
                                    mesh_embedded_agent_get_device_id (agent), file, bob_cancel,
                                    ui_test_store_result_cb, &result);
  ui_test_wait_until (ui_test_pointer_is_set, &offered, UI_TEST_WAIT_S, "bob's offer");
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Accept");
  ui_test_wait_until (transfer_moving, offered, HASH_WAIT_S, "bob's file to flow");
  g_cancellable_cancel (bob_cancel);
  ui_test_wait_result (&result, "bob's send to end");
  g_assert_false (mesh_agent_controller_send_finish (bob_agent, result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_object (&result);
  ui_test_wait_until (transfer_finished, offered, UI_TEST_WAIT_S, "bob's cancel to arrive");
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_CANCELLED);
  g_assert_cmpstr (mesh_transfer_get_cancelled_by (offered), ==, "bob");
  ui_test_wait_until (no_part_in, lab.alice_downloads, UI_TEST_WAIT_S, "alice's .part to go");
  g_assert_false (dir_has (lab.alice_downloads, "big.bin", NULL));
  g_assert_cmpuint (n_received, ==, 0);
  shoot_row (offered, "transfer-cancelled-by-sender-receiver-side");
  g_clear_object (&offered);

  /* 2. Bob sends again, Alice (the receiver) cancels: her .part goes, and
   * Bob's side hears that she cancelled (which his window shows as
   * "Cancelled by alice"). */
  mesh_agent_controller_send_async (bob_agent, lab.bob.room_id,
                                    mesh_embedded_agent_get_device_id (agent), file, NULL,
                                    ui_test_store_result_cb, &result);
  ui_test_wait_until (ui_test_pointer_is_set, &offered, UI_TEST_WAIT_S, "bob's second offer");
  g_signal_handlers_disconnect_by_func (agent, offer_cb, &offered);
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Accept");
  ui_test_wait_until (transfer_moving, offered, HASH_WAIT_S, "bob's file to flow again");
  ui_test_wait_until (part_in, lab.alice_downloads, UI_TEST_WAIT_S, "alice's .part");
  mesh_transfer_cancel (offered);
  ui_test_wait_result (&result, "bob's second send to end");
  g_assert_false (mesh_agent_controller_send_finish (bob_agent, result, &error));
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED);
  g_clear_object (&result);
  {
    g_autoptr(MeshTransfer) bobs = mesh_transfer_new (1, MESH_TRANSFER_OUTGOING, lab.bob.room_id,
                                                      "alice", "big.bin", FALSE, 0);

    mesh_transfer_set_progress (bobs, 1, 8589934595);
    mesh_transfer_end_with_error (bobs, error);
    g_assert_cmpstr (mesh_transfer_get_cancelled_by (bobs), ==, "alice");
    shoot_row (bobs, "transfer-cancelled-by-receiver-sender-side");
  }
  g_clear_error (&error);
  ui_test_wait_until (no_part_in, lab.alice_downloads, UI_TEST_WAIT_S, "alice's .part to go");
  g_assert_false (dir_has (lab.alice_downloads, "big.bin", NULL));
  g_assert_cmpuint (n_received, ==, 0);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_CANCELLED);
  g_assert_null (mesh_transfer_get_cancelled_by (offered));
  shoot_row (offered, "transfer-cancelled-receiver-side");
  mesh_agent_controller_stop (bob_agent);
  g_clear_object (&bob_agent);
  g_clear_object (&file);

  /* 3. Alice sends to Bob's other computer and cancels: Bob keeps neither
   * the file nor a .part. */
  {
    g_autoptr(MeshAgentState) state2 = mesh_agent_state_new (bob_state2);

    lab_login_bob (&lab, bob_state2, "bob-server");
    run = ui_test_agent_run (bob_state2, lab.bob_downloads, "alice");
    g_assert_true (mesh_agent_state_load (state2, &error));
    /* Bob's other computer. */
    lab_wait_bob_device (&lab, mesh_agent_state_get_device_id (state2));
    file = g_file_new_for_path (big);
    sent = g_object_ref (mesh_embedded_agent_send (agent, lab.bob.room_id,
                                                   mesh_agent_state_get_device_id (state2), "bob",
                                                   file));
  }
  g_assert_cmpint (mesh_transfer_get_direction (sent), ==, MESH_TRANSFER_OUTGOING);
  ui_test_wait_until (transfer_moving, sent, HASH_WAIT_S, "alice's file to flow");
  ui_test_wait_until (part_in, lab.bob_downloads, UI_TEST_WAIT_S, "bob's .part");
  mesh_transfer_cancel (sent);
  ui_test_wait_until (no_part_in, lab.bob_downloads, UI_TEST_WAIT_S, "bob's .part to go");
  g_assert_false (dir_has (lab.bob_downloads, "big.bin", NULL));
  g_assert_cmpint (mesh_transfer_get_state (sent), ==, MESH_TRANSFER_CANCELLED);
  shoot_row (sent, "transfer-cancelled-sender-side");
  ui_test_stop_agent (run);

  g_signal_handlers_disconnect_by_data (agent, &n_received);
  lab_stop (&lab);
}

/* Files between the window's agent and bob's, a terminal each way, cancel. */
void
test_ui_add_transfers_tests (void)
{
  g_test_add_func ("/mesh/ui/files-and-terminal", test_send_files);
  g_test_add_func ("/mesh/ui/transfer-cancel", test_transfer_cancel);
}
