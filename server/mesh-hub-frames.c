/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hub"

#include "config.h"

#include "mesh-hub-private.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-json-scan.h"

#include <string.h>

/* Frames: built around a payload, cut from the incoming text, sent to a
 * peer or a room's peers, and errors in §8's words. */

/* The envelope is written by hand around the payload's JSON: no JsonObject
 * for the envelope, no printf for the id and the timestamp (they were ~5 %
 * of the relay's CPU, bench/README.md). */

static void
append_json_string (GString    *out,
                    const char *text)
{
  static const char hex[] = "0123456789abcdef";

  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\') {
      g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    } else if (*p < 0x20) {
      g_string_append (out, "\\u00");
      g_string_append_c (out, hex[*p >> 4]);
      g_string_append_c (out, hex[*p & 0xf]);
    } else {
      g_string_append_c (out, *p);
    }
  }
  g_string_append_c (out, '"');
}

/* A random (version 4) UUID, as g_uuid_string_random() makes it. */
static void
append_uuid (GString *out)
{
  static const char hex[] = "0123456789abcdef";
  guint32 words[4] = { g_random_int (), g_random_int (), g_random_int (), g_random_int () };
  guint8 *b = (guint8 *) words;
  char text[36];
  guint j = 0;

  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  for (guint i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      text[j++] = '-';
    text[j++] = hex[b[i] >> 4];
    text[j++] = hex[b[i] & 0xf];
  }
  g_string_append_len (out, text, 36);
}

/* "2026-11-22T04:13:43.123Z" (mesh_timestamp_now): the part up to the
 * seconds changes once a second. */
static void
append_timestamp (GString *out)
{
  static __thread char prefix[24];
  static __thread gint64 prefix_second = G_MININT64;
  gint64 now = g_get_real_time ();
  gint64 second = now / G_USEC_PER_SEC;
  guint ms = (guint) ((now % G_USEC_PER_SEC) / 1000);
  char tail[5] = { '0' + ms / 100, '0' + ms / 10 % 10, '0' + ms % 10, 'Z', '"' };

  if (second != prefix_second) {
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (second);
    g_autofree char *text = dt ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S.") : NULL;

    g_strlcpy (prefix, text ? text : "1970-01-01T00:00:00.", sizeof prefix);
    prefix_second = second;
  }
  g_string_append_c (out, '"');
  g_string_append (out, prefix);
  g_string_append_len (out, tail, sizeof tail);
}

/* @payload_json: the payload, already JSON text. */
GBytes *
hub_build_frame_raw (const char *type,
                     const char *from,
                     const char *to,
                     const char *payload_json,
                     gsize       payload_len)
{
  GString *out = g_string_sized_new (160 + payload_len);

  g_string_append (out, "{\"type\":");
  append_json_string (out, type);
  g_string_append (out, ",\"id\":\"");
  append_uuid (out);
  g_string_append (out, "\",\"timestamp\":");
  append_timestamp (out);
  g_string_append (out, ",\"from\":");
  append_json_string (out, from ? from : "server");
  if (to != NULL) {
    g_string_append (out, ",\"to\":");
    append_json_string (out, to);
  }
  g_string_append (out, ",\"payload\":");
  g_string_append_len (out, payload_json, payload_len);
  g_string_append_c (out, '}');
  return g_string_free_to_bytes (out);
}

GBytes *
hub_build_frame (const char *type,
                 const char *from,
                 const char *to,
                 JsonObject *payload)
{
  g_autofree char *payload_json = NULL;
  gsize len = 2;

  if (payload != NULL)
    payload_json = mesh_json_object_to_string (payload, &len);
  return hub_build_frame_raw (type, from, to, payload_json ? payload_json : "{}", len);
}

/* Where a frame's payload is, and its "cap_token" members, found by the
 * strict scanner (the frame was parsed already: it is valid JSON). */
typedef struct {
  const char *payload;          /* its '{', of the last "payload" member */
  GArray     *tokens;           /* cap_token members at depth 2: start, end */
  gboolean    unsure;           /* an escaped key, or a non-string token */
} PayloadScan;

static void
payload_scan_cb (guint                depth,
                 const MeshJsonToken *key,
                 const MeshJsonToken *value,
                 gpointer             user_data)
{
  PayloadScan *scan = user_data;

  if (depth > 2)
    return;
  if (key->escaped) {
    scan->unsure = TRUE;
    return;
  }
  if (depth == 1 && key->len == 7 && memcmp (key->text, "payload", 7) == 0) {
    scan->payload = value->kind == MESH_JSON_KIND_OBJECT ? value->text : NULL;
  } else if (depth == 2 && key->len == 9 && memcmp (key->text, "cap_token", 9) == 0) {
    const char *span[2] = { key->text - 1, value->text + value->len + 1 };

    if (value->kind != MESH_JSON_KIND_STRING)
      scan->unsure = TRUE;
    g_array_append_vals (scan->tokens, span, 2);
  }
}

/* The end of the object opening at @open (just past its '}'). */
const char *
hub_object_end (const char *open,
                const char *limit)
{
  guint depth = 0;
  gboolean in_string = FALSE;

  for (const char *p = open; p < limit; p++) {
    if (in_string) {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        in_string = FALSE;
    } else if (*p == '"') {
      in_string = TRUE;
    } else if (*p == '{' || *p == '[') {
      depth++;
    } else if (*p == '}' || *p == ']') {
      if (--depth == 0)
        return p + 1;
    }
  }
  return NULL;
}

/* The incoming frame's payload without its cap_token, cut out of the text
 * (no JSON generated again); NULL when the frame is not plain enough to
 * cut with confidence. */
GString *
hub_payload_without_token (const char *data,
                           gsize       len)
{
  PayloadScan scan = { NULL, g_array_new (FALSE, FALSE, sizeof (const char *)), FALSE };
  g_autoptr(GArray) tokens = scan.tokens;
  const char *end;

  if (data == NULL ||
      !mesh_json_scan (data, len, MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_STRICT, payload_scan_cb,
                       &scan, NULL) ||
      scan.unsure || scan.payload == NULL)
    return NULL;
  end = hub_object_end (scan.payload, data + len);
  if (end == NULL)
    return NULL;

  return hub_cut_members (scan.payload, end, tokens);
}

void
hub_send_event (HubPeer    *peer,
            const char *type,
            JsonObject *payload)
{
  g_autoptr(GBytes) frame = hub_build_frame (type, "server", hub_peer_wire_id (peer), payload);

  mesh_ws_peer_send_bytes (peer->ws, frame);
}

/* §8 lists the WebSocket codes; the others (NOT_FOUND, CONFLICT) are REST's,
 * and a request over the socket that meets one was a bad request. */
static MeshErrorCode
wire_code (MeshErrorCode code)
{
  switch (code) {
  case MESH_ERROR_CAP_REQUIRED:
  case MESH_ERROR_CAP_EXPIRED:
  case MESH_ERROR_CAP_INVALID:
  case MESH_ERROR_ROOM_NOT_FOUND:
  case MESH_ERROR_ROOM_FULL:
  case MESH_ERROR_FORBIDDEN:
  case MESH_ERROR_P2P_SESSION_DENIED:
  case MESH_ERROR_UNROUTABLE:
  case MESH_ERROR_BAD_REQUEST:
  case MESH_ERROR_UNAUTHORIZED:
  case MESH_ERROR_RATE_LIMITED:
  case MESH_ERROR_PAYLOAD_TOO_LARGE:
  case MESH_ERROR_VERSION_UNSUPPORTED:
  case MESH_ERROR_INTERNAL:
    return code;
  case MESH_ERROR_NOT_FOUND:
  case MESH_ERROR_CONFLICT:
  default:
    return MESH_ERROR_BAD_REQUEST;
  }
}

void
hub_send_error (HubPeer       *peer,
            MeshErrorCode  code,
            const char    *message,
            const char    *ref)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "code", mesh_error_code_to_string (wire_code (code)));
  json_object_set_string_member (payload, "message", message);
  if (ref != NULL)
    json_object_set_string_member (payload, "ref", ref);
  hub_send_event (peer, "error", payload);
}

void
hub_send_gerror (HubPeer      *peer,
             const GError *error,
             const char   *ref)
{
  hub_send_error (peer, mesh_error_get_code (error), error->message, ref);
}
