/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What mesh-call-engine.c and mesh-call-engine-events.c share. */

#include "mesh-call-engine.h"
#include "mesh-media-private.h"

G_BEGIN_DECLS

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

/* mesh-call-engine.c */
MeshCall  *mesh_call_engine_find_call_by_id (MeshCallEngine *self,
                                             const char     *room_id,
                                             MeshMediaKind   kind,
                                             const char     *call_id);
/* A new reference to each call, safe while calls end. */
GPtrArray *mesh_call_engine_dup_calls       (MeshCallEngine *self);
void       mesh_call_engine_send_refusal    (MeshCallEngine *self,
                                             const char     *room_id,
                                             MeshMediaKind   kind,
                                             const char     *call_id,
                                             const char     *peer_id,
                                             const char     *reason);
/* The user name @peer_id has in @room_id, or NULL. */
char      *mesh_call_engine_username_of     (MeshCallEngine *self,
                                             const char     *room_id,
                                             const char     *peer_id);
/* Emits MeshCallEngine::incoming-call. */
void       mesh_call_engine_incoming_call   (MeshCallEngine *self,
                                             MeshCall       *call);

/* mesh-call-engine-events.c */
void       mesh_call_engine_watch_session   (MeshCallEngine *self);

G_END_DECLS
