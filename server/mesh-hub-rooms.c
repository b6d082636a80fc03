/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hub"

#include "config.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-hub-private.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

/* §3.2 rooms and presence, §3.3 chat. */

#define CHAT_MAX_BYTES      16384
#define CLIENT_MSG_ID_MAX   128

/* room.joined: §3.2 names peer_id, role and room_id; who joined (user,
 * type, device, status) is added so that others need no second look-up. */
static JsonObject *
joined_payload (HubPeer    *peer,
                const char *room_id,
                const char *role)
{
  JsonObject *obj = hub_member_json (peer);

  json_object_set_string_member (obj, "role", role);
  json_object_set_string_member (obj, "room_id", room_id);
  return obj;
}

/* §3.2 room.join */
gboolean
hub_handle_room_join (MeshHub      *self,
                      HubPeer      *peer,
                      MeshEnvelope *env,
                      GError      **error)
{
  g_autoptr(JsonObject) to_joiner = NULL;
  g_autoptr(JsonObject) to_others = NULL;
  g_autofree char *role = NULL;
  JsonArray *members;
  const char *room_id;
  HubRoom *room;
  gboolean already;

  if (!mesh_json_get_string (env->payload, "room_id", TRUE, &room_id, error))
    return FALSE;
  if (!mesh_store_room_exists (self->store, room_id)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_ROOM_NOT_FOUND, "no room '%s'", room_id);
    return FALSE;
  }
  role = mesh_store_get_member_role (self->store, room_id, peer->user_id);
  if (role == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN, "you are not a member of room '%s'", room_id);
    return FALSE;
  }

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL) {
    room = g_new0 (HubRoom, 1);
    room->room_id = g_strdup (room_id);
    room->peers = g_ptr_array_new ();
    g_hash_table_insert (self->rooms, room->room_id, room);
  }
  already = hub_peer_find_room (peer, room_id) != NULL;
  if (!already) {
    g_ptr_array_add (room->peers, peer);
    g_ptr_array_add (peer->rooms, room);
  }

  to_others = joined_payload (peer, room_id, role);
  to_joiner = joined_payload (peer, room_id, role);
  members = json_array_new ();
  for (guint i = 0; i < room->peers->len; i++)
    json_array_add_object_element (members, hub_member_json (g_ptr_array_index (room->peers, i)));
  json_object_set_array_member (to_joiner, "members", members);
  /* Shares already running, so a late joiner can view them. */
  json_object_set_array_member (to_joiner, "shares", hub_terminal_room_shares (self, room_id));
  if (env->id != NULL)
    json_object_set_string_member (to_joiner, "ref", env->id);
  hub_send_event (peer, "room.joined", to_joiner);

  if (!already) {
    g_autoptr(GBytes) frame = hub_build_frame ("room.joined", "server", room_id, to_others);

    hub_room_send (room, frame, peer);
  }
  return TRUE;
}

void
hub_room_remove_peer (MeshHub *self,
                      HubRoom *room,
                      HubPeer *peer)
{
  g_ptr_array_remove (room->peers, peer);
  g_ptr_array_remove (peer->rooms, room);
  if (room->peers->len == 0)
    g_hash_table_remove (self->rooms, room->room_id);
}

GBytes *
hub_left_frame (HubPeer *peer,
                HubRoom *room)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "peer_id", peer->peer_id);
  json_object_set_string_member (payload, "room_id", room->room_id);
  return hub_build_frame ("room.left", "server", room->room_id, payload);
}

/* §3.2 room.leave: room.left goes to the whole room, the leaver included. */
gboolean
hub_handle_room_leave (MeshHub      *self,
                       HubPeer      *peer,
                       MeshEnvelope *env,
                       GError      **error)
{
  g_autoptr(GBytes) frame = NULL;
  HubRoom *room = hub_require_joined_room (self, peer, env->payload, NULL, error);

  if (room == NULL)
    return FALSE;
  frame = hub_left_frame (peer, room);
  hub_room_send (room, frame, NULL);
  hub_room_remove_peer (self, room, peer);
  return TRUE;
}

/* Sends @frame once to every peer sharing a room with @peer. */
void
hub_send_to_room_mates (HubPeer *peer,
                        GBytes  *frame)
{
  g_autoptr(GHashTable) done = g_hash_table_new (NULL, NULL);

  for (guint i = 0; i < peer->rooms->len; i++) {
    HubRoom *room = g_ptr_array_index (peer->rooms, i);

    for (guint j = 0; j < room->peers->len; j++) {
      HubPeer *mate = g_ptr_array_index (room->peers, j);

      if (mate != peer && g_hash_table_add (done, mate))
        mesh_ws_peer_send_bytes (mate->ws, frame);
    }
  }
}

GBytes *
hub_presence_frame (HubPeer *peer)
{
  g_autoptr(JsonObject) payload = json_object_new ();

  json_object_set_string_member (payload, "peer_id", peer->peer_id);
  json_object_set_string_member (payload, "status", peer->status);
  return hub_build_frame ("presence.update", hub_peer_wire_id (peer), NULL, payload);
}

/* §3.2 presence.update: to the peer's room mates (the sender knows). */
gboolean
hub_handle_presence_update (MeshHub      *self,
                            HubPeer      *peer,
                            MeshEnvelope *env,
                            GError      **error)
{
  static const char * const statuses[] = { "online", "busy", "sharing" };
  g_autoptr(GBytes) frame = NULL;
  const char *status;

  if (!mesh_json_get_string (env->payload, "status", TRUE, &status, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++) {
    if (g_str_equal (status, statuses[i]))
      peer->status = statuses[i];
  }
  if (!g_str_equal (peer->status, status)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                         "field 'status' must be \"online\", \"busy\" or \"sharing\"");
    return FALSE;
  }
  frame = hub_presence_frame (peer);
  hub_send_to_room_mates (peer, frame);
  return TRUE;
}

/* §3.3 chat.message.send: stored first, then sent to the room. */
gboolean
hub_handle_chat_send (MeshHub      *self,
                      HubPeer      *peer,
                      MeshEnvelope *env,
                      GError      **error)
{
  g_autoptr(MeshStoreMessage) message = NULL;
  g_autoptr(JsonObject) payload = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GBytes) own_frame = NULL;
  const char *room_id, *content, *client_msg_id;
  gboolean duplicate = FALSE;
  HubRoom *room;
  gsize len;

  room = hub_require_joined_room (self, peer, env->payload, &room_id, error);
  if (room == NULL ||
      !mesh_json_get_string (env->payload, "content", TRUE, &content, error) ||
      !mesh_json_get_string (env->payload, "client_msg_id", FALSE, &client_msg_id, error))
    return FALSE;

  len = strlen (content);
  if (len == 0) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "field 'content' is empty");
    return FALSE;
  }
  if (len > CHAT_MAX_BYTES) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_PAYLOAD_TOO_LARGE,
                 "field 'content' is %" G_GSIZE_FORMAT " bytes; at most %d", len, CHAT_MAX_BYTES);
    return FALSE;
  }
  if (client_msg_id != NULL && (client_msg_id[0] == '\0' || strlen (client_msg_id) > CLIENT_MSG_ID_MAX)) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "field 'client_msg_id' must be 1..%d characters", CLIENT_MSG_ID_MAX);
    return FALSE;
  }

  message = mesh_store_add_message (self->store, room_id, peer->user_id, hub_peer_wire_id (peer),
                                    content, client_msg_id, &duplicate, error);
  if (message == NULL)
    return FALSE;

  payload = mesh_store_message_to_json (message);
  if (!duplicate) {
    frame = hub_build_frame ("chat.message.created", hub_peer_wire_id (peer), room_id, payload);
    hub_room_send (room, frame, peer);
  }
  /* The sender's copy carries the ref; a re-sent message is confirmed to
   * its sender only, with the message_id it got the first time. */
  if (env->id != NULL)
    json_object_set_string_member (payload, "ref", env->id);
  own_frame = hub_build_frame ("chat.message.created", hub_peer_wire_id (peer), room_id, payload);
  mesh_ws_peer_send_bytes (peer->ws, own_frame);
  /* §9: every other member, connected or not; a re-send is no news. */
  if (!duplicate && self->notifier != NULL)
    mesh_notifier_chat_message (self->notifier, message);
  return TRUE;
}

HubPeer *
hub_room_find_peer (HubRoom    *room,
                const char *peer_id)
{
  for (guint i = 0; i < room->peers->len; i++) {
    HubPeer *member = g_ptr_array_index (room->peers, i);

    if (g_str_equal (member->peer_id, peer_id))
      return member;
  }
  return NULL;
}
