/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-enums.h"

G_DEFINE_ENUM_TYPE (MeshPresence, mesh_presence,
  G_DEFINE_ENUM_VALUE (MESH_PRESENCE_OFFLINE, "offline"),
  G_DEFINE_ENUM_VALUE (MESH_PRESENCE_ONLINE, "online"),
  G_DEFINE_ENUM_VALUE (MESH_PRESENCE_BUSY, "busy"),
  G_DEFINE_ENUM_VALUE (MESH_PRESENCE_SHARING, "sharing"))

G_DEFINE_ENUM_TYPE (MeshDeliveryState, mesh_delivery_state,
  G_DEFINE_ENUM_VALUE (MESH_DELIVERY_PENDING, "pending"),
  G_DEFINE_ENUM_VALUE (MESH_DELIVERY_SENT, "sent"),
  G_DEFINE_ENUM_VALUE (MESH_DELIVERY_FAILED, "failed"))

G_DEFINE_ENUM_TYPE (MeshClientSessionState, mesh_client_session_state,
  G_DEFINE_ENUM_VALUE (MESH_CLIENT_SESSION_DISCONNECTED, "disconnected"),
  G_DEFINE_ENUM_VALUE (MESH_CLIENT_SESSION_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (MESH_CLIENT_SESSION_CONNECTED, "connected"),
  G_DEFINE_ENUM_VALUE (MESH_CLIENT_SESSION_RECONNECTING, "reconnecting"))

static const char * const presence_names[] = { "offline", "online", "busy", "sharing" };

const char *
mesh_presence_to_string (MeshPresence presence)
{
  g_return_val_if_fail (presence <= MESH_PRESENCE_SHARING, "offline");
  return presence_names[presence];
}

gboolean
mesh_presence_from_string (const char   *name,
                           MeshPresence *presence)
{
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (presence_names); i++) {
    if (g_str_equal (name, presence_names[i])) {
      *presence = (MeshPresence) i;
      return TRUE;
    }
  }
  return FALSE;
}
