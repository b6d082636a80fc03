/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-agent-e2e"

#include "config.h"

#include "mesh-error.h"
#include "mesh-file-transfer.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-transfer-util.h"
#include "agent-test-util.h"

#include "test-agent-e2e-private.h"

#include <archive.h>
#include <archive_entry.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* What a hostile peer with a connection can do to a receiver: use offers
 * the user did not accept, send more or other than it offered. */

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

void
test_agent_e2e_add_hostile_tests (void)
{
  g_test_add_func ("/mesh/agent-e2e/consent", test_consent);
  g_test_add_func ("/mesh/agent-e2e/accepted-meta", test_accepted_meta);
}
