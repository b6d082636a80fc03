/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "test-transfer-private.h"

#include <unistd.h>

/* Folders sent and received for real: a tree with every kind of entry
 * arrives the same, and one over the size limit leaves nothing. */

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

void
test_transfer_add_folder_tests (void)
{
  transfer_test_add ("/mesh/transfer/folder/tree", test_folder);
  transfer_test_add ("/mesh/transfer/folder/max-size", test_folder_max_size);
}
