/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-client"

#include "config.h"

#include "mesh-client-session-private.h"
#include "mesh-events.h"

/* Our copy of room.joined lists the shares already running (the joiner
 * missed their terminal.share.started). */
void
client_session_announce_running_shares (MeshClientSession *self,
                                        SessionRoom       *room,
                                        JsonObject        *payload)
{
  JsonArray *shares = NULL;

  if (!mesh_json_get_array (payload, "shares", FALSE, &shares, NULL) || shares == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (shares); i++) {
    JsonNode *node = json_array_get_element (shares, i);
    const char *share_id = NULL, *device_id = NULL, *peer_id = NULL;
    MeshPeerInfo *host;

    if (!JSON_NODE_HOLDS_OBJECT (node) ||
        !mesh_json_get_string (json_node_get_object (node), "share_id", TRUE, &share_id, NULL) ||
        !mesh_json_get_string (json_node_get_object (node), "host_device_id", FALSE, &device_id,
                               NULL) ||
        !mesh_json_get_string (json_node_get_object (node), "host_peer_id", FALSE, &peer_id,
                               NULL))
      continue;
    host = peer_id != NULL ? g_hash_table_lookup (room->peers, peer_id) : NULL;
    g_signal_emit (self, client_session_signals[TERMINAL_SHARE_RUNNING], 0, room->room_id,
                   share_id, device_id, peer_id, host != NULL ? host->user_id : NULL,
                   host != NULL ? host->username : NULL);
  }
}

/* The string members @fields of the payload (absent ones are NULL);
 * FALSE when one of the first @n_required is missing or one is not a string. */
static gboolean
payload_strings (JsonObject  *payload,
                 guint        n_required,
                 const char **fields,
                 const char **values,
                 guint        n_fields)
{
  for (guint i = 0; i < n_fields; i++) {
    if (!mesh_json_get_string (payload, fields[i], i < n_required, &values[i], NULL))
      return FALSE;
  }
  return TRUE;
}

void
client_session_handle_terminal (MeshClientSession *self,
                                MeshEnvelope      *env)
{
  static const struct {
    const char *type;
    guint       signal;
    guint       n_required;
    const char *fields[6];
  } events[] = {
    { MESH_EVENT_TERMINAL_SHARE_STARTED, TERMINAL_SHARE_STARTED, 3,
      { "room_id", "share_id", "host_device_id", "host_peer_id", "user_id", "username" } },
    { MESH_EVENT_TERMINAL_SHARE_STOPPED, TERMINAL_SHARE_STOPPED, 1, { "share_id", "room_id" } },
    { MESH_EVENT_TERMINAL_CONTROL_REQUEST, TERMINAL_CONTROL_REQUEST, 2,
      { "share_id", "peer_id", "user_id", "username" } },
    { MESH_EVENT_TERMINAL_CONTROL_GRANTED, TERMINAL_CONTROL_GRANTED, 2,
      { "share_id", "controller_peer_id", "room_id" } },
    { MESH_EVENT_TERMINAL_CONTROL_RELEASED, TERMINAL_CONTROL_RELEASED, 1,
      { "share_id", "room_id" } },
    { MESH_EVENT_TERMINAL_CONTROL_DENIED, TERMINAL_CONTROL_DENIED, 1, { "share_id", "reason" } },
  };
  const char *v[6] = { NULL };

  for (guint i = 0; i < G_N_ELEMENTS (events); i++) {
    guint n_fields = 0;

    if (!g_str_equal (env->type, events[i].type))
      continue;
    while (n_fields < 6 && events[i].fields[n_fields] != NULL)
      n_fields++;
    if (!payload_strings (env->payload, events[i].n_required, (const char **) events[i].fields, v,
                          n_fields)) {
      g_debug ("ignoring a malformed %s", env->type);
      return;
    }
    /* Signal arguments in the documented order. */
    switch (events[i].signal) {
    case TERMINAL_SHARE_STARTED:
      g_signal_emit (self, client_session_signals[TERMINAL_SHARE_STARTED], 0, v[0], v[1], v[2],
                     v[3], v[4], v[5]);
      break;
    case TERMINAL_SHARE_STOPPED:
    case TERMINAL_CONTROL_RELEASED:
      g_signal_emit (self, client_session_signals[events[i].signal], 0, v[1], v[0]);
      break;
    case TERMINAL_CONTROL_REQUEST:
      g_signal_emit (self, client_session_signals[TERMINAL_CONTROL_REQUEST], 0, v[0], v[1], v[2],
                     v[3]);
      break;
    case TERMINAL_CONTROL_GRANTED:
      g_signal_emit (self, client_session_signals[TERMINAL_CONTROL_GRANTED], 0, v[2], v[0], v[1]);
      break;
    case TERMINAL_CONTROL_DENIED:
      g_signal_emit (self, client_session_signals[TERMINAL_CONTROL_DENIED], 0, v[0], v[1]);
      break;
    default:
      g_assert_not_reached ();
    }
    return;
  }
}

static void
share_start_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = NULL;
  const char *share_id;

  answer = mesh_client_session_request_finish (MESH_CLIENT_SESSION (source), result, &error);
  if (answer == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (!mesh_json_get_string (answer, "share_id", TRUE, &share_id, &error)) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_INTERNAL,
                             "the server's answer is malformed: %s", error->message);
    return;
  }
  g_task_return_pointer (task, g_strdup (share_id), g_free);
}

void
mesh_client_session_terminal_share_start_async (MeshClientSession   *self,
                                                const char          *room_id,
                                                const char          *device_id,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  GTask *task;

  g_return_if_fail (MESH_IS_CLIENT_SESSION (self));
  g_return_if_fail (room_id != NULL && device_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_client_session_terminal_share_start_async);
  json_object_set_string_member (payload, "room_id", room_id);
  json_object_set_string_member (payload, "device_id", device_id);
  mesh_client_session_request_async (self, MESH_EVENT_TERMINAL_SHARE_START, NULL, payload,
                                     cancellable, share_start_cb, task);
}

char *
mesh_client_session_terminal_share_start_finish (MeshClientSession  *self,
                                                 GAsyncResult       *result,
                                                 GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
mesh_client_session_terminal_share_stop (MeshClientSession  *self,
                                         const char         *share_id,
                                         GError            **error)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = NULL;

  g_return_val_if_fail (MESH_IS_CLIENT_SESSION (self), FALSE);
  g_return_val_if_fail (share_id != NULL, FALSE);

  json_object_set_string_member (payload, "share_id", share_id);
  id = mesh_client_session_send_event (self, MESH_EVENT_TERMINAL_SHARE_STOP, NULL, payload, error);
  return id != NULL;
}
