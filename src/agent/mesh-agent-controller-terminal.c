/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller-private.h"

void
controller_share_free (Share *share)
{
  if (share->host != NULL) {
    g_signal_handlers_disconnect_by_data (share->host, share);
    mesh_terminal_host_stop (share->host);
  }
  g_clear_object (&share->host);
  g_free (share->share_id);
  g_free (share->room_id);
  g_free (share->controller_peer_id);
  g_free (share->granted_peer_id);
  g_ptr_array_unref (share->viewers);
  g_free (share);
}

/* Host side: a viewer presents its terminal:control token (docs/agent.md). */
/* Whether @peer_id (a member of the share's room) is the device at the other
 * end of @session. */
static gboolean
peer_is_session_device (MeshAgentController *self,
                        Share               *share,
                        const char          *peer_id,
                        MeshP2pSession             *session)
{
  const MeshPeerInfo *member = controller_room_peer (self, share->room_id, peer_id);

  return member != NULL && g_strcmp0 (member->device_id, session->peer_device_id) == 0;
}

void
controller_on_term_control (JsonObject *control,
                            gpointer    user_data)
{
  MeshP2pSession *session = user_data;
  MeshAgentController *self = session->controller;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  const MeshCapClaims *claims;
  const char *cap_token = NULL;
  Share *share;

  if (self == NULL || session->finished ||
      (share = g_hash_table_lookup (self->shares, session->share_id)) == NULL)
    return;

  if (!mesh_json_get_string (control, "cap_token", FALSE, &cap_token, &error)) {
    /* error set */
  } else if (self->cap_key == NULL) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_INTERNAL, "no server key to check tokens");
  } else if ((claims = mesh_cap_key_check (self->cap_key, cap_token, share->room_id,
                                           MESH_CAP_TERMINAL_CONTROL, NULL,
                                           mesh_agent_state_get_device_id (self->state), 0,
                                           &error)) == NULL) {
    /* error set */
  } else if (g_strcmp0 (claims->sub, session->peer_user_id) != 0) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_CAP_INVALID,
                         "the token was issued to another user");
  } else if (g_strcmp0 (share->controller_peer_id, share->granted_peer_id) != 0 &&
             peer_is_session_device (self, share, share->granted_peer_id, session)) {
    /* The viewer's token travelled faster than the server's
     * terminal.control.granted to us: check it again once that arrives. */
    g_clear_pointer (&session->early_control, json_object_unref);
    session->early_control = json_object_ref (control);
    return;
  } else if (!peer_is_session_device (self, share, share->controller_peer_id, session)) {
    g_set_error_literal (&error, MESH_ERROR, MESH_ERROR_FORBIDDEN,
                         "this viewer does not hold terminal control");
  } else if (mesh_terminal_host_set_controller (share->host, session->viewer_id, &error)) {
    share->controller = session;
    g_debug ("viewer %s of share %s now controls it", session->viewer_id, share->share_id);
    return;
  }

  writer = mesh_frame_writer_get_for_stream (session->stream);
  {
    g_autoptr(JsonObject) reply = mesh_frame_error_new_from_gerror (error);

    mesh_frame_writer_write_control_async (writer, reply, NULL, NULL, NULL);
  }
}

static void
share_note_grant (Share      *share,
                  const char *peer_id)
{
  g_free (share->granted_peer_id);
  share->granted_peer_id = g_strdup (peer_id);
}

static void
share_revoke (Share *share)
{
  share->controller = NULL;
  mesh_terminal_host_set_controller (share->host, NULL, NULL);
}

static void
on_viewer_removed (MeshTerminalHost *host,
                   const char       *viewer_id,
                   gpointer          user_data)
{
  Share *share = user_data;

  for (guint i = 0; i < share->viewers->len; i++) {
    MeshP2pSession *session = share->viewers->pdata[i];

    if (g_strcmp0 (session->viewer_id, viewer_id) == 0) {
      if (share->controller == session)
        share->controller = NULL;
      controller_session_finish (session, NULL);
      g_ptr_array_remove_index_fast (share->viewers, i);
      return;
    }
  }
}

/* The shell ended: the share ends with it. */
static void
on_host_exited (MeshTerminalHost *host,
                int               status,
                gpointer          user_data)
{
  MeshAgentController *self = user_data;
  GHashTableIter iter;
  Share *share;

  g_hash_table_iter_init (&iter, self->shares);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &share)) {
    if (share->host == host) {
      g_autofree char *share_id = g_strdup (share->share_id);

      controller_send_simple (self, MESH_EVENT_TERMINAL_SHARE_STOP, "share_id", share_id);
      g_hash_table_iter_remove (&iter);
      g_signal_emit (self, controller_signals[SIGNAL_SHARE_STOPPED], 0, share_id);
      return;
    }
  }
}

void
controller_handle_share_started (MeshAgentController *self,
                                 JsonObject          *payload)
{
  g_autoptr(GTask) task = NULL;
  const char *share_id = controller_payload_string (payload, "share_id");
  Share *share;
  Op *op;

  controller_note_share_host (self, payload);
  task = controller_take_pending (self, controller_payload_string (payload, "ref"));
  if (task == NULL || share_id == NULL)
    return;
  op = g_task_get_task_data (task);
  share = g_new0 (Share, 1);
  share->share_id = g_strdup (share_id);
  share->room_id = g_strdup (op->room_id);
  share->host = g_steal_pointer (&op->host);
  share->viewers = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_replace (self->shares, share->share_id, share);
  g_signal_connect (share->host, "viewer-removed", G_CALLBACK (on_viewer_removed), share);
  g_signal_connect_object (share->host, "exited", G_CALLBACK (on_host_exited), self, 0);
  g_task_return_pointer (task, g_strdup (share_id), g_free);
}

void
controller_handle_share_stopped (MeshAgentController *self,
                                 JsonObject          *payload)
{
  const char *share_id = controller_payload_string (payload, "share_id");
  MeshP2pSession *viewed;

  if (share_id == NULL)
    return;
  g_hash_table_remove (self->share_hosts, share_id);
  if (g_hash_table_remove (self->shares, share_id))
    g_signal_emit (self, controller_signals[SIGNAL_SHARE_STOPPED], 0, share_id);
  viewed = g_hash_table_lookup (self->viewed, share_id);
  if (viewed != NULL) {
    g_signal_emit (self, controller_signals[SIGNAL_SHARE_STOPPED], 0, share_id);
    if (viewed->engine != NULL)
      mesh_terminal_viewer_close (MESH_TERMINAL_VIEWER (viewed->engine));
  }
}

void
controller_handle_control_request (MeshAgentController *self,
                                   JsonObject          *payload)
{
  g_autoptr(JsonObject) answer = json_object_new ();
  g_autofree char *id = NULL;
  const char *share_id = controller_payload_string (payload, "share_id");
  const char *peer_id = controller_payload_string (payload, "peer_id");
  const char *username = controller_payload_string (payload, "username");
  gboolean grant;

  if (share_id == NULL || peer_id == NULL || !g_hash_table_contains (self->shares, share_id))
    return;
  grant = controller_user_in (username, (const char * const *) self->allow_control);
  if (!grant && self->ask_control) {
    g_signal_emit (self, controller_signals[SIGNAL_CONTROL_REQUESTED], 0, share_id, peer_id,
                   username);
    return;
  }
  if (grant)
    share_note_grant (g_hash_table_lookup (self->shares, share_id), peer_id);
  json_object_set_string_member (answer, "share_id", share_id);
  json_object_set_string_member (answer, "peer_id", peer_id);
  if (!grant)
    json_object_set_string_member (answer, "reason", "not in this host's --allow-control list");
  {
    g_autofree char *who = controller_shown (username != NULL ? username : peer_id);

    g_message ("%s control of share %s to %s", grant ? "Granting" : "Denying", share_id, who);
  }
  id = controller_send_event (self, grant ? MESH_EVENT_TERMINAL_CONTROL_GRANT
                                          : MESH_EVENT_TERMINAL_CONTROL_DENY, answer);
}

/* Input written from now on reaches the host after the token. */
static void
on_term_control_written (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL) ||
      session->controller == NULL || session->finished)
    return;
  g_signal_emit (session->controller, controller_signals[SIGNAL_CONTROL_CHANGED], 0,
                 session->share_id, session->controller->peer_id);
}

static void
on_control_cap (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autofree char *cap_token = NULL;

  cap_token = mesh_client_rest_request_caps_finish (MESH_CLIENT_REST (source), result, NULL,
                                                    &error);
  if (session->finished || session->stream == NULL)
    return;
  if (cap_token == NULL) {
    g_autofree char *message = controller_shown (error->message);

    g_warning ("Cannot get a terminal:control token: %s", message);
    return;
  }
  control = mesh_frame_control_new ("TERM_CONTROL");
  json_object_set_string_member (control, "cap_token", cap_token);
  writer = mesh_frame_writer_get_for_stream (session->stream);
  mesh_frame_writer_write_control_async (writer, control, NULL, on_term_control_written,
                                         g_object_ref (session));
}

void
controller_handle_control_granted (MeshAgentController *self,
                                   JsonObject          *payload)
{
  const char *share_id = controller_payload_string (payload, "share_id");
  const char *controller = controller_payload_string (payload, "controller_peer_id");
  MeshP2pSession *viewed;
  Share *share;

  if (share_id == NULL || controller == NULL)
    return;
  share = g_hash_table_lookup (self->shares, share_id);
  if (share != NULL) {
    g_free (share->controller_peer_id);
    share->controller_peer_id = g_strdup (controller);
    /* A grant to someone else ends the previous controller's input at once. */
    if (share->controller != NULL) {
      const MeshPeerInfo *member = controller_room_peer (self, share->room_id, controller);

      if (member == NULL || g_strcmp0 (member->device_id, share->controller->peer_device_id) != 0)
        share_revoke (share);
    }
    for (guint i = 0; i < share->viewers->len; i++) {
      MeshP2pSession *viewer = share->viewers->pdata[i];
      g_autoptr(JsonObject) early = g_steal_pointer (&viewer->early_control);

      if (early != NULL)
        controller_on_term_control (early, viewer);
    }
  }
  viewed = g_hash_table_lookup (self->viewed, share_id);
  if (viewed != NULL && g_strcmp0 (controller, self->peer_id) == 0) {
    const char *caps[] = { MESH_CAP_TERMINAL_CONTROL, NULL };

    mesh_client_rest_request_caps_async (self->rest, viewed->room_id, caps, NULL,
                                         viewed->peer_device_id, 0, viewed->cancellable,
                                         on_control_cap, g_object_ref (viewed));
    /* "control-changed" follows once the token is on its way to the host. */
    return;
  }
  g_signal_emit (self, controller_signals[SIGNAL_CONTROL_CHANGED], 0, share_id, controller);
}

void
controller_handle_control_released (MeshAgentController *self,
                                    JsonObject          *payload)
{
  const char *share_id = controller_payload_string (payload, "share_id");
  Share *share;

  if (share_id == NULL)
    return;
  share = g_hash_table_lookup (self->shares, share_id);
  if (share != NULL) {
    g_clear_pointer (&share->controller_peer_id, g_free);
    g_clear_pointer (&share->granted_peer_id, g_free);
    for (guint i = 0; i < share->viewers->len; i++)
      g_clear_pointer (&((MeshP2pSession *) share->viewers->pdata[i])->early_control, json_object_unref);
    share_revoke (share);
  }
  g_signal_emit (self, controller_signals[SIGNAL_CONTROL_CHANGED], 0, share_id, NULL);
}

void
controller_handle_control_denied (MeshAgentController *self,
                                  JsonObject          *payload)
{
  g_signal_emit (self, controller_signals[SIGNAL_CONTROL_DENIED], 0,
                 controller_payload_string (payload, "share_id"),
                 controller_payload_string (payload, "reason"));
}

static gboolean
cancel_deadline (GCancellable *deadline)
{
  g_cancellable_cancel (deadline);
  return G_SOURCE_REMOVE;
}

/* Host side: the server's public key, for TERM_CONTROL tokens. */
static void
on_keys (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentController *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *pem = NULL;
  GError *error = NULL;
  char *id;

  pem = mesh_client_rest_get_keys_finish (MESH_CLIENT_REST (source), result, &error);
  if (op->timer != NULL) {
    g_source_destroy (op->timer);
    g_clear_pointer (&op->timer, g_source_unref);
  }
  if (pem == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_cancellable_is_cancelled (g_task_get_cancellable (task))) {
    g_clear_error (&error);
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "the server did not send its key within %d s", PENDING_TIMEOUT_S);
  }
  if (pem == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_clear_object (&self->cap_key);
  self->cap_key = mesh_cap_key_new_public (pem, &error);
  if (self->cap_key == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!mesh_terminal_host_start (op->host, TERM_COLS, TERM_ROWS, &error)) {
    g_task_return_error (task, error);
    return;
  }
  json_object_set_string_member (payload, "room_id", op->room_id);
  id = controller_send_event (self, MESH_EVENT_TERMINAL_SHARE_START, payload);
  if (id == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                             "not connected to the server");
    return;
  }
  controller_add_pending (self, id, g_steal_pointer (&task));
}

void
mesh_agent_controller_share_terminal_async (MeshAgentController *self,
                                            const char          *room_id,
                                            const char * const  *argv,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Op *op;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_controller_share_terminal_async);
  op = g_new0 (Op, 1);
  op->room_id = g_strdup (room_id);
  op->host = mesh_terminal_host_new (argv);
  g_task_set_task_data (task, op, (GDestroyNotify) controller_op_free);
  if (!controller_require_ready (self, task))
    return;
  /* The key comes at once from a live server: a stalled request fails in
   * words rather than leaving "Starting Your Shell…" up for minutes. */
  op->deadline = g_cancellable_new ();
  if (cancellable != NULL)
    g_cancellable_connect (cancellable, G_CALLBACK (g_cancellable_cancel),
                           g_object_ref (op->deadline), g_object_unref);
  op->timer = controller_add_timeout (self, PENDING_TIMEOUT_S * 1000,
                                      G_SOURCE_FUNC (cancel_deadline),
                                      g_object_ref (op->deadline), g_object_unref);
  mesh_client_rest_get_keys_async (self->rest, op->deadline, on_keys, g_steal_pointer (&task));
}

char *
mesh_agent_controller_share_terminal_finish (MeshAgentController  *self,
                                             GAsyncResult         *result,
                                             GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Ends a share: its shell is hung up and the server told. */
void
mesh_agent_controller_stop_share (MeshAgentController *self,
                                  const char          *share_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL);

  if (!g_hash_table_contains (self->shares, share_id))
    return;
  controller_send_simple (self, MESH_EVENT_TERMINAL_SHARE_STOP, "share_id", share_id);
  g_hash_table_remove (self->shares, share_id);
}

void
mesh_agent_controller_view_terminal_async (MeshAgentController *self,
                                           const char          *room_id,
                                           const char          *share_id,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  const char *host;
  Op *op;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (room_id != NULL && share_id != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_agent_controller_view_terminal_async);
  op = g_new0 (Op, 1);
  op->room_id = g_strdup (room_id);
  op->session = mesh_p2p_session_new (MESH_P2P_KIND_TERMINAL, MESH_P2P_ROLE_CLIENT);
  op->session->share_id = g_strdup (share_id);
  op->share_id = g_strdup (share_id);
  op->devices = g_ptr_array_new_with_free_func (g_free);
  g_task_set_task_data (task, op, (GDestroyNotify) controller_op_free);
  if (!controller_require_ready (self, task))
    return;

  /* Ask the share's host; a share we have not heard of is asked of each
   * agent of the room in turn, and the wrong ones answer UNROUTABLE. */
  host = g_hash_table_lookup (self->share_hosts, share_id);
  if (host != NULL) {
    g_ptr_array_add (op->devices, g_strdup (host));
  } else if (g_hash_table_contains (self->rooms, room_id)) {
    g_autoptr(GPtrArray) peers = controller_room_peers (self, room_id);

    for (guint i = 0; i < peers->len; i++) {
      const MeshPeerInfo *member = peers->pdata[i];

      if (member->device_id != NULL &&
          g_strcmp0 (member->device_id, mesh_agent_state_get_device_id (self->state)) != 0)
        g_ptr_array_add (op->devices, g_strdup (member->device_id));
    }
  }
  if (op->devices->len == 0) {
    g_task_return_new_error (task, MESH_ERROR, MESH_ERROR_UNROUTABLE,
                             "no other agent is connected to this room");
    return;
  }
  controller_request_cap (self, g_steal_pointer (&task), NULL);
}

/**
 * mesh_agent_controller_view_terminal_finish:
 *
 * Returns: (transfer full): the started viewer; its "closed" signal says when the share ends
 */
MeshTerminalViewer *
mesh_agent_controller_view_terminal_finish (MeshAgentController  *self,
                                            GAsyncResult         *result,
                                            GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Asks the host for control (§7); once granted, the terminal:control token
 * is fetched and presented to the host.  Watch "control-changed". */
void
mesh_agent_controller_take_control (MeshAgentController *self,
                                    const char          *share_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL);

  controller_send_simple (self, MESH_EVENT_TERMINAL_CONTROL_TAKE, "share_id", share_id);
}

void
mesh_agent_controller_release_control (MeshAgentController *self,
                                       const char          *share_id)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL);

  controller_send_simple (self, MESH_EVENT_TERMINAL_CONTROL_RELEASE, "share_id", share_id);
}

/* Whether control requests from users not in the allow-control list are
 * asked about ("control-requested") instead of denied. */
void
mesh_agent_controller_set_ask_control (MeshAgentController *self,
                                       gboolean             ask)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->ask_control = ask;
}

void
mesh_agent_controller_answer_control (MeshAgentController *self,
                                      const char          *share_id,
                                      const char          *peer_id,
                                      gboolean             grant)
{
  g_autoptr(JsonObject) answer = json_object_new ();
  g_autofree char *id = NULL;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (share_id != NULL && peer_id != NULL);

  if (!g_hash_table_contains (self->shares, share_id))
    return;
  if (grant)
    share_note_grant (g_hash_table_lookup (self->shares, share_id), peer_id);
  json_object_set_string_member (answer, "share_id", share_id);
  json_object_set_string_member (answer, "peer_id", peer_id);
  if (!grant)
    json_object_set_string_member (answer, "reason", "the host said no");
  id = controller_send_event (self, grant ? MESH_EVENT_TERMINAL_CONTROL_GRANT
                                          : MESH_EVENT_TERMINAL_CONTROL_DENY, answer);
}

/* The shell of a share hosted here (for a local view of it), or NULL. */
MeshTerminalHost *
mesh_agent_controller_get_share_host (MeshAgentController *self,
                                      const char          *share_id)
{
  Share *share;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (share_id != NULL, NULL);

  share = g_hash_table_lookup (self->shares, share_id);
  return share != NULL ? share->host : NULL;
}
