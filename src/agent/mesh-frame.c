/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-frame"

#include "config.h"

#include "mesh-frame.h"

#include "mesh-error.h"
#include "mesh-json.h"

#include <string.h>

struct _MeshFrameParser {
  guint8         header[MESH_FRAME_HEADER_SIZE];
  gsize          header_len;
  MeshFrameType  type;
  gsize          payload_len;
  guint8        *payload;
  gsize          payload_have;
  gboolean       ready;
  GError        *error;
};

G_DEFINE_QUARK (mesh-frame-error-quark, mesh_frame_error)

const char *
mesh_frame_type_to_string (MeshFrameType type)
{
  switch (type) {
  case MESH_FRAME_CONTROL:
    return "CONTROL";
  case MESH_FRAME_CHUNK:
    return "CHUNK";
  case MESH_FRAME_TERM_OUT:
    return "TERM_OUT";
  case MESH_FRAME_TERM_IN:
    return "TERM_IN";
  default:
    return "unknown";
  }
}

static gboolean
type_is_known (guint type)
{
  return type >= MESH_FRAME_CONTROL && type <= MESH_FRAME_TERM_IN;
}

void
mesh_frame_encode_header (MeshFrameType type,
                          gsize         payload_len,
                          guint8        header[MESH_FRAME_HEADER_SIZE])
{
  guint32 be_len;

  g_return_if_fail (payload_len <= MESH_FRAME_MAX_PAYLOAD);

  be_len = GUINT32_TO_BE ((guint32) payload_len);
  header[0] = (guint8) type;
  memcpy (header + 1, &be_len, sizeof be_len);
}

GBytes *
mesh_frame_encode (MeshFrameType  type,
                   GBytes        *payload)
{
  gsize len = payload != NULL ? g_bytes_get_size (payload) : 0;
  guint8 *frame;

  g_return_val_if_fail (type_is_known (type), NULL);
  g_return_val_if_fail (len <= MESH_FRAME_MAX_PAYLOAD, NULL);

  frame = g_malloc (MESH_FRAME_HEADER_SIZE + len);
  mesh_frame_encode_header (type, len, frame);
  if (len > 0)
    memcpy (frame + MESH_FRAME_HEADER_SIZE, g_bytes_get_data (payload, NULL), len);
  return g_bytes_new_take (frame, MESH_FRAME_HEADER_SIZE + len);
}

MeshFrameParser *
mesh_frame_parser_new (void)
{
  return g_new0 (MeshFrameParser, 1);
}

void
mesh_frame_parser_free (MeshFrameParser *parser)
{
  if (parser == NULL)
    return;
  g_free (parser->payload);
  g_clear_error (&parser->error);
  g_free (parser);
}

static gboolean
parse_header (MeshFrameParser  *parser,
              GError          **error)
{
  guint32 be_len;

  memcpy (&be_len, parser->header + 1, sizeof be_len);
  parser->payload_len = GUINT32_FROM_BE (be_len);

  if (!type_is_known (parser->header[0])) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "unknown frame type 0x%02x", parser->header[0]);
    return FALSE;
  }
  if (parser->payload_len > MESH_FRAME_MAX_PAYLOAD) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "frame payload of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d bytes",
                 parser->payload_len, MESH_FRAME_MAX_PAYLOAD);
    return FALSE;
  }
  parser->type = parser->header[0];
  parser->payload = parser->payload_len > 0 ? g_malloc (parser->payload_len) : NULL;
  parser->payload_have = 0;
  parser->ready = parser->payload_len == 0;
  return TRUE;
}

/* Consumes bytes up to the end of the current frame and returns how many it
 * took; the caller takes the frame with _next() and feeds the rest.  After an
 * error the parser stays failed: a byte stream cannot be resynchronised. */
gsize
mesh_frame_parser_feed (MeshFrameParser  *parser,
                        const guint8     *data,
                        gsize             len,
                        GError          **error)
{
  gsize used = 0;

  g_return_val_if_fail (parser != NULL, 0);
  g_return_val_if_fail (data != NULL || len == 0, 0);

  if (parser->error != NULL) {
    g_propagate_error (error, g_error_copy (parser->error));
    return 0;
  }
  if (parser->ready)
    return 0;

  if (parser->header_len < MESH_FRAME_HEADER_SIZE) {
    gsize n = MIN (len, MESH_FRAME_HEADER_SIZE - parser->header_len);

    memcpy (parser->header + parser->header_len, data, n);
    parser->header_len += n;
    used += n;
    if (parser->header_len < MESH_FRAME_HEADER_SIZE)
      return used;
    if (!parse_header (parser, &parser->error)) {
      g_propagate_error (error, g_error_copy (parser->error));
      return used;
    }
  }

  if (!parser->ready) {
    gsize n = MIN (len - used, parser->payload_len - parser->payload_have);

    memcpy (parser->payload + parser->payload_have, data + used, n);
    parser->payload_have += n;
    used += n;
    parser->ready = parser->payload_have == parser->payload_len;
  }
  return used;
}

gboolean
mesh_frame_parser_next (MeshFrameParser  *parser,
                        MeshFrameType    *type,
                        GBytes          **payload)
{
  g_return_val_if_fail (parser != NULL, FALSE);

  if (!parser->ready)
    return FALSE;

  *type = parser->type;
  *payload = g_bytes_new_take (g_steal_pointer (&parser->payload), parser->payload_len);
  parser->header_len = 0;
  parser->payload_len = 0;
  parser->payload_have = 0;
  parser->ready = FALSE;
  return TRUE;
}

guint8 *
mesh_frame_parser_payload_space (MeshFrameParser *parser,
                                 gsize           *len)
{
  g_return_val_if_fail (parser != NULL, NULL);

  *len = 0;
  if (parser->error != NULL || parser->ready || parser->header_len < MESH_FRAME_HEADER_SIZE ||
      parser->payload_have >= parser->payload_len)
    return NULL;
  *len = parser->payload_len - parser->payload_have;
  return parser->payload + parser->payload_have;
}

void
mesh_frame_parser_payload_filled (MeshFrameParser *parser,
                                  gsize            n)
{
  g_return_if_fail (parser != NULL);
  g_return_if_fail (n <= parser->payload_len - parser->payload_have);

  parser->payload_have += n;
  parser->ready = parser->payload_have == parser->payload_len;
}

/* TRUE when no partial frame is buffered: end of stream here is clean. */
gboolean
mesh_frame_parser_is_idle (MeshFrameParser *parser)
{
  g_return_val_if_fail (parser != NULL, FALSE);

  return parser->header_len == 0 && !parser->ready;
}

GBytes *
mesh_frame_chunk_new (guint64     offset,
                      const void *data,
                      gsize       len)
{
  guint64 be_offset = GUINT64_TO_BE (offset);
  guint8 *payload;

  g_return_val_if_fail (len <= MESH_FRAME_CHUNK_MAX_DATA, NULL);

  payload = g_malloc (MESH_FRAME_CHUNK_HEADER_SIZE + len);
  memcpy (payload, &be_offset, sizeof be_offset);
  if (len > 0)
    memcpy (payload + MESH_FRAME_CHUNK_HEADER_SIZE, data, len);
  return g_bytes_new_take (payload, MESH_FRAME_CHUNK_HEADER_SIZE + len);
}

gboolean
mesh_frame_chunk_parse (GBytes   *payload,
                        guint64  *offset,
                        GBytes  **data,
                        GError  **error)
{
  gsize len;
  const guint8 *bytes = g_bytes_get_data (payload, &len);
  guint64 be_offset;

  if (len < MESH_FRAME_CHUNK_HEADER_SIZE) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "chunk frame of %" G_GSIZE_FORMAT " bytes has no room for its offset", len);
    return FALSE;
  }
  memcpy (&be_offset, bytes, sizeof be_offset);
  *offset = GUINT64_FROM_BE (be_offset);
  *data = g_bytes_new_from_bytes (payload, MESH_FRAME_CHUNK_HEADER_SIZE,
                                  len - MESH_FRAME_CHUNK_HEADER_SIZE);
  return TRUE;
}

JsonObject *
mesh_frame_control_new (const char *t)
{
  JsonObject *control = json_object_new ();

  g_return_val_if_fail (t != NULL, NULL);

  json_object_set_string_member (control, "t", t);
  return control;
}

GBytes *
mesh_frame_control_to_bytes (JsonObject *control)
{
  gsize len;
  char *json;

  g_return_val_if_fail (control != NULL, NULL);

  json = mesh_json_object_to_string (control, &len);
  return g_bytes_new_take (json, len);
}

JsonObject *
mesh_frame_control_parse (GBytes      *payload,
                          const char **t,
                          GError     **error)
{
  g_autoptr(JsonObject) control = NULL;
  gsize len;
  const char *data = g_bytes_get_data (payload, &len);
  const char *end;

  if (len == 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "CONTROL frame is empty");
    return NULL;
  }
  /* json-glib would accept invalid UTF-8 in strings and stops at a NUL. */
  if (!g_utf8_validate (data, len, &end) || (gsize) (end - data) != len) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "CONTROL frame is not valid UTF-8");
    return NULL;
  }
  control = mesh_json_parse_object (data, len, error);
  if (control == NULL)
    return NULL;
  if (!mesh_json_get_string (control, "t", TRUE, t, error))
    return NULL;
  return g_steal_pointer (&control);
}

JsonObject *
mesh_frame_error_new (const char *code,
                      const char *message)
{
  JsonObject *control = mesh_frame_control_new ("ERROR");

  g_return_val_if_fail (code != NULL, NULL);

  json_object_set_string_member (control, "code", code);
  json_object_set_string_member (control, "message", message != NULL ? message : "");
  return control;
}

/* The wire code for a local failure, so that the peer learns why. */
JsonObject *
mesh_frame_error_new_from_gerror (const GError *error)
{
  const char *code = "INTERNAL";

  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain == MESH_ERROR)
    code = mesh_error_code_to_string (error->code);
  else if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH))
    code = "HASH_MISMATCH";
  else if (g_error_matches (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_UNSAFE_ENTRY))
    code = "FORBIDDEN";
  return mesh_frame_error_new (code, error->message);
}

/* Turns a peer's ERROR {code, message} into a GError the caller can match. */
void
mesh_frame_error_to_gerror (JsonObject  *control,
                            GError     **error)
{
  const char *code = NULL;
  const char *message = NULL;
  MeshErrorCode mesh_code;

  g_return_if_fail (control != NULL);

  if (!mesh_json_get_string (control, "code", TRUE, &code, NULL))
    code = "INTERNAL";
  if (!mesh_json_get_string (control, "message", FALSE, &message, NULL) || message == NULL)
    message = "";

  if (g_str_equal (code, "HASH_MISMATCH"))
    g_set_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_HASH_MISMATCH,
                 "peer reported HASH_MISMATCH: %s", message);
  else if (g_str_equal (code, "CANCELLED"))
    g_set_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED,
                 "the peer cancelled: %s", message);
  else if (mesh_error_code_from_string (code, &mesh_code))
    g_set_error (error, MESH_ERROR, mesh_code, "peer reported %s: %s", code, message);
  else
    g_set_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_PEER,
                 "peer reported %s: %s", code, message);
}

JsonObject *
mesh_frame_term_resize_new (guint cols,
                            guint rows)
{
  JsonObject *control = mesh_frame_control_new ("TERM_RESIZE");

  json_object_set_int_member (control, "cols", cols);
  json_object_set_int_member (control, "rows", rows);
  return control;
}

gboolean
mesh_frame_term_resize_parse (JsonObject  *control,
                              guint       *cols,
                              guint       *rows,
                              GError     **error)
{
  gint64 c = 0;
  gint64 r = 0;

  if (!mesh_json_get_int (control, "cols", TRUE, &c, error) ||
      !mesh_json_get_int (control, "rows", TRUE, &r, error))
    return FALSE;
  if (c < 1 || c > MESH_FRAME_TERM_MAX_SIZE || r < 1 || r > MESH_FRAME_TERM_MAX_SIZE) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "terminal size %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " is out of range",
                 c, r);
    return FALSE;
  }
  *cols = c;
  *rows = r;
  return TRUE;
}

JsonObject *
mesh_frame_p2p_hello_new (const char *session_id,
                          const char *session_token,
                          const char *from_device_id)
{
  JsonObject *control = mesh_frame_control_new ("P2P_HELLO");

  g_return_val_if_fail (session_id != NULL, NULL);
  g_return_val_if_fail (session_token != NULL, NULL);
  g_return_val_if_fail (from_device_id != NULL, NULL);

  json_object_set_string_member (control, "session_id", session_id);
  json_object_set_string_member (control, "session_token", session_token);
  json_object_set_string_member (control, "from_device_id", from_device_id);
  return control;
}

/* The strings point into @control. */
gboolean
mesh_frame_p2p_hello_parse (JsonObject  *control,
                            const char **session_id,
                            const char **session_token,
                            const char **from_device_id,
                            GError     **error)
{
  const char *t = NULL;

  g_return_val_if_fail (control != NULL, FALSE);

  if (!mesh_json_get_string (control, "t", TRUE, &t, error))
    return FALSE;
  if (!g_str_equal (t, "P2P_HELLO")) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "expected P2P_HELLO as the first frame, got %s", t);
    return FALSE;
  }
  return mesh_json_get_string (control, "session_id", TRUE, session_id, error) &&
         mesh_json_get_string (control, "session_token", TRUE, session_token, error) &&
         mesh_json_get_string (control, "from_device_id", TRUE, from_device_id, error);
}

JsonObject *
mesh_frame_p2p_ok_new (void)
{
  return mesh_frame_control_new ("P2P_OK");
}

JsonObject *
mesh_frame_p2p_deny_new (const char *reason)
{
  JsonObject *control = mesh_frame_control_new ("P2P_DENY");

  json_object_set_string_member (control, "reason", reason != NULL ? reason : "");
  return control;
}

/* TRUE for P2P_OK; P2P_DENY becomes MESH_ERROR_P2P_SESSION_DENIED with the
 * peer's reason, anything else MESH_ERROR_BAD_REQUEST. */
gboolean
mesh_frame_p2p_reply_parse (JsonObject  *control,
                            GError     **error)
{
  const char *t = NULL;
  const char *reason = NULL;

  g_return_val_if_fail (control != NULL, FALSE);

  if (!mesh_json_get_string (control, "t", TRUE, &t, error))
    return FALSE;
  if (g_str_equal (t, "P2P_OK"))
    return TRUE;
  if (g_str_equal (t, "P2P_DENY")) {
    if (!mesh_json_get_string (control, "reason", FALSE, &reason, NULL) || reason == NULL)
      reason = "no reason given";
    g_set_error (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED,
                 "peer denied the session: %s", reason);
    return FALSE;
  }
  if (g_str_equal (t, "ERROR")) {
    mesh_frame_error_to_gerror (control, error);
    return FALSE;
  }
  g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
               "expected P2P_OK or P2P_DENY, got %s", t);
  return FALSE;
}
