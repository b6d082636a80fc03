/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-error.h"
#include "mesh-frame.h"
#include "mesh-shared-terminal.h"
#include "mesh-transfer.h"

/* The app's models, without a display: what the widgets show comes from
 * these states and properties. */

/* Connected swapped: only the counter matters. */
static void
count_cb (guint *count)
{
  (*count)++;
}

static void
test_transfer_offer (void)
{
  g_autoptr(MeshTransfer) transfer = mesh_transfer_new (7, MESH_TRANSFER_INCOMING, "room", "bob",
                                                        "report.pdf", FALSE, 1000);
  guint accepted = 0, declined = 0;

  g_signal_connect_swapped (transfer, "accept", G_CALLBACK (count_cb), &accepted);
  g_signal_connect_swapped (transfer, "decline", G_CALLBACK (count_cb), &declined);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_OFFERED);
  g_assert_cmpuint (mesh_transfer_get_id (transfer), ==, 7);

  /* Accepting twice asks the agent once. */
  mesh_transfer_accept (transfer, NULL);
  mesh_transfer_accept (transfer, NULL);
  mesh_transfer_decline (transfer);
  g_assert_cmpuint (accepted, ==, 1);
  g_assert_cmpuint (declined, ==, 0);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_WAITING);

  mesh_transfer_set_progress (transfer, 250, 1000);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_RUNNING);
  g_assert_cmpfloat (mesh_transfer_get_fraction (transfer), ==, 0.25);
  /* Done is all of it; a late progress report changes nothing. */
  mesh_transfer_set_state (transfer, MESH_TRANSFER_DONE, NULL);
  g_assert_true (mesh_transfer_is_finished (transfer));
  g_assert_cmpuint (mesh_transfer_get_done (transfer), ==, 1000);
  mesh_transfer_set_progress (transfer, 500, 1000);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_DONE);
  g_assert_cmpuint (mesh_transfer_get_done (transfer), ==, 1000);
}

static void
test_transfer_errors (void)
{
  g_autoptr(MeshTransfer) ours = mesh_transfer_new (1, MESH_TRANSFER_OUTGOING, "room", "bob",
                                                    "a.bin", FALSE, 0);
  g_autoptr(MeshTransfer) theirs = mesh_transfer_new (2, MESH_TRANSFER_OUTGOING, "room", "bob",
                                                      "b.bin", FALSE, 0);
  g_autoptr(MeshTransfer) refused = mesh_transfer_new (3, MESH_TRANSFER_OUTGOING, "room", "bob",
                                                       "c.bin", FALSE, 0);
  g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");
  g_autoptr(GError) peer = g_error_new_literal (MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED, "x");
  g_autoptr(GError) denied = g_error_new_literal (MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED,
                                                  "declined");

  mesh_transfer_end_with_error (ours, cancelled);
  g_assert_cmpint (mesh_transfer_get_state (ours), ==, MESH_TRANSFER_CANCELLED);
  g_assert_null (mesh_transfer_get_cancelled_by (ours));
  mesh_transfer_end_with_error (theirs, peer);
  g_assert_cmpint (mesh_transfer_get_state (theirs), ==, MESH_TRANSFER_CANCELLED);
  g_assert_cmpstr (mesh_transfer_get_cancelled_by (theirs), ==, "bob");
  mesh_transfer_end_with_error (refused, denied);
  g_assert_cmpint (mesh_transfer_get_state (refused), ==, MESH_TRANSFER_DECLINED);
  g_assert_nonnull (mesh_transfer_get_error (refused));
  g_assert_cmpstr (mesh_transfer_get_details (refused), ==, "declined");
}

static void
output_cb (MeshSharedTerminal *terminal,
           GBytes             *data,
           GString            *seen)
{
  g_string_append_len (seen, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
}

static void
test_shared_terminal (void)
{
  g_autoptr(MeshSharedTerminal) terminal = mesh_shared_terminal_new (MESH_SHARED_TERMINAL_VIEWER,
                                                                     "room", "alice");
  g_autoptr(GString) seen = g_string_new (NULL);
  g_autoptr(GBytes) data = g_bytes_new_static ("$ ls\r\n", 6);
  guint asked = 0;

  g_signal_connect (terminal, "output", G_CALLBACK (output_cb), seen);
  g_signal_connect_swapped (terminal, "request-control", G_CALLBACK (count_cb), &asked);
  mesh_shared_terminal_set_share_id (terminal, "share-1");
  mesh_shared_terminal_set_size (terminal, 100, 30);
  mesh_shared_terminal_set_state (terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);
  mesh_shared_terminal_push_output (terminal, data);
  g_assert_cmpstr (seen->str, ==, "$ ls\r\n");
  g_assert_cmpstr (mesh_shared_terminal_get_share_id (terminal), ==, "share-1");
  g_assert_cmpuint (mesh_shared_terminal_get_cols (terminal), ==, 100);
  g_assert_cmpuint (mesh_shared_terminal_get_rows (terminal), ==, 30);

  mesh_shared_terminal_request_control (terminal);
  g_assert_cmpuint (asked, ==, 1);
  mesh_shared_terminal_set_controller (terminal, "peer-9", "carol", TRUE);
  g_assert_true (mesh_shared_terminal_get_has_control (terminal));
  g_assert_cmpstr (mesh_shared_terminal_get_controller_name (terminal), ==, "carol");
  mesh_shared_terminal_set_state (terminal, MESH_SHARED_TERMINAL_ENDED, "gone");
  g_assert_cmpint (mesh_shared_terminal_get_state (terminal), ==, MESH_SHARED_TERMINAL_ENDED);
  g_assert_cmpstr (mesh_shared_terminal_get_error (terminal), ==, "gone");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mesh/core/transfer/offer", test_transfer_offer);
  g_test_add_func ("/mesh/core/transfer/errors", test_transfer_errors);
  g_test_add_func ("/mesh/core/shared-terminal", test_shared_terminal);
  return g_test_run ();
}
