/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the engine, its calls and their peers share; not for the UI. */

#include <gst/gst.h>
#include <json-glib/json-glib.h>

#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API
#endif
#include <gst/webrtc/webrtc.h>

#include "mesh-call-engine.h"

G_BEGIN_DECLS

/* What a webrtcbin's threads may touch: never the peer itself, which lives
 * on the main context.  One per webrtcbin (a re-created connection gets a
 * new one), so late callbacks of an old connection are recognised. */
typedef struct {
  gatomicrefcount  ref;
  GWeakRef         peer;
  GMainContext    *context;
  MeshVideoOutput *video;      /* the peer's */
  GstElement      *mixer;      /* the call's audio mixer, or NULL */
  gint            *audio_buffers;  /* g_atomic_rc_box, shared by the peer's links */
  GMutex           lock;
  GstPad          *mixer_pad;  /* requested on @mixer, under @lock */
  gint             negotiating;    /* atomic: an offer was started */
} MeshPeerLink;

/* A string member, or @fallback when it is absent, null or not a string
 * (json-glib's getters complain about objects and arrays: peers may send
 * anything the server does not check). */
static inline const char *
mesh_media_json_string (JsonObject *object,
                        const char *name,
                        const char *fallback)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return fallback;
  return json_node_get_string (node);
}

static inline gint64
mesh_media_json_int (JsonObject *object,
                     const char *name,
                     gint64      fallback)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return fallback;
  return json_node_get_int (node);
}

MeshPeerLink *mesh_peer_link_ref   (MeshPeerLink *link);
void          mesh_peer_link_unref (gpointer      link);

struct _MeshCallPeer {
  GObject            parent_instance;

  MeshCall          *call;          /* borrowed: the call owns its peers */
  char              *peer_id;
  char              *username;
  MeshCallPeerState  state;
  gboolean           poor_connection;
  gboolean           camera_off;
  guint              bitrate;
  MeshVideoOutput   *video;
  gint              *audio_buffers;

  /* The connection. */
  MeshPeerLink      *link;
  GstElement        *bin;           /* in the call's pipeline */
  GstElement        *webrtc;        /* in @bin */
  GstElement        *vp8enc;        /* in @bin, NULL when sending no video */
  GstPad            *tee_video_pad; /* on the call's raw video tee */
  GstPad            *tee_audio_pad; /* on the call's Opus tee */
  gboolean           offerer;       /* we offered on this connection */
  gboolean           answered;      /* the offer/answer exchange is done */
  gboolean           remote_set;    /* a remote description was given */
  gboolean           sent_any;      /* we sent it an offer or an answer */
  char              *offer_sdp;     /* a remote offer not yet answered */
  GPtrArray         *pending_ice;   /* JsonObject candidates waiting for @remote_set */
  char              *local_sdp;     /* for the sdpMid of our candidates */
  guint              tick_id;       /* 1 s: stats, camera-off, reconnect grace */
  guint              ticks;
  guint64            last_frames;
  gint64             last_frame_at;
  gint64             trouble_since; /* ICE disconnected since (monotonic µs), 0 when fine */
  gint64             reconnect_deadline;
  guint              reconnects;
  gboolean           want_connect;  /* waits for the ICE servers */
  gboolean           declined;      /* it said "declined" or "busy" */
};

MeshCallPeer *mesh_call_peer_new           (MeshCall          *call,
                                            const char        *peer_id,
                                            const char        *username);
void          mesh_call_peer_set_state     (MeshCallPeer      *self,
                                            MeshCallPeerState  state);
void          mesh_call_peer_set_poor_connection (MeshCallPeer *self,
                                                  gboolean      poor);
void          mesh_call_peer_set_camera_off (MeshCallPeer     *self,
                                             gboolean          off);
void          mesh_call_peer_set_bitrate   (MeshCallPeer      *self,
                                            guint              bitrate);

/* Engine → call. */
MeshCall     *mesh_call_new                (MeshCallEngine    *engine,
                                            const char        *room_id,
                                            const char        *call_id,
                                            MeshMediaKind      kind,
                                            MeshCallDirection  direction,
                                            gboolean           room_scope,
                                            const char        *caller_name);
gboolean      mesh_call_is_room_scope      (MeshCall          *self);
MeshCallPeer *mesh_call_find_peer          (MeshCall          *self,
                                            const char        *peer_id);
/* Starts a connection to @peer_id as the offerer. */
void          mesh_call_offer_to           (MeshCall          *self,
                                            const char        *peer_id,
                                            const char        *username);
/* Wire events for this call from @from (already checked for shape). */
void          mesh_call_handle_offer       (MeshCall          *self,
                                            const char        *from,
                                            const char        *username,
                                            const char        *sdp);
void          mesh_call_handle_answer      (MeshCall          *self,
                                            const char        *from,
                                            const char        *sdp);
void          mesh_call_handle_ice         (MeshCall          *self,
                                            const char        *from,
                                            JsonObject        *candidate);
void          mesh_call_handle_hangup      (MeshCall          *self,
                                            const char        *from,
                                            const char        *reason);
/* @peer_id left the room (or its connection failed for good). */
void          mesh_call_remove_peer        (MeshCall          *self,
                                            const char        *peer_id,
                                            const char        *error_message);
void          mesh_call_end                (MeshCall          *self,
                                            MeshCallEndReason  reason,
                                            const char        *error_message);
/* The engine's @old camera, microphone or speaker is now @replacement
 * (NULL: none): swapped in place when @self holds @old.  A kind of media
 * the call did not have from the start needs a new connection, so it waits
 * for the next call. */
void          mesh_call_local_media_changed (MeshCall         *self,
                                             GstElement       *old,
                                             GstElement       *replacement);
/* Whether @sdp looks like a WebRTC description we could answer. */
gboolean      mesh_call_check_sdp          (const char        *sdp,
                                            GError           **error);
/* GET /turn answered: peers waiting for it connect now. */
void          mesh_call_ice_servers_ready  (MeshCall          *self);
/* Sets the screen source of an outgoing share (before any offer). */
void          mesh_call_set_screen_source  (MeshCall          *self,
                                            GstElement        *source);
/* Tests: the call's pipeline (NULL once ended), a peer's webrtcbin. */
GstElement   *mesh_call_get_pipeline       (MeshCall          *self);
GstElement   *mesh_call_peer_get_webrtcbin (MeshCallPeer      *self);

/* Call → engine. */
typedef struct {
  char    **uris;
  char     *username;
  char     *password;
} MeshIceServers;

/* Sends an rtc.* event for @call to @peer_id (adds room_id, target, media,
 * call_id and, except for hang-ups, the cap token, fetched when needed). */
void          mesh_call_engine_send_rtc    (MeshCallEngine    *self,
                                            MeshCall          *call,
                                            const char        *type,
                                            const char        *peer_id,
                                            JsonObject        *payload);
/* Drops what still waits for a token for this peer of @call. */
void          mesh_call_engine_forget_peer (MeshCallEngine    *self,
                                            MeshCall          *call,
                                            const char        *peer_id);
/* NULL until GET /turn answered (then maybe with no URIs). */
const MeshIceServers *mesh_call_engine_get_ice_servers (MeshCallEngine *self);
void          mesh_call_engine_want_ice_servers (MeshCallEngine *self);
GstWebRTCICETransportPolicy mesh_call_engine_get_ice_transport_policy (MeshCallEngine *self);
const char   *mesh_call_engine_get_local_address (MeshCallEngine  *self);
gboolean      mesh_call_engine_get_echo_cancel (MeshCallEngine    *self);
guint         mesh_call_engine_get_ring_timeout (MeshCallEngine   *self);
/* The local sources a call may take (NULL: none, or another call has it). */
GstElement   *mesh_call_engine_claim_camera (MeshCallEngine    *self,
                                             MeshCall          *call);
GstElement   *mesh_call_engine_claim_microphone (MeshCallEngine *self,
                                                 MeshCall       *call);
GstElement   *mesh_call_engine_claim_speaker (MeshCallEngine   *self,
                                              MeshCall         *call);
void          mesh_call_engine_release_media (MeshCallEngine   *self,
                                              MeshCall         *call);
/* The call reached ENDED: out of the list. */
void          mesh_call_engine_call_ended  (MeshCallEngine    *self,
                                            MeshCall          *call);
/* A declined room call: later offers for it are refused at once. */
void          mesh_call_engine_remember_declined (MeshCallEngine *self,
                                                  MeshCall       *call);
/* Online client peers of the room but us: MeshPeerInfo. */
GPtrArray    *mesh_call_engine_dup_other_clients (MeshCallEngine *self,
                                                  const char     *room_id);
const char   *mesh_call_engine_get_own_peer_id (MeshCallEngine *self);

/* Tests: use @token for every rtc event instead of fetching one ("": send
 * none); NULL goes back to fetching. */
void          mesh_call_engine_set_cap_token_override (MeshCallEngine *self,
                                                       const char     *token);

/* The next VP8 target for a peer from its loss (0..1) and round trip (s):
 * down fast on loss, up slowly when clean, within 100 kbit/s..@max. */
guint         mesh_call_next_bitrate       (guint              bitrate,
                                            double             loss,
                                            double             rtt,
                                            guint              max);
/* Tests: behave as if ICE to @peer failed. */
void          mesh_call_peer_simulate_ice_failure (MeshCallPeer *peer);
/* Tests: the payload types our offers use (another stack's numbers). */
void          mesh_call_engine_set_offer_payload_types (MeshCallEngine *self,
                                                        guint           vp8_pt,
                                                        guint           opus_pt);
void          mesh_call_engine_get_offer_payload_types (MeshCallEngine *self,
                                                        guint          *vp8_pt,
                                                        guint          *opus_pt);

G_END_DECLS
