/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-hub"

#include "config.h"

#include "mesh-hub-private.h"
#include "mesh-ids.h"
#include "mesh-json.h"

/* §7: terminal shares and who controls them.  The host is the socket that
 * started the share (a client with its embedded agent, or an agent); the
 * shell runs on `host_device_id`.  At most one controller at a time; the host
 * grants, denies and may take control back. */

typedef struct {
  char    *share_id;
  char    *room_id;
  HubPeer *host;                /* borrowed: a share ends with its host */
  char    *host_device_id;
  char    *controller_peer_id;  /* NULL: nobody */
  char    *controller_user_id;
} HubShare;

static void
hub_share_free (HubShare *share)
{
  g_free (share->share_id);
  g_free (share->room_id);
  g_free (share->host_device_id);
  g_free (share->controller_peer_id);
  g_free (share->controller_user_id);
  g_free (share);
}

void
hub_terminal_init (MeshHub *self)
{
  self->shares = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) hub_share_free);
}

static void
share_broadcast (MeshHub    *self,
                 HubShare   *share,
                 const char *type,
                 JsonObject *payload)
{
  HubRoom *room = g_hash_table_lookup (self->rooms, share->room_id);
  g_autoptr(GBytes) frame = NULL;

  if (room == NULL)
    return;
  frame = hub_build_frame (type, "server", share->room_id, payload);
  hub_room_send (room, frame, NULL);
}

static JsonObject *
share_payload (HubShare *share)
{
  JsonObject *payload = json_object_new ();

  json_object_set_string_member (payload, "share_id", share->share_id);
  json_object_set_string_member (payload, "room_id", share->room_id);
  return payload;
}

/* The share named in the payload, which @peer must be able to see. */
static HubShare *
find_share (MeshHub     *self,
            HubPeer     *peer,
            JsonObject  *payload,
            GError     **error)
{
  const char *share_id;
  HubShare *share;

  if (!mesh_json_get_string (payload, "share_id", TRUE, &share_id, error))
    return NULL;
  share = g_hash_table_lookup (self->shares, share_id);
  if (share == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "no terminal share '%s'", share_id);
    return NULL;
  }
  if (hub_peer_find_room (peer, share->room_id) == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                 "join room '%s' to use its terminal share", share->room_id);
    return NULL;
  }
  return share;
}

static gboolean
require_host (HubShare  *share,
              HubPeer   *peer,
              GError   **error)
{
  if (share->host != peer) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only the host of the share may do that");
    return FALSE;
  }
  return TRUE;
}

static void
set_controller (MeshHub  *self,
                HubShare *share,
                HubPeer  *controller)
{
  g_autoptr(JsonObject) payload = share_payload (share);

  g_clear_pointer (&share->controller_peer_id, g_free);
  g_clear_pointer (&share->controller_user_id, g_free);
  if (controller != NULL) {
    share->controller_peer_id = g_strdup (controller->peer_id);
    share->controller_user_id = g_strdup (controller->user_id);
    json_object_set_string_member (payload, "controller_peer_id", controller->peer_id);
    share_broadcast (self, share, "terminal.control.granted", payload);
  } else {
    share_broadcast (self, share, "terminal.control.released", payload);
  }
}

/* The agent that runs the shell of a client's share when the client names
 * none (§7 names only room_id): the user's connected agent, preferring one
 * in the room, then one on the client's machine (the app's embedded agent),
 * then the most recently connected. */
static HubPeer *
pick_agent_for (MeshHub    *self,
                HubPeer    *client,
                const char *room_id)
{
  const char *host = mesh_ws_peer_get_remote_host (client->ws);
  HubPeer *best = NULL;
  gint best_score = -1;
  GHashTableIter iter;
  HubPeer *agent;

  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &agent)) {
    gint score;

    if (!agent->hello_done || g_strcmp0 (agent->user_id, client->user_id) != 0)
      continue;
    score = (hub_peer_find_room (agent, room_id) != NULL ? 2 : 0) +
            (g_strcmp0 (mesh_ws_peer_get_remote_host (agent->ws), host) == 0 ? 1 : 0);
    if (score > best_score ||
        (score == best_score &&
         mesh_ws_peer_get_connected_at (agent->ws) > mesh_ws_peer_get_connected_at (best->ws))) {
      best = agent;
      best_score = score;
    }
  }
  return best;
}

gboolean
hub_handle_terminal_start (MeshHub      *self,
                           HubPeer      *peer,
                           MeshEnvelope *env,
                           GError      **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_autoptr(GBytes) frame = NULL;
  const char *room_id, *device_id;
  HubShare *share;
  HubRoom *room;

  room = hub_require_joined_room (self, peer, env->payload, &room_id, error);
  if (room == NULL || !mesh_json_get_string (env->payload, "device_id", FALSE, &device_id, error))
    return FALSE;

  if (peer->is_agent) {
    device_id = peer->device_id;
  } else {
    HubPeer *agent;

    /* A client's shell runs in its embedded agent, which must be connected
     * and belong to the same user.  `device_id` (an extension) names it;
     * without it the server picks the user's agent. */
    if (device_id == NULL) {
      agent = pick_agent_for (self, peer, room_id);
      if (agent == NULL) {
        g_set_error_literal (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                             "none of your agents is connected to run the shell");
        return FALSE;
      }
      device_id = agent->device_id;
    }
    agent = g_hash_table_lookup (self->devices, device_id);
    if (agent == NULL || g_strcmp0 (agent->user_id, peer->user_id) != 0) {
      g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                   "your agent '%s' is not connected", device_id);
      return FALSE;
    }
  }

  share = g_new0 (HubShare, 1);
  share->share_id = mesh_id_new ();
  share->room_id = g_strdup (room_id);
  share->host = peer;
  share->host_device_id = g_strdup (device_id);
  g_hash_table_insert (self->shares, share->share_id, share);

  payload = share_payload (share);
  json_object_set_string_member (payload, "host_device_id", share->host_device_id);
  json_object_set_string_member (payload, "host_peer_id", peer->peer_id);
  json_object_set_string_member (payload, "user_id", peer->user_id);
  json_object_set_string_member (payload, "username", peer->username);
  frame = hub_build_frame ("terminal.share.started", "server", room_id, payload);
  hub_room_send (room, frame, peer);

  if (env->id != NULL)
    json_object_set_string_member (payload, "ref", env->id);
  hub_send_event (peer, "terminal.share.started", payload);
  /* §9: the room's other users, connected or not. */
  if (self->notifier != NULL)
    mesh_notifier_terminal_started (self->notifier, room_id, share->share_id, peer->user_id,
                                    peer->username);
  return TRUE;
}

static void
stop_share (MeshHub  *self,
            HubShare *share)
{
  g_autoptr(JsonObject) payload = share_payload (share);

  share_broadcast (self, share, "terminal.share.stopped", payload);
  g_hash_table_remove (self->shares, share->share_id);
}

gboolean
hub_handle_terminal_stop (MeshHub      *self,
                          HubPeer      *peer,
                          MeshEnvelope *env,
                          GError      **error)
{
  HubShare *share = find_share (self, peer, env->payload, error);

  if (share == NULL || !require_host (share, peer, error))
    return FALSE;
  stop_share (self, share);
  return TRUE;
}

gboolean
hub_handle_control_take (MeshHub      *self,
                         HubPeer      *peer,
                         MeshEnvelope *env,
                         GError      **error)
{
  g_autoptr(JsonObject) payload = NULL;
  g_autoptr(GBytes) frame = NULL;
  HubShare *share = find_share (self, peer, env->payload, error);

  if (share == NULL)
    return FALSE;
  if (share->host == peer) {
    /* The host takes control back without asking anyone. */
    if (share->controller_peer_id != NULL)
      set_controller (self, share, NULL);
    return TRUE;
  }

  payload = share_payload (share);
  json_object_set_string_member (payload, "peer_id", peer->peer_id);
  json_object_set_string_member (payload, "user_id", peer->user_id);
  json_object_set_string_member (payload, "username", peer->username);
  frame = hub_build_frame ("terminal.control.request", hub_peer_wire_id (peer),
                           hub_peer_wire_id (share->host), payload);
  mesh_ws_peer_send_bytes (share->host->ws, frame);
  return TRUE;
}

/* The peer a grant or deny is about: a member of the share's room. */
static HubPeer *
find_requester (MeshHub     *self,
                HubShare    *share,
                JsonObject  *payload,
                GError     **error)
{
  HubRoom *room = g_hash_table_lookup (self->rooms, share->room_id);
  const char *peer_id;
  HubPeer *requester;

  if (!mesh_json_get_string (payload, "peer_id", TRUE, &peer_id, error))
    return NULL;
  requester = room ? hub_room_find_peer (room, peer_id) : NULL;
  if (requester == NULL) {
    g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                 "peer '%s' is not in room '%s'", peer_id, share->room_id);
    return NULL;
  }
  return requester;
}

gboolean
hub_handle_control_grant (MeshHub      *self,
                          HubPeer      *peer,
                          MeshEnvelope *env,
                          GError      **error)
{
  HubShare *share = find_share (self, peer, env->payload, error);
  HubPeer *requester;

  if (share == NULL || !require_host (share, peer, error))
    return FALSE;
  requester = find_requester (self, share, env->payload, error);
  if (requester == NULL)
    return FALSE;
  /* A grant replaces the previous controller: one at a time. */
  set_controller (self, share, requester);
  return TRUE;
}

gboolean
hub_handle_control_deny (MeshHub      *self,
                         HubPeer      *peer,
                         MeshEnvelope *env,
                         GError      **error)
{
  g_autoptr(JsonObject) payload = NULL;
  HubShare *share = find_share (self, peer, env->payload, error);
  HubPeer *requester;
  const char *reason;

  if (share == NULL || !require_host (share, peer, error))
    return FALSE;
  requester = find_requester (self, share, env->payload, error);
  if (requester == NULL || !mesh_json_get_string (env->payload, "reason", FALSE, &reason, error))
    return FALSE;

  payload = share_payload (share);
  if (reason != NULL)
    json_object_set_string_member (payload, "reason", reason);
  hub_send_event (requester, "terminal.control.denied", payload);
  return TRUE;
}

gboolean
hub_handle_control_release (MeshHub      *self,
                            HubPeer      *peer,
                            MeshEnvelope *env,
                            GError      **error)
{
  HubShare *share = find_share (self, peer, env->payload, error);

  if (share == NULL)
    return FALSE;
  if (share->controller_peer_id == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "nobody holds control");
    return FALSE;
  }
  if (share->host != peer && !g_str_equal (share->controller_peer_id, peer->peer_id)) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "only the controller or the host may release control");
    return FALSE;
  }
  set_controller (self, share, NULL);
  return TRUE;
}

void
hub_terminal_peer_gone (MeshHub *self,
                        HubPeer *peer)
{
  g_autoptr(GPtrArray) hosted = g_ptr_array_new ();
  GHashTableIter iter;
  HubShare *share;

  g_hash_table_iter_init (&iter, self->shares);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
    if (share->host == peer)
      g_ptr_array_add (hosted, share);
    else if (g_strcmp0 (share->controller_peer_id, peer->peer_id) == 0)
      set_controller (self, share, NULL);
  }
  for (guint i = 0; i < hosted->len; i++)
    stop_share (self, g_ptr_array_index (hosted, i));
}

/* Whether @peer itself (not merely its user) holds control of a share of
 * @room_id. */
gboolean
hub_terminal_peer_controls (MeshHub    *self,
                            const char *room_id,
                            HubPeer    *peer)
{
  GHashTableIter iter;
  HubShare *share;

  g_hash_table_iter_init (&iter, self->shares);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
    if (g_str_equal (share->room_id, room_id) &&
        g_strcmp0 (share->controller_peer_id, peer->peer_id) == 0)
      return TRUE;
  }
  return FALSE;
}

/* The share of @room_id whose shell runs on @device_id, for a terminal
 * session request that names none (§5's meta is {name, size}).  A device
 * with several shares in the room needs `meta.share_id` to say which. */
const char *
hub_terminal_share_on_device (MeshHub     *self,
                              const char  *room_id,
                              const char  *device_id,
                              GError     **error)
{
  const char *found = NULL;
  guint n = 0;
  GHashTableIter iter;
  HubShare *share;

  g_hash_table_iter_init (&iter, self->shares);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
    if (g_str_equal (share->room_id, room_id) && g_str_equal (share->host_device_id, device_id)) {
      found = share->share_id;
      n++;
    }
  }
  if (n == 0)
    g_set_error (error, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                 "device '%s' shares no terminal in room '%s'", device_id, room_id);
  else if (n > 1)
    g_set_error (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "device '%s' shares %u terminals in room '%s': name one in 'meta.share_id'",
                 device_id, n, room_id);
  return n == 1 ? found : NULL;
}

/* Whether @share_id is a share of @room_id whose shell runs on @device_id. */
gboolean
hub_terminal_share_runs_on (MeshHub    *self,
                            const char *share_id,
                            const char *room_id,
                            const char *device_id)
{
  HubShare *share = g_hash_table_lookup (self->shares, share_id);

  return share != NULL && g_str_equal (share->room_id, room_id) &&
         g_str_equal (share->host_device_id, device_id);
}

/* [{share_id, host_device_id, host_peer_id, controller_peer_id?}] of a room. */
JsonArray *
hub_terminal_room_shares (MeshHub    *self,
                          const char *room_id)
{
  JsonArray *array = json_array_new ();
  GHashTableIter iter;
  HubShare *share;

  g_hash_table_iter_init (&iter, self->shares);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
    JsonObject *obj;

    if (!g_str_equal (share->room_id, room_id))
      continue;
    obj = json_object_new ();
    json_object_set_string_member (obj, "share_id", share->share_id);
    json_object_set_string_member (obj, "host_device_id", share->host_device_id);
    json_object_set_string_member (obj, "host_peer_id", share->host->peer_id);
    if (share->controller_peer_id != NULL)
      json_object_set_string_member (obj, "controller_peer_id", share->controller_peer_id);
    json_array_add_object_element (array, obj);
  }
  return array;
}
