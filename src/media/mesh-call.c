/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call.h"
#include "mesh-media-private.h"

#include "mesh-escape.h"

#include <string.h>

#include <gst/sdp/sdp.h>
#include <nice/agent.h>

#define CAMERA_BITRATE_START  600000
#define CAMERA_BITRATE_MAX   1500000
#define SCREEN_BITRATE_START 1200000
#define SCREEN_BITRATE_MAX   2500000
#define BITRATE_MIN           100000
/* A disconnected ICE transport gets this long to come back on its own. */
#define RECONNECT_GRACE_US   (4 * G_USEC_PER_SEC)
/* How long the higher peer id waits for the lower one's new offer. */
#define RECONNECT_WAIT_US    (20 * G_USEC_PER_SEC)
#define MAX_RECONNECTS       3
#define MAX_PENDING_ICE      200
#define MAX_CANDIDATE_LEN    1024

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

struct _MeshCall {
  GObject            parent_instance;

  MeshCallEngine    *engine;   /* borrowed: it ends its calls before it goes */
  char              *room_id;
  char              *call_id;
  char              *caller_name;
  char              *error_message;
  MeshMediaKind      kind;
  MeshCallDirection  direction;
  MeshCallState      state;
  MeshCallEndReason  end_reason;
  gboolean           room_scope;
  gint64             started_at;
  GListStore        *peers;
  gboolean           muted;
  gboolean           camera_enabled;
  gboolean           speaking_while_muted;
  gint64             loud_at;
  guint              ring_id;
  guint              answered_peers;

  /* The pipeline: local sources encoded once and tee'd to every peer's bin. */
  GstElement        *pipeline;
  guint              bus_watch;
  GstElement        *camera;      /* borrowed from the engine */
  GstElement        *microphone;  /* borrowed from the engine */
  GstElement        *speaker;     /* the engine's, or our fakesink */
  GstElement        *screen;      /* owned: an outgoing share's source */
  GstElement        *video_tee;   /* raw video, NULL when there is none */
  GstElement        *audio_tee;   /* Opus, NULL when there is no microphone */
  GstElement        *valve;
  GstElement        *volume;
  GstElement        *level;
  GstElement        *mixer;
  GstElement        *self_view;   /* borrowed: the engine's self view's element */
  guint              generation;
};

G_DEFINE_FINAL_TYPE (MeshCall, mesh_call, G_TYPE_OBJECT)

static void call_connect_peer (MeshCall *self, MeshCallPeer *peer);
static void peer_answer_offer (MeshCallPeer *peer);
static void call_drop_peer (MeshCall *self, MeshCallPeer *peer, MeshCallEndReason if_last,
                            const char *error_message);

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

/* --- SDP ---------------------------------------------------------------- */

/* webrtcbin takes almost anything gst_sdp_message_parse_buffer() accepts,
 * and that is almost any text: what we hand it must look like WebRTC. */
static GstSDPMessage *
parse_remote_sdp (const char  *text,
                  GError     **error)
{
  g_autoptr(GstSDPMessage) sdp = NULL;
  gboolean session_ice, session_fp;
  guint n;

  if (text == NULL || !g_str_has_prefix (text, "v=0") || strlen (text) > 60000 ||
      !g_utf8_validate (text, -1, NULL)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an SDP description");
    return NULL;
  }
  if (gst_sdp_message_new (&sdp) != GST_SDP_OK ||
      gst_sdp_message_parse_buffer ((const guint8 *) text, strlen (text), sdp) != GST_SDP_OK) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unparsable SDP");
    return NULL;
  }
  n = gst_sdp_message_medias_len (sdp);
  if (n == 0 || n > 16) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "SDP with %u media sections", n);
    return NULL;
  }
  session_ice = gst_sdp_message_get_attribute_val (sdp, "ice-ufrag") != NULL &&
                gst_sdp_message_get_attribute_val (sdp, "ice-pwd") != NULL;
  session_fp = gst_sdp_message_get_attribute_val (sdp, "fingerprint") != NULL;
  for (guint i = 0; i < n; i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
    const char *kind = gst_sdp_media_get_media (media);
    const char *proto = gst_sdp_media_get_proto (media);

    if (kind == NULL || proto == NULL || strstr (proto, "RTP") == NULL ||
        (!g_str_equal (kind, "audio") && !g_str_equal (kind, "video"))) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "SDP media section %u is not RTP audio or video", i);
      return NULL;
    }
    if (gst_sdp_media_formats_len (media) == 0) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "SDP media section %u has no formats", i);
      return NULL;
    }
    if (!session_ice && (gst_sdp_media_get_attribute_val (media, "ice-ufrag") == NULL ||
                         gst_sdp_media_get_attribute_val (media, "ice-pwd") == NULL)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "SDP media section %u has no ICE credentials", i);
      return NULL;
    }
    if (!session_fp && gst_sdp_media_get_attribute_val (media, "fingerprint") == NULL) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "SDP media section %u has no DTLS fingerprint", i);
      return NULL;
    }
  }
  return g_steal_pointer (&sdp);
}

/* The payload type the remote side gave @codec ("VP8/90000"), 0 if none. */
static guint
sdp_find_pt (const GstSDPMessage *sdp,
             const char          *kind,
             const char          *codec)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);

    if (g_strcmp0 (gst_sdp_media_get_media (media), kind) != 0)
      continue;
    for (guint j = 0; j < gst_sdp_media_attributes_len (media); j++) {
      const GstSDPAttribute *attr = gst_sdp_media_get_attribute (media, j);
      guint64 pt;
      char *end;

      if (g_strcmp0 (attr->key, "rtpmap") != 0 || attr->value == NULL)
        continue;
      pt = g_ascii_strtoull (attr->value, &end, 10);
      if (end == attr->value || *end != ' ' || pt < 96 || pt > 127)
        continue;
      while (*end == ' ')
        end++;
      if (g_ascii_strncasecmp (end, codec, strlen (codec)) == 0)
        return (guint) pt;
    }
  }
  return 0;
}

gboolean
mesh_call_check_sdp (const char  *sdp,
                     GError     **error)
{
  g_autoptr(GstSDPMessage) message = parse_remote_sdp (sdp, error);

  return message != NULL;
}

/* --- Marshalling from webrtcbin's threads ------------------------------- */

typedef struct {
  MeshPeerLink *link;
  GstPromise   *promise;
  GstWebRTCSessionDescription *desc;
  char         *text;
  guint         mline;
  int           number;
  double        loss;
  double        rtt;
} LinkCall;

static void
link_call_free (gpointer data)
{
  LinkCall *lc = data;

  mesh_peer_link_unref (lc->link);
  g_clear_pointer (&lc->promise, gst_promise_unref);
  g_clear_pointer (&lc->desc, gst_webrtc_session_description_free);
  g_free (lc->text);
  g_free (lc);
}

/* The peer of @link if that link is still its connection. */
static MeshCallPeer *
link_get_peer (MeshPeerLink *link)
{
  MeshCallPeer *peer = g_weak_ref_get (&link->peer);

  if (peer != NULL && (peer->link != link || peer->bin == NULL ||
                       peer->call == NULL || peer->call->state == MESH_CALL_STATE_ENDED))
    g_clear_object (&peer);
  return peer;
}

static void
link_closure_notify (gpointer  data,
                     GClosure *closure)
{
  mesh_peer_link_unref (data);
}

static void
link_invoke (MeshPeerLink *link,
             GSourceFunc   func,
             LinkCall     *lc)
{
  lc->link = mesh_peer_link_ref (link);
  g_main_context_invoke_full (link->context, G_PRIORITY_DEFAULT, func, lc, link_call_free);
}

/* --- Signaling out ------------------------------------------------------ */

static void
peer_send_description (MeshCall     *self,
                       MeshCallPeer *peer,
                       const char   *type,
                       const char   *sdp)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "sdp", sdp);
  peer->sent_any = TRUE;
  mesh_call_engine_send_rtc (self->engine, self, type, peer->peer_id, payload);
}

static void
peer_fail (MeshCallPeer *peer,
           const char   *what,
           const char   *detail)
{
  MeshCall *self = peer->call;
  g_autofree char *message = g_strdup_printf ("%s: %s", what, detail ? detail : "unknown error");
  g_autofree char *shown = mesh_escape_for_display (message, -1);

  g_message ("Call %s: peer %s: %s", self->call_id, peer->peer_id, shown);
  /* It hears of it unless it never heard of us. */
  if (peer->sent_any || peer->offer_sdp != NULL) {
    g_autoptr(JsonObject) payload = json_object_new ();

    json_object_set_string_member (payload, "reason", "failed");
    mesh_call_engine_forget_peer (self->engine, self, peer->peer_id);
    mesh_call_engine_send_rtc (self->engine, self, "rtc.hangup", peer->peer_id, payload);
    peer->sent_any = FALSE;
    g_clear_pointer (&peer->offer_sdp, g_free);
  }
  call_drop_peer (self, peer, MESH_CALL_END_FAILED, message);
}

static const char *
promise_error (GstPromise       *promise,
               GstPromiseResult  result)
{
  const GstStructure *reply;
  const GValue *value;

  if (result != GST_PROMISE_RESULT_REPLIED)
    return "webrtcbin gave no answer";
  reply = gst_promise_get_reply (promise);
  if (reply == NULL)
    return NULL;
  value = gst_structure_get_value (reply, "error");
  if (value != NULL && G_VALUE_HOLDS (value, G_TYPE_ERROR) && g_value_get_boxed (value) != NULL)
    return ((GError *) g_value_get_boxed (value))->message;
  return NULL;
}

static gboolean
local_description_ready (gpointer data)
{
  LinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (lc->link);
  g_autofree char *text = NULL;
  MeshCall *self;

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  self = peer->call;
  if (lc->desc == NULL) {
    peer_fail (peer, lc->number ? "cannot create an answer" : "cannot create an offer", lc->text);
    return G_SOURCE_REMOVE;
  }
  g_signal_emit_by_name (peer->webrtc, "set-local-description", lc->desc, NULL);
  text = gst_sdp_message_as_text (lc->desc->sdp);
  g_debug ("local %s for %s:\n%s", lc->number ? "answer" : "offer", peer->peer_id, text);
  g_free (peer->local_sdp);
  peer->local_sdp = g_strdup (text);
  peer_send_description (self, peer, lc->number ? "rtc.answer" : "rtc.offer", text);
  if (lc->number)
    peer->answered = TRUE;
  return G_SOURCE_REMOVE;
}

/* create-offer / create-answer replied (webrtcbin's thread). */
static void
description_created (GstPromise *promise,
                     gpointer    data)
{
  MeshPeerLink *link = data;
  LinkCall *lc = g_new0 (LinkCall, 1);
  GstPromiseResult result = gst_promise_wait (promise);
  const char *error = promise_error (promise, result);

  lc->number = GPOINTER_TO_INT (gst_mini_object_get_qdata (GST_MINI_OBJECT (promise),
                                                           g_quark_from_static_string ("mesh-answer")));
  if (error == NULL) {
    const GstStructure *reply = gst_promise_get_reply (promise);

    gst_structure_get (reply, lc->number ? "answer" : "offer",
                       GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &lc->desc, NULL);
    if (lc->desc == NULL)
      lc->text = g_strdup ("no description in webrtcbin's reply");
  } else {
    lc->text = g_strdup (error);
  }
  link_invoke (link, local_description_ready, lc);
}

static void
peer_create_description (MeshCallPeer *peer,
                         gboolean      answer)
{
  GstPromise *promise = gst_promise_new_with_change_func (description_created,
                                                          mesh_peer_link_ref (peer->link),
                                                          mesh_peer_link_unref);

  gst_mini_object_set_qdata (GST_MINI_OBJECT (promise),
                             g_quark_from_static_string ("mesh-answer"),
                             GINT_TO_POINTER (answer ? 1 : 0), NULL);
  g_signal_emit_by_name (peer->webrtc, answer ? "create-answer" : "create-offer", NULL, promise);
  gst_promise_unref (promise);
}

/* Whether every send branch has negotiated its RTP caps (with the SSRC):
 * a description made earlier has no a=ssrc for it, and the other side
 * then drops that stream of the bundle. */
static gboolean
peer_senders_ready (MeshCallPeer *peer)
{
  g_autoptr(GstIterator) pads = gst_element_iterate_sink_pads (peer->webrtc);
  GValue item = G_VALUE_INIT;
  gboolean ready = TRUE;

  while (ready && gst_iterator_next (pads, &item) == GST_ITERATOR_OK) {
    GstPad *pad = g_value_get_object (&item);
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);

    if (gst_pad_is_linked (pad) &&
        (caps == NULL || !gst_structure_has_field (gst_caps_get_structure (caps, 0), "ssrc")))
      ready = FALSE;
    g_value_reset (&item);
  }
  g_value_unset (&item);
  return ready;
}

typedef struct {
  MeshPeerLink *link;
  gboolean      answer;
  guint         tries;
} DescriptionWait;

static void
description_wait_free (gpointer data)
{
  DescriptionWait *wait = data;

  mesh_peer_link_unref (wait->link);
  g_free (wait);
}

static gboolean
description_wait_tick (gpointer data)
{
  DescriptionWait *wait = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (wait->link);

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  /* Ten seconds at most: a source that never starts sends nothing anyway. */
  if (!peer_senders_ready (peer)) {
    if (++wait->tries < 200)
      return G_SOURCE_CONTINUE;
    g_message ("Call %s: a local source of %s sent nothing in 10 s", peer->call->call_id,
               peer->peer_id);
  }
  g_debug ("senders ready after %u ms", wait->tries * 50);
  if (wait->answer && !peer->remote_set)
    peer_answer_offer (peer);
  else
    peer_create_description (peer, wait->answer);
  return G_SOURCE_REMOVE;
}

static void
peer_create_description_when_ready (MeshCallPeer *peer,
                                    gboolean      answer)
{
  DescriptionWait *wait;

  if (peer_senders_ready (peer)) {
    if (answer && !peer->remote_set)
      peer_answer_offer (peer);
    else
      peer_create_description (peer, answer);
    return;
  }
  wait = g_new0 (DescriptionWait, 1);
  wait->link = mesh_peer_link_ref (peer->link);
  wait->answer = answer;
  g_timeout_add_full (G_PRIORITY_DEFAULT, 50, description_wait_tick, wait, description_wait_free);
}

static gboolean
remote_description_set (gpointer data)
{
  LinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (lc->link);

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  if (lc->text != NULL) {
    peer_fail (peer, "the remote description was refused", lc->text);
    return G_SOURCE_REMOVE;
  }
  if (!peer->offerer)
    peer_create_description_when_ready (peer, TRUE);
  return G_SOURCE_REMOVE;
}

static void
remote_description_done (GstPromise *promise,
                         gpointer    data)
{
  LinkCall *lc = g_new0 (LinkCall, 1);
  const char *error = promise_error (promise, gst_promise_wait (promise));

  lc->text = g_strdup (error);
  link_invoke (data, remote_description_set, lc);
}

/* Candidates are checked here: webrtcbin hands them to libnice as they are. */
static gboolean
candidate_is_sane (const char *candidate)
{
  gsize len;

  if (candidate == NULL)
    return FALSE;
  if (g_str_has_prefix (candidate, "a="))
    candidate += 2;
  len = strlen (candidate);
  if (!g_str_has_prefix (candidate, "candidate:") || len > MAX_CANDIDATE_LEN || len < 20)
    return FALSE;
  for (const char *p = candidate; *p != '\0'; p++) {
    if (!g_ascii_isprint (*p))
      return FALSE;
  }
  /* foundation component transport priority address port "typ" type */
  {
    g_auto(GStrv) fields = g_strsplit (candidate + strlen ("candidate:"), " ", 0);

    if (g_strv_length (fields) < 8 || !g_str_equal (fields[6], "typ"))
      return FALSE;
    for (const char *p = fields[1]; *p != '\0'; p++)
      if (!g_ascii_isdigit (*p))
        return FALSE;
    for (const char *p = fields[5]; *p != '\0'; p++)
      if (!g_ascii_isdigit (*p))
        return FALSE;
  }
  return TRUE;
}

static void
peer_apply_candidate (MeshCallPeer *peer,
                      JsonObject   *candidate)
{
  const char *text = mesh_media_json_string (candidate, "candidate", NULL);
  gint64 mline = -1;
  guint n_media = 0;
  JsonNode *node = json_object_get_member (candidate, "sdpMLineIndex");

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    mline = json_node_get_int (node);
  if (peer->webrtc != NULL) {
    GstWebRTCSessionDescription *remote = NULL;

    g_object_get (peer->webrtc, "remote-description", &remote, NULL);
    if (remote != NULL) {
      n_media = gst_sdp_message_medias_len (remote->sdp);
      gst_webrtc_session_description_free (remote);
    }
  }
  if (text == NULL || text[0] == '\0')
    return;  /* end of candidates: nothing to do for libnice */
  if (!candidate_is_sane (text) || mline < 0 || (n_media > 0 && mline >= n_media)) {
    g_autofree char *shown = mesh_escape_for_display (text, -1);

    g_message ("Call %s: ignoring a malformed ICE candidate from %s (m-line %" G_GINT64_FORMAT
               "): %s", peer->call->call_id, peer->peer_id, mline, shown);
    return;
  }
  if (g_str_has_prefix (text, "a="))
    text += 2;
  g_signal_emit_by_name (peer->webrtc, "add-ice-candidate", (guint) mline, text);
}

static void
peer_flush_candidates (MeshCallPeer *peer)
{
  g_autoptr(GPtrArray) pending = g_steal_pointer (&peer->pending_ice);

  peer->pending_ice = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  for (guint i = 0; i < pending->len; i++)
    peer_apply_candidate (peer, pending->pdata[i]);
}

static void
peer_set_remote (MeshCallPeer          *peer,
                 GstWebRTCSDPType       type,
                 GstSDPMessage         *sdp)
{
  GstWebRTCSessionDescription *desc = gst_webrtc_session_description_new (type, sdp);
  GstPromise *promise = gst_promise_new_with_change_func (remote_description_done,
                                                          mesh_peer_link_ref (peer->link),
                                                          mesh_peer_link_unref);

  g_signal_emit_by_name (peer->webrtc, "set-remote-description", desc, promise);
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (desc);
  /* webrtcbin runs its operations in order: candidates may follow at once. */
  peer->remote_set = TRUE;
  peer_flush_candidates (peer);
}

static void
peer_answer_offer (MeshCallPeer *peer)
{
  g_autoptr(GError) error = NULL;
  GstSDPMessage *offer = parse_remote_sdp (peer->offer_sdp, &error);

  if (offer == NULL) {
    peer_fail (peer, "bad offer", error->message);
    return;
  }
  g_clear_pointer (&peer->offer_sdp, g_free);
  peer_set_remote (peer, GST_WEBRTC_SDP_TYPE_OFFER, offer);
}

static gboolean
negotiation_needed_main (gpointer data)
{
  LinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (lc->link);

  g_debug ("negotiation needed (%s)", peer ? peer->peer_id : "gone");
  if (peer != NULL && peer->offerer && !peer->sent_any)
    peer_create_description_when_ready (peer, FALSE);
  return G_SOURCE_REMOVE;
}

static void
on_negotiation_needed (GstElement *webrtc,
                       gpointer    data)
{
  MeshPeerLink *link = data;

  /* Later ones (a transceiver's direction settling) change nothing we send. */
  if (!g_atomic_int_compare_and_exchange (&link->negotiating, 0, 1))
    return;
  link_invoke (link, negotiation_needed_main, g_new0 (LinkCall, 1));
}

static const char *
local_mid (MeshCallPeer *peer,
           guint         mline)
{
  g_autoptr(GstSDPMessage) sdp = NULL;
  static char mid[64];

  if (peer->local_sdp == NULL || gst_sdp_message_new_from_text (peer->local_sdp, &sdp) != GST_SDP_OK)
    return NULL;
  if (mline >= gst_sdp_message_medias_len (sdp))
    return NULL;
  g_strlcpy (mid, gst_sdp_media_get_attribute_val (gst_sdp_message_get_media (sdp, mline), "mid") ?: "",
             sizeof mid);
  return mid[0] ? mid : NULL;
}

static gboolean
ice_candidate_main (gpointer data)
{
  LinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (lc->link);
  g_autoptr(JsonObject) payload = NULL;
  JsonObject *candidate;
  const char *mid;

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  payload = json_object_new ();
  candidate = json_object_new ();
  json_object_set_string_member (candidate, "candidate", lc->text);
  json_object_set_int_member (candidate, "sdpMLineIndex", lc->mline);
  mid = local_mid (peer, lc->mline);
  if (mid != NULL)
    json_object_set_string_member (candidate, "sdpMid", mid);
  else
    json_object_set_null_member (candidate, "sdpMid");
  json_object_set_object_member (payload, "candidate", candidate);
  mesh_call_engine_send_rtc (peer->call->engine, peer->call, "rtc.ice", peer->peer_id, payload);
  return G_SOURCE_REMOVE;
}

static void
on_ice_candidate (GstElement *webrtc,
                  guint       mline,
                  const char *candidate,
                  gpointer    data)
{
  LinkCall *lc = g_new0 (LinkCall, 1);

  lc->mline = mline;
  lc->text = g_strdup (candidate);
  link_invoke (data, ice_candidate_main, lc);
}

static void
peer_recreate (MeshCallPeer *peer)
{
  MeshCall *self = peer->call;
  const char *own = mesh_call_engine_get_own_peer_id (self->engine);

  if (++peer->reconnects > MAX_RECONNECTS) {
    peer_fail (peer, "connection lost", "ICE failed again after reconnecting");
    return;
  }
  mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_RECONNECTING);
  peer->trouble_since = 0;
  /* webrtcbin 1.22 cannot restart ICE: a new connection, offered by the
   * lower peer id so that both ends do not offer at once. */
  if (g_strcmp0 (own, peer->peer_id) < 0) {
    g_message ("Call %s: reconnecting to %s", self->call_id, peer->peer_id);
    peer->offerer = TRUE;
    g_clear_pointer (&peer->offer_sdp, g_free);
    call_connect_peer (self, peer);
  } else {
    g_message ("Call %s: waiting for %s to reconnect", self->call_id, peer->peer_id);
    peer->reconnect_deadline = g_get_monotonic_time () + RECONNECT_WAIT_US;
  }
}

void
mesh_call_peer_simulate_ice_failure (MeshCallPeer *peer)
{
  g_return_if_fail (MESH_IS_CALL_PEER (peer) && peer->call != NULL);

  peer_recreate (peer);
}

static gboolean
ice_state_main (gpointer data)
{
  LinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (lc->link);
  GstWebRTCICEConnectionState state;

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  g_object_get (peer->webrtc, "ice-connection-state", &state, NULL);
  g_debug ("Call %s: ICE to %s: %d", peer->call->call_id, peer->peer_id, state);
  switch (state) {
  case GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED:
  case GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED:
    peer->trouble_since = 0;
    peer->reconnects = 0;
    peer->reconnect_deadline = 0;
    peer->last_frame_at = g_get_monotonic_time ();
    mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_CONNECTED);
    break;
  case GST_WEBRTC_ICE_CONNECTION_STATE_DISCONNECTED:
    if (peer->trouble_since == 0)
      peer->trouble_since = g_get_monotonic_time ();
    if (peer->state == MESH_CALL_PEER_STATE_CONNECTED)
      mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_RECONNECTING);
    break;
  case GST_WEBRTC_ICE_CONNECTION_STATE_FAILED:
    g_message ("Call %s: ICE to %s failed", peer->call->call_id, peer->peer_id);
    peer_recreate (peer);
    break;
  case GST_WEBRTC_ICE_CONNECTION_STATE_NEW:
  case GST_WEBRTC_ICE_CONNECTION_STATE_CHECKING:
  case GST_WEBRTC_ICE_CONNECTION_STATE_CLOSED:
  default:
    break;
  }
  return G_SOURCE_REMOVE;
}

static void
on_ice_state (GObject    *webrtc,
              GParamSpec *pspec,
              gpointer    data)
{
  link_invoke (data, ice_state_main, g_new0 (LinkCall, 1));
}

/* --- Receiving (webrtcbin's streaming threads) -------------------------- */

static GstPadProbeReturn
count_audio (GstPad          *pad,
             GstPadProbeInfo *info,
             gpointer         data)
{
  MeshPeerLink *link = data;

  g_atomic_int_inc (link->audio_buffers);
  return GST_PAD_PROBE_OK;
}

static GstElement *
make (const char *factory)
{
  GstElement *element = gst_element_factory_make (factory, NULL);

  if (element == NULL)
    g_message ("GStreamer element '%s' is missing (install the GStreamer plugins)", factory);
  return element;
}

static gboolean
add_chain (GstBin      *bin,
           GstElement **elements,
           guint        n)
{
  for (guint i = 0; i < n; i++) {
    if (elements[i] == NULL) {
      for (guint j = 0; j < n; j++)
        if (elements[j] != NULL)
          gst_object_unref (gst_object_ref_sink (elements[j]));
      return FALSE;
    }
  }
  for (guint i = 0; i < n; i++)
    gst_bin_add (bin, elements[i]);
  for (guint i = 0; i + 1 < n; i++) {
    if (!gst_element_link (elements[i], elements[i + 1]))
      return FALSE;
  }
  return TRUE;
}

static void
on_pad_added (GstElement *webrtc,
              GstPad     *pad,
              gpointer    data)
{
  MeshPeerLink *link = data;
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstElement) parent = NULL;
  GstBin *bin;
  const GstStructure *s;
  const char *encoding;
  GstElement *first = NULL;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  parent = GST_ELEMENT (gst_element_get_parent (webrtc));
  if (parent == NULL)
    return;
  bin = GST_BIN (parent);
  caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  s = gst_caps_get_structure (caps, 0);
  encoding = gst_structure_get_string (s, "encoding-name");
  g_debug ("webrtcbin %s: new %s stream", GST_OBJECT_NAME (parent), encoding ? encoding : "?");

  g_mutex_lock (&link->lock);
  if (g_strcmp0 (encoding, "VP8") == 0 &&
      GST_OBJECT_PARENT (mesh_video_output_get_element (link->video)) == NULL) {
    GstElement *chain[] = { make ("queue"), make ("rtpvp8depay"), make ("vp8dec"),
                            gst_object_ref (mesh_video_output_get_element (link->video)) };

    if (add_chain (bin, chain, G_N_ELEMENTS (chain))) {
      gst_object_unref (chain[3]);
      first = chain[0];
      for (guint i = G_N_ELEMENTS (chain); i > 0; i--)
        gst_element_sync_state_with_parent (chain[i - 1]);
    }
  } else if (g_strcmp0 (encoding, "OPUS") == 0 && link->mixer != NULL && link->mixer_pad == NULL) {
    GstElement *chain[] = { make ("queue"), make ("rtpopusdepay"), make ("opusdec"),
                            make ("audioconvert"), make ("audioresample"), make ("queue") };

    if (add_chain (bin, chain, G_N_ELEMENTS (chain))) {
      g_autoptr(GstPad) out = gst_element_get_static_pad (chain[5], "src");
      g_autoptr(GstPad) counted = gst_element_get_static_pad (chain[2], "src");
      GstPad *ghost = gst_ghost_pad_new ("audio_src", out);

      gst_pad_add_probe (counted, GST_PAD_PROBE_TYPE_BUFFER, count_audio,
                         mesh_peer_link_ref (link), mesh_peer_link_unref);
      gst_pad_set_active (ghost, TRUE);
      gst_element_add_pad (GST_ELEMENT (bin), ghost);
      link->mixer_pad = gst_element_request_pad_simple (link->mixer, "sink_%u");
      if (link->mixer_pad == NULL || gst_pad_link (ghost, link->mixer_pad) != GST_PAD_LINK_OK)
        g_message ("Cannot link a peer's audio to the mixer");
      first = chain[0];
      for (guint i = G_N_ELEMENTS (chain); i > 0; i--)
        gst_element_sync_state_with_parent (chain[i - 1]);
    }
  } else if (g_strcmp0 (encoding, "OPUS") == 0 && link->mixer == NULL) {
    /* A share viewer plays no sound but still counts it. */
    GstElement *chain[] = { make ("queue"), make ("rtpopusdepay"), make ("opusdec"), make ("fakesink") };

    if (add_chain (bin, chain, G_N_ELEMENTS (chain))) {
      g_autoptr(GstPad) counted = gst_element_get_static_pad (chain[2], "src");

      g_object_set (chain[3], "async", FALSE, "sync", FALSE, NULL);
      gst_pad_add_probe (counted, GST_PAD_PROBE_TYPE_BUFFER, count_audio,
                         mesh_peer_link_ref (link), mesh_peer_link_unref);
      first = chain[0];
      for (guint i = G_N_ELEMENTS (chain); i > 0; i--)
        gst_element_sync_state_with_parent (chain[i - 1]);
    }
  }
  g_mutex_unlock (&link->lock);

  if (first == NULL) {
    /* Anything else is swallowed, so webrtcbin never sees not-linked. */
    GstElement *sink = make ("fakesink");

    g_message ("Ignoring a %s stream from a peer", encoding ? encoding : "unknown");
    if (sink == NULL)
      return;
    g_object_set (sink, "async", FALSE, "sync", FALSE, NULL);
    gst_bin_add (bin, sink);
    gst_element_sync_state_with_parent (sink);
    first = sink;
  }
  {
    g_autoptr(GstPad) sinkpad = gst_element_get_static_pad (first, "sink");

    if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
      g_message ("Cannot link a peer's %s stream", encoding ? encoding : "unknown");
  }
}

/* --- Stats, bitrate, camera-off ----------------------------------------- */

guint
mesh_call_next_bitrate (guint  bitrate,
                        double loss,
                        double rtt,
                        guint  max)
{
  if (loss > 0.10)
    bitrate = bitrate * 7 / 10;
  else if (loss > 0.02 || rtt > 0.4)
    bitrate = bitrate * 9 / 10;
  else
    bitrate = bitrate + bitrate / 12;
  return CLAMP (bitrate, BITRATE_MIN, max);
}

static gboolean
stats_main (gpointer data)
{
  LinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = link_get_peer (lc->link);
  guint bitrate, max;

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  g_debug ("Call %s: %s: loss %.3f, round trip %.3f s (%s)", peer->call->call_id, peer->peer_id,
           lc->loss, lc->rtt, lc->number ? "measured" : "no remote report yet");
  if (lc->number == 0)
    return G_SOURCE_REMOVE;
  mesh_call_peer_set_poor_connection (peer, lc->loss > 0.05 || lc->rtt > 0.4);
  if (peer->vp8enc == NULL)
    return G_SOURCE_REMOVE;

  max = peer->call->kind == MESH_MEDIA_KIND_SCREENSHARE ? SCREEN_BITRATE_MAX : CAMERA_BITRATE_MAX;
  bitrate = mesh_call_next_bitrate (peer->bitrate, lc->loss, lc->rtt, max);
  if (bitrate != peer->bitrate) {
    g_object_set (peer->vp8enc, "target-bitrate", (int) bitrate, NULL);
    mesh_call_peer_set_bitrate (peer, bitrate);
  }
  return G_SOURCE_REMOVE;
}

static gboolean
stats_field (GQuark        field,
             const GValue *value,
             gpointer      data)
{
  LinkCall *lc = data;
  const GstStructure *s;
  GstWebRTCStatsType type;
  double loss = 0, rtt = 0;

  if (!GST_VALUE_HOLDS_STRUCTURE (value))
    return TRUE;
  s = gst_value_get_structure (value);
  if (!gst_structure_get (s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, NULL) ||
      type != GST_WEBRTC_STATS_REMOTE_INBOUND_RTP)
    return TRUE;
  /* With BUNDLE, 1.22 mislabels kinds: the worst stream counts. */
  if (gst_structure_get_double (s, "fraction-lost", &loss))
    lc->loss = MAX (lc->loss, loss);
  if (gst_structure_get_double (s, "round-trip-time", &rtt))
    lc->rtt = MAX (lc->rtt, rtt);
  lc->number = 1;
  return TRUE;
}

static void
stats_done (GstPromise *promise,
            gpointer    data)
{
  LinkCall *lc = g_new0 (LinkCall, 1);

  if (gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED &&
      gst_promise_get_reply (promise) != NULL)
    gst_structure_foreach (gst_promise_get_reply (promise), stats_field, lc);
  link_invoke (data, stats_main, lc);
}

static gboolean
peer_tick (gpointer data)
{
  MeshCallPeer *peer = data;
  MeshCall *self = peer->call;
  gint64 now = g_get_monotonic_time ();

  peer->ticks++;
  if (peer->bin != NULL && peer->state == MESH_CALL_PEER_STATE_CONNECTED) {
    guint64 frames = mesh_video_output_get_frames (peer->video);

    if (frames != peer->last_frames || peer->last_frame_at == 0) {
      peer->last_frames = frames;
      peer->last_frame_at = now;
      mesh_call_peer_set_camera_off (peer, FALSE);
    } else if (now - peer->last_frame_at > 2 * G_USEC_PER_SEC) {
      mesh_call_peer_set_camera_off (peer, TRUE);
    }
    if (peer->ticks % 2 == 0) {
      GstPromise *promise = gst_promise_new_with_change_func (stats_done,
                                                              mesh_peer_link_ref (peer->link),
                                                              mesh_peer_link_unref);

      g_signal_emit_by_name (peer->webrtc, "get-stats", NULL, promise);
      gst_promise_unref (promise);
    }
  }
  if (peer->trouble_since != 0 && now - peer->trouble_since > RECONNECT_GRACE_US) {
    g_message ("Call %s: ICE to %s stayed disconnected", self->call_id, peer->peer_id);
    peer_recreate (peer);
    return G_SOURCE_CONTINUE;
  }
  if (peer->reconnect_deadline != 0 && now > peer->reconnect_deadline) {
    peer->reconnect_deadline = 0;
    peer_fail (peer, "connection lost", "the peer did not reconnect");
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

/* --- Building and tearing down a peer's connection ---------------------- */

static void
peer_disconnect (MeshCall     *self,
                 MeshCallPeer *peer)
{
  GstPad *tee_pads[] = { peer->tee_video_pad, peer->tee_audio_pad };
  GstElement *tees[] = { self->video_tee, self->audio_tee };
  GstElement *video_element;
  MeshPeerLink *link = peer->link;

  if (peer->bin == NULL)
    return;

  g_signal_handlers_disconnect_matched (peer->webrtc, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, link);
  for (guint i = 0; i < G_N_ELEMENTS (tee_pads); i++) {
    g_autoptr(GstPad) peer_pad = NULL;

    if (tee_pads[i] == NULL)
      continue;
    peer_pad = gst_pad_get_peer (tee_pads[i]);
    if (peer_pad != NULL)
      gst_pad_unlink (tee_pads[i], peer_pad);
    gst_element_release_request_pad (tees[i], tee_pads[i]);
    gst_object_unref (tee_pads[i]);
  }
  peer->tee_video_pad = NULL;
  peer->tee_audio_pad = NULL;

  gst_element_set_state (peer->bin, GST_STATE_NULL);

  g_mutex_lock (&link->lock);
  if (link->mixer_pad != NULL) {
    g_autoptr(GstPad) ghost = gst_pad_get_peer (link->mixer_pad);

    if (ghost != NULL)
      gst_pad_unlink (ghost, link->mixer_pad);
    gst_element_release_request_pad (link->mixer, link->mixer_pad);
    gst_clear_object (&link->mixer_pad);
  }
  video_element = mesh_video_output_get_element (peer->video);
  if (GST_OBJECT_PARENT (video_element) == GST_OBJECT (peer->bin))
    gst_bin_remove (GST_BIN (peer->bin), video_element);
  g_mutex_unlock (&link->lock);

  gst_bin_remove (GST_BIN (self->pipeline), peer->bin);
  peer->bin = NULL;
  peer->webrtc = NULL;
  peer->vp8enc = NULL;
  g_clear_pointer (&peer->link, mesh_peer_link_unref);
  g_clear_pointer (&peer->local_sdp, g_free);
  peer->remote_set = FALSE;
  peer->answered = FALSE;
  peer->sent_any = FALSE;
}

static void
set_ice_servers (MeshCall   *self,
                 GstElement *webrtc)
{
  const MeshIceServers *ice = mesh_call_engine_get_ice_servers (self->engine);
  gboolean have_stun = FALSE;

  for (guint i = 0; ice != NULL && ice->uris != NULL && ice->uris[i] != NULL; i++) {
    const char *uri = ice->uris[i];

    if (g_str_has_prefix (uri, "stun:") && !have_stun) {
      g_autofree char *url = g_strconcat ("stun://", uri + 5, NULL);

      g_object_set (webrtc, "stun-server", url, NULL);
      have_stun = TRUE;
    } else if ((g_str_has_prefix (uri, "turn:") || g_str_has_prefix (uri, "turns:")) &&
               ice->username != NULL && ice->password != NULL) {
      /* turn(s)://user:pass@host:port with the REST API user name
       * ("expiry:name") and password escaped, as webrtcbin asks. */
      gboolean tls = g_str_has_prefix (uri, "turns:");
      g_autofree char *user = g_uri_escape_string (ice->username, NULL, FALSE);
      g_autofree char *pass = g_uri_escape_string (ice->password, NULL, FALSE);
      g_autofree char *url = g_strdup_printf ("%s://%s:%s@%s", tls ? "turns" : "turn", user, pass,
                                              uri + (tls ? 6 : 5));
      gboolean ok = FALSE;

      g_signal_emit_by_name (webrtc, "add-turn-server", url, &ok);
      if (!ok)
        g_message ("webrtcbin refused the TURN server %s", uri);
    }
  }
}

/* libnice's agent: no UPnP (browsers do without; gupnp's probing only slows
 * gathering and warns on some hosts) and, when asked, one local address. */
static void
configure_agent (MeshCall   *self,
                 GstElement *webrtc)
{
  const char *address = mesh_call_engine_get_local_address (self->engine);
  g_autoptr(GObject) ice = NULL;
  g_autoptr(GObject) agent = NULL;
  NiceAddress nice_address;

  g_object_get (webrtc, "ice-agent", &ice, NULL);
  if (ice == NULL || g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent") == NULL) {
    g_message ("webrtcbin has no libnice agent: ICE runs with its defaults");
    return;
  }
  g_object_get (ice, "agent", &agent, NULL);
  if (agent == NULL)
    return;
  g_object_set (agent, "upnp", FALSE, NULL);
  if (address == NULL)
    return;
  nice_address_init (&nice_address);
  if (!nice_address_set_from_string (&nice_address, address) ||
      !nice_agent_add_local_address (NICE_AGENT (agent), &nice_address))
    g_message ("Cannot restrict ICE to %s", address);
}

static GstCaps *
rtp_caps (const char *media,
          const char *encoding,
          guint       pt,
          int         clock_rate)
{
  return gst_caps_new_simple ("application/x-rtp",
                              "media", G_TYPE_STRING, media,
                              "encoding-name", G_TYPE_STRING, encoding,
                              "payload", G_TYPE_INT, (int) pt,
                              "clock-rate", G_TYPE_INT, clock_rate,
                              NULL);
}

static GstPad *
add_send_branch (MeshCall     *self,
                 MeshCallPeer *peer,
                 gboolean      video,
                 guint         pt)
{
  GstBin *bin = GST_BIN (peer->bin);
  g_autoptr(GstCaps) caps = video ? rtp_caps ("video", "VP8", pt, 90000)
                                  : rtp_caps ("audio", "OPUS", pt, 48000);
  GstElement *queue = make ("queue");
  GstElement *enc = video ? make ("vp8enc") : NULL;
  GstElement *pay = make (video ? "rtpvp8pay" : "rtpopuspay");
  GstElement *filter = make ("capsfilter");
  g_autoptr(GstPad) sink = NULL;
  g_autoptr(GstPad) webrtc_sink = NULL;
  g_autoptr(GstPad) filter_src = NULL;
  GstPad *ghost;

  if (queue == NULL || pay == NULL || filter == NULL || (video && enc == NULL)) {
    g_clear_pointer (&queue, gst_object_unref);
    g_clear_pointer (&enc, gst_object_unref);
    g_clear_pointer (&pay, gst_object_unref);
    g_clear_pointer (&filter, gst_object_unref);
    return NULL;
  }
  /* A slow encoder drops frames rather than delaying everything. */
  g_object_set (queue, "leaky", 2, "max-size-buffers", 3, "max-size-time", (guint64) 0,
                "max-size-bytes", 0, NULL);
  g_object_set (filter, "caps", caps, NULL);
  gst_bin_add_many (bin, queue, pay, filter, NULL);
  if (video) {
    guint bitrate = self->kind == MESH_MEDIA_KIND_SCREENSHARE ? SCREEN_BITRATE_START
                                                              : CAMERA_BITRATE_START;

    g_object_set (enc, "deadline", (gint64) 1, "cpu-used", 8, "threads", 2,
                  "target-bitrate", (int) bitrate, "keyframe-max-dist", 300,
                  "error-resilient", 1, "lag-in-frames", 0, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "end-usage", "cbr");
    g_object_set (pay, "picture-id-mode", 2, "mtu", 1200, NULL);
    gst_bin_add (bin, enc);
    gst_element_link_many (queue, enc, pay, filter, NULL);
    peer->vp8enc = enc;
    mesh_call_peer_set_bitrate (peer, bitrate);
  } else {
    g_object_set (pay, "mtu", 1200, NULL);
    gst_element_link_many (queue, pay, filter, NULL);
  }
  filter_src = gst_element_get_static_pad (filter, "src");
  webrtc_sink = gst_element_request_pad_simple (peer->webrtc, "sink_%u");
  if (webrtc_sink == NULL || gst_pad_link (filter_src, webrtc_sink) != GST_PAD_LINK_OK) {
    g_message ("Cannot link a send branch to webrtcbin");
    return NULL;
  }
  {
    g_autoptr(GstWebRTCRTPTransceiver) transceiver = NULL;

    /* Known before any caps flow, so that an offer's m-line finds it. */
    g_object_get (webrtc_sink, "transceiver", &transceiver, NULL);
    if (transceiver != NULL)
      g_object_set (transceiver, "codec-preferences", caps, NULL);
    if (transceiver != NULL && self->kind == MESH_MEDIA_KIND_SCREENSHARE)
      g_object_set (transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, NULL);
  }
  sink = gst_element_get_static_pad (queue, "sink");
  ghost = gst_ghost_pad_new (video ? "video_sink" : "audio_sink", sink);
  gst_element_add_pad (peer->bin, ghost);
  return ghost;
}

static void
add_receive_transceiver (MeshCallPeer *peer,
                         gboolean      video,
                         guint         pt)
{
  g_autoptr(GstCaps) caps = video ? rtp_caps ("video", "VP8", pt, 90000)
                                  : rtp_caps ("audio", "OPUS", pt, 48000);
  GstWebRTCRTPTransceiver *transceiver = NULL;

  g_signal_emit_by_name (peer->webrtc, "add-transceiver",
                         GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
  g_clear_object (&transceiver);
}

static gboolean
link_tee (GstElement  *tee,
          GstPad      *bin_pad,
          GstPad     **tee_pad)
{
  *tee_pad = gst_element_request_pad_simple (tee, "src_%u");
  if (*tee_pad == NULL || gst_pad_link (*tee_pad, bin_pad) != GST_PAD_LINK_OK) {
    g_message ("Cannot link a local source to a peer");
    return FALSE;
  }
  return TRUE;
}

/* Builds the peer's webrtcbin (and, as the answerer, answers its offer). */
static void
call_connect_peer (MeshCall     *self,
                   MeshCallPeer *peer)
{
  g_autoptr(GstSDPMessage) offer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  guint video_pt, audio_pt;
  GstPad *video_pad = NULL, *audio_pad = NULL;
  MeshPeerLink *link;

  peer_disconnect (self, peer);
  if (self->pipeline == NULL || self->state == MESH_CALL_STATE_ENDED)
    return;
  if (mesh_call_engine_get_ice_servers (self->engine) == NULL) {
    peer->want_connect = TRUE;
    mesh_call_engine_want_ice_servers (self->engine);
    return;
  }
  peer->want_connect = FALSE;
  mesh_call_engine_get_offer_payload_types (self->engine, &video_pt, &audio_pt);

  if (!peer->offerer) {
    offer = parse_remote_sdp (peer->offer_sdp, &error);
    if (offer == NULL) {
      peer_fail (peer, "bad offer", error->message);
      return;
    }
    video_pt = sdp_find_pt (offer, "video", "VP8/90000");
    audio_pt = sdp_find_pt (offer, "audio", "opus/48000");
  }

  link = g_new0 (MeshPeerLink, 1);
  g_atomic_ref_count_init (&link->ref);
  g_weak_ref_init (&link->peer, peer);
  link->context = g_main_context_ref_thread_default ();
  link->video = g_object_ref (peer->video);
  link->mixer = self->mixer ? gst_object_ref (self->mixer) : NULL;
  link->audio_buffers = g_atomic_rc_box_acquire (peer->audio_buffers);
  g_mutex_init (&link->lock);
  peer->link = link;

  name = g_strdup_printf ("peer-%s-%u", peer->peer_id, ++self->generation);
  peer->bin = gst_bin_new (name);
  /* Its sinks' asynchronous state changes stay inside: the pipeline never
   * loses its PLAYING state (and its base time) when a peer comes. */
  g_object_set (peer->bin, "async-handling", TRUE, NULL);
  peer->webrtc = make ("webrtcbin");
  if (peer->webrtc == NULL) {
    gst_object_unref (gst_object_ref_sink (peer->bin));
    peer->bin = NULL;
    peer_fail (peer, "cannot call", "webrtcbin is missing");
    return;
  }
  gst_util_set_object_arg (G_OBJECT (peer->webrtc), "bundle-policy", "max-bundle");
  g_object_set (peer->webrtc, "latency", 100,
                "ice-transport-policy", mesh_call_engine_get_ice_transport_policy (self->engine),
                NULL);
  set_ice_servers (self, peer->webrtc);
  configure_agent (self, peer->webrtc);
  gst_bin_add (GST_BIN (peer->bin), peer->webrtc);
  /* Connected before any pad is requested: webrtcbin's thread may say so
   * at once. */
  if (peer->offerer)
    g_signal_connect_data (peer->webrtc, "on-negotiation-needed", G_CALLBACK (on_negotiation_needed),
                           mesh_peer_link_ref (link), link_closure_notify, 0);

  if (self->video_tee != NULL && video_pt != 0)
    video_pad = add_send_branch (self, peer, TRUE, video_pt);
  else if (peer->offerer && self->kind == MESH_MEDIA_KIND_CALL)
    add_receive_transceiver (peer, TRUE, video_pt);
  if (self->audio_tee != NULL && audio_pt != 0)
    audio_pad = add_send_branch (self, peer, FALSE, audio_pt);
  else if (peer->offerer && self->kind == MESH_MEDIA_KIND_CALL)
    add_receive_transceiver (peer, FALSE, audio_pt);

  g_signal_connect_data (peer->webrtc, "on-ice-candidate", G_CALLBACK (on_ice_candidate),
                         mesh_peer_link_ref (link), link_closure_notify, 0);
  g_signal_connect_data (peer->webrtc, "pad-added", G_CALLBACK (on_pad_added),
                         mesh_peer_link_ref (link), link_closure_notify, 0);
  g_signal_connect_data (peer->webrtc, "notify::ice-connection-state", G_CALLBACK (on_ice_state),
                         mesh_peer_link_ref (link), link_closure_notify, 0);

  gst_bin_add (GST_BIN (self->pipeline), peer->bin);
  if (gst_element_sync_state_with_parent (peer->bin) == FALSE ||
      gst_element_get_state (peer->bin, NULL, NULL, 0) == GST_STATE_CHANGE_FAILURE) {
    peer_fail (peer, "cannot call", "webrtcbin did not start");
    return;
  }
  /* Linked once running: a tee pushing into a pad still flushing gets
   * FLUSHING back, and a live source stops for good on it. */
  if ((video_pad != NULL && !link_tee (self->video_tee, video_pad, &peer->tee_video_pad)) ||
      (audio_pad != NULL && !link_tee (self->audio_tee, audio_pad, &peer->tee_audio_pad))) {
    peer_fail (peer, "cannot call", "cannot link the local media");
    return;
  }
  if (peer->tick_id == 0)
    peer->tick_id = g_timeout_add_seconds (1, peer_tick, peer);

  if (!peer->offerer) {
    /* The offer is applied once our senders have their caps: webrtcbin
     * then pairs our transceivers with its m-lines, and the answer names
     * our SSRCs. */
    peer_create_description_when_ready (peer, TRUE);
  } else {
    /* Whether or not webrtcbin said negotiation is needed (it may have
     * before we listened), one offer goes out. */
    on_negotiation_needed (peer->webrtc, link);
  }
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

static void
call_drop_peer (MeshCall          *self,
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
  peer_disconnect (self, peer);
  mesh_call_engine_forget_peer (self->engine, self, peer->peer_id);
  g_clear_handle_id (&peer->tick_id, g_source_remove);
  mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_ENDED);
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
  call_drop_peer (self, peer, if_last, error_message);
}

/* --- Pipeline ------------------------------------------------------------ */

static void
call_handle_level (MeshCall           *self,
                   const GstStructure *s)
{
  const GValue *rms = gst_structure_get_value (s, "rms");
  double loudest = -200;
  gboolean speaking;
  gint64 now = g_get_monotonic_time ();

  if (rms == NULL)
    return;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  if (G_VALUE_HOLDS (rms, g_value_array_get_type ())) {
    GValueArray *array = g_value_get_boxed (rms);

    for (guint i = 0; array != NULL && i < array->n_values; i++)
      loudest = MAX (loudest, g_value_get_double (g_value_array_get_nth (array, i)));
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
  if (loudest > -35)
    self->loud_at = now;
  speaking = self->muted && self->loud_at != 0 && now - self->loud_at < G_USEC_PER_SEC;
  if (speaking != self->speaking_while_muted) {
    self->speaking_while_muted = speaking;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPEAKING_WHILE_MUTED]);
  }
}

static MeshCallPeer *
call_peer_of_object (MeshCall  *self,
                     GstObject *object)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));

  for (GstObject *o = object; o != NULL; o = GST_OBJECT_PARENT (o)) {
    for (guint i = 0; i < n; i++) {
      g_autoptr(MeshCallPeer) peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);

      if (peer->bin != NULL && GST_OBJECT (peer->bin) == o)
        return peer;
    }
  }
  return NULL;
}

static gboolean
call_bus_message (GstBus     *bus,
                  GstMessage *message,
                  gpointer    data)
{
  MeshCall *self = data;

  switch (GST_MESSAGE_TYPE (message)) {
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) error = NULL;
    g_autofree char *debug = NULL;
    MeshCallPeer *peer;

    gst_message_parse_error (message, &error, &debug);
    g_message ("Call %s: %s: %s (%s)", self->call_id, GST_OBJECT_NAME (message->src),
               error->message, debug ? debug : "");
    peer = call_peer_of_object (self, message->src);
    if (peer != NULL)
      call_drop_peer (self, peer, MESH_CALL_END_FAILED, error->message);
    else
      mesh_call_end (self, MESH_CALL_END_FAILED, error->message);
    break;
  }
  case GST_MESSAGE_WARNING: {
    g_autoptr(GError) error = NULL;

    gst_message_parse_warning (message, &error, NULL);
    g_debug ("Call %s: %s: %s", self->call_id, GST_OBJECT_NAME (message->src), error->message);
    break;
  }
  case GST_MESSAGE_LATENCY:
    if (self->pipeline != NULL)
      gst_bin_recalculate_latency (GST_BIN (self->pipeline));
    break;
  case GST_MESSAGE_ELEMENT:
    if (self->level != NULL && message->src == GST_OBJECT (self->level) &&
        gst_message_has_name (message, "level"))
      call_handle_level (self, gst_message_get_structure (message));
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
pipeline_add_chain (GstElement  *pipeline,
                    GstElement **chain,
                    guint        n)
{
  if (!add_chain (GST_BIN (pipeline), chain, n)) {
    g_message ("Cannot build a local media chain");
    return FALSE;
  }
  return TRUE;
}

/* Sound from the peers: mixed (a silent source keeps the mixer running when
 * nobody talks) and, when echo cancellation is on, seen by the echo probe. */
static gboolean
call_build_playback (MeshCall   *self,
                     const char *probe_name)
{
  GstElement *silence = make ("audiotestsrc");
  GstElement *mixer = make ("audiomixer");
  GstElement *filter = make ("capsfilter");
  GstElement *probe = probe_name ? make ("webrtcechoprobe") : NULL;
  GstElement *convert = make ("audioconvert");
  GstElement *resample = make ("audioresample");
  GstElement *speaker = mesh_call_engine_claim_speaker (self->engine, self);
  g_autoptr(GstCaps) caps = gst_caps_from_string ("audio/x-raw,format=S16LE,rate=48000,channels=2");

  if (speaker == NULL) {
    speaker = make ("fakesink");
    if (speaker != NULL)
      g_object_set (speaker, "sync", TRUE, "async", FALSE, NULL);
  }
  if (probe_name != NULL && probe != NULL)
    gst_object_set_name (GST_OBJECT (probe), probe_name);
  if (silence != NULL)
    g_object_set (silence, "is-live", TRUE, "wave", 4 /* silence */, "samplesperbuffer", 960, NULL);
  if (filter != NULL)
    g_object_set (filter, "caps", caps, NULL);
  self->speaker = speaker;
  self->mixer = mixer;
  if (probe != NULL) {
    GstElement *chain[] = { silence, mixer, filter, probe, convert, resample, speaker };

    return pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  } else {
    GstElement *chain[] = { silence, mixer, filter, convert, resample, speaker };

    return pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  }
}

static gboolean
call_build_microphone (MeshCall   *self,
                       GstElement *microphone,
                       const char *probe_name)
{
  GstElement *convert = make ("audioconvert");
  GstElement *resample = make ("audioresample");
  GstElement *filter = make ("capsfilter");
  GstElement *dsp = probe_name ? make ("webrtcdsp") : NULL;
  GstElement *level = make ("level");
  GstElement *volume = make ("volume");
  GstElement *convert2 = make ("audioconvert");
  GstElement *enc = make ("opusenc");
  GstElement *tee = make ("tee");
  g_autoptr(GstCaps) caps = gst_caps_from_string ("audio/x-raw,format=S16LE,rate=48000,channels=1");
  gboolean ok;

  if (filter != NULL)
    g_object_set (filter, "caps", caps, NULL);
  if (dsp != NULL)
    g_object_set (dsp, "probe", probe_name, NULL);
  if (level != NULL)
    g_object_set (level, "interval", (guint64) 100 * GST_MSECOND, "post-messages", TRUE, NULL);
  if (volume != NULL)
    g_object_set (volume, "mute", self->muted, NULL);
  if (enc != NULL) {
    g_object_set (enc, "bitrate", 32000, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "audio-type", "voice");
  }
  if (tee != NULL)
    g_object_set (tee, "allow-not-linked", TRUE, NULL);
  if (dsp != NULL) {
    GstElement *chain[] = { microphone, convert, resample, filter, dsp, level, volume, convert2, enc, tee };

    ok = pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  } else {
    GstElement *chain[] = { microphone, convert, resample, filter, level, volume, convert2, enc, tee };

    ok = pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain));
  }
  if (ok) {
    self->microphone = microphone;
    self->audio_tee = tee;
    self->level = level;
    self->volume = volume;
  }
  return ok;
}

static gboolean
call_build_video (MeshCall   *self,
                  GstElement *source,
                  gboolean    camera)
{
  GstElement *convert = make ("videoconvert");
  GstElement *valve = make ("valve");
  GstElement *tee = make ("tee");
  GstElement *chain[] = { source, convert, valve, tee };

  if (tee != NULL)
    g_object_set (tee, "allow-not-linked", TRUE, NULL);
  if (valve != NULL)
    g_object_set (valve, "drop", camera && !self->camera_enabled, NULL);
  if (!pipeline_add_chain (self->pipeline, chain, G_N_ELEMENTS (chain)))
    return FALSE;
  self->video_tee = tee;
  self->valve = valve;
  if (camera) {
    MeshVideoOutput *self_view = mesh_call_engine_get_self_view (self->engine);
    GstElement *element = mesh_video_output_get_element (self_view);

    self->camera = source;
    if (GST_OBJECT_PARENT (element) == NULL) {
      g_autoptr(GstPad) src = gst_element_request_pad_simple (tee, "src_%u");
      g_autoptr(GstPad) sink = gst_element_get_static_pad (element, "sink");

      gst_bin_add (GST_BIN (self->pipeline), element);
      if (gst_pad_link (src, sink) == GST_PAD_LINK_OK)
        self->self_view = element;
      else
        gst_bin_remove (GST_BIN (self->pipeline), element);
    }
  }
  return TRUE;
}

static gint probe_serial;

static gboolean
call_ensure_pipeline (MeshCall *self)
{
  g_autofree char *probe_name = NULL;
  g_autoptr(GstBus) bus = NULL;
  GstElement *camera = NULL, *microphone = NULL;

  if (self->pipeline != NULL)
    return TRUE;

  self->pipeline = gst_pipeline_new (NULL);
  /* Live sources stamp buffers with the running time: a base time that
   * moved when a peer joined would stall them.  One base time, for good. */
  {
    g_autoptr(GstClock) clock = gst_system_clock_obtain ();

    gst_pipeline_use_clock (GST_PIPELINE (self->pipeline), clock);
    gst_element_set_start_time (self->pipeline, GST_CLOCK_TIME_NONE);
    gst_element_set_base_time (self->pipeline, gst_clock_get_time (clock));
  }
  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch = gst_bus_add_watch (bus, call_bus_message, self);

  if (self->kind == MESH_MEDIA_KIND_CALL) {
    microphone = mesh_call_engine_claim_microphone (self->engine, self);
    camera = mesh_call_engine_claim_camera (self->engine, self);
    if (microphone != NULL && mesh_call_engine_get_echo_cancel (self->engine))
      /* Unique for the process: webrtcdsp finds its probe by name, and an
       * ended call's probe may not be gone yet. */
      probe_name = g_strdup_printf ("mesh-echo-probe-%u", (guint) g_atomic_int_add (&probe_serial, 1));
    /* The probe exists before the DSP that looks it up by name. */
    if (!call_build_playback (self, probe_name))
      goto failed;
    if (microphone != NULL && !call_build_microphone (self, microphone, probe_name))
      goto failed;
    if (camera != NULL && !call_build_video (self, camera, TRUE))
      goto failed;
  } else if (self->direction == MESH_CALL_DIRECTION_OUTGOING && self->screen != NULL) {
    if (!call_build_video (self, self->screen, FALSE))
      goto failed;
  }

  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    mesh_call_end (self, MESH_CALL_END_FAILED, "the local media did not start");
    return FALSE;
  }
  return TRUE;

failed:
  mesh_call_end (self, MESH_CALL_END_FAILED, "cannot build the local media");
  return FALSE;
}

static void
call_destroy_pipeline (MeshCall *self)
{
  GstElement *pipeline = g_steal_pointer (&self->pipeline);
  GstElement *borrowed[] = { self->camera, self->microphone, self->self_view };

  if (pipeline == NULL)
    return;
  g_clear_handle_id (&self->bus_watch, g_source_remove);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  /* The engine's elements outlive the call. */
  for (guint i = 0; i < G_N_ELEMENTS (borrowed); i++) {
    if (borrowed[i] != NULL && GST_OBJECT_PARENT (borrowed[i]) == GST_OBJECT (pipeline))
      gst_bin_remove (GST_BIN (pipeline), borrowed[i]);
  }
  if (self->speaker != NULL && GST_OBJECT_PARENT (self->speaker) == GST_OBJECT (pipeline))
    gst_bin_remove (GST_BIN (pipeline), self->speaker);
  self->camera = self->microphone = self->self_view = self->speaker = NULL;
  self->video_tee = self->audio_tee = self->valve = self->volume = self->level = NULL;
  self->mixer = NULL;
  gst_object_unref (pipeline);
  mesh_call_engine_release_media (self->engine, self);
}

/* --- Wire events ---------------------------------------------------------- */

static void
call_connect_when_possible (MeshCall     *self,
                            MeshCallPeer *peer)
{
  if (!call_ensure_pipeline (self))
    return;
  call_connect_peer (self, peer);
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
    peer_disconnect (self, peer);
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
  answer = parse_remote_sdp (sdp, &error);
  if (answer == NULL) {
    peer_fail (peer, "bad answer", error->message);
    return;
  }
  peer->answered = TRUE;
  peer_set_remote (peer, GST_WEBRTC_SDP_TYPE_ANSWER, g_steal_pointer (&answer));
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
    peer_apply_candidate (peer, candidate);
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
  call_drop_peer (self, peer, if_last, NULL);
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
    g_autoptr(JsonObject) payload = json_object_new ();

    if (peer->call != self)
      continue;
    g_message ("Call %s: %s did not answer", self->call_id, peer->peer_id);
    json_object_set_string_member (payload, "reason", "missed");
    if (peer->sent_any)
      mesh_call_engine_send_rtc (self->engine, self, "rtc.hangup", peer->peer_id, payload);
    peer->sent_any = FALSE;
    call_drop_peer (self, peer, MESH_CALL_END_MISSED, NULL);
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

    if (peer->sent_any || peer->offer_sdp != NULL) {
      g_autoptr(JsonObject) payload = json_object_new ();

      json_object_set_string_member (payload, "reason", end_reason_wire (reason));
      mesh_call_engine_forget_peer (self->engine, self, peer->peer_id);
      mesh_call_engine_send_rtc (self->engine, self, "rtc.hangup", peer->peer_id, payload);
    }
    peer_disconnect (self, peer);
    mesh_call_engine_forget_peer (self->engine, self, peer->peer_id);
    g_clear_handle_id (&peer->tick_id, g_source_remove);
    mesh_call_peer_set_state (peer, MESH_CALL_PEER_STATE_ENDED);
    peer->call = NULL;
  }
  g_list_store_remove_all (self->peers);
  call_destroy_pipeline (self);
  g_clear_pointer (&self->screen, gst_object_unref);

  if (self->speaking_while_muted) {
    self->speaking_while_muted = FALSE;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPEAKING_WHILE_MUTED]);
  }
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

/* Puts @replacement where @old was (linked to the same peer pad). */
static gboolean
call_swap_element (MeshCall   *self,
                   GstElement *old,
                   GstElement *replacement,
                   gboolean    source)
{
  g_autoptr(GstPad) old_pad = gst_element_get_static_pad (old, source ? "src" : "sink");
  g_autoptr(GstPad) other = old_pad ? gst_pad_get_peer (old_pad) : NULL;
  g_autoptr(GstPad) new_pad = NULL;

  if (other == NULL)
    return FALSE;
  gst_element_set_locked_state (old, TRUE);
  gst_element_set_state (old, GST_STATE_NULL);
  if (source)
    gst_pad_unlink (old_pad, other);
  else
    gst_pad_unlink (other, old_pad);
  gst_bin_remove (GST_BIN (self->pipeline), old);
  if (replacement == NULL)
    return TRUE;

  gst_bin_add (GST_BIN (self->pipeline), replacement);
  new_pad = gst_element_get_static_pad (replacement, source ? "src" : "sink");
  if (new_pad == NULL ||
      (source ? gst_pad_link (new_pad, other) : gst_pad_link (other, new_pad)) != GST_PAD_LINK_OK) {
    g_message ("Call %s: cannot link the new %s", self->call_id, source ? "source" : "speaker");
    gst_bin_remove (GST_BIN (self->pipeline), replacement);
    return FALSE;
  }
  gst_element_sync_state_with_parent (replacement);
  return TRUE;
}

void
mesh_call_local_media_changed (MeshCall   *self,
                               GstElement *old,
                               GstElement *replacement)
{
  gboolean ok;

  if (self->pipeline == NULL || old == NULL)
    return;
  if (old == self->camera) {
    ok = call_swap_element (self, old, replacement, TRUE);
    self->camera = ok ? replacement : NULL;
  } else if (old == self->microphone) {
    ok = call_swap_element (self, old, replacement, TRUE);
    self->microphone = ok ? replacement : NULL;
  } else if (old == self->speaker) {
    GstElement *sink = replacement;

    /* No speaker: a fakesink, so that sound keeps flowing (and is counted). */
    if (sink == NULL) {
      sink = make ("fakesink");
      if (sink != NULL)
        g_object_set (sink, "sync", TRUE, "async", FALSE, NULL);
    }
    ok = call_swap_element (self, old, sink, FALSE);
    self->speaker = ok ? sink : NULL;
  }
}

void
mesh_call_set_screen_source (MeshCall   *self,
                             GstElement *source)
{
  g_clear_pointer (&self->screen, gst_object_unref);
  self->screen = source ? gst_object_ref_sink (source) : NULL;
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
  if (!call_ensure_pipeline (self))
    return;

  n = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (offered, g_list_model_get_item (G_LIST_MODEL (self->peers), i));
  for (guint i = 0; i < offered->len; i++) {
    MeshCallPeer *peer = offered->pdata[i];

    if (peer->call == self && self->state != MESH_CALL_STATE_ENDED)
      call_connect_peer (self, peer);
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
  if (!muted && self->speaking_while_muted) {
    self->speaking_while_muted = FALSE;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPEAKING_WHILE_MUTED]);
  }
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
