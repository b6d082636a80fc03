/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-frame"

#include "config.h"

#include "mesh-error.h"
#include "mesh-frame.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-safe-path.h"

#include "agent-test-util.h"

#include <locale.h>
#include <string.h>

typedef struct {
  MeshFrameType  type;
  GBytes        *payload;
} Sample;

static void
sample_free (Sample *sample)
{
  g_bytes_unref (sample->payload);
  g_free (sample);
}

static GPtrArray *
sample_frames (void)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) sample_free);
  g_autoptr(JsonObject) control = mesh_frame_control_new ("FILE_ACK");
  static const guint8 big_pattern[] = { 0xde, 0xad, 0xbe, 0xef };
  g_autoptr(GByteArray) big = g_byte_array_new ();
  Sample *sample;

  json_object_set_int_member (control, "last_offset", 42);
  for (guint i = 0; i < MESH_FRAME_MAX_PAYLOAD / sizeof big_pattern; i++)
    g_byte_array_append (big, big_pattern, sizeof big_pattern);

  sample = g_new0 (Sample, 1);
  sample->type = MESH_FRAME_CONTROL;
  sample->payload = mesh_frame_control_to_bytes (control);
  g_ptr_array_add (frames, sample);

  sample = g_new0 (Sample, 1);
  sample->type = MESH_FRAME_CHUNK;
  sample->payload = mesh_frame_chunk_new (G_GUINT64_CONSTANT (0x0102030405060708), "chunk", 5);
  g_ptr_array_add (frames, sample);

  sample = g_new0 (Sample, 1);
  sample->type = MESH_FRAME_TERM_OUT;
  sample->payload = g_bytes_new_static ("héllo\r\n", strlen ("héllo\r\n"));
  g_ptr_array_add (frames, sample);

  sample = g_new0 (Sample, 1);
  sample->type = MESH_FRAME_TERM_IN;
  sample->payload = g_bytes_new_static ("", 0);
  g_ptr_array_add (frames, sample);

  sample = g_new0 (Sample, 1);
  sample->type = MESH_FRAME_TERM_OUT;
  sample->payload = g_bytes_new (big->data, big->len);
  g_ptr_array_add (frames, sample);
  return frames;
}

static GBytes *
concat_frames (GPtrArray *frames)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();

  for (guint i = 0; i < frames->len; i++) {
    Sample *sample = frames->pdata[i];
    g_autoptr(GBytes) frame = mesh_frame_encode (sample->type, sample->payload);

    g_byte_array_append (wire, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&wire));
}

/* Feeds @wire in pieces of @step bytes and checks every frame comes out. */
static void
parse_in_steps (GPtrArray *frames,
                GBytes    *wire,
                gsize      step)
{
  g_autoptr(MeshFrameParser) parser = mesh_frame_parser_new ();
  gsize len;
  const guint8 *data = g_bytes_get_data (wire, &len);
  guint seen = 0;
  gsize pos = 0;

  while (pos < len) {
    g_autoptr(GError) error = NULL;
    gsize end = MIN (len, pos + step);
    MeshFrameType type;
    GBytes *payload;

    while (pos < end) {
      pos += mesh_frame_parser_feed (parser, data + pos, end - pos, &error);
      g_assert_no_error (error);
      while (mesh_frame_parser_next (parser, &type, &payload)) {
        Sample *sample = frames->pdata[seen++];

        g_assert_cmpint (type, ==, sample->type);
        g_assert_true (g_bytes_equal (payload, sample->payload));
        g_bytes_unref (payload);
      }
    }
  }
  g_assert_cmpuint (seen, ==, frames->len);
  g_assert_true (mesh_frame_parser_is_idle (parser));
}

static void
test_round_trip (void)
{
  g_autoptr(GPtrArray) frames = sample_frames ();
  g_autoptr(GBytes) wire = concat_frames (frames);

  parse_in_steps (frames, wire, g_bytes_get_size (wire));
  parse_in_steps (frames, wire, 4096);
}

static void
test_byte_by_byte (void)
{
  g_autoptr(GPtrArray) frames = sample_frames ();
  g_autoptr(GBytes) wire = NULL;

  /* The 1 MiB frame would make this slow byte by byte; keep the others. */
  g_ptr_array_remove_index (frames, frames->len - 1);
  wire = concat_frames (frames);
  parse_in_steps (frames, wire, 1);
}

static void
feed_header (const guint8  header[MESH_FRAME_HEADER_SIZE],
             GError       **error)
{
  g_autoptr(MeshFrameParser) parser = mesh_frame_parser_new ();
  gsize used = mesh_frame_parser_feed (parser, header, MESH_FRAME_HEADER_SIZE, error);
  MeshFrameType type;
  GBytes *payload;

  g_assert_cmpuint (used, ==, MESH_FRAME_HEADER_SIZE);
  g_assert_false (mesh_frame_parser_next (parser, &type, &payload));
}

static void
test_oversize (void)
{
  g_autoptr(GError) error = NULL;
  static const guint8 too_big[] = { 0x02, 0x00, 0x10, 0x00, 0x01 };
  static const guint8 huge[] = { 0x03, 0xff, 0xff, 0xff, 0xff };
  static const guint8 limit[] = { 0x02, 0x00, 0x10, 0x00, 0x00 };

  feed_header (too_big, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  feed_header (huge, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  /* Exactly 1 MiB is allowed: the parser waits for the payload. */
  feed_header (limit, &error);
  g_assert_no_error (error);
}

static void
test_unknown_type (void)
{
  static const guint8 types[] = { 0x00, 0x05, 0x7f, 0xff };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    g_autoptr(MeshFrameParser) parser = mesh_frame_parser_new ();
    g_autoptr(GError) error = NULL;
    guint8 header[] = { types[i], 0, 0, 0, 1, 'x' };

    mesh_frame_parser_feed (parser, header, sizeof header, &error);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
    g_clear_error (&error);
    /* The stream cannot be trusted after that: the parser stays failed. */
    mesh_frame_parser_feed (parser, header, sizeof header, &error);
    g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  }
}

static void
read_one (MeshFrameReader  *reader,
          MeshFrameType    *type,
          GBytes          **payload,
          GError          **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  mesh_frame_reader_read_async (reader, NULL, agent_test_store_result, &result);
  mesh_frame_reader_read_finish (reader, agent_test_wait_result (&result), type, payload, error);
}

static void
test_truncated (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) payload = NULL;
  GOutputStream *out;
  MeshFrameType type;
  static const guint8 whole[] = { 0x03, 0, 0, 0, 2, 'o', 'k' };
  static const guint8 partial[] = { 0x03, 0, 0, 0, 10, 'c', 'u', 't' };

  agent_test_stream_pair (&a, &b);
  out = g_io_stream_get_output_stream (a);
  g_output_stream_write_all (out, whole, sizeof whole, NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_write_all (out, partial, sizeof partial, NULL, NULL, &error);
  g_assert_no_error (error);
  g_io_stream_close (a, NULL, &error);
  g_assert_no_error (error);

  reader = mesh_frame_reader_get_for_stream (b);
  read_one (reader, &type, &payload, &error);
  g_assert_no_error (error);
  g_assert_cmpint (type, ==, MESH_FRAME_TERM_OUT);
  g_assert_cmpmem (g_bytes_get_data (payload, NULL), 2, "ok", 2);
  g_clear_pointer (&payload, g_bytes_unref);

  read_one (reader, &type, &payload, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  g_assert_null (payload);
}

static void
test_clean_end (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(GError) error = NULL;
  GBytes *payload = NULL;
  MeshFrameType type;

  agent_test_stream_pair (&a, &b);
  g_io_stream_close (a, NULL, &error);
  g_assert_no_error (error);
  reader = mesh_frame_reader_get_for_stream (b);
  read_one (reader, &type, &payload, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_writer_reader (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;
  g_autoptr(MeshFrameReader) same = NULL;
  g_autoptr(GPtrArray) frames = sample_frames ();
  g_autoptr(GAsyncResult) last = NULL;
  g_autoptr(GError) error = NULL;

  agent_test_stream_pair (&a, &b);
  writer = mesh_frame_writer_get_for_stream (a);
  reader = mesh_frame_reader_get_for_stream (b);
  same = mesh_frame_reader_get_for_stream (b);
  g_assert_true (reader == same);

  /* Queue everything at once: the writer must keep frames whole and ordered. */
  for (guint round = 0; round < 3; round++) {
    for (guint i = 0; i < frames->len; i++) {
      Sample *sample = frames->pdata[i];
      gboolean is_last = round == 2 && i == frames->len - 1;

      mesh_frame_writer_write_async (writer, sample->type, sample->payload, NULL,
                                     is_last ? agent_test_store_result : NULL,
                                     is_last ? &last : NULL);
    }
  }
  g_assert_cmpuint (mesh_frame_writer_get_queued_bytes (writer), >, MESH_FRAME_MAX_PAYLOAD);

  for (guint round = 0; round < 3; round++) {
    for (guint i = 0; i < frames->len; i++) {
      Sample *sample = frames->pdata[i];
      g_autoptr(GBytes) payload = NULL;
      MeshFrameType type;

      read_one (reader, &type, &payload, &error);
      g_assert_no_error (error);
      g_assert_cmpint (type, ==, sample->type);
      g_assert_true (g_bytes_equal (payload, sample->payload));
    }
  }
  mesh_frame_writer_write_finish (writer, agent_test_wait_result (&last), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mesh_frame_writer_get_queued_bytes (writer), ==, 0);
}

static void
assert_control_refused (const char *json,
                        gssize      len)
{
  g_autoptr(GBytes) payload = g_bytes_new (json, len < 0 ? strlen (json) : (gsize) len);
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GError) error = NULL;
  const char *t = NULL;

  control = mesh_frame_control_parse (payload, &t, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_assert_null (control);
}

static void
test_control (void)
{
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  const char *t = NULL;

  assert_control_refused ("not json", -1);
  assert_control_refused ("[1, 2]", -1);
  assert_control_refused ("{\"size\": 3}", -1);
  assert_control_refused ("{\"t\": 7}", -1);
  assert_control_refused ("{\"t\": \"FILE_ACK\"", -1);
  assert_control_refused ("", 0);
  assert_control_refused ("{\"t\": \"\xff\xfe\"}", -1);
  assert_control_refused ("{\"t\": \"A\"}\0junk", 16);

  payload = g_bytes_new_static ("{\"t\":\"FILE_DONE\",\"hash\":\"ab\"}", 29);
  control = mesh_frame_control_parse (payload, &t, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t, ==, "FILE_DONE");
  g_assert_cmpstr (json_object_get_string_member (control, "hash"), ==, "ab");
}

static void
test_chunk (void)
{
  g_autoptr(GBytes) chunk = mesh_frame_chunk_new (1234567890123, "abc", 3);
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GBytes) short_payload = g_bytes_new_static ("1234567", 7);
  g_autoptr(GError) error = NULL;
  guint64 offset = 0;

  g_assert_true (mesh_frame_chunk_parse (chunk, &offset, &data, &error));
  g_assert_cmpuint (offset, ==, 1234567890123);
  g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), "abc", 3);
  g_clear_pointer (&data, g_bytes_unref);

  g_assert_false (mesh_frame_chunk_parse (short_payload, &offset, &data, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
}

static void
test_p2p (void)
{
  g_autoptr(JsonObject) hello = mesh_frame_p2p_hello_new ("s-1", "tok", "dev-a");
  g_autoptr(GBytes) wire = mesh_frame_control_to_bytes (hello);
  g_autoptr(JsonObject) parsed = NULL;
  g_autoptr(JsonObject) ok = mesh_frame_p2p_ok_new ();
  g_autoptr(JsonObject) deny = mesh_frame_p2p_deny_new ("token reused");
  g_autoptr(JsonObject) missing = mesh_frame_control_new ("P2P_HELLO");
  g_autoptr(GError) error = NULL;
  const char *t, *session_id, *token, *device;

  parsed = mesh_frame_control_parse (wire, &t, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t, ==, "P2P_HELLO");
  g_assert_true (mesh_frame_p2p_hello_parse (parsed, &session_id, &token, &device, &error));
  g_assert_cmpstr (session_id, ==, "s-1");
  g_assert_cmpstr (token, ==, "tok");
  g_assert_cmpstr (device, ==, "dev-a");

  json_object_set_string_member (missing, "session_id", "s-1");
  g_assert_false (mesh_frame_p2p_hello_parse (missing, &session_id, &token, &device, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_assert_false (mesh_frame_p2p_hello_parse (ok, &session_id, &token, &device, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST);
  g_clear_error (&error);

  g_assert_true (mesh_frame_p2p_reply_parse (ok, &error));
  g_assert_no_error (error);
  g_assert_false (mesh_frame_p2p_reply_parse (deny, &error));
  g_assert_error (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED);
  g_assert_nonnull (strstr (error->message, "token reused"));
}

static void
test_error_mapping (void)
{
  g_autoptr(JsonObject) hash = mesh_frame_error_new ("HASH_MISMATCH", "bad");
  g_autoptr(JsonObject) cap = mesh_frame_error_new ("CAP_REQUIRED", "no control");
  g_autoptr(JsonObject) odd = mesh_frame_error_new ("SOMETHING_NEW", "?");
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) local = g_error_new_literal (MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE, "big");
  g_autoptr(JsonObject) back = mesh_frame_error_new_from_gerror (local);

  mesh_frame_error_to_gerror (hash, &error);
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH);
  g_clear_error (&error);
  mesh_frame_error_to_gerror (cap, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_CAP_REQUIRED);
  g_clear_error (&error);
  mesh_frame_error_to_gerror (odd, &error);
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_PEER);
  g_assert_cmpstr (json_object_get_string_member (back, "code"), ==, "PAYLOAD_TOO_LARGE");
}

static void
test_safe_names (void)
{
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "report.pdf", "report.pdf" },
    { "../x", "x" },
    { "/etc/passwd", "passwd" },
    { "a/b", "b" },
    { "a\\b", "b" },
    { "..", "file" },
    { ".", "file" },
    { "", "file" },
    { "/", "file" },
    { "dir/..", "file" },
    { "bell\a\x1b[31mred", "bell__[31mred" },
    { "new\nline", "new_line" },
    { "ünïcödé ✓.txt", "ünïcödé ✓.txt" },
    { "bad\xff utf8", "bad\xef\xbf\xbd utf8" },
  };
  g_autofree char *null_name = mesh_safe_path_sanitize_name (NULL);
  g_autoptr(GString) long_name = g_string_new (NULL);
  g_autofree char *cut = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *name = mesh_safe_path_sanitize_name (cases[i].in);

    g_assert_cmpstr (name, ==, cases[i].out);
    g_assert_true (mesh_safe_path_component_is_safe (name, strlen (name)));
  }
  g_assert_cmpstr (null_name, ==, "file");

  for (guint i = 0; i < 200; i++)
    g_string_append (long_name, "é");
  g_string_append (long_name, ".txt");
  cut = mesh_safe_path_sanitize_name (long_name->str);
  g_assert_cmpuint (strlen (cut), <=, MESH_SAFE_NAME_MAX);
  g_assert_true (g_str_has_suffix (cut, "é.txt"));
  g_assert_true (g_utf8_validate (cut, -1, NULL));
}

static void
test_safe_paths (void)
{
  static const char *good[] = { "a", "a/b/c.txt", "dir/", "ünï/cödé" };
  static const char *bad[] = { "", "/abs", "../x", "a/../../x", "a/./b", "a\\b", "a//b",
                               "ctl\x01", "..", "bad\xff" };
  g_autofree char *one = mesh_safe_path_unique_name ("photo.jpg", 1);
  g_autofree char *two = mesh_safe_path_unique_name ("archive.tar.gz", 2);
  g_autofree char *bare = mesh_safe_path_unique_name ("README", 3);
  g_autofree char *hidden = mesh_safe_path_unique_name (".bashrc", 1);

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (mesh_safe_path_relative_is_safe (good[i], NULL));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (mesh_safe_path_relative_is_safe (bad[i], NULL));

  g_assert_true (mesh_safe_path_link_target_is_safe ("link", "a/b"));
  g_assert_true (mesh_safe_path_link_target_is_safe ("link", "."));
  /* No ".." at all: checked as text, a chain of links can climb out. */
  g_assert_false (mesh_safe_path_link_target_is_safe ("a/link", "../b/file"));
  g_assert_false (mesh_safe_path_link_target_is_safe ("a/b/link", "../../c"));
  g_assert_false (mesh_safe_path_link_target_is_safe ("b", "a/.."));
  g_assert_false (mesh_safe_path_link_target_is_safe ("link", "/etc"));
  g_assert_false (mesh_safe_path_link_target_is_safe ("link", "../outside"));
  g_assert_false (mesh_safe_path_link_target_is_safe ("a/link", "b/../../../x"));
  g_assert_false (mesh_safe_path_link_target_is_safe ("link", ""));

  g_assert_cmpstr (one, ==, "photo (1).jpg");
  g_assert_cmpstr (two, ==, "archive (2).tar.gz");
  g_assert_cmpstr (bare, ==, "README (3)");
  g_assert_cmpstr (hidden, ==, ".bashrc (1)");
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/frame/round-trip", test_round_trip);
  g_test_add_func ("/mesh/frame/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/mesh/frame/oversize", test_oversize);
  g_test_add_func ("/mesh/frame/unknown-type", test_unknown_type);
  g_test_add_func ("/mesh/frame/truncated", test_truncated);
  g_test_add_func ("/mesh/frame/clean-end", test_clean_end);
  g_test_add_func ("/mesh/frame/writer-reader", test_writer_reader);
  g_test_add_func ("/mesh/frame/control", test_control);
  g_test_add_func ("/mesh/frame/chunk", test_chunk);
  g_test_add_func ("/mesh/frame/p2p", test_p2p);
  g_test_add_func ("/mesh/frame/error-mapping", test_error_mapping);
  g_test_add_func ("/mesh/safe-path/names", test_safe_names);
  g_test_add_func ("/mesh/safe-path/paths", test_safe_paths);

  return g_test_run ();
}
