/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-engine-private.h"

#include "mesh-escape.h"

#include <string.h>

/* What the session tells the engine: rtc.* events checked and handed to
 * their call (or starting one), rooms left and joined, the server's errors
 * for events we sent, and the connection to the server lost. */

#define CALL_ID_MAX          64

static gboolean
call_id_is_valid (const char *call_id)
{
  gsize len = strlen (call_id);

  if (len == 0 || len > CALL_ID_MAX)
    return FALSE;
  for (const char *p = call_id; *p != '\0'; p++) {
    if (!g_ascii_isgraph (*p))
      return FALSE;
  }
  return TRUE;
}

static void
engine_ignore (const char *type,
               const char *from,
               const char *why)
{
  g_autofree char *shown = mesh_escape_for_display (from ? from : "?", -1);

  g_message ("Ignoring %s from %s: %s", type, shown, why);
}

static gboolean
engine_declined (MeshCallEngine *self,
                 const char     *room_id,
                 const char     *call_id)
{
  g_autofree char *key = g_strdup_printf ("%s\n%s", room_id, call_id);
  gint64 *expiry = g_hash_table_lookup (self->declined, key);

  return expiry != NULL && *expiry > g_get_monotonic_time ();
}

static void
engine_handle_offer (MeshCallEngine *self,
                     const char     *room_id,
                     MeshMediaKind   kind,
                     const char     *call_id,
                     const char     *from,
                     JsonObject     *payload)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *username = NULL;
  g_autoptr(MeshCall) call = NULL;
  const char *sdp = mesh_media_json_string (payload, "sdp", NULL);
  const char *scope = mesh_media_json_string (payload, "scope", "direct");
  MeshCall *existing;

  if (sdp == NULL) {
    engine_ignore ("rtc.offer", from, "no sdp");
    return;
  }
  username = mesh_call_engine_username_of (self, room_id, from);
  existing = mesh_call_engine_find_call_by_id (self, room_id, kind, call_id);
  if (existing != NULL) {
    if (!mesh_call_check_sdp (sdp, &error)) {
      engine_ignore ("rtc.offer", from, error->message);
      return;
    }
    mesh_call_handle_offer (existing, from, username, sdp);
    return;
  }
  if (engine_declined (self, room_id, call_id)) {
    mesh_call_engine_send_refusal (self, room_id, kind, call_id, from, "declined");
    return;
  }
  if (!mesh_call_check_sdp (sdp, &error)) {
    engine_ignore ("rtc.offer", from, error->message);
    mesh_call_engine_send_refusal (self, room_id, kind, call_id, from, "failed");
    return;
  }
  if (mesh_call_engine_find_call (self, room_id, kind) != NULL) {
    engine_ignore ("rtc.offer", from, "another call of this room is running (busy)");
    mesh_call_engine_send_refusal (self, room_id, kind, call_id, from, "busy");
    return;
  }

  call = mesh_call_new (self, room_id, call_id, kind, MESH_CALL_DIRECTION_INCOMING,
                        g_strcmp0 (scope, "room") == 0, username ? username : from);
  g_list_store_append (self->calls, call);
  mesh_call_handle_offer (call, from, username, sdp);
  if (mesh_call_get_state (call) == MESH_CALL_STATE_RINGING)
    mesh_call_engine_incoming_call (self, call);
}

/* An event without call_id belongs to the call of that room and media
 * where its sender is a peer. */
static MeshCall *
engine_find_call_for (MeshCallEngine *self,
                      const char     *room_id,
                      MeshMediaKind   kind,
                      const char     *call_id,
                      const char     *from)
{
  MeshCall *call;

  if (call_id != NULL)
    return mesh_call_engine_find_call_by_id (self, room_id, kind, call_id);
  call = mesh_call_engine_find_call (self, room_id, kind);
  if (call != NULL && mesh_call_find_peer (call, from) != NULL)
    return call;
  return NULL;
}

static void
on_session_event (MeshClientSession *session,
                  const char        *type,
                  const char        *from,
                  JsonObject        *payload,
                  MeshCallEngine    *self)
{
  const char *room_id, *media, *call_id;
  g_autofree char *default_call_id = NULL;
  MeshMediaKind kind;
  MeshCall *call;

  if (!g_str_has_prefix (type, "rtc."))
    return;
  g_debug ("received %s from %s", type, from);
  if (payload == NULL || from == NULL || from[0] == '\0') {
    engine_ignore (type, from, "no payload or sender");
    return;
  }
  room_id = mesh_media_json_string (payload, "room_id", NULL);
  media = mesh_media_json_string (payload, "media", "call");
  call_id = mesh_media_json_string (payload, "call_id", NULL);
  if (room_id == NULL) {
    engine_ignore (type, from, "no room_id");
    return;
  }
  if (media == NULL || !mesh_media_kind_from_string (media, &kind)) {
    engine_ignore (type, from, "unknown media");
    return;
  }
  if ((call_id == NULL && json_object_has_member (payload, "call_id") &&
       !json_object_get_null_member (payload, "call_id")) ||
      (call_id != NULL && !call_id_is_valid (call_id))) {
    engine_ignore (type, from, "bad call_id");
    return;
  }
  if (!mesh_client_session_is_room_joined (self->session, room_id)) {
    engine_ignore (type, from, "for a room we are not in");
    return;
  }

  if (g_str_equal (type, "rtc.offer")) {
    /* Without the extension: a direct call of its own. */
    if (call_id == NULL)
      call_id = default_call_id = g_strdup_printf ("direct-%s", from);
    engine_handle_offer (self, room_id, kind, call_id, from, payload);
    return;
  }

  call = engine_find_call_for (self, room_id, kind, call_id, from);
  if (call == NULL) {
    g_debug ("%s from %s for no call of ours", type, from);
    return;
  }
  if (g_str_equal (type, "rtc.answer")) {
    const char *sdp = mesh_media_json_string (payload, "sdp", NULL);

    if (sdp == NULL)
      engine_ignore (type, from, "no sdp");
    else
      mesh_call_handle_answer (call, from, sdp);
  } else if (g_str_equal (type, "rtc.ice")) {
    JsonNode *candidate = json_object_get_member (payload, "candidate");

    if (candidate == NULL || !JSON_NODE_HOLDS_OBJECT (candidate))
      engine_ignore (type, from, "no candidate object");
    else
      mesh_call_handle_ice (call, from, json_node_get_object (candidate));
  } else if (g_str_equal (type, "rtc.hangup")) {
    JsonNode *reason = json_object_get_member (payload, "reason");

    mesh_call_handle_hangup (call, from,
                             reason != NULL && JSON_NODE_HOLDS_VALUE (reason) &&
                             json_node_get_value_type (reason) == G_TYPE_STRING
                               ? json_node_get_string (reason) : NULL);
  }
}

static void
on_room_left (MeshClientSession *session,
              const char        *room_id,
              const char        *peer_id,
              MeshCallEngine    *self)
{
  g_autoptr(GPtrArray) calls = mesh_call_engine_dup_calls (self);
  gboolean us = g_strcmp0 (peer_id, mesh_client_session_get_peer_id (session)) == 0;

  for (guint i = 0; i < calls->len; i++) {
    MeshCall *call = calls->pdata[i];

    if (g_strcmp0 (mesh_call_get_room_id (call), room_id) != 0)
      continue;
    if (us)
      mesh_call_end (call, MESH_CALL_END_HUNG_UP, NULL);
    else
      mesh_call_remove_peer (call, peer_id, NULL);
  }
}

/* Someone came online while we share our screen: they get the offer too. */
static void
on_room_joined (MeshClientSession *session,
                const char        *room_id,
                MeshPeerInfo      *info,
                MeshCallEngine    *self)
{
  MeshCall *call = mesh_call_engine_find_call (self, room_id, MESH_MEDIA_KIND_SCREENSHARE);

  if (call == NULL || mesh_call_get_direction (call) != MESH_CALL_DIRECTION_OUTGOING ||
      g_strcmp0 (info->peer_type, "client") != 0 ||
      g_strcmp0 (info->peer_id, mesh_client_session_get_peer_id (session)) == 0)
    return;
  mesh_call_offer_to (call, info->peer_id, info->username);
}

static void
on_server_error (MeshClientSession *session,
                 const GError      *error,
                 const char        *ref,
                 MeshCallEngine    *self)
{
  SentRef *sent;
  MeshCall *call;

  if (ref == NULL || (sent = g_hash_table_lookup (self->sent, ref)) == NULL)
    return;
  call = mesh_call_engine_find_call_by_id (self, sent->room_id, sent->kind, sent->call_id);
  if (call != NULL) {
    g_autofree char *shown = mesh_escape_for_display (error->message, -1);

    g_message ("Call %s: the server refused an event for %s: %s", sent->call_id, sent->peer_id,
               shown);
    mesh_call_remove_peer (call, sent->peer_id, error->message);
  }
  g_hash_table_remove (self->sent, ref);
}

static void
on_session_state (MeshClientSession *session,
                  GParamSpec        *pspec,
                  MeshCallEngine    *self)
{
  g_autoptr(GPtrArray) calls = NULL;

  if (mesh_client_session_get_state (session) == MESH_CLIENT_SESSION_CONNECTED)
    return;
  /* Our peers saw us leave every room: their side of each call is gone. */
  calls = mesh_call_engine_dup_calls (self);
  for (guint i = 0; i < calls->len; i++)
    mesh_call_end (calls->pdata[i], MESH_CALL_END_FAILED, "lost the connection to the server");
  g_hash_table_remove_all (self->tokens);
}

void
mesh_call_engine_watch_session (MeshCallEngine *self)
{
  g_signal_connect_object (self->session, "event", G_CALLBACK (on_session_event), self, 0);
  g_signal_connect_object (self->session, "room-left", G_CALLBACK (on_room_left), self, 0);
  g_signal_connect_object (self->session, "room-joined", G_CALLBACK (on_room_joined), self, 0);
  g_signal_connect_object (self->session, "server-error", G_CALLBACK (on_server_error), self, 0);
  g_signal_connect_object (self->session, "notify::state", G_CALLBACK (on_session_state), self, 0);
}
