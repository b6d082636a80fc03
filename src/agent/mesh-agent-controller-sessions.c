/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"
#define _GNU_SOURCE

#include "config.h"

#include "mesh-agent-controller-private.h"

static void on_caller_cancelled (GCancellable *cancellable, gpointer user_data);


static void
report_completed (MeshP2pSession *session,
                  gboolean ok)
{
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autofree char *id = NULL;

  if (session->controller == NULL)
    return;
  json_object_set_string_member (payload, "session_id", session->session_id);
  json_object_set_int_member (payload, "bytes", (gint64) session->bytes);
  json_object_set_boolean_member (payload, "ok", ok);
  id = controller_send_event (session->controller, MESH_EVENT_P2P_SESSION_COMPLETED, payload);
  /* The server forgets a session once its other side left: an error then is expected. */
  if (id != NULL)
    g_hash_table_add (session->controller->reports, g_steal_pointer (&id));
}

/* Sessions: common */

const char *
session_kind (MeshP2pSession *session)
{
  return mesh_p2p_kind_to_string (session->kind);
}

static const char *
session_role (MeshP2pSession *session)
{
  return mesh_p2p_role_to_string (session->role);
}

static void
on_session_progress (MeshP2pSession *session,
                     GParamSpec     *pspec,
                     gpointer        user_data)
{
  if (session->controller != NULL)
    g_signal_emit (session->controller, controller_signals[SIGNAL_SESSION_PROGRESS], 0,
                   session->session_id, session->bytes, session->total);
}

static void
on_session_saved (MeshP2pSession *session,
                  GParamSpec     *pspec,
                  gpointer        user_data)
{
  if (session->controller != NULL && session->path != NULL &&
      session->role == MESH_P2P_ROLE_SERVER)
    g_signal_emit (session->controller, controller_signals[SIGNAL_SESSION_SAVED], 0,
                   session->session_id, session->path);
}

/* A session of ours from now on: its progress and results are also told by
 * the controller's signals, and "session-added" hands it to whoever watches. */
static void
add_session (MeshAgentController *self,
             MeshP2pSession      *session)
{
  session->controller = self;
  session->done = controller_session_finish;
  g_signal_connect (session, "notify::bytes-done", G_CALLBACK (on_session_progress), NULL);
  g_signal_connect (session, "notify::file", G_CALLBACK (on_session_saved), NULL);
  g_signal_emit (self, controller_signals[SIGNAL_SESSION_ADDED], 0, session);
}

/* The client's connection carries only this session: after a cancel its
 * close says so too, since it may reach the peer before the stream's reset. */
static void
session_close_connection (MeshP2pSession *session)
{
  if (!(session->role == MESH_P2P_ROLE_CLIENT) || session->connection == NULL)
    return;
  if (session->cancelled)
    mesh_quic_connection_close (session->connection, MESH_QUIC_STREAM_CANCELLED, "cancelled");
  else
    mesh_quic_connection_close (session->connection, 0, "session done");
}

static void
on_connection_closed_after_session (GObject      *source,
                                    GAsyncResult *result,
                                    gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;

  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
  /* The client ends the connection once its stream is acknowledged. */
  session_close_connection (session);
}

static void
session_close_stream (MeshP2pSession *session)
{
  if (session->stream == NULL || g_io_stream_is_closed (session->stream) || session->cancelled) {
    session_close_connection (session);
    return;
  }
  g_io_stream_close_async (session->stream, G_PRIORITY_DEFAULT, NULL,
                           on_connection_closed_after_session, g_object_ref (session));
}

void
session_forget_peer (MeshP2pSession *session)
{
  if (session->expected && session->controller != NULL && session->controller->endpoint != NULL)
    mesh_quic_endpoint_forget_peer (session->controller->endpoint, session->peer_fingerprint);
  session->expected = FALSE;
}

/* Ends a session once: tells the server, the caller and the signal's listeners. */
void
controller_session_finish (MeshP2pSession      *session,
                           const GError *error)
{
  MeshAgentController *self = session->controller;
  g_autoptr(MeshP2pSession) hold = g_object_ref (session);
  gboolean ok = error == NULL;

  if (session->finished)
    return;
  session->finished = TRUE;
  session_forget_peer (session);
  if (session->attempt != NULL)
    g_cancellable_cancel (session->attempt);
  /* The filtered stream's callback holds the session: break the cycle. */
  if (MESH_IS_AGENT_SESSION_STREAM (session->stream))
    mesh_agent_session_stream_disconnect (MESH_AGENT_SESSION_STREAM (session->stream));

  if (!ok) {
    g_autofree char *message = controller_shown (error->message);

    g_debug ("session %s failed: %s", session->session_id, message);
  }
  if (session->started || (session->role == MESH_P2P_ROLE_CLIENT))
    report_completed (session, ok);
  mesh_p2p_session_set_state (session, ok ? MESH_P2P_STATE_DONE : MESH_P2P_STATE_FAILED, error);
  if (self != NULL)
    g_signal_emit (self, controller_signals[SIGNAL_SESSION_FINISHED], 0, session->session_id,
                   session_kind (session), session_role (session), ok, session->bytes, error);

  if (session->task != NULL) {
    GTask *task = g_steal_pointer (&session->task);

    if (error != NULL)
      g_task_return_error (task, g_error_copy (error));
    else if (session->funcs->returns_engine)
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "the terminal share ended");
    else
      g_task_return_boolean (task, TRUE);
    g_object_unref (task);
  }

  /* Engines other than terminal ones leave the stream to us. */
  if (!session->funcs->owns_stream)
    session_close_stream (session);
  else if ((session->role == MESH_P2P_ROLE_CLIENT) && session->connection != NULL)
    mesh_quic_connection_close (session->connection, 0, "terminal closed");

  if (self != NULL && ((session->role == MESH_P2P_ROLE_CLIENT) || session->expiry == NULL))
    g_hash_table_remove (self->sessions, session->session_id);
  if (self != NULL && session->share_id != NULL && (session->role == MESH_P2P_ROLE_CLIENT))
    g_hash_table_remove (self->viewed, session->share_id);
}

/* Sessions: the server role (B): offers, their expiry and the policy (the
 * incoming connection and its P2P_HELLO are in -hello.c) */

/* A declined or expired offer: its token stops working, and whatever runs for
 * it stops and leaves nothing behind.  (hello_check refuses a session before
 * it was accepted, so normally nothing runs.) */
static void
session_withdraw (MeshP2pSession *session)
{
  session->accepted = FALSE;
  session_forget_peer (session);
  session->funcs->discard (session);
  g_cancellable_cancel (session->cancellable);
  if (session->stream != NULL && !g_io_stream_is_closed (session->stream))
    g_io_stream_close_async (session->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

static gboolean
on_session_expired (gpointer user_data)
{
  MeshP2pSession *session = user_data;
  MeshAgentController *self = session->controller;

  g_clear_pointer (&session->expiry, g_source_unref);
  session_forget_peer (session);
  if (self == NULL)
    return G_SOURCE_REMOVE;
  if (session->asking) {
    g_autoptr(JsonObject) reject = json_object_new ();
    g_autofree char *id = NULL;

    session->asking = FALSE;
    session_withdraw (session);
    json_object_set_string_member (reject, "session_id", session->session_id);
    json_object_set_string_member (reject, "reason", "the offer expired");
    id = controller_send_event (self, MESH_EVENT_P2P_SESSION_REJECT, reject);
    {
      g_autoptr(GError) expired = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                                       "the offer expired");

      mesh_p2p_session_set_state (session, MESH_P2P_STATE_REFUSED, expired);
    }
    g_signal_emit (self, controller_signals[SIGNAL_SESSION_REJECTED], 0, session->session_id,
                   session_kind (session), session->peer_username, "the offer expired");
  }
  /* The record stays while the session runs (it can be cancelled); the token
   * is dead either way. */
  if (!session->started || session->finished)
    g_hash_table_remove (self->sessions, session->session_id);
  return G_SOURCE_REMOVE;
}

gboolean
controller_user_in (const char         *username,
                    const char * const *list)
{
  return username != NULL && list != NULL && g_strv_contains (list, username);
}

/* Whether we take this session; NULL when yes, else the reason. */
static const char *
policy_refuses (MeshAgentController *self,
                MeshP2pSession             *session)
{
  if (session->kind == MESH_P2P_KIND_TERMINAL) {
    if (session->share_id == NULL || !g_hash_table_contains (self->shares, session->share_id))
      return "no such terminal share on this device";
    return NULL;
  }
  if (!self->accept_offers)
    return "this agent does not receive files";
  if (g_strcmp0 (session->peer_user_id, self->user_id) == 0 ||
      controller_user_in (session->peer_username, (const char * const *) self->accept_from))
    return NULL;
  return "the sender is not in this agent's --accept-from list";
}

void
controller_handle_session_created (MeshAgentController *self,
                                   JsonObject          *payload)
{
  g_autoptr(MeshP2pSession) session = NULL;
  g_autoptr(GTask) task = NULL;
  JsonObject *auth = NULL, *meta = NULL, *endpoints = NULL;
  const char *session_id, *kind, *role, *token, *fingerprint, *peer_device_id;
  gint64 expires_in = 0, max_size = 0, max_rate = 0;
  MeshP2pKind kind_enum;
  const char *reason;

  session_id = controller_payload_string (payload, "session_id");
  kind = controller_payload_string (payload, "kind");
  role = controller_payload_string (payload, "role");
  peer_device_id = controller_payload_string (payload, "peer_device_id");
  if (session_id == NULL || kind == NULL || role == NULL || peer_device_id == NULL ||
      !mesh_json_get_object (payload, "auth", TRUE, &auth, NULL) ||
      !mesh_json_get_object (payload, "meta", TRUE, &meta, NULL) ||
      !mesh_json_get_object (payload, "endpoints", TRUE, &endpoints, NULL) ||
      !mesh_json_get_int (payload, "expires_in", TRUE, &expires_in, NULL) ||
      (token = controller_payload_string (auth, "session_token")) == NULL ||
      (fingerprint = controller_payload_string (auth, "fingerprint")) == NULL ||
      !mesh_fingerprint_is_valid (fingerprint)) {
    g_warning ("Ignoring a malformed p2p.session.created");
    return;
  }
  mesh_json_get_int (payload, "max_size", FALSE, &max_size, NULL);
  mesh_json_get_int (payload, "max_rate", FALSE, &max_rate, NULL);

  if (!mesh_p2p_kind_from_string (kind, &kind_enum) ||
      (!g_str_equal (role, "client") && !g_str_equal (role, "server"))) {
    g_warning ("Ignoring a p2p.session.created of an unknown kind or role");
    return;
  }

  if (g_str_equal (role, "client")) {
    Op *op;

    task = controller_take_pending (self, controller_payload_string (payload, "ref"));
    if (task == NULL) {
      g_debug ("p2p.session.created %s answers nothing we asked", session_id);
      return;
    }
    op = g_task_get_task_data (task);
    session = g_object_ref (op->session);
    session->task = g_steal_pointer (&task);
    g_clear_pointer (&session->room_id, g_free);
    g_clear_pointer (&session->peer_device_id, g_free);
    if (session->controller == NULL)
      add_session (self, session);
  } else {
    session = mesh_p2p_session_new (kind_enum, MESH_P2P_ROLE_SERVER);
  }
  mesh_p2p_session_set_id (session, session_id);
  session->room_id = g_strdup (controller_payload_string (payload, "room_id"));
  session->peer_device_id = g_strdup (peer_device_id);
  session->peer_user_id = g_strdup (controller_payload_string (payload, "peer_user_id"));
  session->peer_username = g_strdup (controller_payload_string (payload, "peer_username"));
  session->token = g_strdup (token);
  session->peer_fingerprint = g_strdup (fingerprint);
  session->meta = json_object_ref (meta);
  session->endpoints = json_object_ref (endpoints);
  session->max_size = max_size;
  session->max_rate = max_rate;
  if (kind_enum == MESH_P2P_KIND_TERMINAL) {
    /* A viewer's session already has the share it asked for. */
    g_free (session->share_id);
    session->share_id = g_strdup (controller_payload_string (meta, "share_id"));
  } else if (session->role == MESH_P2P_ROLE_SERVER) {
    gint64 offered = 0;

    /* What the peer offers, until its engine says how much comes. */
    mesh_json_get_int (meta, "size", FALSE, &offered, NULL);
    session->total = (guint64) MAX (offered, 0);
  }

  if (session->role == MESH_P2P_ROLE_CLIENT) {
    /* The caller's cancel is its user's: the receiver hears of it. */
    if (g_task_get_cancellable (session->task) != NULL)
      g_cancellable_connect (g_task_get_cancellable (session->task),
                             G_CALLBACK (on_caller_cancelled), g_object_ref (session),
                             g_object_unref);
    g_hash_table_replace (self->sessions, session->session_id, g_object_ref (session));
    return;
  }

  /* The token lives as long as the server said, or less if we were told so. */
  if (self->max_token_lifetime > 0)
    expires_in = MIN (expires_in, (gint64) self->max_token_lifetime);
  expires_in = CLAMP (expires_in, 0, 3600);

  reason = policy_refuses (self, session);
  if (reason != NULL && self->ask_offers && kind_enum != MESH_P2P_KIND_TERMINAL &&
      g_hash_table_lookup (self->sessions, session_id) == NULL) {
    const char *name = controller_payload_string (meta, "name");
    gint64 size = 0;

    /* The user decides before the token expires; silence is a refusal. */
    mesh_json_get_int (meta, "size", FALSE, &size, NULL);
    session->asking = TRUE;
    session->expires_at = g_get_monotonic_time () + expires_in * G_USEC_PER_SEC;
    session->expiry = controller_add_timeout (self, (guint) expires_in * 1000, on_session_expired,
                                              g_object_ref (session), g_object_unref);
    g_hash_table_replace (self->sessions, session->session_id, g_object_ref (session));
    mesh_p2p_session_set_state (session, MESH_P2P_STATE_OFFERED, NULL);
    add_session (self, session);
    g_signal_emit (self, controller_signals[SIGNAL_SESSION_OFFERED], 0, session_id, kind,
                   session->room_id, session->peer_username, peer_device_id,
                   name != NULL ? name : "", (guint64) MAX (size, 0));
    return;
  }
  if (reason != NULL) {
    g_autoptr(JsonObject) reject = json_object_new ();
    g_autofree char *id = NULL;

    json_object_set_string_member (reject, "session_id", session_id);
    json_object_set_string_member (reject, "reason", reason);
    id = controller_send_event (self, MESH_EVENT_P2P_SESSION_REJECT, reject);
    g_signal_emit (self, controller_signals[SIGNAL_SESSION_REJECTED], 0, session_id, kind,
                   session->peer_username, reason);
    return;
  }

  session->expires_at = g_get_monotonic_time () + expires_in * G_USEC_PER_SEC;
  session->expiry = controller_add_timeout (self, (guint) expires_in * 1000, on_session_expired,
                                            g_object_ref (session), g_object_unref);
  mesh_quic_endpoint_expect_peer (self->endpoint, fingerprint);
  session->expected = TRUE;
  session->accepted = TRUE;
  g_hash_table_replace (self->sessions, session->session_id, g_object_ref (session));
  add_session (self, session);
  controller_send_simple (self, MESH_EVENT_P2P_SESSION_ACCEPT, "session_id", session_id);
}

void
controller_handle_session_accept (MeshAgentController *self,
                                  JsonObject          *payload)
{
  const char *session_id = controller_payload_string (payload, "session_id");
  MeshP2pSession *session = session_id ? g_hash_table_lookup (self->sessions, session_id) : NULL;

  if (session == NULL || session->role != MESH_P2P_ROLE_CLIENT || session->candidates != NULL ||
      session->finished)
    return;
  session_accepted (session);
}

/* Requests */

void
controller_request_session (MeshAgentController *self,
                            GTask               *task)
{
  Op *op = g_task_get_task_data (task);
  g_autoptr(JsonObject) payload = json_object_new ();
  g_autoptr(JsonObject) meta = json_object_new ();
  const char *device_id = op->devices->pdata[op->next_device++];
  char *id;

  json_object_set_string_member (payload, "room_id", op->room_id);
  json_object_set_string_member (payload, "target_device_id", device_id);
  json_object_set_string_member (payload, "kind", session_kind (op->session));
  json_object_set_string_member (payload, "cap_token", op->cap_token);
  if (op->share_id != NULL) {
    json_object_set_string_member (meta, "share_id", op->share_id);
  } else {
    json_object_set_string_member (meta, "name", op->name);
    json_object_set_int_member (meta, "size", (gint64) op->size);
  }
  json_object_set_object_member (payload, "meta", g_steal_pointer (&meta));
  id = controller_send_event (self, MESH_EVENT_P2P_SESSION_REQUEST, payload);
  if (id == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                             "not connected to the server");
    g_object_unref (task);
    return;
  }
  controller_add_pending (self, id, task);
}

static void
on_cap_issued (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentController *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  GError *error = NULL;

  op->cap_token = mesh_client_rest_request_caps_finish (MESH_CLIENT_REST (source), result, NULL,
                                                        &error);
  if (op->cap_token == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (g_task_return_error_if_cancelled (task))
    return;
  controller_request_session (self, g_steal_pointer (&task));
}

/* POST /rooms/{id}/caps for the op's kind (§4), then the request. */
void
controller_request_cap (MeshAgentController *self,
                        GTask               *task,
                        const char          *target_device_id)
{
  Op *op = g_task_get_task_data (task);
  const char *caps[] = { op->session->funcs->cap, NULL };

  mesh_client_rest_request_caps_async (self->rest, op->room_id, caps, NULL, target_device_id, 0,
                                       g_task_get_cancellable (task), on_cap_issued, task);
}

typedef struct {
  gboolean is_folder;
  guint64  size;
} Probe;

static __thread guint64 walk_total;

static int
walk_add (const char        *path,
          const struct stat *st,
          int                flag,
          struct FTW        *ftw)
{
  if (flag == FTW_F && S_ISREG (st->st_mode))
    walk_total += st->st_size;
  return 0;
}

/* What the session announces: a file's size, or the sum of a folder's
 * regular files (ZIP_META's total_bytes). */
static void
probe_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  g_autofree char *path = g_file_get_path (G_FILE (task_data));
  Probe *probe = g_new0 (Probe, 1);
  struct stat st;

  if (path == NULL || stat (path, &st) != 0) {
    int saved = path != NULL ? errno : ENOENT;

    g_free (probe);
    g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved), "Cannot read %s: %s",
                             path != NULL ? path : "(not a local file)", g_strerror (saved));
    return;
  }
  if (S_ISDIR (st.st_mode)) {
    probe->is_folder = TRUE;
    walk_total = 0;
    if (nftw (path, walk_add, 16, FTW_PHYS) != 0) {
      int saved = errno;

      g_free (probe);
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               "Cannot read the folder %s: %s", path, g_strerror (saved));
      return;
    }
    probe->size = walk_total;
  } else if (S_ISREG (st.st_mode)) {
    probe->size = st.st_size;
  } else {
    g_free (probe);
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                             "%s is neither a file nor a folder", path);
    return;
  }
  g_task_return_pointer (task, probe, g_free);
}

static void
on_probed (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshAgentController *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autofree Probe *probe = NULL;
  GError *error = NULL;

  probe = g_task_propagate_pointer (G_TASK (result), &error);
  if (probe == NULL) {
    g_task_return_error (task, error);
    return;
  }
  mesh_p2p_session_set_kind (op->session, probe->is_folder ? MESH_P2P_KIND_FOLDER
                                                           : MESH_P2P_KIND_FILE);
  op->size = probe->size;
  op->session->total = probe->size;
  controller_request_cap (self, g_steal_pointer (&task), op->devices->pdata[0]);
}

/* The send's end, whether its session ran or not: a send that failed before
 * the server created its session (no connection, no capability, an
 * unreadable file) fails its session object too. */
static void
on_send_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Op *op = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    if (!mesh_p2p_session_is_finished (op->session))
      mesh_p2p_session_set_state (op->session, MESH_P2P_STATE_FAILED, error);
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

/**
 * mesh_agent_controller_send_async:
 *
 * Returns: (transfer none): the session, alive at least until @callback runs;
 *   its session id comes once the server created it
 */
MeshP2pSession *
mesh_agent_controller_send_async (MeshAgentController *self,
                                  const char          *room_id,
                                  const char          *device_id,
                                  GFile               *path,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GTask *outer;
  MeshP2pSession *session;
  Op *op;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), NULL);
  g_return_val_if_fail (room_id != NULL && device_id != NULL && G_IS_FILE (path), NULL);

  outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, mesh_agent_controller_send_async);
  task = g_task_new (self, cancellable, on_send_done, outer);
  op = g_new0 (Op, 1);
  op->room_id = g_strdup (room_id);
  op->path = g_object_ref (path);
  op->name = g_file_get_basename (path);
  op->devices = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (op->devices, g_strdup (device_id));
  /* One stat: the probe in a thread sums a folder's size. */
  op->session = mesh_p2p_session_new (g_file_query_file_type (path, G_FILE_QUERY_INFO_NONE, NULL)
                                      == G_FILE_TYPE_DIRECTORY
                                      ? MESH_P2P_KIND_FOLDER : MESH_P2P_KIND_FILE,
                                      MESH_P2P_ROLE_CLIENT);
  op->session->room_id = g_strdup (room_id);
  op->session->peer_device_id = g_strdup (device_id);
  op->session->path = g_object_ref (path);
  session = op->session;
  g_task_set_task_data (task, op, (GDestroyNotify) controller_op_free);
  add_session (self, session);
  if (!controller_require_ready (self, task))
    return session;
  {
    g_autoptr(GTask) probe = g_task_new (self, cancellable, on_probed, g_steal_pointer (&task));

    g_task_set_task_data (probe, g_object_ref (path), g_object_unref);
    g_task_run_in_thread (probe, probe_thread);
  }
  return session;
}

gboolean
mesh_agent_controller_send_finish (MeshAgentController  *self,
                                   GAsyncResult         *result,
                                   GError              **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Whether offers the policy does not accept are asked about ("session-offered")
 * instead of refused. */
void
mesh_agent_controller_set_ask_offers (MeshAgentController *self,
                                      gboolean             ask)
{
  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));

  self->ask_offers = ask;
}

/* Answers a "session-offered": @folder is where to save it, NULL to decline.
 * FALSE when the offer is no longer waiting (it expired). */
gboolean
mesh_agent_controller_answer_offer (MeshAgentController *self,
                                    const char          *session_id,
                                    GFile               *folder)
{
  MeshP2pSession *session;

  g_return_val_if_fail (MESH_IS_AGENT_CONTROLLER (self), FALSE);
  g_return_val_if_fail (session_id != NULL, FALSE);
  g_return_val_if_fail (folder == NULL || G_IS_FILE (folder), FALSE);

  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL || !session->asking)
    return FALSE;
  session->asking = FALSE;
  if (folder == NULL) {
    g_autoptr(JsonObject) reject = json_object_new ();
    g_autofree char *id = NULL;

    json_object_set_string_member (reject, "session_id", session_id);
    json_object_set_string_member (reject, "reason", "declined");
    id = controller_send_event (self, MESH_EVENT_P2P_SESSION_REJECT, reject);
    session_withdraw (session);
    {
      g_autoptr(GError) declined = g_error_new_literal (MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED,
                                                        "declined");

      mesh_p2p_session_set_state (session, MESH_P2P_STATE_REFUSED, declined);
    }
    g_hash_table_remove (self->sessions, session_id);
    return TRUE;
  }
  session->download_dir = g_object_ref (folder);
  mesh_quic_endpoint_expect_peer (self->endpoint, session->peer_fingerprint);
  session->expected = TRUE;
  session->accepted = TRUE;
  mesh_p2p_session_set_state (session, MESH_P2P_STATE_ACCEPTED, NULL);
  controller_send_simple (self, MESH_EVENT_P2P_SESSION_ACCEPT, "session_id", session_id);
  return TRUE;
}

/* A user's cancel stops the data at once in both directions, without
 * sending what is still queued: RESET_STREAM and STOP_SENDING with
 * MESH_QUIC_STREAM_CANCELLED, which the peer reads as "cancelled by the other
 * side" (not a lost connection: it keeps no .part to resume). */
static void
session_abort_stream (MeshP2pSession *session)
{
  GIOStream *stream = session->stream;

  if (MESH_IS_AGENT_SESSION_STREAM (stream))
    stream = mesh_agent_session_stream_get_base (MESH_AGENT_SESSION_STREAM (stream));
  session->cancelled = TRUE;
  if (MESH_IS_QUIC_STREAM (stream) && !g_io_stream_is_closed (stream))
    mesh_quic_stream_abort (MESH_QUIC_STREAM (stream), MESH_QUIC_STREAM_CANCELLED);
}

static gboolean
caller_cancel_in_context (gpointer user_data)
{
  MeshP2pSession *session = user_data;

  if (!session->finished && session->controller != NULL)
    session_abort_stream (session);
  g_cancellable_cancel (session->cancellable);
  return G_SOURCE_REMOVE;
}

/* May run in any thread (the caller's cancellable): the stream is the
 * controller context's. */
static void
on_caller_cancelled (GCancellable *cancellable,
                     gpointer      user_data)
{
  MeshP2pSession *session = user_data;
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, caller_cancel_in_context, g_object_ref (session),
                         g_object_unref);
  g_source_attach (source, session->controller != NULL ? session->controller->context : NULL);
}

/* Stops a file or folder session in either role; it finishes with
 * G_IO_ERROR_CANCELLED. */
void
mesh_agent_controller_cancel_session (MeshAgentController *self,
                                      const char          *session_id)
{
  MeshP2pSession *session;

  g_return_if_fail (MESH_IS_AGENT_CONTROLLER (self));
  g_return_if_fail (session_id != NULL);

  session = g_hash_table_lookup (self->sessions, session_id);
  if (session == NULL || session->finished)
    return;
  if (session->asking) {
    mesh_agent_controller_answer_offer (self, session_id, NULL);
    return;
  }
  /* Our user stopped an incoming transfer: its partial file goes too. */
  session->funcs->discard (session);
  session_abort_stream (session);
  g_cancellable_cancel (session->cancellable);
}
