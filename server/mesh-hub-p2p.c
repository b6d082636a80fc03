/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hub"

#include "config.h"

#include "mesh-cap-token.h"
#include "mesh-hub-private.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

/* §5: P2P session orchestration.  The requester A is the QUIC client, the
 * target B the server.  Both receive p2p.session.created with the same
 * single-use session_token and the other side's certificate fingerprint;
 * B validates the token when A's P2P_HELLO arrives (it holds the token and its
 * expiry), so the data plane never needs the server. */

#define SESSION_TTL_S           180
#define SESSION_MAX_LIFE_S      (24 * 3600)
#define SESSIONS_PER_AGENT_MAX  64
#define META_NAME_MAX           255

typedef enum {
  SESSION_PENDING,
  SESSION_ACCEPTED,
} SessionState;

typedef struct {
  char         *session_id;
  char         *kind;
  char         *room_id;
  HubPeer      *a;              /* borrowed; NULL once gone */
  HubPeer      *b;
  char         *a_device_id;
  char         *b_device_id;
  JsonObject   *meta;
  SessionState  state;
  gint64        created_at;     /* monotonic µs */
  gboolean      a_completed;
  gboolean      b_completed;
} HubSession;

static void
hub_session_free (HubSession *session)
{
  g_free (session->session_id);
  g_free (session->kind);
  g_free (session->room_id);
  g_free (session->a_device_id);
  g_free (session->b_device_id);
  g_clear_pointer (&session->meta, json_object_unref);
  g_free (session);
}

void
hub_p2p_init (MeshHub *self)
{
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) hub_session_free);
}

/* Pending sessions end after their token's lifetime; accepted ones when
 * both sides reported completion, or after a day at most. */
static void
expire_sessions (MeshHub *self)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  HubSession *session;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session)) {
    gint64 age_s = (now - session->created_at) / G_USEC_PER_SEC;

    if ((session->state == SESSION_PENDING && age_s >= SESSION_TTL_S) || age_s >= SESSION_MAX_LIFE_S)
      g_hash_table_iter_remove (&iter);
  }
}

static JsonObject *
endpoint_json (HubPeer *agent)
{
  JsonObject *obj = json_object_new ();
  JsonArray *addrs = json_array_new ();

  json_object_set_string_member (obj, "ip", mesh_ws_peer_get_remote_host (agent->ws));
  json_object_set_int_member (obj, "port", agent->quic_port);
  for (guint i = 0; agent->quic_addrs != NULL && agent->quic_addrs[i] != NULL; i++)
    json_array_add_string_element (addrs, agent->quic_addrs[i]);
  json_object_set_array_member (obj, "addrs", addrs);
  return obj;
}

static JsonObject *
created_payload (HubSession          *session,
                 gboolean             for_a,
                 const char          *session_token,
                 const MeshCapClaims *claims)
{
  JsonObject *payload = json_object_new ();
  JsonObject *auth = json_object_new ();
  JsonObject *endpoints = json_object_new ();
  HubPeer *other = for_a ? session->b : session->a;

  json_object_set_string_member (payload, "session_id", session->session_id);
  json_object_set_string_member (payload, "kind", session->kind);
  json_object_set_int_member (payload, "expires_in", SESSION_TTL_S);
  json_object_set_string_member (payload, "role", for_a ? "client" : "server");
  json_object_set_string_member (payload, "peer_device_id", hub_peer_wire_id (other));
  json_object_set_string_member (payload, "peer_user_id", other->user_id);
  json_object_set_string_member (payload, "peer_username", other->username);
  json_object_set_string_member (payload, "room_id", session->room_id);
  json_object_set_object_member (payload, "meta", json_object_ref (session->meta));

  json_object_set_string_member (auth, "session_token", session_token);
  json_object_set_string_member (auth, "fingerprint", other->quic_fingerprint);
  json_object_set_object_member (payload, "auth", auth);

  json_object_set_object_member (endpoints, "a", endpoint_json (session->a));
  json_object_set_object_member (endpoints, "b", endpoint_json (session->b));
  json_object_set_object_member (payload, "endpoints", endpoints);

  /* The receiver enforces the token's bounds on the data plane too. */
  if (claims->max_size >= 0)
    json_object_set_int_member (payload, "max_size", claims->max_size);
  if (claims->max_rate >= 0)
    json_object_set_int_member (payload, "max_rate", claims->max_rate);
  return payload;
}

static gboolean
check_meta (const char  *kind,
            JsonObject  *meta,
            GError     **error)
{
  const char *name, *hash, *share_id;
  gint64 size = 0;
  gboolean terminal = g_str_equal (kind, "terminal");

  /* §5's meta is {name, size, hash?} for every kind.  A terminal session
   * may add share_id (which of the host's shares to view) and needs neither
   * name nor size; when given, they are checked like a file's. */
  if ((terminal && !mesh_json_get_string (meta, "share_id", FALSE, &share_id, error)) ||
      !mesh_json_get_string (meta, "name", !terminal, &name, error) ||
      !mesh_json_get_int (meta, "size", !terminal, &size, error) ||
      !mesh_json_get_string (meta, "hash", FALSE, &hash, error))
    return FALSE;
  if (name != NULL && (name[0] == '\0' || strlen (name) > META_NAME_MAX)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "field 'meta.name' must be 1..%d bytes", META_NAME_MAX);
    return FALSE;
  }
  if (size < 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "field 'meta.size' is negative");
    return FALSE;
  }
  if (hash != NULL && !mesh_fingerprint_is_valid (hash)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "field 'meta.hash' must be a lower-case hex SHA-256");
    return FALSE;
  }
  return TRUE;
}

static guint
count_sessions_of (MeshHub *self,
                   HubPeer *agent)
{
  GHashTableIter iter;
  HubSession *session;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session))
    n += session->a == agent;
  return n;
}

gboolean
hub_handle_p2p_request (MeshHub      *self,
                        HubPeer      *peer,
                        MeshEnvelope *env,
                        GError      **error)
{
  g_autoptr(JsonObject) to_a = NULL;
  g_autoptr(JsonObject) to_b = NULL;
  g_autofree char *session_token = NULL;
  const MeshCapClaims *claims;
  const char *room_id, *target_device_id, *kind, *cap_token, *cap;
  JsonObject *meta;
  HubSession *session;
  HubPeer *target;
  HubRoom *room;
  gint64 size = -1;

  if (!peer->is_agent) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "only agents open P2P sessions");
    return FALSE;
  }
  room = hub_require_joined_room (self, peer, env->payload, &room_id, error);
  if (room == NULL ||
      !mesh_json_get_string (env->payload, "target_device_id", TRUE, &target_device_id, error) ||
      !mesh_json_get_string (env->payload, "kind", TRUE, &kind, error) ||
      !mesh_json_get_string (env->payload, "cap_token", FALSE, &cap_token, error) ||
      !mesh_json_get_object (env->payload, "meta", TRUE, &meta, error))
    return FALSE;

  if (g_str_equal (kind, "file")) {
    cap = MESH_CAP_FILE;
  } else if (g_str_equal (kind, "folder")) {
    cap = MESH_CAP_FOLDER;
  } else if (g_str_equal (kind, "terminal")) {
    cap = MESH_CAP_TERMINAL_VIEW;
  } else {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "field 'kind' must be \"file\", \"folder\" or \"terminal\"");
    return FALSE;
  }
  if (!check_meta (kind, meta, error))
    return FALSE;

  claims = mesh_cap_key_check (self->cap_key, cap_token, room_id, cap, NULL, target_device_id, 0, error);
  if (claims == NULL)
    return FALSE;
  if (g_strcmp0 (claims->sub, peer->user_id) != 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "the capability token was issued to another user");
    return FALSE;
  }
  mesh_json_get_int (meta, "size", FALSE, &size, NULL);
  if (claims->max_size >= 0 && size > claims->max_size) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "%" G_GINT64_FORMAT " bytes is over the token's max_size of %" G_GINT64_FORMAT,
                 size, claims->max_size);
    return FALSE;
  }

  target = g_hash_table_lookup (self->devices, target_device_id);
  if (target == NULL || target == peer || hub_peer_find_room (target, room_id) == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                 "device '%s' is not connected to room '%s'", target_device_id, room_id);
    return FALSE;
  }

  if (g_str_equal (kind, "terminal")) {
    const char *share_id = json_object_get_string_member_with_default (meta, "share_id", NULL);

    /* Both agents learn which share the session views. */
    if (share_id == NULL) {
      share_id = hub_terminal_share_on_device (self, room_id, target_device_id, error);
      if (share_id == NULL)
        return FALSE;
      json_object_set_string_member (meta, "share_id", share_id);
    } else if (!hub_terminal_share_runs_on (self, share_id, room_id, target_device_id)) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                   "no terminal share '%s' on device '%s'", share_id, target_device_id);
      return FALSE;
    }
  }

  expire_sessions (self);
  if (count_sessions_of (self, peer) >= SESSIONS_PER_AGENT_MAX) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_RATE_LIMITED,
                 "at most %d open sessions per agent", SESSIONS_PER_AGENT_MAX);
    return FALSE;
  }

  session = g_new0 (HubSession, 1);
  session->session_id = mesh_id_new ();
  session->kind = g_strdup (kind);
  session->room_id = g_strdup (room_id);
  session->a = peer;
  session->b = target;
  session->a_device_id = g_strdup (peer->device_id);
  session->b_device_id = g_strdup (target->device_id);
  session->meta = json_object_ref (meta);
  session->state = SESSION_PENDING;
  session->created_at = g_get_monotonic_time ();
  g_hash_table_insert (self->sessions, session->session_id, session);

  session_token = mesh_random_token (32);
  to_a = created_payload (session, TRUE, session_token, claims);
  to_b = created_payload (session, FALSE, session_token, claims);
  if (env->id != NULL)
    json_object_set_string_member (to_a, "ref", env->id);
  hub_send_event (peer, "p2p.session.created", to_a);
  hub_send_event (target, "p2p.session.created", to_b);
  return TRUE;
}

static HubSession *
find_session (MeshHub     *self,
              JsonObject  *payload,
              GError     **error)
{
  const char *session_id;
  HubSession *session;

  if (!mesh_json_get_string (payload, "session_id", TRUE, &session_id, error))
    return NULL;
  expire_sessions (self);
  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL)
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "no session '%s' (unknown or expired)", session_id);
  return session;
}

static HubSession *
find_pending_for_b (MeshHub     *self,
                    HubPeer     *peer,
                    JsonObject  *payload,
                    GError     **error)
{
  HubSession *session = find_session (self, payload, error);

  if (session == NULL)
    return NULL;
  if (session->b != peer) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only the session's target may accept or reject it");
    return NULL;
  }
  if (session->state != SESSION_PENDING) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "the session was already accepted");
    return NULL;
  }
  if (session->a == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_UNROUTABLE, "the requester is gone");
    g_hash_table_remove (self->sessions, session->session_id);
    return NULL;
  }
  return session;
}

gboolean
hub_handle_p2p_accept (MeshHub      *self,
                       HubPeer      *peer,
                       MeshEnvelope *env,
                       GError      **error)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(GBytes) frame = NULL;
  HubSession *session = find_pending_for_b (self, peer, env->payload, error);

  if (session == NULL)
    return FALSE;
  session->state = SESSION_ACCEPTED;
  json_object_set_string_member (payload, "session_id", session->session_id);
  frame = hub_build_frame ("p2p.session.accept", hub_peer_wire_id (peer),
                           hub_peer_wire_id (session->a), payload);
  mesh_ws_peer_send_bytes (session->a->ws, frame);
  return TRUE;
}

gboolean
hub_handle_p2p_reject (MeshHub      *self,
                       HubPeer      *peer,
                       MeshEnvelope *env,
                       GError      **error)
{
  g_autofree char *message = NULL;
  const char *reason;
  HubSession *session = find_pending_for_b (self, peer, env->payload, error);

  if (session == NULL || !mesh_json_get_string (env->payload, "reason", FALSE, &reason, error))
    return FALSE;
  message = reason ? g_strdup_printf ("declined: %s", reason) : g_strdup ("declined by the other side");
  hub_send_error (session->a, MESH_ERROR_P2P_SESSION_DENIED, message, session->session_id);
  g_hash_table_remove (self->sessions, session->session_id);
  return TRUE;
}

gboolean
hub_handle_p2p_completed (MeshHub      *self,
                          HubPeer      *peer,
                          MeshEnvelope *env,
                          GError      **error)
{
  HubSession *session = find_session (self, env->payload, error);
  gboolean ok;
  gint64 bytes;

  if (session == NULL ||
      !mesh_json_get_int (env->payload, "bytes", TRUE, &bytes, error) ||
      !mesh_json_get_bool (env->payload, "ok", TRUE, &ok, error))
    return FALSE;
  if (session->a != peer && session->b != peer) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "not your session");
    return FALSE;
  }
  /* §9 share.completed: the receiver (B) checked the data; its user is told,
   * once, since the sender's user acted. */
  if (ok && session->b == peer && !session->b_completed && session->a != NULL &&
      !g_str_equal (session->kind, "terminal") && self->notifier != NULL)
    mesh_notifier_share_completed (self->notifier, session->room_id, session->session_id,
                                   session->kind, session->meta, bytes, session->a->user_id,
                                   session->a->username, peer->user_id, peer->device_id);
  if (session->a == peer)
    session->a_completed = TRUE;
  else
    session->b_completed = TRUE;
  g_debug ("Session %s (%s) reported %s by %s: %" G_GINT64_FORMAT " bytes",
           session->session_id, session->kind, ok ? "done" : "failed",
           hub_peer_wire_id (peer), bytes);

  if (session->a_completed && session->b_completed)
    g_hash_table_remove (self->sessions, session->session_id);
  return TRUE;
}

/* The other side of a session whose agent disconnected learns it at once
 * (a pending requester gets UNROUTABLE; an agent mid-transfer sees QUIC end). */
void
hub_p2p_peer_gone (MeshHub *self,
                   HubPeer *peer)
{
  GHashTableIter iter;
  HubSession *session;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &session)) {
    if (session->a != peer && session->b != peer)
      continue;
    if (session->state == SESSION_PENDING && session->b == peer && session->a != NULL)
      hub_send_error (session->a, MESH_ERROR_UNROUTABLE,
                      "the other agent disconnected", session->session_id);
    g_hash_table_iter_remove (&iter);
  }
}
