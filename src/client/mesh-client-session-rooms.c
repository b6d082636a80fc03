/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-session-private.h"
#include "mesh-events.h"

/* A peer as room.joined names it (the event itself or one of `members`). */
static MeshPeerInfo *
peer_info_from_json (JsonObject  *object,
                     GError     **error)
{
  g_autoptr(MeshPeerInfo) info = g_new0 (MeshPeerInfo, 1);
  const char *peer_id, *user_id, *username, *peer_type, *device_id, *device_name, *status, *role;

  if (!mesh_json_get_string (object, "peer_id", TRUE, &peer_id, error) ||
      !mesh_json_get_string (object, "user_id", TRUE, &user_id, error) ||
      !mesh_json_get_string (object, "username", FALSE, &username, error) ||
      !mesh_json_get_string (object, "peer_type", FALSE, &peer_type, error) ||
      !mesh_json_get_string (object, "device_id", FALSE, &device_id, error) ||
      !mesh_json_get_string (object, "device_name", FALSE, &device_name, error) ||
      !mesh_json_get_string (object, "status", FALSE, &status, error) ||
      !mesh_json_get_string (object, "role", FALSE, &role, error))
    return NULL;

  info->peer_id = g_strdup (peer_id);
  info->user_id = g_strdup (user_id);
  info->username = g_strdup (username);
  info->peer_type = g_strdup (peer_type != NULL ? peer_type : "client");
  info->device_id = g_strdup (device_id);
  info->device_name = g_strdup (device_name);
  info->role = g_strdup (role);
  /* Optional; a wrong type is not worth refusing the peer for. */
  mesh_json_get_bool (object, "transient", FALSE, &info->transient, NULL);
  if (!mesh_presence_from_string (status, &info->status))
    info->status = MESH_PRESENCE_ONLINE;
  return g_steal_pointer (&info);
}

void
client_session_room_free (SessionRoom *room)
{
  g_free (room->room_id);
  g_free (room->join_id);
  g_hash_table_unref (room->peers);
  g_free (room->last_message_id);
  g_clear_pointer (&room->held, g_ptr_array_unref);
  g_clear_pointer (&room->caught, g_hash_table_unref);
  g_free (room);
}

static SessionRoom *
session_room_new (const char *room_id)
{
  SessionRoom *room = g_new0 (SessionRoom, 1);

  room->room_id = g_strdup (room_id);
  room->peers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) mesh_peer_info_free);
  return room;
}

static void
room_add_peer (SessionRoom  *room,
               MeshPeerInfo *info)
{
  /* The key lives in the value. */
  g_hash_table_replace (room->peers, info->peer_id, info);
}

void
client_session_handle_room_joined (MeshClientSession *self,
                                   MeshEnvelope      *env)
{
  g_autoptr(MeshPeerInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  const char *room_id;
  SessionRoom *room;
  JsonArray *members = NULL;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, &error) ||
      !mesh_json_get_array (env->payload, "members", FALSE, &members, &error) ||
      (info = peer_info_from_json (env->payload, &error)) == NULL) {
    g_debug ("ignoring room.joined: %s", error->message);
    return;
  }

  room = g_hash_table_lookup (self->rooms, room_id);
  if (g_strcmp0 (info->peer_id, self->peer_id) == 0) {
    /* Our own join (maybe sent with send_event): the members list is the
     * room as it is now. */
    if (room == NULL) {
      room = session_room_new (room_id);
      g_hash_table_insert (self->rooms, room->room_id, room);
    }
    g_hash_table_remove_all (room->peers);
    for (guint i = 0; members != NULL && i < json_array_get_length (members); i++) {
      JsonNode *node = json_array_get_element (members, i);
      g_autoptr(GError) member_error = NULL;
      MeshPeerInfo *member;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      member = peer_info_from_json (json_node_get_object (node), &member_error);
      if (member != NULL)
        room_add_peer (room, member);
    }
    if (!g_hash_table_contains (room->peers, info->peer_id))
      room_add_peer (room, mesh_peer_info_copy (info));
    room->joined = TRUE;
    room->join_sent = FALSE;
  } else if (room != NULL && room->joined) {
    room_add_peer (room, mesh_peer_info_copy (info));
  }

  g_signal_emit (self, client_session_signals[ROOM_JOINED], 0, room_id, info);
  if (g_strcmp0 (info->peer_id, self->peer_id) == 0) {
    client_session_announce_running_shares (self, room, env->payload);
    client_session_complete_waiters (self, WAIT_JOIN, room_id, NULL, NULL);
    /* The handlers may have left the room. */
    room = g_hash_table_lookup (self->rooms, room_id);
    if (room != NULL && !client_session_is_agent (self))
      client_session_catch_up (self, room);
  }
}

void
client_session_handle_room_left (MeshClientSession *self,
                                 MeshEnvelope      *env)
{
  const char *room_id = NULL, *peer_id = NULL;
  SessionRoom *room;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, NULL) ||
      !mesh_json_get_string (env->payload, "peer_id", TRUE, &peer_id, NULL)) {
    g_debug ("ignoring a malformed room.left");
    return;
  }
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && g_strcmp0 (peer_id, self->peer_id) != 0)
    g_hash_table_remove (room->peers, peer_id);
  g_signal_emit (self, client_session_signals[ROOM_LEFT], 0, room_id, peer_id);
}

/* room.deleted, and room.member.left of our own user (from any of our
 * clients): the server took our sockets out of the room already, so it is
 * forgotten without a room.leave, and not joined again on a reconnect. */
void
client_session_handle_room_gone (MeshClientSession *self,
                                 MeshEnvelope      *env)
{
  g_autoptr(GError) error = NULL;
  const char *room_id = NULL, *user_id = NULL;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, NULL) ||
      !mesh_json_get_string (env->payload, "user_id", FALSE, &user_id, NULL)) {
    g_debug ("ignoring a malformed %s", env->type);
    return;
  }
  if (g_str_equal (env->type, MESH_EVENT_ROOM_MEMBER_LEFT) && g_strcmp0 (user_id, self->user_id) != 0)
    return;
  if (!g_hash_table_contains (self->rooms, room_id))
    return;
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "room '%s' is gone", room_id);
  client_session_complete_waiters (self, WAIT_JOIN, room_id, NULL, error);
  g_hash_table_remove (self->rooms, room_id);
}

void
client_session_handle_presence (MeshClientSession *self,
                                MeshEnvelope      *env)
{
  const char *peer_id = NULL, *status_name = NULL;
  MeshPresence status;
  GHashTableIter iter;
  SessionRoom *room;

  if (!mesh_json_get_string (env->payload, "peer_id", TRUE, &peer_id, NULL) ||
      !mesh_json_get_string (env->payload, "status", TRUE, &status_name, NULL) ||
      !mesh_presence_from_string (status_name, &status)) {
    g_debug ("ignoring a malformed presence.update");
    return;
  }
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
    MeshPeerInfo *info = g_hash_table_lookup (room->peers, peer_id);

    if (info != NULL)
      info->status = status;
  }
  g_signal_emit (self, client_session_signals[PRESENCE_CHANGED], 0, peer_id, status);
}

void
mesh_client_session_join_room_async (MeshClientSession   *self,
                                     const char          *room_id,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  SessionRoom *room;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (room_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_client_session_join_room_async);

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && room->joined) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  if (room == NULL) {
    room = session_room_new (room_id);
    g_hash_table_insert (self->rooms, room->room_id, room);
  }
  /* One room.join in flight per room is enough (the one sent at the
   * welcome, for instance). */
  if (self->welcomed && !room->join_sent)
    client_session_send_join (self, room);
  client_session_add_waiter (self, WAIT_JOIN, room_id, task);
}

gboolean
mesh_client_session_join_room_finish (MeshClientSession  *self,
                                      GAsyncResult       *result,
                                      GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
mesh_client_session_leave_room (MeshClientSession *self,
                                const char        *room_id)
{
  g_autoptr(GError) error = NULL;
  SessionRoom *room;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (room_id != NULL);

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL)
    return;
  if (room->joined) {
    g_autoptr(JsonObject) payload = json_object_new ();
    g_autofree char *id = mesh_id_new ();

    json_object_set_string_member (payload, "room_id", room_id);
    client_session_send_frame (self, MESH_EVENT_ROOM_LEAVE, id, NULL, payload);
  }
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "left room '%s'", room_id);
  client_session_complete_waiters (self, WAIT_JOIN, room_id, NULL, error);
  g_hash_table_remove (self->rooms, room_id);
}

gboolean
mesh_client_session_is_room_joined (MeshClientSession *self,
                                    const char        *room_id)
{
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  room = g_hash_table_lookup (self->rooms, room_id);
  return room != NULL && room->joined;
}

gboolean
mesh_client_session_is_catching_up (MeshClientSession *self,
                                    const char        *room_id)
{
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  room = g_hash_table_lookup (self->rooms, room_id);
  return room != NULL && room->catching_up;
}

/* Returns: (transfer none) (nullable): @peer_id as the room knows it, valid
 * until the next event. */
const MeshPeerInfo *
mesh_client_session_lookup_room_peer (MeshClientSession *self,
                                      const char        *room_id,
                                      const char        *peer_id)
{
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);

  room = g_hash_table_lookup (self->rooms, room_id);
  return room != NULL && peer_id != NULL ? g_hash_table_lookup (room->peers, peer_id) : NULL;
}

GPtrArray *
mesh_client_session_dup_room_peers (MeshClientSession *self,
                                    const char        *room_id)
{
  GPtrArray *peers;
  SessionRoom *room;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);

  peers = g_ptr_array_new_with_free_func ((GDestroyNotify) mesh_peer_info_free);
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL) {
    GHashTableIter iter;
    MeshPeerInfo *info;

    g_hash_table_iter_init (&iter, room->peers);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &info))
      g_ptr_array_add (peers, mesh_peer_info_copy (info));
  }
  return peers;
}

void
mesh_client_session_set_presence (MeshClientSession *self,
                                  MeshPresence       status)
{
  GHashTableIter iter;
  SessionRoom *room;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (status != MESH_PRESENCE_OFFLINE);

  if (self->presence == status)
    return;
  self->presence = status;
  if (self->welcomed)
    client_session_send_presence (self);

  /* The server does not echo it: our own entries are updated here. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room)) {
    MeshPeerInfo *info = self->peer_id ? g_hash_table_lookup (room->peers, self->peer_id) : NULL;

    if (info != NULL)
      info->status = status;
  }
  if (self->peer_id != NULL)
    g_signal_emit (self, client_session_signals[PRESENCE_CHANGED], 0, self->peer_id, status);
}

MeshPresence
mesh_client_session_get_presence (MeshClientSession *self)
{
  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), MESH_PRESENCE_OFFLINE);
  return self->presence;
}
