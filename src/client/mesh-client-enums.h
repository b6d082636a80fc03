/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* A user's or a peer's presence (protocol §3.2). */
typedef enum {
  MESH_PRESENCE_OFFLINE,
  MESH_PRESENCE_ONLINE,
  MESH_PRESENCE_BUSY,
  MESH_PRESENCE_SHARING,
} MeshPresence;

/* Where an own chat message is: pending (queued or sent, not yet confirmed
 * by chat.message.created), sent (confirmed; every received message is
 * "sent"), failed (the server refused it). */
typedef enum {
  MESH_DELIVERY_PENDING,
  MESH_DELIVERY_SENT,
  MESH_DELIVERY_FAILED,
} MeshDeliveryState;

typedef enum {
  MESH_CLIENT_SESSION_DISCONNECTED,
  MESH_CLIENT_SESSION_CONNECTING,
  MESH_CLIENT_SESSION_CONNECTED,
  MESH_CLIENT_SESSION_RECONNECTING,
} MeshClientSessionState;

#define MESH_TYPE_PRESENCE (mesh_presence_get_type ())
#define MESH_TYPE_DELIVERY_STATE (mesh_delivery_state_get_type ())
#define MESH_TYPE_CLIENT_SESSION_STATE (mesh_client_session_state_get_type ())

GType         mesh_presence_get_type             (void) G_GNUC_CONST;
GType         mesh_delivery_state_get_type       (void) G_GNUC_CONST;
GType         mesh_client_session_state_get_type (void) G_GNUC_CONST;

/* The wire names "offline", "online", "busy", "sharing". */
const char   *mesh_presence_to_string            (MeshPresence   presence);
gboolean      mesh_presence_from_string          (const char    *name,
                                                  MeshPresence  *presence);

G_END_DECLS
