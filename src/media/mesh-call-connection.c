/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-private.h"

/* One peer's connection: its bin and webrtcbin in the call's pipeline, the
 * send branches off the call's tees, the streams it receives, and taking it
 * all down again. */

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
    GstElement *chain[] = { mesh_media_make ("queue"), mesh_media_make ("rtpvp8depay"), mesh_media_make ("vp8dec"),
                            gst_object_ref (mesh_video_output_get_element (link->video)) };

    if (mesh_media_add_chain (bin, chain, G_N_ELEMENTS (chain))) {
      gst_object_unref (chain[3]);
      first = chain[0];
      for (guint i = G_N_ELEMENTS (chain); i > 0; i--)
        gst_element_sync_state_with_parent (chain[i - 1]);
    }
  } else if (g_strcmp0 (encoding, "OPUS") == 0 && link->mixer != NULL && link->mixer_pad == NULL) {
    GstElement *chain[] = { mesh_media_make ("queue"), mesh_media_make ("rtpopusdepay"), mesh_media_make ("opusdec"),
                            mesh_media_make ("audioconvert"), mesh_media_make ("audioresample"), mesh_media_make ("queue") };

    if (mesh_media_add_chain (bin, chain, G_N_ELEMENTS (chain))) {
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
    GstElement *chain[] = { mesh_media_make ("queue"), mesh_media_make ("rtpopusdepay"), mesh_media_make ("opusdec"), mesh_media_make ("fakesink") };

    if (mesh_media_add_chain (bin, chain, G_N_ELEMENTS (chain))) {
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
    GstElement *sink = mesh_media_make ("fakesink");

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

/* --- Building and tearing down a peer's connection ---------------------- */

static void
agent_closed (GObject      *agent,
              GAsyncResult *result,
              gpointer      data)
{
  g_debug ("libnice agent %p closed", agent);
  g_object_unref (data);  /* the GstWebRTCNice, whose thread ran the closing */
}

/* webrtcbin 1.22 never closes its libnice agent: the TURN allocations it
 * made stay on the server (their refreshes still scheduled) until their
 * lifetime runs out, and libnice warns when the agent goes.  The agent is
 * closed here; its GstWebRTCNice (whose thread sends the deallocations) is
 * kept until libnice says it is done, without blocking the main loop. */
static void
close_agent (GObject *ice)
{
  g_autoptr(GObject) agent = NULL;

  if (ice == NULL || g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent") == NULL)
    return;
  g_object_get (ice, "agent", &agent, NULL);
  if (agent == NULL)
    return;
  nice_agent_close_async (NICE_AGENT (agent), agent_closed, g_object_ref (ice));
}

void
mesh_call_disconnect_peer (MeshCall     *self,
                           MeshCallPeer *peer)
{
  GstPad *tee_pads[] = { peer->tee_video_pad, peer->tee_audio_pad };
  GstElement *tees[] = { self->video_tee, self->audio_tee };
  GstElement *video_element;
  MeshPeerLink *link = peer->link;
  g_autoptr(GObject) ice = NULL;

  if (peer->bin == NULL)
    return;
  g_object_get (peer->webrtc, "ice-agent", &ice, NULL);

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
  close_agent (ice);
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
  GstElement *queue = mesh_media_make ("queue");
  GstElement *enc = video ? mesh_media_make ("vp8enc") : NULL;
  GstElement *pay = mesh_media_make (video ? "rtpvp8pay" : "rtpopuspay");
  GstElement *filter = mesh_media_make ("capsfilter");
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
void
mesh_call_connect_peer (MeshCall     *self,
                        MeshCallPeer *peer)
{
  g_autoptr(GstSDPMessage) offer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  guint video_pt, audio_pt;
  GstPad *video_pad = NULL, *audio_pad = NULL;
  MeshPeerLink *link;

  mesh_call_disconnect_peer (self, peer);
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
    offer = mesh_call_parse_remote_sdp (peer->offer_sdp, &error);
    if (offer == NULL) {
      mesh_call_peer_fail (peer, "bad offer", error->message);
      return;
    }
    video_pt = mesh_call_sdp_find_pt (offer, "video", "VP8/90000");
    audio_pt = mesh_call_sdp_find_pt (offer, "audio", "opus/48000");
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
  peer->webrtc = mesh_media_make ("webrtcbin");
  if (peer->webrtc == NULL) {
    gst_object_unref (gst_object_ref_sink (peer->bin));
    peer->bin = NULL;
    mesh_call_peer_fail (peer, "cannot call", "webrtcbin is missing");
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
    g_signal_connect_data (peer->webrtc, "on-negotiation-needed", G_CALLBACK (mesh_call_peer_on_negotiation_needed),
                           mesh_peer_link_ref (link), mesh_peer_link_closure_notify, 0);

  if (self->video_tee != NULL && video_pt != 0)
    video_pad = add_send_branch (self, peer, TRUE, video_pt);
  else if (peer->offerer && self->kind == MESH_MEDIA_KIND_CALL)
    add_receive_transceiver (peer, TRUE, video_pt);
  if (self->audio_tee != NULL && audio_pt != 0)
    audio_pad = add_send_branch (self, peer, FALSE, audio_pt);
  else if (peer->offerer && self->kind == MESH_MEDIA_KIND_CALL)
    add_receive_transceiver (peer, FALSE, audio_pt);

  g_signal_connect_data (peer->webrtc, "on-ice-candidate", G_CALLBACK (mesh_call_peer_on_ice_candidate),
                         mesh_peer_link_ref (link), mesh_peer_link_closure_notify, 0);
  g_signal_connect_data (peer->webrtc, "pad-added", G_CALLBACK (on_pad_added),
                         mesh_peer_link_ref (link), mesh_peer_link_closure_notify, 0);
  g_signal_connect_data (peer->webrtc, "notify::ice-connection-state", G_CALLBACK (mesh_call_peer_on_ice_state),
                         mesh_peer_link_ref (link), mesh_peer_link_closure_notify, 0);

  gst_bin_add (GST_BIN (self->pipeline), peer->bin);
  if (gst_element_sync_state_with_parent (peer->bin) == FALSE ||
      gst_element_get_state (peer->bin, NULL, NULL, 0) == GST_STATE_CHANGE_FAILURE) {
    mesh_call_peer_fail (peer, "cannot call", "webrtcbin did not start");
    return;
  }
  /* Linked once running: a tee pushing into a pad still flushing gets
   * FLUSHING back, and a live source stops for good on it. */
  if ((video_pad != NULL && !link_tee (self->video_tee, video_pad, &peer->tee_video_pad)) ||
      (audio_pad != NULL && !link_tee (self->audio_tee, audio_pad, &peer->tee_audio_pad))) {
    mesh_call_peer_fail (peer, "cannot call", "cannot link the local media");
    return;
  }
  if (peer->tick_id == 0)
    peer->tick_id = g_timeout_add_seconds (1, mesh_call_peer_tick, peer);

  if (!peer->offerer) {
    /* The offer is applied once our senders have their caps: webrtcbin
     * then pairs our transceivers with its m-lines, and the answer names
     * our SSRCs. */
    mesh_call_peer_create_description_when_ready (peer, TRUE);
  } else {
    /* Whether or not webrtcbin said negotiation is needed (it may have
     * before we listened), one offer goes out. */
    mesh_call_peer_on_negotiation_needed (peer->webrtc, link);
  }
}
