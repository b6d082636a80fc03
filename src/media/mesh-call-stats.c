/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-call-private.h"

/* One peer's tick, once a second: get-stats every other tick for the VP8
 * bitrate and the poor-connection flag, camera-off from the frames that
 * arrive, and the reconnect grace and deadline. */

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
  MeshLinkCall *lc = data;
  g_autoptr(MeshCallPeer) peer = mesh_peer_link_get_peer (lc->link);
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
  MeshLinkCall *lc = data;
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
  MeshLinkCall *lc = g_new0 (MeshLinkCall, 1);

  if (gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED &&
      gst_promise_get_reply (promise) != NULL)
    gst_structure_foreach (gst_promise_get_reply (promise), stats_field, lc);
  mesh_peer_link_invoke (data, stats_main, lc);
}

gboolean
mesh_call_peer_tick (gpointer data)
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
    mesh_call_peer_recreate (peer);
    return G_SOURCE_CONTINUE;
  }
  if (peer->reconnect_deadline != 0 && now > peer->reconnect_deadline) {
    peer->reconnect_deadline = 0;
    mesh_call_peer_fail (peer, "connection lost", "the peer did not reconnect");
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}
