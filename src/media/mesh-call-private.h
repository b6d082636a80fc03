/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of MeshCall share: the call's struct and the helpers its
 * pipeline, its peers' connections, their negotiation and their stats call
 * across files (mesh-call.c, -pipeline.c, -connection.c, -negotiation.c,
 * -stats.c; the marshalling from webrtcbin's threads is in mesh-call-peer.c). */

#include "mesh-call.h"
#include "mesh-call-peer.h"
#include "mesh-media-private.h"
#include "mesh-escape.h"

#include <string.h>

#include <gst/sdp/sdp.h>
#include <nice/agent.h>

G_BEGIN_DECLS

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


/* Work handed from a webrtcbin thread to the peer's main context. */
typedef struct {
  MeshPeerLink *link;
  GstPromise   *promise;
  GstWebRTCSessionDescription *desc;
  char         *text;
  guint         mline;
  int           number;
  double        loss;
  double        rtt;
} MeshLinkCall;

/* mesh-call.c */
void           mesh_call_drop_peer          (MeshCall          *self,
                                             MeshCallPeer      *peer,
                                             MeshCallEndReason  if_last,
                                             const char        *error_message);
void           mesh_call_send_hangup        (MeshCall          *self,
                                             MeshCallPeer      *peer,
                                             const char        *reason);
void           mesh_call_set_speaking_while_muted (MeshCall    *self,
                                                   gboolean     speaking);

/* mesh-call-pipeline.c */
GstElement    *mesh_media_make              (const char        *factory);
gboolean       mesh_media_add_chain         (GstBin            *bin,
                                             GstElement       **elements,
                                             guint              n);
gboolean       mesh_call_ensure_pipeline    (MeshCall          *self);
void           mesh_call_destroy_pipeline   (MeshCall          *self);

/* mesh-call-connection.c */
void           mesh_call_connect_peer       (MeshCall          *self,
                                             MeshCallPeer      *peer);
void           mesh_call_disconnect_peer    (MeshCall          *self,
                                             MeshCallPeer      *peer);

/* mesh-call-negotiation.c */
GstSDPMessage *mesh_call_parse_remote_sdp   (const char        *text,
                                             GError           **error);
guint          mesh_call_sdp_find_pt        (const GstSDPMessage *sdp,
                                             const char        *kind,
                                             const char        *codec);
void           mesh_call_peer_fail          (MeshCallPeer      *peer,
                                             const char        *what,
                                             const char        *detail);
void           mesh_call_peer_create_description_when_ready (MeshCallPeer *peer,
                                                             gboolean      answer);
void           mesh_call_peer_apply_candidate (MeshCallPeer    *peer,
                                               JsonObject      *candidate);
void           mesh_call_peer_set_remote    (MeshCallPeer      *peer,
                                             GstWebRTCSDPType   type,
                                             GstSDPMessage     *sdp);
void           mesh_call_peer_recreate      (MeshCallPeer      *peer);
void           mesh_call_peer_on_negotiation_needed (GstElement *webrtc,
                                                     gpointer    data);
void           mesh_call_peer_on_ice_candidate (GstElement     *webrtc,
                                                guint           mline,
                                                const char     *candidate,
                                                gpointer        data);
void           mesh_call_peer_on_ice_state  (GObject           *webrtc,
                                             GParamSpec        *pspec,
                                             gpointer           data);

/* mesh-call-stats.c */
gboolean       mesh_call_peer_tick          (gpointer           data);

/* mesh-call-peer.c */
MeshCallPeer  *mesh_peer_link_get_peer      (MeshPeerLink      *link);
void           mesh_peer_link_closure_notify (gpointer          data,
                                              GClosure         *closure);
void           mesh_peer_link_invoke        (MeshPeerLink      *link,
                                             GSourceFunc        func,
                                             MeshLinkCall      *lc);

G_END_DECLS
