/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller-private.h"

/* Sessions: the client role (A).  Once the server relayed B's accept, connect
 * to B's addresses in turn, say P2P_HELLO on a new stream and start the
 * session's engine when B answers OK. */

static void session_connect_next (MeshP2pSession *session);

static void
session_start_client_engine (MeshP2pSession *session)
{
  MeshAgentController *self = session->controller;

  session->started = TRUE;
  mesh_p2p_session_set_state (session, MESH_P2P_STATE_RUNNING, NULL);
  g_signal_emit (self, controller_signals[SIGNAL_SESSION_STARTED], 0, session->session_id,
                 session_kind (session), "client", mesh_p2p_session_get_name (session),
                 session->peer_username);
  /* A file sent before and unchanged since is not read again for its hash. */
  if (session->kind == MESH_P2P_KIND_FILE && session->hash_cache == NULL)
    session->hash_cache = mesh_hash_cache_get_for_dir (mesh_agent_state_get_dir (self->state));
  session->funcs->start (session);
  /* A viewer is the caller's from now on; it ends with the share. */
  if (session->funcs->returns_engine && session->engine != NULL && session->task != NULL) {
    GTask *task = g_steal_pointer (&session->task);

    g_hash_table_replace (self->viewed, g_strdup (session->share_id), g_object_ref (session));
    g_task_return_pointer (task, g_object_ref (session->engine), g_object_unref);
    g_object_unref (task);
  }
}

static void
on_reply_frame (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = NULL;
  MeshFrameType type;
  const char *t;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    controller_session_finish (session, error);
    return;
  }
  if (session->finished)
    return;
  if (type != MESH_FRAME_CONTROL) {
    g_set_error (&error, MESH_ERROR, MESH_ERROR_BAD_REQUEST, "expected P2P_OK, got a %s frame",
                 mesh_frame_type_to_string (type));
  } else if ((control = mesh_frame_control_parse (payload, &t, &error)) != NULL) {
    mesh_frame_p2p_reply_parse (control, &error);
  }
  if (error != NULL) {
    controller_session_finish (session, error);
    return;
  }
  session_start_client_engine (session);
}

static void
on_hello_written (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshFrameReader) reader = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error)) {
    controller_session_finish (session, error);
    return;
  }
  reader = mesh_frame_reader_get_for_stream (session->stream);
  mesh_frame_reader_read_async (reader, session->cancellable, on_reply_frame,
                                g_object_ref (session));
}

static void
on_client_connection_closed (MeshQuicConnection *connection,
                             GError             *error,
                             gpointer            user_data)
{
  MeshP2pSession *session = user_data;

  if (!session->finished && error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    controller_session_finish (session, error);
}

static void
on_quic_connected (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshQuicConnection) connection = NULL;
  g_autoptr(MeshQuicStream) stream = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  g_autoptr(JsonObject) hello = NULL;

  connection = mesh_quic_endpoint_connect_finish (MESH_QUIC_ENDPOINT (source), result, &error);
  g_clear_object (&session->attempt);
  if (session->finished || session->controller == NULL) {
    if (connection != NULL)
      mesh_quic_connection_close (connection, 0, "session over");
    return;
  }
  if (connection == NULL) {
    g_debug ("session %s: candidate %u failed: %s", session->session_id,
             session->next_candidate, error->message);
    if (session->next_candidate < session->candidates->len) {
      session_connect_next (session);
      return;
    }
    g_prefix_error (&error, "Cannot reach the peer's agent: ");
    controller_session_finish (session, error);
    return;
  }
  session->connection = g_object_ref (connection);
  g_signal_connect (connection, "closed", G_CALLBACK (on_client_connection_closed), session);
  stream = mesh_quic_connection_open_stream (connection, &error);
  if (stream == NULL) {
    controller_session_finish (session, error);
    return;
  }
  if (session->max_rate > 0 && session->funcs->paced)
    mesh_quic_stream_set_send_rate (stream, session->max_rate);
  session->stream = G_IO_STREAM (mesh_agent_session_stream_new (G_IO_STREAM (stream), NULL, NULL,
                                                                NULL, NULL));
  writer = mesh_frame_writer_get_for_stream (session->stream);
  hello = mesh_frame_p2p_hello_new (session->session_id, session->token,
                                    mesh_agent_state_get_device_id (session->controller->state));
  mesh_frame_writer_write_control_async (writer, hello, session->cancellable, on_hello_written,
                                         g_object_ref (session));
}

static gboolean
on_attempt_timeout (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
on_attempt_cancelled (GCancellable *cancellable,
                      gpointer      user_data)
{
  g_source_destroy (user_data);
}

static void
session_connect_next (MeshP2pSession *session)
{
  MeshAgentController *self = session->controller;
  GSocketAddress *address = session->candidates->pdata[session->next_candidate++];
  g_autoptr(GSource) timeout = NULL;

  session->attempt = g_cancellable_new ();
  timeout = controller_add_timeout (self, CONNECT_TIMEOUT_S * 1000, on_attempt_timeout,
                                    g_object_ref (session->attempt), g_object_unref);
  g_cancellable_connect (session->attempt, G_CALLBACK (on_attempt_cancelled),
                         g_source_ref (timeout), (GDestroyNotify) g_source_unref);
  mesh_quic_endpoint_connect_async (self->endpoint, address, session->peer_fingerprint,
                                    session->attempt, on_quic_connected, g_object_ref (session));
}

static void
add_candidate (GPtrArray  *candidates,
               const char *ip,
               gint64      port)
{
  g_autoptr(GInetAddress) address = NULL;

  if (ip == NULL || port < 1 || port > 65535 ||
      (address = g_inet_address_new_from_string (ip)) == NULL)
    return;
  for (guint i = 0; i < candidates->len; i++) {
    GInetSocketAddress *known = candidates->pdata[i];

    if (g_inet_address_equal (g_inet_socket_address_get_address (known), address))
      return;
  }
  g_ptr_array_add (candidates, g_inet_socket_address_new (address, (guint16) port));
}

/* p2p.session.accept reached us (A): connect to B's addresses in turn. */
void
session_accepted (MeshP2pSession *session)
{
  JsonObject *b = NULL;
  JsonArray *addrs = NULL;
  const char *ip = NULL;
  gint64 port = 0;

  mesh_p2p_session_set_state (session, MESH_P2P_STATE_CONNECTING, NULL);
  session->candidates = g_ptr_array_new_with_free_func (g_object_unref);
  if (mesh_json_get_object (session->endpoints, "b", TRUE, &b, NULL) &&
      mesh_json_get_int (b, "port", TRUE, &port, NULL)) {
    mesh_json_get_string (b, "ip", FALSE, &ip, NULL);
    add_candidate (session->candidates, ip, port);
    mesh_json_get_array (b, "addrs", FALSE, &addrs, NULL);
    for (guint i = 0; addrs != NULL && i < json_array_get_length (addrs); i++) {
      JsonNode *node = json_array_get_element (addrs, i);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        add_candidate (session->candidates, json_node_get_string (node), port);
    }
  }
  if (session->candidates->len == 0) {
    g_autoptr(GError) error = g_error_new_literal (MESH_ERROR, MESH_ERROR_UNROUTABLE,
                                                   "the server gave no address for the peer");
    controller_session_finish (session, error);
    return;
  }
  session_connect_next (session);
}
