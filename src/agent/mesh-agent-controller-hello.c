/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller-private.h"

/* Sessions: the server role (B).  A peer's QUIC connection comes in; its first
 * stream must open with a P2P_HELLO naming a session the server announced to
 * us, with its token, before the session's engine starts on that stream. */

static gboolean
tokens_equal (const char *a,
              const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  /* Constant time over the expected token's length. */
  for (gsize i = 0; i < lb; i++)
    diff |= (guint8) (b[i] ^ (i < la ? a[i] : 0));
  return diff == 0;
}

typedef struct {
  MeshAgentController *self;
  MeshQuicConnection  *connection;
  GIOStream           *stream;
  MeshFrameReader     *reader;
  GCancellable        *cancellable;
  GSource             *timeout;
  MeshP2pSession             *session;
  char                *deny_reason;
} Hello;

static void
hello_free (Hello *hello)
{
  if (hello->timeout != NULL) {
    g_source_destroy (hello->timeout);
    g_source_unref (hello->timeout);
  }
  g_object_unref (hello->self);
  g_object_unref (hello->connection);
  g_object_unref (hello->stream);
  g_object_unref (hello->reader);
  g_object_unref (hello->cancellable);
  g_clear_pointer (&hello->session, g_object_unref);
  g_free (hello->deny_reason);
  g_free (hello);
}

static void
on_denied_closed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

static void
on_deny_written (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Hello *hello = user_data;

  mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, NULL);
  g_io_stream_close_async (hello->stream, G_PRIORITY_DEFAULT, NULL, on_denied_closed, NULL);
  hello_free (hello);
}

static void
hello_deny (Hello      *hello,
            const char *reason)
{
  g_autoptr(MeshFrameWriter) writer = mesh_frame_writer_get_for_stream (hello->stream);
  g_autoptr(JsonObject) deny = mesh_frame_p2p_deny_new (reason);

  g_message ("Refused a P2P_HELLO: %s", reason);
  mesh_frame_writer_write_control_async (writer, deny, NULL, on_deny_written, hello);
}

/* A sender whose connection broke sends the same file again in a new
 * session, often before we notice that the old one is dead.  The old one
 * gives up so that the new one can resume its .part (which is never shared:
 * the receiver locks it). */
static void
replace_older_sessions (MeshP2pSession *session)
{
  GHashTableIter iter;
  MeshP2pSession *other;

  g_hash_table_iter_init (&iter, session->controller->sessions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &other)) {
    if (other == session || other->role == MESH_P2P_ROLE_CLIENT || !other->started ||
        other->finished || other->kind != session->kind ||
        g_strcmp0 (other->peer_device_id, session->peer_device_id) != 0 ||
        !json_object_equal (other->meta, session->meta))
      continue;
    g_debug ("session %s replaces session %s for the same file", session->session_id,
             other->session_id);
    g_cancellable_cancel (other->cancellable);
  }
}

static void
session_start_server_engine (MeshP2pSession *session)
{
  MeshAgentController *self = session->controller;
  Share *share = session->share_id != NULL ? g_hash_table_lookup (self->shares, session->share_id)
                                           : NULL;

  session->started = TRUE;
  mesh_p2p_session_set_state (session, MESH_P2P_STATE_RUNNING, NULL);
  g_signal_emit (self, controller_signals[SIGNAL_SESSION_STARTED], 0, session->session_id,
                 session_kind (session), "server", mesh_p2p_session_get_name (session),
                 session->peer_username);

  if (session->funcs->resumable)
    replace_older_sessions (session);
  if (session->download_dir == NULL)
    session->download_dir = g_object_ref (self->download_dir);
  if (share != NULL) {
    g_set_object (&session->host, share->host);
    session->on_control = controller_on_term_control;
  }
  session->funcs->start (session);
  if (share != NULL && session->viewer_id != NULL)
    g_ptr_array_add (share->viewers, g_object_ref (session));
}

static void
on_ok_written (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_frame_writer_write_finish (MESH_FRAME_WRITER (source), result, &error)) {
    controller_session_finish (session, error);
    return;
  }
  if (session->controller == NULL || session->finished)
    return;
  session_start_server_engine (session);
}

/* §6: checks P2P_HELLO against the session the server announced. */
static const char *
hello_check (Hello       *hello,
             JsonObject  *control,
             MeshP2pSession    **out)
{
  MeshAgentController *self = hello->self;
  const char *session_id, *token, *from_device_id;
  const char *fingerprint, *bound;
  MeshP2pSession *session;

  if (!mesh_frame_p2p_hello_parse (control, &session_id, &token, &from_device_id, NULL))
    return "the first frame must be a valid P2P_HELLO";
  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL || (session->role == MESH_P2P_ROLE_CLIENT))
    return "unknown or expired session";
  if (!tokens_equal (token, session->token))
    return "wrong session token";
  /* The peer holds the token as soon as the server created the session; only
   * our own answer makes it usable. */
  if (!session->accepted)
    return "the session was not accepted";
  if (session->token_used)
    return "the session token was already used";
  if (g_get_monotonic_time () >= session->expires_at)
    return "the session token expired";
  if (g_strcmp0 (from_device_id, session->peer_device_id) != 0)
    return "the session belongs to another device";
  fingerprint = mesh_quic_connection_get_peer_fingerprint (hello->connection);
  if (g_strcmp0 (fingerprint, session->peer_fingerprint) != 0)
    return "the certificate is not the session peer's";
  /* A connection serves the device of the first session it carried, even if
   * another device presents the same certificate. */
  bound = g_object_get_data (G_OBJECT (hello->connection), CONNECTION_DEVICE_KEY);
  if (bound != NULL && !g_str_equal (bound, session->peer_device_id))
    return "this connection belongs to another device's sessions";
  *out = session;
  return NULL;
}

static void
on_hello_frame (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Hello *hello = user_data;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) control = NULL;
  g_autoptr(JsonObject) ok = NULL;
  g_autoptr(MeshFrameWriter) writer = NULL;
  MeshP2pSession *session = NULL;
  const char *reason, *t;
  MeshFrameType type;

  if (!mesh_frame_reader_read_finish (MESH_FRAME_READER (source), result, &type, &payload,
                                      &error)) {
    g_autofree char *message = controller_shown (error->message);

    g_debug ("no P2P_HELLO: %s", message);
    g_io_stream_close_async (hello->stream, G_PRIORITY_DEFAULT, NULL, on_denied_closed, NULL);
    hello_free (hello);
    return;
  }
  if (type != MESH_FRAME_CONTROL ||
      (control = mesh_frame_control_parse (payload, &t, NULL)) == NULL) {
    hello_deny (hello, "the first frame must be a P2P_HELLO");
    return;
  }
  reason = hello_check (hello, control, &session);
  if (reason != NULL) {
    hello_deny (hello, reason);
    return;
  }

  session->token_used = TRUE;
  session_forget_peer (session);
  g_object_set_data_full (G_OBJECT (hello->connection), CONNECTION_DEVICE_KEY,
                          g_strdup (session->peer_device_id), g_free);
  g_set_object (&session->connection, hello->connection);
  g_set_object (&session->stream, hello->stream);
  writer = mesh_frame_writer_get_for_stream (hello->stream);
  ok = mesh_frame_p2p_ok_new ();
  mesh_frame_writer_write_control_async (writer, ok, session->cancellable, on_ok_written,
                                         g_object_ref (session));
  hello_free (hello);
}

static gboolean
on_hello_timeout (gpointer user_data)
{
  Hello *hello = user_data;

  g_clear_pointer (&hello->timeout, g_source_unref);
  g_cancellable_cancel (hello->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_new_stream (MeshQuicConnection *connection,
               MeshQuicStream     *stream,
               gpointer            user_data)
{
  MeshAgentController *self = user_data;
  Hello *hello = g_new0 (Hello, 1);

  hello->self = g_object_ref (self);
  hello->connection = g_object_ref (connection);
  hello->stream = G_IO_STREAM (mesh_agent_session_stream_new (G_IO_STREAM (stream), NULL, NULL,
                                                              NULL, NULL));
  hello->reader = mesh_frame_reader_get_for_stream (hello->stream);
  hello->cancellable = g_cancellable_new ();
  hello->timeout = controller_add_timeout (self, HELLO_TIMEOUT_S * 1000, on_hello_timeout, hello,
                                           NULL);
  mesh_frame_reader_read_async (hello->reader, hello->cancellable, on_hello_frame, hello);
}

static void
on_incoming_closed (MeshQuicConnection *connection,
                    GError             *error,
                    gpointer            user_data)
{
  MeshAgentController *self = user_data;

  if (self->connections != NULL)
    g_ptr_array_remove (self->connections, connection);
}

void
controller_on_incoming_connection (MeshQuicEndpoint   *endpoint,
                                   MeshQuicConnection *connection,
                                   gpointer            user_data)
{
  MeshAgentController *self = user_data;

  g_ptr_array_add (self->connections, g_object_ref (connection));
  g_signal_connect_object (connection, "new-stream", G_CALLBACK (on_new_stream), self, 0);
  g_signal_connect_object (connection, "closed", G_CALLBACK (on_incoming_closed), self, 0);
}
