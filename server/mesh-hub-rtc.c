/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hub"

#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-hub-private.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-json-scan.h"

#include <string.h>

/* §3.4 call signalling, and the fast path that relays rtc.ice. */

/* §3.4: the token must allow @cap (or, for answer and ice, either media cap)
 * in this room, for this target, and belong to the sender. */
static gboolean
check_rtc_token (MeshHub     *self,
                 HubPeer     *peer,
                 JsonObject  *payload,
                 const char  *room_id,
                 const char  *target_peer_id,
                 const char  *cap,
                 GError     **error)
{
  const MeshCapClaims *claims;
  const char *token;

  if (!mesh_json_get_string (payload, "cap_token", FALSE, &token, error))
    return FALSE;

  if (cap != NULL) {
    claims = mesh_cap_key_check (self->cap_key, token, room_id, cap, target_peer_id, NULL, 0, error);
  } else {
    g_autoptr(GError) call_error = NULL;

    claims = mesh_cap_key_check (self->cap_key, token, room_id, MESH_CAP_CALL, target_peer_id,
                                 NULL, 0, &call_error);
    if (claims == NULL && g_error_matches (call_error, MESH_ERROR, MESH_ERROR_CAP_INVALID))
      claims = mesh_cap_key_check (self->cap_key, token, room_id, MESH_CAP_SCREENSHARE,
                                   target_peer_id, NULL, 0, error);
    else if (claims == NULL)
      g_propagate_error (error, g_steal_pointer (&call_error));
  }
  if (claims == NULL)
    return FALSE;

  if (g_strcmp0 (claims->sub, peer->user_id) != 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "the capability token was issued to another user");
    return FALSE;
  }
  return TRUE;
}

/* §3.4 rtc.offer, rtc.answer, rtc.ice, rtc.hangup: checked, then forwarded
 * to the target with `from` = the sender and without the token. */
static gboolean
relay_rtc (MeshHub      *self,
           HubPeer      *peer,
           MeshEnvelope *env,
           gboolean      needs_token,
           GError      **error)
{
  g_autoptr(GBytes) frame = NULL;
  const char *room_id, *target_peer_id, *cap = NULL;
  HubPeer *target;
  HubRoom *room;

  room = hub_require_joined_room (self, peer, env->payload, &room_id, error);
  if (room == NULL ||
      !mesh_json_get_string (env->payload, "target_peer_id", TRUE, &target_peer_id, error))
    return FALSE;

  if (g_str_equal (env->type, "rtc.offer")) {
    const char *media;

    if (!mesh_json_get_string (env->payload, "media", TRUE, &media, error))
      return FALSE;
    if (g_str_equal (media, "call")) {
      cap = MESH_CAP_CALL;
    } else if (g_str_equal (media, "screenshare")) {
      cap = MESH_CAP_SCREENSHARE;
    } else {
      g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                           "field 'media' must be \"call\" or \"screenshare\"");
      return FALSE;
    }
  }

  if (g_str_equal (env->type, "rtc.ice")) {
    JsonObject *candidate;

    if (!mesh_json_get_object (env->payload, "candidate", TRUE, &candidate, error))
      return FALSE;
  } else if (!g_str_equal (env->type, "rtc.hangup")) {
    const char *sdp;

    if (!mesh_json_get_string (env->payload, "sdp", TRUE, &sdp, error))
      return FALSE;
  }

  if (needs_token &&
      !check_rtc_token (self, peer, env->payload, room_id, target_peer_id, cap, error))
    return FALSE;

  target = hub_room_find_peer (room, target_peer_id);
  if (target == NULL || target == peer) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                 "peer '%s' is not connected to room '%s'", target_peer_id, room_id);
    return FALSE;
  }

  /* Forwarded as it came, less the token, with the server's envelope. */
  {
    g_autoptr(GString) payload = hub_payload_without_token (self->frame_data, self->frame_len);

    if (payload != NULL) {
      frame = hub_build_frame_raw (env->type, hub_peer_wire_id (peer), target_peer_id,
                                   payload->str, payload->len);
    } else {
      json_object_remove_member (env->payload, "cap_token");
      frame = hub_build_frame (env->type, hub_peer_wire_id (peer), target_peer_id, env->payload);
    }
  }
  mesh_ws_peer_send_bytes (target->ws, frame);
  /* §3.4, §9: offers, answers and hang-ups decide what is a missed call. */
  if (self->notifier != NULL)
    mesh_notifier_rtc_relayed (self->notifier, env->type, room_id,
                               json_object_get_string_member_with_default (env->payload, "media",
                                                                           NULL),
                               peer->peer_id, peer->user_id, peer->username,
                               target->peer_id, target->user_id);
  return TRUE;
}

gboolean
hub_handle_rtc (MeshHub      *self,
                HubPeer      *peer,
                MeshEnvelope *env,
                GError      **error)
{
  return relay_rtc (self, peer, env, TRUE, error);
}

/* A hang-up needs no token: ending a call must work after it expired. */
gboolean
hub_handle_rtc_hangup (MeshHub      *self,
                       HubPeer      *peer,
                       MeshEnvelope *env,
                       GError      **error)
{
  return relay_rtc (self, peer, env, FALSE, error);
}

/* The hot path: rtc.ice, a call's trickled candidates, most of what the
 * hub relays.  A frame that is plainly valid (no escapes in the fields read,
 * no duplicate keys, every check passed) is relayed from the strict scan of
 * its text alone: no json-glib tree, no JSON generated again.  Anything
 * else, errors included, takes the general path (peer_message_cb), which
 * gives the same result for valid frames and the precise error otherwise. */

typedef struct {
  const char *type, *id, *room_id, *target, *token;
  gsize       type_len, id_len, room_len, target_len, token_len;
  const char *payload;            /* its '{' */
  GArray     *token_spans;        /* start, end of each cap_token member */
  guint       seen;               /* FAST_* bits */
  gboolean    in_payload;
  gboolean    candidate_object;
  gboolean    unsure;
} FastScan;

enum {
  FAST_TYPE = 1 << 0, FAST_ID = 1 << 1, FAST_PAYLOAD = 1 << 2, FAST_TIMESTAMP = 1 << 3,
  FAST_TO = 1 << 4, FAST_FROM = 1 << 5, FAST_ROOM = 1 << 6, FAST_TARGET = 1 << 7,
  FAST_TOKEN = 1 << 8, FAST_CANDIDATE = 1 << 9,
};

static gboolean
key_is (const MeshJsonToken *key,
        const char          *name)
{
  gsize len = strlen (name);

  return key->len == len && memcmp (key->text, name, len) == 0;
}

/* A short string field, seen once, within @max bytes. */
static void
fast_string (FastScan            *scan,
             guint                bit,
             const MeshJsonToken *value,
             gsize                max,
             const char         **text,
             gsize               *len)
{
  if ((scan->seen & bit) || value->kind != MESH_JSON_KIND_STRING || value->escaped ||
      value->len == 0 || value->len > max) {
    scan->unsure = TRUE;
    return;
  }
  scan->seen |= bit;
  if (text != NULL) {
    *text = value->text;
    *len = value->len;
  }
}

static void
fast_scan_cb (guint                depth,
              const MeshJsonToken *key,
              const MeshJsonToken *value,
              gpointer             user_data)
{
  FastScan *scan = user_data;

  if (scan->unsure)
    return;
  if (key->escaped) {
    scan->unsure = TRUE;
    return;
  }
  if (depth == 1) {
    scan->in_payload = FALSE;
    if (key_is (key, "type")) {
      fast_string (scan, FAST_TYPE, value, MESH_ENVELOPE_MAX_TYPE_LEN, &scan->type, &scan->type_len);
    } else if (key_is (key, "id")) {
      fast_string (scan, FAST_ID, value, MESH_ENVELOPE_MAX_ID_LEN, &scan->id, &scan->id_len);
    } else if (key_is (key, "timestamp")) {
      fast_string (scan, FAST_TIMESTAMP, value, 64, NULL, NULL);
    } else if (key_is (key, "to")) {
      fast_string (scan, FAST_TO, value, MESH_ENVELOPE_MAX_ID_LEN, NULL, NULL);
    } else if (key_is (key, "from")) {
      /* Ignored (the server writes its own), but once only. */
      if (scan->seen & FAST_FROM)
        scan->unsure = TRUE;
      scan->seen |= FAST_FROM;
    } else if (key_is (key, "payload")) {
      if ((scan->seen & FAST_PAYLOAD) || value->kind != MESH_JSON_KIND_OBJECT) {
        scan->unsure = TRUE;
        return;
      }
      scan->seen |= FAST_PAYLOAD;
      scan->payload = value->text;
      scan->in_payload = TRUE;
    }
  } else if (depth == 2 && scan->in_payload) {
    if (key_is (key, "room_id")) {
      fast_string (scan, FAST_ROOM, value, 4096, &scan->room_id, &scan->room_len);
    } else if (key_is (key, "target_peer_id")) {
      fast_string (scan, FAST_TARGET, value, 4096, &scan->target, &scan->target_len);
    } else if (key_is (key, "cap_token")) {
      const char *span[2] = { key->text - 1, value->text + value->len + 1 };

      fast_string (scan, FAST_TOKEN, value, 16384, &scan->token, &scan->token_len);
      g_array_append_vals (scan->token_spans, span, 2);
    } else if (key_is (key, "candidate")) {
      if (scan->seen & FAST_CANDIDATE)
        scan->unsure = TRUE;
      scan->seen |= FAST_CANDIDATE;
      scan->candidate_object = value->kind == MESH_JSON_KIND_OBJECT;
    } else if (key_is (key, "media")) {
      /* What the notifier would read: the general path. */
      scan->unsure = TRUE;
    }
  }
}

/* The payload between @open and @end, less the members in @spans (pairs of
 * start, end), with their commas. */
GString *
hub_cut_members (const char *open,
                 const char *end,
                 GArray     *spans)
{
  GString *out = g_string_sized_new (end - open);
  const char *from = open;

  for (guint i = 0; i + 1 < spans->len; i += 2) {
    const char *start = g_array_index (spans, const char *, i);
    const char *stop = g_array_index (spans, const char *, i + 1);
    const char *before = start;

    if (start < from || stop > end)
      continue;
    /* The comma before it goes too; or, for the first member, the one after. */
    while (before > from && g_ascii_isspace (before[-1]))
      before--;
    if (before > from && before[-1] == ',') {
      start = before - 1;
    } else {
      while (stop < end && g_ascii_isspace (*stop))
        stop++;
      if (stop < end && *stop == ',')
        stop++;
    }
    g_string_append_len (out, from, start - from);
    from = stop;
  }
  g_string_append_len (out, from, end - from);
  return out;
}

gboolean
hub_fast_relay_ice (MeshHub    *self,
                    HubPeer    *peer,
                    const char *data,
                    gsize       len)
{
  FastScan scan = { 0 };
  g_autoptr(GArray) spans = g_array_new (FALSE, FALSE, sizeof (const char *));
  g_autofree char *room_id = NULL;
  g_autofree char *target_id = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GString) payload = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GError) error = NULL;
  const MeshCapClaims *claims;
  const char *end;
  HubRoom *room;
  HubPeer *target;

  /* Cheap first look: is it rtc.ice at all? */
  if (len < 16 || g_strstr_len (data, MIN (len, 256), "\"rtc.ice\"") == NULL)
    return FALSE;

  scan.token_spans = spans;
  if (!mesh_json_scan (data, len, MESH_JSON_MAX_DEPTH, MESH_JSON_SCAN_STRICT, fast_scan_cb,
                       &scan, NULL) ||
      scan.unsure ||
      (scan.seen & (FAST_TYPE | FAST_PAYLOAD | FAST_ROOM | FAST_TARGET | FAST_TOKEN)) !=
        (FAST_TYPE | FAST_PAYLOAD | FAST_ROOM | FAST_TARGET | FAST_TOKEN) ||
      !scan.candidate_object ||
      scan.type_len != 7 || memcmp (scan.type, "rtc.ice", 7) != 0 ||
      data[0] != '{')
    return FALSE;

  room_id = g_strndup (scan.room_id, scan.room_len);
  target_id = g_strndup (scan.target, scan.target_len);
  token = g_strndup (scan.token, scan.token_len);
  room = hub_peer_find_room (peer, room_id);
  if (room == NULL)
    return FALSE;
  claims = mesh_cap_key_check (self->cap_key, token, room_id, MESH_CAP_CALL, target_id, NULL, 0,
                               &error);
  if (claims == NULL && g_error_matches (error, MESH_ERROR, MESH_ERROR_CAP_INVALID)) {
    g_clear_error (&error);
    claims = mesh_cap_key_check (self->cap_key, token, room_id, MESH_CAP_SCREENSHARE, target_id,
                                 NULL, 0, &error);
  }
  if (claims == NULL || g_strcmp0 (claims->sub, peer->user_id) != 0)
    return FALSE;
  target = hub_room_find_peer (room, target_id);
  if (target == NULL || target == peer)
    return FALSE;

  end = hub_object_end (scan.payload, data + len);
  if (end == NULL)
    return FALSE;
  payload = hub_cut_members (scan.payload, end, spans);
  frame = hub_build_frame_raw ("rtc.ice", hub_peer_wire_id (peer), target_id, payload->str, payload->len);
  mesh_ws_peer_send_bytes (target->ws, frame);
  return TRUE;
}
