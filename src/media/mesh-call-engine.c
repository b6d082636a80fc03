/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-engine.h"
#include "mesh-media-private.h"

#include "mesh-error.h"
#include "mesh-escape.h"

#include <string.h>

/* A token with less than this left is renewed before the next event. */
#define TOKEN_MARGIN_US      (20 * G_USEC_PER_SEC)
#define CALL_ID_MAX          64
/* How long a declined room call's later offers are refused at once. */
#define DECLINED_KEEP_US     (120 * G_USEC_PER_SEC)
#define SENT_KEEP_US         (60 * G_USEC_PER_SEC)
/* GET /turn failed or is not there: asked again after this. */
#define NO_ICE_TTL_S         60

enum {
  PROP_0,
  PROP_SESSION,
  PROP_ICE_TRANSPORT_POLICY,
  PROP_ECHO_CANCEL,
  PROP_LOCAL_ADDRESS,
  PROP_RING_TIMEOUT,
  N_PROPS
};

enum {
  SIGNAL_INCOMING_CALL,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* An event waiting for its cap token. */
typedef struct {
  char       *type;
  char       *room_id;
  char       *call_id;
  char       *peer_id;
  JsonObject *payload;
} PendingSend;

typedef struct {
  char   *token;
  gint64  expires_at;
  gboolean fetching;
  GQueue  pending;   /* PendingSend */
} TokenEntry;

/* What an event we sent was about, to match the server's error to it. */
typedef struct {
  char          *room_id;
  char          *call_id;
  char          *peer_id;
  MeshMediaKind  kind;
  gint64         sent_at;
} SentRef;

struct _MeshCallEngine {
  GObject             parent_instance;

  MeshClientSession  *session;
  MeshClientRest     *rest;
  GListStore         *calls;
  GCancellable       *cancellable;

  GstElement         *camera;
  GstElement         *microphone;
  GstElement         *speaker;
  MeshCall           *camera_holder;      /* borrowed */
  MeshCall           *microphone_holder;  /* borrowed */
  MeshCall           *speaker_holder;     /* borrowed */
  MeshVideoOutput    *self_view;

  GstWebRTCICETransportPolicy ice_transport_policy;
  gboolean            echo_cancel;
  char               *local_address;
  guint               ring_timeout;

  MeshIceServers     *ice;
  gint64              ice_expires_at;
  gboolean            ice_fetching;

  GHashTable         *tokens;    /* "room\nkind\npeer" → TokenEntry */
  GHashTable         *sent;      /* event id → SentRef */
  GHashTable         *declined;  /* "room\ncall_id" → gint64 expiry */
  char               *token_override;
  guint               offer_vp8_pt;
  guint               offer_opus_pt;
};

G_DEFINE_FINAL_TYPE (MeshCallEngine, mesh_call_engine, G_TYPE_OBJECT)

static void
pending_send_free (gpointer data)
{
  PendingSend *send = data;

  g_free (send->type);
  g_free (send->room_id);
  g_free (send->call_id);
  g_free (send->peer_id);
  json_object_unref (send->payload);
  g_free (send);
}

static void
token_entry_free (gpointer data)
{
  TokenEntry *entry = data;

  g_free (entry->token);
  g_queue_clear_full (&entry->pending, pending_send_free);
  g_free (entry);
}

static void
sent_ref_free (gpointer data)
{
  SentRef *ref = data;

  g_free (ref->room_id);
  g_free (ref->call_id);
  g_free (ref->peer_id);
  g_free (ref);
}

static void
ice_servers_free (MeshIceServers *ice)
{
  if (ice == NULL)
    return;
  g_strfreev (ice->uris);
  g_free (ice->username);
  g_free (ice->password);
  g_free (ice);
}

static char *
token_key (const char    *room_id,
           MeshMediaKind  kind,
           const char    *peer_id)
{
  return g_strdup_printf ("%s\n%s\n%s", room_id, mesh_media_kind_to_string (kind), peer_id);
}

static MeshCall *
engine_find_call_by_id (MeshCallEngine *self,
                        const char     *room_id,
                        MeshMediaKind   kind,
                        const char     *call_id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));

  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);

    if (g_strcmp0 (mesh_call_get_room_id (call), room_id) == 0 &&
        mesh_call_get_kind (call) == kind &&
        g_strcmp0 (mesh_call_get_call_id (call), call_id) == 0)
      return call;
  }
  return NULL;
}

static GPtrArray *
engine_dup_calls (MeshCallEngine *self)
{
  GPtrArray *calls = g_ptr_array_new_with_free_func (g_object_unref);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (calls, g_list_model_get_item (G_LIST_MODEL (self->calls), i));
  return calls;
}

/* --- Sending -------------------------------------------------------------- */

static void
engine_send_now (MeshCallEngine *self,
                 const char     *type,
                 const char     *room_id,
                 MeshMediaKind   kind,
                 const char     *call_id,
                 const char     *peer_id,
                 JsonObject     *payload)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  SentRef *ref;

  id = mesh_client_session_send_event (self->session, type, peer_id, payload, &error);
  g_debug ("sent %s for call %s to %s", type, call_id, peer_id);
  if (id == NULL) {
    g_message ("Cannot send %s to %s: %s", type, peer_id, error->message);
    return;
  }

  /* Forget old ones: errors come back within a round trip. */
  if (g_hash_table_size (self->sent) > 256) {
    GHashTableIter iter;
    SentRef *old;
    gint64 now = g_get_monotonic_time ();

    g_hash_table_iter_init (&iter, self->sent);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &old)) {
      if (now - old->sent_at > SENT_KEEP_US)
        g_hash_table_iter_remove (&iter);
    }
  }
  ref = g_new0 (SentRef, 1);
  ref->room_id = g_strdup (room_id);
  ref->call_id = g_strdup (call_id);
  ref->peer_id = g_strdup (peer_id);
  ref->kind = kind;
  ref->sent_at = g_get_monotonic_time ();
  g_hash_table_replace (self->sent, g_steal_pointer (&id), ref);
}

static void
engine_flush_pending (MeshCallEngine *self,
                      TokenEntry     *entry,
                      MeshMediaKind   kind,
                      const GError   *error)
{
  PendingSend *send;

  while ((send = g_queue_pop_head (&entry->pending)) != NULL) {
    if (error == NULL) {
      json_object_set_string_member (send->payload, "cap_token", entry->token);
      engine_send_now (self, send->type, send->room_id, kind, send->call_id, send->peer_id,
                       send->payload);
    } else {
      MeshCall *call = engine_find_call_by_id (self, send->room_id, kind, send->call_id);
      g_autofree char *message = g_strdup_printf ("no call token: %s", error->message);

      if (call != NULL)
        mesh_call_remove_peer (call, send->peer_id, message);
    }
    pending_send_free (send);
  }
}

typedef struct {
  MeshCallEngine *engine;
  char           *key;
  MeshMediaKind   kind;
} TokenRequest;

static void
token_received (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  TokenRequest *request = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  gint64 expires_in = 0;
  MeshCallEngine *self;
  TokenEntry *entry;

  token = mesh_client_rest_request_caps_finish (MESH_CLIENT_REST (source), result, &expires_in,
                                                &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_free (request->key);
    g_free (request);
    return;
  }
  self = request->engine;
  entry = g_hash_table_lookup (self->tokens, request->key);
  if (entry != NULL) {
    entry->fetching = FALSE;
    if (token != NULL) {
      g_free (entry->token);
      entry->token = g_steal_pointer (&token);
      entry->expires_at = g_get_monotonic_time () + MAX (expires_in, 1) * G_USEC_PER_SEC;
    } else {
      g_message ("Cannot get a call token: %s", error->message);
    }
    engine_flush_pending (self, entry, request->kind, error);
  }
  g_free (request->key);
  g_free (request);
}

void
mesh_call_engine_send_rtc (MeshCallEngine *self,
                           MeshCall       *call,
                           const char     *type,
                           const char     *peer_id,
                           JsonObject     *payload)
{
  const char *room_id = mesh_call_get_room_id (call);
  MeshMediaKind kind = mesh_call_get_kind (call);
  g_autofree char *key = NULL;
  TokenEntry *entry;
  PendingSend *send;

  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "target_peer_id", peer_id);
  json_object_set_string_member (payload, "media", mesh_media_kind_to_string (kind));
  json_object_set_string_member (payload, "call_id", mesh_call_get_call_id (call));
  if (g_str_equal (type, "rtc.offer"))
    json_object_set_string_member (payload, "scope",
                                   mesh_call_is_room_scope (call) ? "room" : "direct");

  /* Hang-ups need no token: ending a call works after it expired. */
  if (g_str_equal (type, "rtc.hangup") || self->token_override != NULL) {
    if (!g_str_equal (type, "rtc.hangup") && self->token_override[0] != '\0')
      json_object_set_string_member (payload, "cap_token", self->token_override);
    engine_send_now (self, type, room_id, kind, mesh_call_get_call_id (call), peer_id, payload);
    return;
  }

  key = token_key (room_id, kind, peer_id);
  entry = g_hash_table_lookup (self->tokens, key);
  if (entry == NULL) {
    entry = g_new0 (TokenEntry, 1);
    g_queue_init (&entry->pending);
    g_hash_table_insert (self->tokens, g_strdup (key), entry);
  }
  if (entry->token != NULL && entry->pending.length == 0 &&
      entry->expires_at - g_get_monotonic_time () > TOKEN_MARGIN_US) {
    json_object_set_string_member (payload, "cap_token", entry->token);
    engine_send_now (self, type, room_id, kind, mesh_call_get_call_id (call), peer_id, payload);
    return;
  }

  send = g_new0 (PendingSend, 1);
  send->type = g_strdup (type);
  send->room_id = g_strdup (room_id);
  send->call_id = g_strdup (mesh_call_get_call_id (call));
  send->peer_id = g_strdup (peer_id);
  send->payload = json_object_ref (payload);
  g_queue_push_tail (&entry->pending, send);
  if (!entry->fetching) {
    const char *caps[] = { kind == MESH_MEDIA_KIND_SCREENSHARE ? "screenshare" : "call", NULL };
    TokenRequest *request = g_new0 (TokenRequest, 1);

    request->engine = self;
    request->key = g_strdup (key);
    request->kind = kind;
    entry->fetching = TRUE;
    mesh_client_rest_request_caps_async (self->rest, room_id, caps, peer_id, NULL, 0,
                                         self->cancellable, token_received, request);
  }
}

void
mesh_call_engine_forget_peer (MeshCallEngine *self,
                              MeshCall       *call,
                              const char     *peer_id)
{
  g_autofree char *key = token_key (mesh_call_get_room_id (call), mesh_call_get_kind (call), peer_id);
  TokenEntry *entry = g_hash_table_lookup (self->tokens, key);

  if (entry == NULL)
    return;
  for (GList *l = entry->pending.head; l != NULL;) {
    PendingSend *send = l->data;
    GList *next = l->next;

    if (g_strcmp0 (send->call_id, mesh_call_get_call_id (call)) == 0) {
      g_queue_delete_link (&entry->pending, l);
      pending_send_free (send);
    }
    l = next;
  }
}

/* An answer for an offer we have no call for (declined, busy, bad). */
static void
engine_send_refusal (MeshCallEngine *self,
                     const char     *room_id,
                     MeshMediaKind   kind,
                     const char     *call_id,
                     const char     *peer_id,
                     const char     *reason)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "target_peer_id", peer_id);
  json_object_set_string_member (payload, "media", mesh_media_kind_to_string (kind));
  json_object_set_string_member (payload, "call_id", call_id);
  json_object_set_string_member (payload, "reason", reason);
  engine_send_now (self, "rtc.hangup", room_id, kind, call_id, peer_id, payload);
}

/* --- ICE servers ---------------------------------------------------------- */

static void
turn_received (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GPtrArray) calls = NULL;
  MeshCallEngine *self;
  MeshIceServers *ice;
  gint64 ttl = NO_ICE_TTL_S;

  node = mesh_client_rest_call_finish (MESH_CLIENT_REST (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = data;
  ice = g_new0 (MeshIceServers, 1);
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *object = json_node_get_object (node);
    JsonNode *uris = json_object_get_member (object, "uris");
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

    if (uris != NULL && JSON_NODE_HOLDS_ARRAY (uris)) {
      JsonArray *array = json_node_get_array (uris);

      for (guint i = 0; i < json_array_get_length (array) && i < 16; i++) {
        JsonNode *uri = json_array_get_element (array, i);

        if (JSON_NODE_HOLDS_VALUE (uri) && json_node_get_value_type (uri) == G_TYPE_STRING)
          g_strv_builder_add (builder, json_node_get_string (uri));
      }
    }
    ice->uris = g_strv_builder_end (builder);
    ice->username = g_strdup (mesh_media_json_string (object, "username", NULL));
    ice->password = g_strdup (mesh_media_json_string (object, "password", NULL));
    ttl = mesh_media_json_int (object, "ttl", NO_ICE_TTL_S);
    ttl = CLAMP (ttl / 2, 10, 24 * 3600);
  } else if (error != NULL) {
    /* 404: this server has no TURN endpoint; calls go without. */
    g_debug ("No ICE servers: %s", error->message);
  }
  ice_servers_free (self->ice);
  self->ice = ice;
  self->ice_expires_at = g_get_monotonic_time () + ttl * G_USEC_PER_SEC;
  self->ice_fetching = FALSE;

  calls = engine_dup_calls (self);
  for (guint i = 0; i < calls->len; i++)
    mesh_call_ice_servers_ready (calls->pdata[i]);
}

const MeshIceServers *
mesh_call_engine_get_ice_servers (MeshCallEngine *self)
{
  if (self->ice == NULL || g_get_monotonic_time () > self->ice_expires_at)
    return NULL;
  return self->ice;
}

void
mesh_call_engine_want_ice_servers (MeshCallEngine *self)
{
  if (mesh_call_engine_get_ice_servers (self) != NULL || self->ice_fetching)
    return;
  self->ice_fetching = TRUE;
  mesh_client_rest_call_async (self->rest, "GET", "turn", NULL, self->cancellable,
                               turn_received, self);
}

/* --- Receiving ------------------------------------------------------------ */

static char *
engine_username_of (MeshCallEngine *self,
                    const char     *room_id,
                    const char     *peer_id)
{
  g_autoptr(GPtrArray) peers = mesh_client_session_dup_room_peers (self->session, room_id);

  for (guint i = 0; peers != NULL && i < peers->len; i++) {
    MeshPeerInfo *info = peers->pdata[i];

    if (g_strcmp0 (info->peer_id, peer_id) == 0)
      return g_strdup (info->username);
  }
  return NULL;
}

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
  username = engine_username_of (self, room_id, from);
  existing = engine_find_call_by_id (self, room_id, kind, call_id);
  if (existing != NULL) {
    if (!mesh_call_check_sdp (sdp, &error)) {
      engine_ignore ("rtc.offer", from, error->message);
      return;
    }
    mesh_call_handle_offer (existing, from, username, sdp);
    return;
  }
  if (engine_declined (self, room_id, call_id)) {
    engine_send_refusal (self, room_id, kind, call_id, from, "declined");
    return;
  }
  if (!mesh_call_check_sdp (sdp, &error)) {
    engine_ignore ("rtc.offer", from, error->message);
    engine_send_refusal (self, room_id, kind, call_id, from, "failed");
    return;
  }
  if (mesh_call_engine_find_call (self, room_id, kind) != NULL) {
    engine_ignore ("rtc.offer", from, "another call of this room is running (busy)");
    engine_send_refusal (self, room_id, kind, call_id, from, "busy");
    return;
  }

  call = mesh_call_new (self, room_id, call_id, kind, MESH_CALL_DIRECTION_INCOMING,
                        g_strcmp0 (scope, "room") == 0, username ? username : from);
  g_list_store_append (self->calls, call);
  mesh_call_handle_offer (call, from, username, sdp);
  if (mesh_call_get_state (call) == MESH_CALL_STATE_RINGING)
    g_signal_emit (self, signals[SIGNAL_INCOMING_CALL], 0, call);
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
    return engine_find_call_by_id (self, room_id, kind, call_id);
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
  g_autoptr(GPtrArray) calls = engine_dup_calls (self);
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
  call = engine_find_call_by_id (self, sent->room_id, sent->kind, sent->call_id);
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
  calls = engine_dup_calls (self);
  for (guint i = 0; i < calls->len; i++)
    mesh_call_end (calls->pdata[i], MESH_CALL_END_FAILED, "lost the connection to the server");
  g_hash_table_remove_all (self->tokens);
}

/* --- For the calls ---------------------------------------------------------- */

GstWebRTCICETransportPolicy
mesh_call_engine_get_ice_transport_policy (MeshCallEngine *self)
{
  return self->ice_transport_policy;
}

const char *
mesh_call_engine_get_local_address (MeshCallEngine *self)
{
  return self->local_address;
}

gboolean
mesh_call_engine_get_echo_cancel (MeshCallEngine *self)
{
  return self->echo_cancel;
}

guint
mesh_call_engine_get_ring_timeout (MeshCallEngine *self)
{
  return self->ring_timeout;
}

const char *
mesh_call_engine_get_own_peer_id (MeshCallEngine *self)
{
  return mesh_client_session_get_peer_id (self->session);
}

static GstElement *
claim (GstElement  *element,
       MeshCall   **holder,
       MeshCall    *call)
{
  if (element == NULL || (*holder != NULL && *holder != call) || GST_OBJECT_PARENT (element) != NULL)
    return NULL;
  *holder = call;
  return element;
}

GstElement *
mesh_call_engine_claim_camera (MeshCallEngine *self,
                               MeshCall       *call)
{
  return claim (self->camera, &self->camera_holder, call);
}

GstElement *
mesh_call_engine_claim_microphone (MeshCallEngine *self,
                                   MeshCall       *call)
{
  return claim (self->microphone, &self->microphone_holder, call);
}

GstElement *
mesh_call_engine_claim_speaker (MeshCallEngine *self,
                                MeshCall       *call)
{
  return claim (self->speaker, &self->speaker_holder, call);
}

void
mesh_call_engine_release_media (MeshCallEngine *self,
                                MeshCall       *call)
{
  if (self->camera_holder == call)
    self->camera_holder = NULL;
  if (self->microphone_holder == call)
    self->microphone_holder = NULL;
  if (self->speaker_holder == call)
    self->speaker_holder = NULL;
}

void
mesh_call_engine_call_ended (MeshCallEngine *self,
                             MeshCall       *call)
{
  guint position;

  mesh_call_engine_release_media (self, call);
  if (g_list_store_find (self->calls, call, &position))
    g_list_store_remove (self->calls, position);
}

void
mesh_call_engine_remember_declined (MeshCallEngine *self,
                                    MeshCall       *call)
{
  gint64 *expiry = g_new (gint64, 1);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gint64 *old;

  g_hash_table_iter_init (&iter, self->declined);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &old)) {
    if (*old < now)
      g_hash_table_iter_remove (&iter);
  }
  *expiry = now + DECLINED_KEEP_US;
  g_hash_table_replace (self->declined,
                        g_strdup_printf ("%s\n%s", mesh_call_get_room_id (call),
                                         mesh_call_get_call_id (call)),
                        expiry);
}

GPtrArray *
mesh_call_engine_dup_other_clients (MeshCallEngine *self,
                                    const char     *room_id)
{
  g_autoptr(GPtrArray) peers = mesh_client_session_dup_room_peers (self->session, room_id);
  GPtrArray *others = g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_peer_info_free);
  const char *own = mesh_client_session_get_peer_id (self->session);

  for (guint i = 0; peers != NULL && i < peers->len; i++) {
    MeshPeerInfo *info = peers->pdata[i];

    if (g_strcmp0 (info->peer_type, "client") == 0 && g_strcmp0 (info->peer_id, own) != 0 &&
        info->status != MESH_PRESENCE_OFFLINE)
      g_ptr_array_add (others, mesh_peer_info_copy (info));
  }
  return others;
}

void
mesh_call_engine_set_cap_token_override (MeshCallEngine *self,
                                         const char     *token)
{
  g_free (self->token_override);
  self->token_override = g_strdup (token);
}

void
mesh_call_engine_set_offer_payload_types (MeshCallEngine *self,
                                          guint           vp8_pt,
                                          guint           opus_pt)
{
  self->offer_vp8_pt = vp8_pt;
  self->offer_opus_pt = opus_pt;
}

void
mesh_call_engine_get_offer_payload_types (MeshCallEngine *self,
                                          guint          *vp8_pt,
                                          guint          *opus_pt)
{
  *vp8_pt = self->offer_vp8_pt;
  *opus_pt = self->offer_opus_pt;
}

/* --- GObject ---------------------------------------------------------------- */

static void
mesh_call_engine_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MeshCallEngine *self = MESH_CALL_ENGINE (object);

  switch (prop_id) {
  case PROP_SESSION:
    g_value_set_object (value, self->session);
    break;
  case PROP_ICE_TRANSPORT_POLICY:
    g_value_set_enum (value, self->ice_transport_policy);
    break;
  case PROP_ECHO_CANCEL:
    g_value_set_boolean (value, self->echo_cancel);
    break;
  case PROP_LOCAL_ADDRESS:
    g_value_set_string (value, self->local_address);
    break;
  case PROP_RING_TIMEOUT:
    g_value_set_uint (value, self->ring_timeout);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_call_engine_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  MeshCallEngine *self = MESH_CALL_ENGINE (object);

  switch (prop_id) {
  case PROP_SESSION:
    self->session = g_value_dup_object (value);
    break;
  case PROP_ICE_TRANSPORT_POLICY:
    self->ice_transport_policy = g_value_get_enum (value);
    break;
  case PROP_ECHO_CANCEL:
    self->echo_cancel = g_value_get_boolean (value);
    break;
  case PROP_LOCAL_ADDRESS:
    g_free (self->local_address);
    self->local_address = g_value_dup_string (value);
    break;
  case PROP_RING_TIMEOUT:
    self->ring_timeout = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_call_engine_constructed (GObject *object)
{
  MeshCallEngine *self = MESH_CALL_ENGINE (object);

  G_OBJECT_CLASS (mesh_call_engine_parent_class)->constructed (object);

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self->session));
  self->rest = g_object_ref (mesh_client_session_get_rest (self->session));
  g_signal_connect_object (self->session, "event", G_CALLBACK (on_session_event), self, 0);
  g_signal_connect_object (self->session, "room-left", G_CALLBACK (on_room_left), self, 0);
  g_signal_connect_object (self->session, "room-joined", G_CALLBACK (on_room_joined), self, 0);
  g_signal_connect_object (self->session, "server-error", G_CALLBACK (on_server_error), self, 0);
  g_signal_connect_object (self->session, "notify::state", G_CALLBACK (on_session_state), self, 0);
}

static void
mesh_call_engine_dispose (GObject *object)
{
  MeshCallEngine *self = MESH_CALL_ENGINE (object);

  if (self->calls != NULL)
    mesh_call_engine_hang_up_all (self);
  g_cancellable_cancel (self->cancellable);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->calls);
  g_clear_object (&self->session);
  g_clear_object (&self->rest);
  gst_clear_object (&self->camera);
  gst_clear_object (&self->microphone);
  gst_clear_object (&self->speaker);
  g_clear_object (&self->self_view);
  G_OBJECT_CLASS (mesh_call_engine_parent_class)->dispose (object);
}

static void
mesh_call_engine_finalize (GObject *object)
{
  MeshCallEngine *self = MESH_CALL_ENGINE (object);

  g_clear_object (&self->cancellable);
  g_free (self->local_address);
  g_free (self->token_override);
  ice_servers_free (self->ice);
  g_hash_table_unref (self->tokens);
  g_hash_table_unref (self->sent);
  g_hash_table_unref (self->declined);
  G_OBJECT_CLASS (mesh_call_engine_parent_class)->finalize (object);
}

static void
mesh_call_engine_class_init (MeshCallEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_call_engine_get_property;
  object_class->set_property = mesh_call_engine_set_property;
  object_class->constructed = mesh_call_engine_constructed;
  object_class->dispose = mesh_call_engine_dispose;
  object_class->finalize = mesh_call_engine_finalize;

  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, MESH_TYPE_CLIENT_SESSION,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ICE_TRANSPORT_POLICY] =
    g_param_spec_enum ("ice-transport-policy", NULL, NULL, GST_TYPE_WEBRTC_ICE_TRANSPORT_POLICY,
                       GST_WEBRTC_ICE_TRANSPORT_POLICY_ALL,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ECHO_CANCEL] =
    g_param_spec_boolean ("echo-cancel", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOCAL_ADDRESS] =
    g_param_spec_string ("local-address", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_RING_TIMEOUT] =
    g_param_spec_uint ("ring-timeout", NULL, NULL, 1, 3600, 30,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_INCOMING_CALL] =
    g_signal_new ("incoming-call", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, MESH_TYPE_CALL);
}

static void
mesh_call_engine_init (MeshCallEngine *self)
{
  if (!gst_is_initialized ())
    gst_init (NULL, NULL);
  self->calls = g_list_store_new (MESH_TYPE_CALL);
  self->cancellable = g_cancellable_new ();
  self->self_view = mesh_video_output_new ();
  self->echo_cancel = TRUE;
  self->ring_timeout = 30;
  self->offer_vp8_pt = 96;
  self->offer_opus_pt = 97;
  self->tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, token_entry_free);
  self->sent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, sent_ref_free);
  self->declined = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* --- Public API ------------------------------------------------------------- */

MeshCallEngine *
mesh_call_engine_new (MeshClientSession *session)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (session), NULL);

  return g_object_new (MESH_TYPE_CALL_ENGINE, "session", session, NULL);
}

MeshClientSession *
mesh_call_engine_get_session (MeshCallEngine *self)
{
  g_return_val_if_fail (MESH_IS_CALL_ENGINE (self), NULL);

  return self->session;
}

GListModel *
mesh_call_engine_get_calls (MeshCallEngine *self)
{
  g_return_val_if_fail (MESH_IS_CALL_ENGINE (self), NULL);

  return G_LIST_MODEL (self->calls);
}

MeshCall *
mesh_call_engine_find_call (MeshCallEngine *self,
                            const char     *room_id,
                            MeshMediaKind   kind)
{
  guint n;

  g_return_val_if_fail (MESH_IS_CALL_ENGINE (self), NULL);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));
  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);

    if (g_strcmp0 (mesh_call_get_room_id (call), room_id) == 0 && mesh_call_get_kind (call) == kind &&
        mesh_call_get_state (call) != MESH_CALL_STATE_ENDED)
      return call;
  }
  return NULL;
}

static MeshCall *
engine_start (MeshCallEngine  *self,
              const char      *room_id,
              const char      *peer_id,
              MeshMediaKind    kind,
              GstElement      *source,
              GError         **error)
{
  g_autoptr(GPtrArray) others = NULL;
  g_autoptr(MeshCall) call = NULL;
  g_autofree char *call_id = NULL;
  g_autofree char *own_name = NULL;
  guint n_targets = 0;

  if (source != NULL)
    gst_object_ref_sink (source);
  if (!mesh_client_session_is_room_joined (self->session, room_id)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "room %s is not joined", room_id);
    goto fail;
  }
  if (mesh_call_engine_find_call (self, room_id, kind) != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "a %s of this room is running already",
                 kind == MESH_MEDIA_KIND_CALL ? "call" : "screen share");
    goto fail;
  }
  others = mesh_call_engine_dup_other_clients (self, room_id);
  for (guint i = 0; i < others->len; i++) {
    MeshPeerInfo *info = others->pdata[i];

    if (peer_id == NULL || g_strcmp0 (info->peer_id, peer_id) == 0)
      n_targets++;
  }
  if (n_targets == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 peer_id ? "that peer is not online in this room" : "nobody else is online in this room");
    goto fail;
  }

  call_id = g_uuid_string_random ();
  own_name = engine_username_of (self, room_id, mesh_client_session_get_peer_id (self->session));
  call = mesh_call_new (self, room_id, call_id, kind, MESH_CALL_DIRECTION_OUTGOING, peer_id == NULL,
                        own_name ? own_name : mesh_client_session_get_user_id (self->session));
  if (source != NULL)
    mesh_call_set_screen_source (call, source);
  g_list_store_append (self->calls, call);
  for (guint i = 0; i < others->len; i++) {
    MeshPeerInfo *info = others->pdata[i];

    if (peer_id == NULL || g_strcmp0 (info->peer_id, peer_id) == 0)
      mesh_call_offer_to (call, info->peer_id, info->username);
  }
  g_clear_pointer (&source, gst_object_unref);
  return call;  /* the list holds it */

fail:
  g_clear_pointer (&source, gst_object_unref);
  return NULL;
}

MeshCall *
mesh_call_engine_start_call (MeshCallEngine  *self,
                             const char      *room_id,
                             const char      *peer_id,
                             GError         **error)
{
  g_return_val_if_fail (MESH_IS_CALL_ENGINE (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);

  return engine_start (self, room_id, peer_id, MESH_MEDIA_KIND_CALL, NULL, error);
}

MeshCall *
mesh_call_engine_start_screenshare (MeshCallEngine  *self,
                                    const char      *room_id,
                                    GstElement      *source,
                                    GError         **error)
{
  g_return_val_if_fail (MESH_IS_CALL_ENGINE (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (GST_IS_ELEMENT (source), NULL);

  return engine_start (self, room_id, NULL, MESH_MEDIA_KIND_SCREENSHARE, source, error);
}

void
mesh_call_engine_hang_up_all (MeshCallEngine *self)
{
  g_autoptr(GPtrArray) calls = NULL;

  g_return_if_fail (MESH_IS_CALL_ENGINE (self));

  calls = engine_dup_calls (self);
  for (guint i = 0; i < calls->len; i++)
    mesh_call_hang_up (calls->pdata[i]);
}

/* Swaps the element in place in the call that holds the old one. */
static void
replace_element (MeshCallEngine  *self,
                 GstElement     **slot,
                 MeshCall        *holder,
                 GstElement      *element)
{
  g_autoptr(GstElement) old = g_steal_pointer (slot);

  if (element != NULL)
    gst_object_ref_sink (element);
  *slot = element;
  if (holder != NULL && old != NULL)
    mesh_call_local_media_changed (holder, old, element);
}

void
mesh_call_engine_set_camera (MeshCallEngine *self,
                             GstElement     *source)
{
  g_return_if_fail (MESH_IS_CALL_ENGINE (self));
  g_return_if_fail (source == NULL || GST_IS_ELEMENT (source));

  replace_element (self, &self->camera, self->camera_holder, source);
}

void
mesh_call_engine_set_microphone (MeshCallEngine *self,
                                 GstElement     *source)
{
  g_return_if_fail (MESH_IS_CALL_ENGINE (self));
  g_return_if_fail (source == NULL || GST_IS_ELEMENT (source));

  replace_element (self, &self->microphone, self->microphone_holder, source);
}

void
mesh_call_engine_set_speaker (MeshCallEngine *self,
                              GstElement     *sink)
{
  g_return_if_fail (MESH_IS_CALL_ENGINE (self));
  g_return_if_fail (sink == NULL || GST_IS_ELEMENT (sink));

  replace_element (self, &self->speaker, self->speaker_holder, sink);
}

MeshVideoOutput *
mesh_call_engine_get_self_view (MeshCallEngine *self)
{
  g_return_val_if_fail (MESH_IS_CALL_ENGINE (self), NULL);

  return self->self_view;
}
