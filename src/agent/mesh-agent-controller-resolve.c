/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller-private.h"

#include <string.h>

/* Names the user typed (a room's name, `user/device-name`) to the ids the
 * server routes by, from what the controller knows of its rooms and devices. */

/**
 * mesh_agent_controller_resolve_room:
 * @room: a room id or a room name
 *
 * Returns: (transfer full): the room id, or %NULL with MESH_ERROR_ROOM_NOT_FOUND
 *   (or BAD_REQUEST when several rooms have that name)
 */
char *
mesh_agent_controller_resolve_room (MeshAgentController  *self,
                                    const char           *room,
                                    GError              **error)
{
  GHashTableIter iter;
  const char *room_id, *name, *found = NULL;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room != NULL, NULL);

  if (g_hash_table_contains (self->rooms, room))
    return g_strdup (room);
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, (gpointer *) &room_id, (gpointer *) &name)) {
    if (g_strcmp0 (name, room) != 0)
      continue;
    if (found != NULL) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "several rooms are named “%s”: use the room id", room);
      return NULL;
    }
    found = room_id;
  }
  if (found == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "no room “%s” of yours", room);
    return NULL;
  }
  return g_strdup (found);
}

/**
 * mesh_agent_controller_resolve_device:
 * @device: a device id, or `user/device-name` for the user's own devices
 *
 * Other users' device names are not published by the server, so their
 * devices are named by id (room.joined lists them).
 *
 * Returns: (transfer full): a device id connected to @room_id, or %NULL with
 *   MESH_ERROR_UNROUTABLE (or BAD_REQUEST)
 */
char *
mesh_agent_controller_resolve_device (MeshAgentController  *self,
                                      const char           *room_id,
                                      const char           *device,
                                      GError              **error)
{
  g_autoptr(GPtrArray) peers = NULL;
  const char *slash;
  const char *device_id = device;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room_id != NULL && device != NULL, NULL);

  if (!g_hash_table_contains (self->rooms, room_id)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "no room “%s” of yours", room_id);
    return NULL;
  }
  slash = strchr (device, '/');
  if (slash != NULL) {
    g_autofree char *user = g_strndup (device, slash - device);
    const char *name = slash + 1;

    device_id = NULL;
    if (g_strcmp0 (user, mesh_agent_state_get_username (self->state)) != 0) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                   "the server does not publish other users' device names: name %s's device "
                   "by its id", user);
      return NULL;
    }
    for (guint i = 0; i < self->own_devices->len; i++) {
      MeshClientDevice *own = self->own_devices->pdata[i];

      if (g_strcmp0 (own->name, name) == 0) {
        if (device_id != NULL) {
          g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                       "several of your devices are named “%s”: use the device id", name);
          return NULL;
        }
        device_id = own->device_id;
      }
    }
    if (device_id == NULL) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE, "you have no device named “%s”", name);
      return NULL;
    }
  }
  peers = controller_room_peers (self, room_id);
  for (guint i = 0; i < peers->len; i++) {
    const MeshPeerInfo *peer = peers->pdata[i];

    if (g_strcmp0 (peer->device_id, device_id) == 0)
      return g_strdup (device_id);
  }
  g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
               "device “%s” is not connected to this room", device);
  return NULL;
}
