/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-private.h"

/* One peer's negotiation: checking SDP, offer and answer (once the send
 * branches have caps), ICE candidates (kept until the remote description is
 * set), ICE state and reconnecting. */

static void peer_answer_offer (MeshCallPeer *peer);

/* --- SDP ---------------------------------------------------------------- */

/* webrtcbin takes almost anything gst_sdp_message_parse_buffer() accepts,
 * and that is almost any text: what we hand it must look like WebRTC. */
GstSDPMessage *
mesh_call_parse_remote_sdp (const char  *text,
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
guint
mesh_call_sdp_find_pt (const GstSDPMessage *sdp,
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
  g_autoptr(GstSDPMessage) message = mesh_call_parse_remote_sdp (sdp, error);

  return message != NULL;
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

void
mesh_call_peer_fail (MeshCallPeer *peer,
                     const char   *what,
                     const char   *detail)
{
  MeshCall *self = peer->call;
  g_autofree char *message = g_strdup_printf ("%s: %s", what, detail ? detail : "unknown error");
  g_autofree char *shown = mesh_escape_for_display (message, -1);

  g_message ("Call %s: peer %s: %s", self->call_id, peer->peer_id, shown);
  /* It hears of it unless it never heard of us. */
  if (peer->sent_any || peer->offer_sdp != NULL) {
    mesh_call_send_hangup (self, peer, "failed");
    peer->sent_any = FALSE;
    g_clear_pointer (&peer->offer_sdp, g_free);
  }
  mesh_call_drop_peer (self, peer, MESH_CALL_END_FAILED, message);
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
  MeshLinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (lc->link);
  g_autofree char *text = NULL;
  MeshCall *self;

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  self = peer->call;
  if (lc->desc == NULL) {
    mesh_call_peer_fail (peer, lc->number ? "cannot create an answer" : "cannot create an offer", lc->text);
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
  MeshLinkCall *lc = g_new0 (MeshLinkCall, 1);
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
  mesh_peer_link_invoke (link, local_description_ready, lc);
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

/* Ticks of 50 ms the send branches get to negotiate their caps. */
#define SENDER_WAIT_TICKS  200

/* Where a send branch stopped, for the log: its tee pad, its queue, the
 * states of its bin and of the pipeline, and whether the camera still
 * reaches the self view. */
static void
peer_log_senders (MeshCallPeer *peer)
{
  GstPad *tee_pads[] = { peer->tee_video_pad, peer->tee_audio_pad };
  const char *names[] = { "video", "audio" };

  for (guint i = 0; i < G_N_ELEMENTS (tee_pads); i++) {
    g_autoptr(GstCaps) tee_caps = NULL;
    g_autoptr(GstPad) ghost = NULL;
    g_autoptr(GstPad) target = NULL;
    guint queued = 0;

    if (tee_pads[i] == NULL)
      continue;
    tee_caps = gst_pad_get_current_caps (tee_pads[i]);
    ghost = gst_pad_get_peer (tee_pads[i]);
    target = ghost && GST_IS_GHOST_PAD (ghost) ? gst_ghost_pad_get_target (GST_GHOST_PAD (ghost)) : NULL;
    if (target != NULL && GST_PAD_PARENT (target) != NULL)
      g_object_get (GST_PAD_PARENT (target), "current-level-buffers", &queued, NULL);
    g_message ("Call %s: %s sender of %s: tee pad %s caps, %s, %u buffers queued, queue %s, bin %s/%s, "
               "pipeline %s/%s, self view %" G_GUINT64_FORMAT " frames",
               peer->call->call_id, names[i], peer->peer_id, tee_caps ? "with" : "without",
               ghost ? "linked" : "not linked", queued,
               target != NULL && GST_PAD_IS_FLUSHING (target) ? "flushing" : "active",
               gst_element_state_get_name (GST_STATE (peer->bin)),
               gst_element_state_get_name (GST_STATE_PENDING (peer->bin)),
               gst_element_state_get_name (GST_STATE (peer->call->pipeline)),
               gst_element_state_get_name (GST_STATE_PENDING (peer->call->pipeline)),
               mesh_video_output_get_frames (mesh_call_engine_get_self_view (peer->call->engine)));
  }
}

typedef struct {
  MeshPeerLink *link;
  gboolean      answer;
  gboolean      described;  /* sent without some sender's caps */
  guint         tries;
} DescriptionWait;

/* An answerer that has not set the offer yet sets it first; webrtcbin asks
 * for the answer once it is set. */
static void
peer_describe (MeshCallPeer *peer,
               gboolean      answer)
{
  if (answer && !peer->remote_set)
    peer_answer_offer (peer);
  else
    peer_create_description (peer, answer);
}

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
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (wait->link);

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  if (peer->call == NULL || peer->link != wait->link)
    return G_SOURCE_REMOVE;  /* dropped, or its connection was rebuilt */
  if (wait->described) {
    /* The description went out without some stream's SSRC: that stream
     * either starts now (said in the log; the other side may drop it) or
     * never, and then the peer fails with a reason the user sees instead
     * of a call that silently carries nothing from us. */
    if (peer_senders_ready (peer)) {
      g_message ("Call %s: the local media for %s started %u s late, after the %s without its "
                 "SSRCs", peer->call->call_id, peer->peer_id, (SENDER_WAIT_TICKS + wait->tries) / 20,
                 wait->answer ? "answer" : "offer");
      return G_SOURCE_REMOVE;
    }
    /* Counted from when our description is out (an answerer sets the
     * offer first, then waits for its senders once more). */
    if (!(wait->answer ? peer->answered : peer->sent_any) || ++wait->tries < SENDER_WAIT_TICKS)
      return G_SOURCE_CONTINUE;
    peer_log_senders (peer);
    /* It accepted (or offered): without this it would wait for us. */
    if (!peer->sent_any && peer->offer_sdp == NULL)
      mesh_call_send_hangup (peer->call, peer, "failed");
    mesh_call_peer_fail (peer, "cannot call",
                         "the local camera or microphone sent nothing to this peer");
    return G_SOURCE_REMOVE;
  }
  if (!peer_senders_ready (peer)) {
    if (++wait->tries < SENDER_WAIT_TICKS)
      return G_SOURCE_CONTINUE;
    /* Seen under load: a new peer's branches get their first buffer only
     * once its webrtcbin has a local description.  So it gets one now
     * (without the missing SSRCs) and the senders are watched on. */
    peer_log_senders (peer);
    g_message ("Call %s: the local media for %s did not start in %u s; describing without it",
               peer->call->call_id, peer->peer_id, SENDER_WAIT_TICKS / 20);
    wait->described = TRUE;
    wait->tries = 0;
    peer_describe (peer, wait->answer);
    return G_SOURCE_CONTINUE;
  }
  g_debug ("senders ready after %u ms", wait->tries * 50);
  peer_describe (peer, wait->answer);
  return G_SOURCE_REMOVE;
}

void
mesh_call_peer_create_description_when_ready (MeshCallPeer *peer,
                                              gboolean      answer)
{
  DescriptionWait *wait;

  if (peer_senders_ready (peer)) {
    peer_describe (peer, answer);
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
  MeshLinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (lc->link);

  if (peer == NULL)
    return G_SOURCE_REMOVE;
  if (lc->text != NULL) {
    mesh_call_peer_fail (peer, "the remote description was refused", lc->text);
    return G_SOURCE_REMOVE;
  }
  if (!peer->offerer)
    mesh_call_peer_create_description_when_ready (peer, TRUE);
  return G_SOURCE_REMOVE;
}

static void
remote_description_done (GstPromise *promise,
                         gpointer    data)
{
  MeshLinkCall *lc = g_new0 (MeshLinkCall, 1);
  const char *error = promise_error (promise, gst_promise_wait (promise));

  lc->text = g_strdup (error);
  mesh_peer_link_invoke (data, remote_description_set, lc);
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

void
mesh_call_peer_apply_candidate (MeshCallPeer *peer,
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
    mesh_call_peer_apply_candidate (peer, pending->pdata[i]);
}

void
mesh_call_peer_set_remote (MeshCallPeer          *peer,
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
  GstSDPMessage *offer = mesh_call_parse_remote_sdp (peer->offer_sdp, &error);

  if (offer == NULL) {
    mesh_call_peer_fail (peer, "bad offer", error->message);
    return;
  }
  g_clear_pointer (&peer->offer_sdp, g_free);
  mesh_call_peer_set_remote (peer, GST_WEBRTC_SDP_TYPE_OFFER, offer);
}

static gboolean
negotiation_needed_main (gpointer data)
{
  MeshLinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (lc->link);

  g_debug ("negotiation needed (%s)", peer ? peer->peer_id : "gone");
  if (peer != NULL && peer->offerer && !peer->sent_any)
    mesh_call_peer_create_description_when_ready (peer, FALSE);
  return G_SOURCE_REMOVE;
}

void
mesh_call_peer_on_negotiation_needed (GstElement *webrtc,
                                      gpointer    data)
{
  MeshPeerLink *link = data;

  /* Later ones (a transceiver's direction settling) change nothing we send. */
  if (!g_atomic_int_compare_and_exchange (&link->negotiating, 0, 1))
    return;
  mesh_peer_link_invoke (link, negotiation_needed_main, g_new0 (MeshLinkCall, 1));
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
  MeshLinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (lc->link);
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

void
mesh_call_peer_on_ice_candidate (GstElement *webrtc,
                                 guint       mline,
                                 const char *candidate,
                                 gpointer    data)
{
  MeshLinkCall *lc = g_new0 (MeshLinkCall, 1);

  lc->mline = mline;
  lc->text = g_strdup (candidate);
  mesh_peer_link_invoke (data, ice_candidate_main, lc);
}

void
mesh_call_peer_recreate (MeshCallPeer *peer)
{
  MeshCall *self = peer->call;
  const char *own = mesh_call_engine_get_own_peer_id (self->engine);

  if (++peer->reconnects > MAX_RECONNECTS) {
    mesh_call_peer_fail (peer, "connection lost", "ICE failed again after reconnecting");
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
    mesh_call_connect_peer (self, peer);
  } else {
    g_message ("Call %s: waiting for %s to reconnect", self->call_id, peer->peer_id);
    peer->reconnect_deadline = g_get_monotonic_time () + RECONNECT_WAIT_US;
  }
}

void
mesh_call_peer_simulate_ice_failure (MeshCallPeer *peer)
{
  g_return_if_fail (MESH_IS_CALL_PEER (peer) && peer->call != NULL);

  mesh_call_peer_recreate (peer);
}

static gboolean
ice_state_main (gpointer data)
{
  MeshLinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (lc->link);
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
    mesh_call_peer_recreate (peer);
    break;
  case GST_WEBRTC_ICE_CONNECTION_STATE_NEW:
  case GST_WEBRTC_ICE_CONNECTION_STATE_CHECKING:
  case GST_WEBRTC_ICE_CONNECTION_STATE_CLOSED:
  default:
    break;
  }
  return G_SOURCE_REMOVE;
}

void
mesh_call_peer_on_ice_state (GObject    *webrtc,
                             GParamSpec *pspec,
                             gpointer    data)
{
  mesh_peer_link_invoke (data, ice_state_main, g_new0 (MeshLinkCall, 1));
}
