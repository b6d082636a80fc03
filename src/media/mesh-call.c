/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-private.h"

/* MeshCall: one call or screen share.  Its state, its peers coming and going,
 * the wire events the engine hands it, ringing, ending, and the public API;
 * the rest of the call is in mesh-call-*.c (see mesh-call-private.h). */

enum {
  PROP_0,
  PROP_ROOM_ID,
  PROP_CALL_ID,
  PROP_KIND,
  PROP_DIRECTION,
  PROP_STATE,
  PROP_END_REASON,
  PROP_CALLER_NAME,
  PROP_MUTED,
  PROP_CAMERA_ENABLED,
  PROP_SPEAKING_WHILE_MUTED,
  PROP_STARTED_AT,
  PROP_ERROR_MESSAGE,
  N_PROPS
};

enum {
  SIGNAL_ENDED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshCall, mesh_call, G_TYPE_OBJECT)

static const char *
end_reason_wire (MeshCallEndReason reason)
{
  switch (reason) {
  case MESH_CALL_END_DECLINED:
    return "declined";
  case MESH_CALL_END_MISSED:
    return "missed";
  case MESH_CALL_END_FAILED:
    return "failed";
  case MESH_CALL_END_NONE:
  case MESH_CALL_END_HUNG_UP:
  case MESH_CALL_END_REMOTE_HUNG_UP:
  default:
    return "hung-up";
  }
}

static void
call_set_state (MeshCall      *self,
                MeshCallState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  if (state == MESH_CALL_STATE_ACTIVE && self->started_at == 0) {
    self->started_at = g_get_monotonic_time ();
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STARTED_AT]);
  }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
call_set_error (MeshCall   *self,
                const char *message)
{
  if (message == NULL || g_strcmp0 (self->error_message, message) == 0)
    return;
  g_free (self->error_message);
  self->error_message = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_MESSAGE]);
}

void
mesh_call_set_speaking_while_muted (MeshCall *self,
                                    gboolean  speaking)
{
  if (self->speaking_while_muted == speaking)
    return;
  self->speaking_while_muted = speaking;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPEAKING_WHILE_MUTED]);
}

static gboolean
call_find_peer_position (MeshCall     *self,
                         MeshCallPeer *peer,
                         guint        *position)
{
  return g_list_store_find (self->peers, peer, position);
}

MeshCallPeer *
mesh_call_find_peer (MeshCall   *self,
                     const char *peer_id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));

  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

    if (g_strcmp0 (peer->peer_id, peer_id) == 0)
      return peer;  /* the store keeps it */
  }
  return NULL;
}

/* --- Peers coming and going --------------------------------------------- */

static MeshCallPeer *
call_add_peer (MeshCall   *self,
               const char *peer_id,
               const char *username)
{
  g_autoptr(MeshCallPeer) peer = mesh_call_peer_new (self, peer_id, username);

  g_list_store_append (self->peers, peer);
  return peer;
}

/* Tells @peer the call is over for it; a hang-up needs no token, so
 * nothing still waiting for one is sent after it. */
void
mesh_call_send_hangup (MeshCall     *self,
                       MeshCallPeer *peer,
                       const char   *reason)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "reason", reason);
  mesh_call_engine_forget_peer (self->engine, self, peer->peer_id);
  mesh_call_engine_send_rtc (self->engine, self, "rtc.hangup", peer->peer_id, payload);
}

/* Takes @peer's connection down and ends it (it stays in the list). */
static void
call_release_peer (MeshCall     *self,
                   MeshCallPeer *peer)
{
  mesh_call_disconnect_peer (self, peer);
  mesh_call_engine_forget_peer (self->engine, self, peer->peer_id);
  g_clear_handle_id (&peer->tick_id, g_source_remove);
  mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_ENDED);
}

void
mesh_call_drop_peer (MeshCall          *self,
                     MeshCallPeer      *peer,
                     MeshCallEndReason  if_last,
                     const char        *error_message)
{
  g_autoptr(MeshCallPeer) keep = g_object_ref (peer);
  guint position;

  if (!call_find_peer_position (self, peer, &position))
    return;
  if (error_message != NULL)
    call_set_error (self, error_message);
  call_release_peer (self, peer);
  g_list_store_remove (self->peers, position);
  peer->call = NULL;

  if (g_list_model_get_n_items (G_LIST_MODEL (self->peers)) == 0 &&
      self->state != MESH_CALL_STATE_ENDED)
    mesh_call_end (self, if_last, NULL);
}

void
mesh_call_remove_peer (MeshCall   *self,
                       const char *peer_id,
                       const char *error_message)
{
  MeshCallPeer *peer = mesh_call_find_peer (self, peer_id);
  MeshCallEndReason if_last;

  if (peer == NULL)
    return;
  switch (self->state) {
  case MESH_CALL_STATE_RINGING:
  case MESH_CALL_STATE_CALLING:
    if_last = error_message ? MESH_CALL_END_FAILED : MESH_CALL_END_MISSED;
    break;
  case MESH_CALL_STATE_ACTIVE:
  case MESH_CALL_STATE_ENDED:
  default:
    if_last = error_message ? MESH_CALL_END_FAILED : MESH_CALL_END_REMOTE_HUNG_UP;
    break;
  }
  mesh_call_drop_peer (self, peer, if_last, error_message);
}

/* --- Wire events ---------------------------------------------------------- */

static void
call_connect_when_possible (MeshCall     *self,
                            MeshCallPeer *peer)
{
  if (!mesh_call_ensure_pipeline (self))
    return;
  mesh_call_connect_peer (self, peer);
}

void
mesh_call_offer_to (MeshCall   *self,
                    const char *peer_id,
                    const char *username)
{
  MeshCallPeer *peer;

  if (self->state == MESH_CALL_STATE_ENDED || mesh_call_find_peer (self, peer_id) != NULL)
    return;
  peer = call_add_peer (self, peer_id, username);
  peer->offerer = TRUE;
  call_connect_when_possible (self, peer);
}

void
mesh_call_handle_offer (MeshCall   *self,
                        const char *from,
                        const char *username,
                        const char *sdp)
{
  MeshCallPeer *peer = mesh_call_find_peer (self, from);
  const char *own = mesh_call_engine_get_own_peer_id (self->engine);

  if (peer == NULL) {
    peer = call_add_peer (self, from, username);
  } else if (self->state == MESH_CALL_STATE_RINGING) {
    g_message ("Call %s: %s offered again while ringing; the newer offer replaces the older",
               self->call_id, from);
    g_ptr_array_set_size (peer->pending_ice, 0);
  } else if (peer->offerer && !peer->answered && peer->reconnect_deadline == 0 &&
             g_strcmp0 (own, from) < 0) {
    /* Both offered: the lower peer id keeps its offer. */
    g_debug ("Call %s: glare with %s, keeping our offer", self->call_id, from);
    return;
  } else {
    g_debug ("Call %s: new offer from %s replaces the connection", self->call_id, from);
    if (peer->state == MESH_CALL_PEER_STATE_CONNECTED)
      mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_RECONNECTING);
    peer->reconnect_deadline = 0;
    mesh_call_disconnect_peer (self, peer);
    g_ptr_array_set_size (peer->pending_ice, 0);
  }
  g_assert (peer != NULL);
  peer->offerer = FALSE;
  g_free (peer->offer_sdp);
  peer->offer_sdp = g_strdup (sdp);

  if (self->state == MESH_CALL_STATE_RINGING) {
    /* Fetched now so that accepting is quick. */
    mesh_call_engine_want_ice_servers (self->engine);
    return;
  }
  if (self->state == MESH_CALL_STATE_CALLING)
    call_set_state (self, MESH_CALL_STATE_ACTIVE);
  call_connect_when_possible (self, peer);
}

void
mesh_call_handle_answer (MeshCall   *self,
                         const char *from,
                         const char *sdp)
{
  MeshCallPeer *peer = mesh_call_find_peer (self, from);
  g_autoptr(GstSDPMessage) answer = NULL;
  g_autoptr(GError) error = NULL;

  if (peer == NULL || !peer->offerer || peer->answered || peer->webrtc == NULL || !peer->sent_any) {
    g_message ("Call %s: ignoring an answer from %s that no offer asked for", self->call_id, from);
    return;
  }
  answer = mesh_call_parse_remote_sdp (sdp, &error);
  if (answer == NULL) {
    mesh_call_peer_fail (peer, "bad answer", error->message);
    return;
  }
  peer->answered = TRUE;
  mesh_call_peer_set_remote (peer, GST_WEBRTC_SDP_TYPE_ANSWER, g_steal_pointer (&answer));
  self->answered_peers++;
  if (self->state == MESH_CALL_STATE_CALLING)
    call_set_state (self, MESH_CALL_STATE_ACTIVE);
}

void
mesh_call_handle_ice (MeshCall   *self,
                      const char *from,
                      JsonObject *candidate)
{
  MeshCallPeer *peer = mesh_call_find_peer (self, from);

  if (peer == NULL) {
    g_debug ("Call %s: ICE candidate from %s, not in the call", self->call_id, from);
    return;
  }
  if (peer->remote_set && peer->webrtc != NULL) {
    mesh_call_peer_apply_candidate (peer, candidate);
  } else if (peer->pending_ice->len < MAX_PENDING_ICE) {
    /* Ringing (or connecting): applied once the offer or answer is set. */
    g_ptr_array_add (peer->pending_ice, json_object_ref (candidate));
  } else {
    g_message ("Call %s: too many early ICE candidates from %s, dropping one", self->call_id, from);
  }
}

void
mesh_call_handle_hangup (MeshCall   *self,
                         const char *from,
                         const char *reason)
{
  MeshCallPeer *peer = mesh_call_find_peer (self, from);
  MeshCallEndReason if_last;
  g_autofree char *shown = mesh_escape_for_display (reason ? reason : "hung-up", -1);

  if (peer == NULL)
    return;
  g_debug ("Call %s: %s hung up (%s)", self->call_id, from, shown);
  switch (self->state) {
  case MESH_CALL_STATE_RINGING:
    if_last = MESH_CALL_END_MISSED;
    break;
  case MESH_CALL_STATE_CALLING:
    if (g_strcmp0 (reason, "declined") == 0 || g_strcmp0 (reason, "busy") == 0)
      peer->declined = TRUE;
    if_last = MESH_CALL_END_MISSED;
    /* Everyone declined: declined; anything else (timeouts): missed. */
    if (peer->declined) {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
      gboolean all = TRUE;

      for (guint i = 0; i < n; i++) {
        g_autoptr(MeshCallPeer) other = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

        all = all && other->declined;
      }
      if (all)
        if_last = MESH_CALL_END_DECLINED;
    }
    break;
  case MESH_CALL_STATE_ACTIVE:
  case MESH_CALL_STATE_ENDED:
  default:
    if_last = g_strcmp0 (reason, "failed") == 0 ? MESH_CALL_END_FAILED
                                                 : MESH_CALL_END_REMOTE_HUNG_UP;
    break;
  }
  /* They hung up: nothing to tell them. */
  peer->sent_any = FALSE;
  g_clear_pointer (&peer->offer_sdp, g_free);
  mesh_call_drop_peer (self, peer, if_last, NULL);
}

void
mesh_call_ice_servers_ready (MeshCall *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  g_autoptr(GPtrArray) waiting = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < n; i++) {
    MeshCallPeer *peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

    if (peer->want_connect)
      g_ptr_array_add (waiting, peer);
    else
      g_object_unref (peer);
  }
  for (guint i = 0; i < waiting->len; i++) {
    MeshCallPeer *peer = waiting->pdata[i];

    if (peer->call == self && self->state != MESH_CALL_STATE_ENDED)
      call_connect_when_possible (self, peer);
  }
}

static gboolean
ring_timeout (gpointer data)
{
  MeshCall *self = data;
  g_autoptr(GPtrArray) unanswered = g_ptr_array_new_with_free_func (g_object_unref);
  guint n;

  self->ring_id = 0;
  if (self->state == MESH_CALL_STATE_RINGING) {
    g_message ("Call %s: not answered in time", self->call_id);
    mesh_call_end (self, MESH_CALL_END_MISSED, NULL);
    return G_SOURCE_REMOVE;
  }
  n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  for (guint i = 0; i < n; i++) {
    MeshCallPeer *peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

    if (peer->offerer && !peer->answered)
      g_ptr_array_add (unanswered, peer);
    else
      g_object_unref (peer);
  }
  for (guint i = 0; i < unanswered->len; i++) {
    MeshCallPeer *peer = unanswered->pdata[i];

    if (peer->call != self)
      continue;
    g_message ("Call %s: %s did not answer", self->call_id, peer->peer_id);
    if (peer->sent_any)
      mesh_call_send_hangup (self, peer, "missed");
    peer->sent_any = FALSE;
    mesh_call_drop_peer (self, peer, MESH_CALL_END_MISSED, NULL);
  }
  return G_SOURCE_REMOVE;
}

/* --- Lifecycle ------------------------------------------------------------ */

void
mesh_call_end (MeshCall          *self,
               MeshCallEndReason  reason,
               const char        *error_message)
{
  g_autoptr(MeshCall) keep = g_object_ref (self);
  guint n;

  if (self->state == MESH_CALL_STATE_ENDED)
    return;
  if (error_message != NULL)
    call_set_error (self, error_message);
  /* Ended first: dropping the peers below must not end it again. */
  self->end_reason = reason;
  self->state = MESH_CALL_STATE_ENDED;
  g_clear_handle_id (&self->ring_id, g_source_remove);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

    if (peer->sent_any || peer->offer_sdp != NULL)
      mesh_call_send_hangup (self, peer, end_reason_wire (reason));
    call_release_peer (self, peer);
    peer->call = NULL;
  }
  g_list_store_remove_all (self->peers);
  mesh_call_destroy_pipeline (self);
  g_clear_pointer (&self->screen, gst_object_unref);

  mesh_call_set_speaking_while_muted (self, FALSE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_END_REASON]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  {
    g_autofree char *shown = mesh_escape_for_display (self->error_message ? self->error_message : "", -1);
    GEnumValue *value = g_enum_get_value (g_type_class_peek (MESH_TYPE_CALL_END_REASON), reason);

    g_message ("Call %s in room %s ended: %s%s%s", self->call_id, self->room_id,
               value ? value->value_nick : "?", self->error_message ? ": " : "", shown);
  }
  g_signal_emit (self, signals[SIGNAL_ENDED], 0, reason);
  mesh_call_engine_call_ended (self->engine, self);
}

GstElement *
mesh_call_get_pipeline (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), NULL);

  return self->pipeline;
}

gboolean
mesh_call_is_room_scope (MeshCall *self)
{
  return self->room_scope;
}

static void
mesh_call_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  MeshCall *self = MESH_CALL (object);

  switch (prop_id) {
  case PROP_ROOM_ID:
    g_value_set_string (value, self->room_id);
    break;
  case PROP_CALL_ID:
    g_value_set_string (value, self->call_id);
    break;
  case PROP_KIND:
    g_value_set_enum (value, self->kind);
    break;
  case PROP_DIRECTION:
    g_value_set_enum (value, self->direction);
    break;
  case PROP_STATE:
    g_value_set_enum (value, self->state);
    break;
  case PROP_END_REASON:
    g_value_set_enum (value, self->end_reason);
    break;
  case PROP_CALLER_NAME:
    g_value_set_string (value, self->caller_name);
    break;
  case PROP_MUTED:
    g_value_set_boolean (value, self->muted);
    break;
  case PROP_CAMERA_ENABLED:
    g_value_set_boolean (value, self->camera_enabled);
    break;
  case PROP_SPEAKING_WHILE_MUTED:
    g_value_set_boolean (value, self->speaking_while_muted);
    break;
  case PROP_STARTED_AT:
    g_value_set_int64 (value, self->started_at);
    break;
  case PROP_ERROR_MESSAGE:
    g_value_set_string (value, self->error_message);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_call_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  MeshCall *self = MESH_CALL (object);

  switch (prop_id) {
  case PROP_MUTED:
    mesh_call_set_muted (self, g_value_get_boolean (value));
    break;
  case PROP_CAMERA_ENABLED:
    mesh_call_set_camera_enabled (self, g_value_get_boolean (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_call_dispose (GObject *object)
{
  MeshCall *self = MESH_CALL (object);

  /* The engine ends every call before letting it go. */
  g_warn_if_fail (self->pipeline == NULL);
  g_clear_handle_id (&self->ring_id, g_source_remove);
  g_clear_object (&self->peers);
  g_clear_pointer (&self->screen, gst_object_unref);
  G_OBJECT_CLASS (mesh_call_parent_class)->dispose (object);
}

static void
mesh_call_finalize (GObject *object)
{
  MeshCall *self = MESH_CALL (object);

  g_free (self->room_id);
  g_free (self->call_id);
  g_free (self->caller_name);
  g_free (self->error_message);
  G_OBJECT_CLASS (mesh_call_parent_class)->finalize (object);
}

static void
mesh_call_class_init (MeshCallClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_call_get_property;
  object_class->set_property = mesh_call_set_property;
  object_class->dispose = mesh_call_dispose;
  object_class->finalize = mesh_call_finalize;

  properties[PROP_ROOM_ID] =
    g_param_spec_string ("room-id", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CALL_ID] =
    g_param_spec_string ("call-id", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_KIND] =
    g_param_spec_enum ("kind", NULL, NULL, MESH_TYPE_MEDIA_KIND, MESH_MEDIA_KIND_CALL,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_DIRECTION] =
    g_param_spec_enum ("direction", NULL, NULL, MESH_TYPE_CALL_DIRECTION,
                       MESH_CALL_DIRECTION_INCOMING, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, MESH_TYPE_CALL_STATE, MESH_CALL_STATE_RINGING,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_END_REASON] =
    g_param_spec_enum ("end-reason", NULL, NULL, MESH_TYPE_CALL_END_REASON, MESH_CALL_END_NONE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CALLER_NAME] =
    g_param_spec_string ("caller-name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_MUTED] =
    g_param_spec_boolean ("muted", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAMERA_ENABLED] =
    g_param_spec_boolean ("camera-enabled", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SPEAKING_WHILE_MUTED] =
    g_param_spec_boolean ("speaking-while-muted", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STARTED_AT] =
    g_param_spec_int64 ("started-at", NULL, NULL, 0, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR_MESSAGE] =
    g_param_spec_string ("error-message", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_ENDED] =
    g_signal_new ("ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MESH_TYPE_CALL_END_REASON);
}

static void
mesh_call_init (MeshCall *self)
{
  self->peers = g_list_store_new (MESH_TYPE_CALL_PEER);
  self->camera_enabled = TRUE;
}

MeshCall *
mesh_call_new (MeshCallEngine    *engine,
               const char        *room_id,
               const char        *call_id,
               MeshMediaKind      kind,
               MeshCallDirection  direction,
               gboolean           room_scope,
               const char        *caller_name)
{
  MeshCall *self = g_object_new (MESH_TYPE_CALL, NULL);
  guint timeout = mesh_call_engine_get_ring_timeout (engine);

  self->engine = engine;
  self->room_id = g_strdup (room_id);
  self->call_id = g_strdup (call_id);
  self->kind = kind;
  self->direction = direction;
  self->room_scope = room_scope;
  self->caller_name = g_strdup (caller_name);
  self->state = direction == MESH_CALL_DIRECTION_INCOMING ? MESH_CALL_STATE_RINGING
                                                          : MESH_CALL_STATE_CALLING;
  /* A share waits for its viewers as long as it runs. */
  if (kind == MESH_MEDIA_KIND_CALL && timeout > 0)
    self->ring_id = g_timeout_add_seconds (timeout, ring_timeout, self);
  mesh_call_engine_want_ice_servers (engine);
  return self;
}

/* --- Public API ----------------------------------------------------------- */

const char *
mesh_call_get_room_id (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), NULL);

  return self->room_id;
}

const char *
mesh_call_get_call_id (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), NULL);

  return self->call_id;
}

MeshMediaKind
mesh_call_get_kind (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), MESH_MEDIA_KIND_CALL);

  return self->kind;
}

MeshCallDirection
mesh_call_get_direction (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), MESH_CALL_DIRECTION_INCOMING);

  return self->direction;
}

MeshCallState
mesh_call_get_state (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), MESH_CALL_STATE_ENDED);

  return self->state;
}

MeshCallEndReason
mesh_call_get_end_reason (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), MESH_CALL_END_NONE);

  return self->end_reason;
}

const char *
mesh_call_get_caller_name (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), NULL);

  return self->caller_name;
}

gint64
mesh_call_get_started_at (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), 0);

  return self->started_at;
}

const char *
mesh_call_get_error_message (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), NULL);

  return self->error_message;
}

GListModel *
mesh_call_get_peers (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), NULL);

  return G_LIST_MODEL (self->peers);
}

void
mesh_call_accept (MeshCall *self)
{
  g_autoptr(GPtrArray) offered = g_ptr_array_new_with_free_func (g_object_unref);
  guint n;

  g_return_if_fail (MESH_IS_CALL (self));

  if (self->state != MESH_CALL_STATE_RINGING)
    return;
  g_clear_handle_id (&self->ring_id, g_source_remove);
  call_set_state (self, MESH_CALL_STATE_ACTIVE);
  if (!mesh_call_ensure_pipeline (self))
    return;

  n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (offered, g_list_model_get_item (G_LIST_MODEL (self->peers), i));
  for (guint i = 0; i < offered->len; i++) {
    MeshCallPeer *peer = offered->pdata[i];

    if (peer->call == self && self->state != MESH_CALL_STATE_ENDED)
      mesh_call_connect_peer (self, peer);
  }

  /* A room call is a full mesh: we call whoever we are not connected to. */
  if (self->room_scope && self->kind == MESH_MEDIA_KIND_CALL && self->state != MESH_CALL_STATE_ENDED) {
    g_autoptr(GPtrArray) others = mesh_call_engine_dup_other_clients (self->engine, self->room_id);

    for (guint i = 0; i < others->len; i++) {
      MeshPeerInfo *info = others->pdata[i];

      if (mesh_call_find_peer (self, info->peer_id) == NULL)
        mesh_call_offer_to (self, info->peer_id, info->username);
    }
  }
}

void
mesh_call_decline (MeshCall *self)
{
  g_return_if_fail (MESH_IS_CALL (self));

  if (self->state != MESH_CALL_STATE_RINGING)
    return;
  mesh_call_engine_remember_declined (self->engine, self);
  mesh_call_end (self, MESH_CALL_END_DECLINED, NULL);
}

void
mesh_call_hang_up (MeshCall *self)
{
  g_return_if_fail (MESH_IS_CALL (self));

  if (self->state == MESH_CALL_STATE_RINGING)
    mesh_call_decline (self);
  else
    mesh_call_end (self, MESH_CALL_END_HUNG_UP, NULL);
}

void
mesh_call_set_muted (MeshCall *self,
                     gboolean  muted)
{
  g_return_if_fail (MESH_IS_CALL (self));

  muted = !!muted;
  if (self->muted == muted)
    return;
  self->muted = muted;
  if (self->volume != NULL)
    g_object_set (self->volume, "mute", muted, NULL);
  if (!muted)
    mesh_call_set_speaking_while_muted (self, FALSE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MUTED]);
}

gboolean
mesh_call_get_muted (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), FALSE);

  return self->muted;
}

void
mesh_call_set_camera_enabled (MeshCall *self,
                              gboolean  enabled)
{
  g_return_if_fail (MESH_IS_CALL (self));

  enabled = !!enabled;
  if (self->camera_enabled == enabled)
    return;
  self->camera_enabled = enabled;
  if (self->valve != NULL && self->camera != NULL)
    g_object_set (self->valve, "drop", !enabled, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_ENABLED]);
}

gboolean
mesh_call_get_camera_enabled (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), FALSE);

  return self->camera_enabled;
}

gboolean
mesh_call_get_speaking_while_muted (MeshCall *self)
{
  g_return_val_if_fail (MESH_IS_CALL (self), FALSE);

  return self->speaking_while_muted;
}
