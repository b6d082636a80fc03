/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-transfer"

#include "config.h"

#include "test-transfer-private.h"

#include <glib/gstdio.h>
#include <string.h>

/* A hostile file sender: names that try to leave the download folder, a
 * wrong hash, a chunk at the wrong offset, FILE_META that does not match
 * the accepted offer. */

static void
test_hostile_names (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char *names[] = { "../x", "/etc/passwd", "a/b", "..", "", ".",
                                 "../../outside/evil", "ctl\x01\x1b[2J", "..\\..\\win",
                                 /* the longest name still leaves room for the tagged .part */
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
                                 "llllllllllllllllllllllllllllllllllllllllllllllllllllllll.txt" };
  g_autofree char *path = make_file (fixture->root, "payload", 100, 7);
  g_autofree char *downloads = g_file_get_path (fixture->downloads);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *parent = NULL;
    Outcome outcome = { 0 };

    run_file_transfer (fixture, path, names[i], 0, 0, &outcome);
    g_assert_no_error (outcome.send_error);
    g_assert_no_error (outcome.receive_error);
    parent = g_path_get_dirname (outcome.result_path);
    g_assert_cmpstr (parent, ==, downloads);
    agent_test_assert_same_file (path, outcome.result_path);
    outcome_clear (&outcome);
  }
  g_assert_cmpuint (agent_test_count_entries (fixture->outside), ==, 0);
  g_assert_cmpuint (agent_test_count_entries (downloads), ==, G_N_ELEMENTS (names));
  g_assert_cmpuint (agent_test_count_entries (fixture->root), ==, 3);
}

/* The receiver answers ERROR @code and ends with that error. */
static void
raw_assert_file_refused (Raw              *raw,
                         MeshFileReceiver *receiver,
                         const char       *code,
                         GQuark            domain,
                         int               error_code)
{
  g_autoptr(JsonObject) answer = raw_read_control (raw, "ERROR");
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (json_object_get_string_member (answer, "code"), ==, code);
  mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&raw->received), &error);
  g_assert_error (error, domain, error_code);
}

static void
test_hash_mismatch (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char content[] = "the real content of the file";
  g_autofree char *hash = sha256_hex (content, sizeof content);
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFileReceiver) receiver = raw_file_receiver_start (&raw, fixture, NULL);
  g_autoptr(JsonObject) ack = NULL;

  raw_send_file_meta (&raw, "doc.txt", sizeof content, hash);
  ack = raw_read_control (&raw, "FILE_ACK");
  g_assert_cmpint (json_object_get_int_member (ack, "last_offset"), ==, 0);

  raw_send_chunk (&raw, 0, content, sizeof content);
  raw_send_file_done (&raw, "00000000000000000000000000000000"
                            "00000000000000000000000000000000");

  raw_assert_file_refused (&raw, receiver, "HASH_MISMATCH", MESH_FRAME_ERROR,
                           MESH_FRAME_ERROR_HASH_MISMATCH);
  /* Nothing is kept: neither a final file nor a .part to resume. */
  g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
}

static void
test_wrong_offset (Fixture       *fixture,
                   gconstpointer  data)
{
  static const char content[] = "0123456789";
  g_autofree char *hash = sha256_hex (content, 10);
  g_auto(Raw) raw = { 0 };
  g_autoptr(MeshFileReceiver) receiver = raw_file_receiver_start (&raw, fixture, NULL);
  g_autoptr(JsonObject) ack = NULL;

  raw_send_file_meta (&raw, "digits", 10, hash);
  ack = raw_read_control (&raw, "FILE_ACK");
  raw_send_chunk (&raw, 5, content + 5, 5);

  raw_assert_file_refused (&raw, receiver, "BAD_REQUEST", MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

/* Issue #10, 2: FILE_META against the offer the user accepted, and against
 * the free space of the download folder. */
static void
test_file_offer (Fixture       *fixture,
                 gconstpointer  data)
{
  static const char content[] = "#!/bin/sh\necho pwned\n";
  g_autofree char *hash = sha256_hex (content, strlen (content));
  struct {
    const char *name;
    gint64      size;
    const char *hash;
    int         code;
  } cases[] = {
    { "holiday.jpg", 6, NULL, MESH_ERROR_PAYLOAD_TOO_LARGE },      /* more than offered */
    { "payload.sh", 21, NULL, MESH_ERROR_PAYLOAD_TOO_LARGE },      /* still more */
    { "payload.sh", G_MAXINT64 / 2, hash, MESH_ERROR_PAYLOAD_TOO_LARGE }, /* no disk that big */
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_auto(Raw) raw = { 0 };
    g_autoptr(MeshFileReceiver) receiver = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GError) error = NULL;

    raw_open (&raw);
    receiver = mesh_file_receiver_new (raw.b, fixture->downloads);
    if (i < 2)
      mesh_file_receiver_set_offer (receiver, cases[i].name, cases[i].size, cases[i].hash);
    mesh_file_receiver_receive_async (receiver, NULL, agent_test_store_result, &raw.received);
    raw_send_file_meta (&raw, "payload.sh", i < 2 ? (gint64) strlen (content) + 1 : cases[i].size,
                        hash);
    answer = raw_read_control (&raw, "ERROR");
    g_test_message ("case %u: %s", i, json_object_get_string_member (answer, "message"));
    mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&raw.received), &error);
    g_assert_error (error, MESH_ERROR, cases[i].code);
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }

  /* Name and hash: FORBIDDEN; the right ones pass. */
  for (guint i = 0; i < 3; i++) {
    g_autofree char *path = g_build_filename (fixture->root, i == 0 ? "payload.sh" : "holiday.jpg",
                                              NULL);
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(GFile) file = NULL;
    g_autoptr(MeshFileSender) sender = NULL;
    g_autoptr(MeshFileReceiver) receiver = NULL;
    g_autoptr(GAsyncResult) sent = NULL;
    g_autoptr(GAsyncResult) received = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) send_error = NULL;
    const char *offered_hash = i == 1 ? "00000000000000000000000000000000"
                                        "00000000000000000000000000000000" : hash;

    write_bytes (path, content, strlen (content));
    file = g_file_new_for_path (path);
    agent_test_stream_pair (&a, &b);
    sender = mesh_file_sender_new (a, file);
    receiver = mesh_file_receiver_new (b, fixture->downloads);
    mesh_file_receiver_set_offer (receiver, "holiday.jpg", strlen (content), offered_hash);
    mesh_file_receiver_receive_async (receiver, NULL, agent_test_store_result, &received);
    mesh_file_sender_send_async (sender, NULL, agent_test_store_result, &sent);
    mesh_file_receiver_receive_finish (receiver, agent_test_wait_result (&received), &error);
    g_io_stream_close (b, NULL, NULL);
    mesh_file_sender_send_finish (sender, agent_test_wait_result (&sent), &send_error);
    if (i < 2) {
      g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
      g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
    } else {
      g_assert_no_error (error);
      g_assert_no_error (send_error);
      g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 1);
    }
    g_unlink (path);
  }
}

/* A sender that fails before it offers anything says why with ERROR: both
 * receivers end with that reason (not with a complaint about the frame) and
 * write nothing. */
static void
test_sender_error_first (Fixture       *fixture,
                         gconstpointer  data)
{
  for (guint folder = 0; folder <= 1; folder++) {
    g_auto(Raw) raw = { 0 };
    g_autoptr(MeshFileReceiver) file_receiver = NULL;
    g_autoptr(MeshFolderReceiver) folder_receiver = NULL;
    g_autoptr(JsonObject) refusal = mesh_frame_error_new ("FORBIDDEN",
                                                          "the sender may not share that");
    g_autoptr(GError) error = NULL;

    if (folder) {
      raw_open (&raw);
      folder_receiver = mesh_folder_receiver_new (raw.b, fixture->downloads);
      mesh_folder_receiver_receive_async (folder_receiver, NULL, agent_test_store_result,
                                          &raw.received);
    } else {
      file_receiver = raw_file_receiver_start (&raw, fixture, NULL);
    }
    raw_send_control (&raw, refusal);

    if (folder)
      mesh_folder_receiver_receive_finish (folder_receiver,
                                           agent_test_wait_result (&raw.received), &error);
    else
      mesh_file_receiver_receive_finish (file_receiver,
                                         agent_test_wait_result (&raw.received), &error);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN);
    g_assert_nonnull (strstr (error->message, "the sender may not share that"));
    g_assert_cmpuint (agent_test_count_entries (g_file_peek_path (fixture->downloads)), ==, 0);
  }
}

void
test_transfer_add_hostile_tests (void)
{
  transfer_test_add ("/mesh/transfer/file/hostile-names", test_hostile_names);
  transfer_test_add ("/mesh/transfer/file/hash-mismatch", test_hash_mismatch);
  transfer_test_add ("/mesh/transfer/file/wrong-offset", test_wrong_offset);
  transfer_test_add ("/mesh/transfer/sender-error-first", test_sender_error_first);
  transfer_test_add ("/mesh/transfer/file/offer", test_file_offer);
}
