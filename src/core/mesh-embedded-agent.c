/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent-private.h"

guint embedded_agent_signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshEmbeddedAgent, mesh_embedded_agent, G_TYPE_OBJECT)


/* Main thread: what the agent thread reports. */

static void
ready_on_main (MeshEmbeddedAgent *self,
               Msg               *msg)
{
  g_free (self->device_id);
  self->device_id = g_strdup (msg->ready.device_id);
  g_signal_emit (self, embedded_agent_signals[SIGNAL_READY], 0, msg->ready.device_id);
}

static void
failed_on_main (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  g_signal_emit (self, embedded_agent_signals[SIGNAL_FAILED], 0, msg->failed.message);
}

/* Agent thread from here to mesh_embedded_agent_new(). */

static void
report_failed (MeshEmbeddedAgent *self,
               const char        *message)
{
  Msg *msg = embedded_msg_new (MSG_FAILED, 0);

  msg->failed.message = g_strdup (message);
  embedded_post (self, msg);
}

/* The controller's reports */

static void
controller_ready_cb (MeshAgentController *controller,
                     MeshEmbeddedAgent   *self)
{
  Msg *msg = embedded_msg_new (MSG_READY, 0);

  msg->ready.device_id = g_strdup (mesh_agent_controller_get_device_id (controller));
  embedded_post (self, msg);
}

static void
controller_fatal_cb (MeshAgentController *controller,
                     GError              *error,
                     MeshEmbeddedAgent   *self)
{
  report_failed (self, error->message);
}

static void
start_controller (MeshEmbeddedAgent *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) download_dir = g_file_new_for_path (self->t_download_dir);

  self->controller = mesh_agent_controller_new (self->state, self->identity);
  mesh_agent_controller_set_download_dir (self->controller, download_dir);
  /* One's own devices' offers are taken at once if the user said so; every
   * other offer, and every control request, is asked about. */
  mesh_agent_controller_set_accept_offers (self->controller, self->t_accept_own);
  mesh_agent_controller_set_accept_from (self->controller, NULL);
  mesh_agent_controller_set_ask_offers (self->controller, TRUE);
  mesh_agent_controller_set_allow_control (self->controller, NULL);
  mesh_agent_controller_set_ask_control (self->controller, TRUE);
  mesh_agent_controller_set_reconnect (self->controller, TRUE);
  if (self->listen != NULL) {
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string (self->listen);
    g_autoptr(GSocketAddress) socket_address = NULL;

    if (address == NULL) {
      g_autofree char *message = g_strdup_printf (_("“%s” is not an IP address"), self->listen);

      report_failed (self, message);
      return;
    }
    socket_address = g_inet_socket_address_new (address, 0);
    mesh_agent_controller_set_quic_address (self->controller,
                                            G_INET_SOCKET_ADDRESS (socket_address));
  }
  g_signal_connect (self->controller, "ready", G_CALLBACK (controller_ready_cb), self);
  g_signal_connect (self->controller, "fatal", G_CALLBACK (controller_fatal_cb), self);
  g_signal_connect (self->controller, "session-added",
                    G_CALLBACK (embedded_session_added_cb), self);
  g_signal_connect (self->controller, "control-changed",
                    G_CALLBACK (embedded_control_changed_cb), self);
  g_signal_connect (self->controller, "control-requested",
                    G_CALLBACK (embedded_control_requested_cb), self);
  g_signal_connect (self->controller, "control-denied",
                    G_CALLBACK (embedded_control_denied_cb), self);
  g_signal_connect (self->controller, "share-stopped",
                    G_CALLBACK (embedded_share_stopped_cb), self);
  if (!mesh_agent_controller_start (self->controller, &error))
    report_failed (self, error->message);
}

static char *
device_name (void)
{
  /* Translators: this computer's name among the user's devices. */
  return g_strdup_printf (_("%s (desktop)"), g_get_host_name ());
}

static void
registered_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  MeshEmbeddedAgent *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_agent_state_register_device_finish (MESH_AGENT_STATE (source), result, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
      report_failed (self, _("The server’s answer is malformed"));
    else
      report_failed (self, error->message);
    return;
  }
  if (!mesh_agent_state_save (self->state, &error)) {
    report_failed (self, error->message);
    return;
  }
  start_controller (self);
}

static void
agent_begin (MeshEmbeddedAgent *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  gboolean same_account;

  if (g_mkdir_with_parents (self->state_dir, 0700) != 0) {
    g_autofree char *message = g_strdup_printf (_("Cannot create the folder “%s”"),
                                                self->state_dir);

    report_failed (self, message);
    return;
  }
  self->state = mesh_agent_state_new (self->state_dir);
  /* A missing or damaged state is simply made again. */
  mesh_agent_state_load (self->state, NULL);
  self->identity = mesh_agent_state_load_identity (self->state, &error);
  if (self->identity == NULL) {
    report_failed (self, error->message);
    return;
  }
  same_account = mesh_agent_state_is_registered (self->state) &&
                 g_strcmp0 (mesh_agent_state_get_server_url (self->state), self->server_url) == 0 &&
                 g_strcmp0 (mesh_agent_state_get_user_id (self->state), self->user_id) == 0;
  mesh_agent_state_set_server_url (self->state, self->server_url);
  mesh_agent_state_set_server_fingerprint (self->state, self->server_fingerprint);
  mesh_agent_state_set_user (self->state, self->username, self->user_id);
  if (same_account) {
    start_controller (self);
    return;
  }

  name = device_name ();
  self->soup = soup_session_new ();
  mesh_agent_state_register_device_async (self->state, self->soup, self->identity,
                                          self->access_token, name, self->cancellable,
                                          registered_cb, self);
}

gboolean
embedded_controller_ready (MeshEmbeddedAgent *self)
{
  return !g_cancellable_is_cancelled (self->cancellable) && self->controller != NULL &&
         mesh_agent_controller_is_ready (self->controller);
}

/* Agent thread: what the main thread asks for. */

static void
join_in_thread (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  if (self->controller != NULL)
    mesh_agent_controller_join_room (self->controller, msg->join.room_id);
}

static void
policy_in_thread (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  g_autoptr(GFile) folder = g_file_new_for_path (msg->policy.download_dir);

  g_free (self->t_download_dir);
  self->t_download_dir = g_strdup (msg->policy.download_dir);
  self->t_accept_own = msg->policy.accept_own;
  if (self->controller == NULL)
    return;
  mesh_agent_controller_set_download_dir (self->controller, folder);
  mesh_agent_controller_set_accept_offers (self->controller, msg->policy.accept_own);
}

static void
quit_in_thread (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  g_cancellable_cancel (self->cancellable);
  g_main_loop_quit (self->loop);
}

static gpointer
agent_thread (gpointer user_data)
{
  MeshEmbeddedAgent *self = user_data;

  g_main_context_push_thread_default (self->context);
  agent_begin (self);
  g_main_loop_run (self->loop);

  g_hash_table_remove_all (self->terms);
  if (self->controller != NULL) {
    g_signal_handlers_disconnect_by_data (self->controller, self);
    mesh_agent_controller_stop (self->controller);
  }
  /* Let cancelled operations call back while what they use is alive. */
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_clear_object (&self->controller);
  g_clear_object (&self->identity);
  g_clear_object (&self->state);
  if (self->soup != NULL)
    soup_session_abort (self->soup);
  g_clear_object (&self->soup);
  g_hash_table_remove_all (self->links);
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

void
embedded_msg_dispatch (Msg *msg)
{
  static void (* const handlers[N_MSG_TYPES]) (MeshEmbeddedAgent *self, Msg *msg) = {
    [MSG_READY] = ready_on_main,
    [MSG_FAILED] = failed_on_main,
    [MSG_TRANSFER_OFFERED] = embedded_transfer_offered_on_main,
    [MSG_TRANSFER_PROGRESS] = embedded_transfer_progress_on_main,
    [MSG_TRANSFER_SAVED] = embedded_transfer_saved_on_main,
    [MSG_TRANSFER_ENDED] = embedded_transfer_ended_on_main,
    [MSG_TERM_STARTED] = embedded_term_update_on_main,
    [MSG_TERM_OUTPUT] = embedded_term_update_on_main,
    [MSG_TERM_SIZE] = embedded_term_update_on_main,
    [MSG_TERM_CONTROL] = embedded_term_update_on_main,
    [MSG_TERM_ASK] = embedded_term_update_on_main,
    [MSG_TERM_DENIED] = embedded_term_update_on_main,
    [MSG_TERM_ENDED] = embedded_term_ended_on_main,
    [MSG_SEND] = embedded_send_in_thread,
    [MSG_CANCEL] = embedded_cancel_in_thread,
    [MSG_ANSWER] = embedded_answer_in_thread,
    [MSG_JOIN] = join_in_thread,
    [MSG_POLICY] = policy_in_thread,
    [MSG_QUIT] = quit_in_thread,
    [MSG_TERM_OPEN] = embedded_term_open_in_thread,
    [MSG_TERM_INPUT] = embedded_term_input_in_thread,
    [MSG_TERM_RESIZE] = embedded_term_resize_in_thread,
    [MSG_TERM_TAKE] = embedded_term_control_in_thread,
    [MSG_TERM_RELEASE] = embedded_term_control_in_thread,
    [MSG_TERM_GRANT] = embedded_term_control_in_thread,
    [MSG_TERM_STOP] = embedded_term_stop_in_thread,
  };

  handlers[msg->type] (msg->self, msg);
}

/* Main thread from here on. */

static char *
settings_download_dir (GSettings *settings)
{
  g_autofree char *folder = g_settings_get_string (settings, "download-folder");
  const char *downloads;

  if (*folder != '\0')
    return g_steal_pointer (&folder);
  downloads = g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);
  return g_strdup (downloads != NULL ? downloads : g_get_home_dir ());
}

/* Preferences apply at once, not at the next sign-in. */
static void
settings_changed_cb (MeshEmbeddedAgent *self)
{
  Msg *msg;

  if (self->stopped)
    return;
  g_free (self->download_dir);
  self->download_dir = settings_download_dir (self->settings);
  msg = embedded_msg_new (MSG_POLICY, 0);
  msg->policy.download_dir = g_strdup (self->download_dir);
  msg->policy.accept_own = g_settings_get_boolean (self->settings, "auto-accept-own-devices");
  embedded_post (self, msg);
}

static void
mesh_embedded_agent_dispose (GObject *object)
{
  MeshEmbeddedAgent *self = MESH_EMBEDDED_AGENT (object);

  mesh_embedded_agent_stop (self);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->terminals, g_hash_table_unref);
  g_clear_pointer (&self->transfer_ids, g_hash_table_unref);
  g_clear_object (&self->transfers);

  G_OBJECT_CLASS (mesh_embedded_agent_parent_class)->dispose (object);
}

static void
mesh_embedded_agent_finalize (GObject *object)
{
  MeshEmbeddedAgent *self = MESH_EMBEDDED_AGENT (object);

  embedded_mailbox_destroy (&self->to_main_box);
  embedded_mailbox_destroy (&self->to_thread_box);
  g_main_context_unref (self->main_context);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_object_unref (self->cancellable);
  g_hash_table_unref (self->links);
  g_hash_table_unref (self->terms);
  g_free (self->state_dir);
  g_free (self->server_url);
  g_free (self->server_fingerprint);
  g_free (self->user_id);
  g_free (self->username);
  g_free (self->access_token);
  g_free (self->download_dir);
  g_free (self->t_download_dir);
  g_free (self->listen);
  g_free (self->device_id);

  G_OBJECT_CLASS (mesh_embedded_agent_parent_class)->finalize (object);
}

static void
mesh_embedded_agent_class_init (MeshEmbeddedAgentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->dispose = mesh_embedded_agent_dispose;
  object_class->finalize = mesh_embedded_agent_finalize;

  embedded_agent_signals[SIGNAL_READY] =
    g_signal_new ("ready", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_STRING);
  embedded_agent_signals[SIGNAL_FAILED] =
    g_signal_new ("failed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_STRING);
  embedded_agent_signals[SIGNAL_OFFER] =
    g_signal_new ("offer", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  MESH_TYPE_TRANSFER);
  embedded_agent_signals[SIGNAL_RECEIVED] =
    g_signal_new ("received", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  MESH_TYPE_TRANSFER);
}

static void
mesh_embedded_agent_init (MeshEmbeddedAgent *self)
{
  self->main_context = g_main_context_ref_thread_default ();
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  embedded_mailbox_init (&self->to_main_box, self->main_context, G_PRIORITY_DEFAULT_IDLE);
  /* The agent thread has no frames to draw: everything comes at once. */
  embedded_mailbox_init (&self->to_thread_box, self->context, G_PRIORITY_DEFAULT);
  self->cancellable = g_cancellable_new ();
  self->transfers = g_list_store_new (MESH_TYPE_TRANSFER);
  self->transfer_ids = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->terminals = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->links = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) embedded_link_free);
  self->terms = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) embedded_term_free);
}

MeshEmbeddedAgent *
mesh_embedded_agent_new (const char *profile,
                         const char *server_url,
                         const char *user_id,
                         const char *username,
                         const char *access_token,
                         GSettings  *settings)
{
  MeshEmbeddedAgent *self;
  const char *listen;

  g_return_val_if_fail (server_url != NULL && user_id != NULL, NULL);
  g_return_val_if_fail (username != NULL && access_token != NULL, NULL);
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (MESH_TYPE_EMBEDDED_AGENT, NULL);
  /* The same folder names as the saved sign-in (mesh-saved-session.c). */
  self->state_dir = g_build_filename (g_get_user_state_dir (), "mesh",
                                      profile != NULL ? profile : "default", "agent", NULL);
  self->server_url = g_strdup (server_url);
  self->user_id = g_strdup (user_id);
  self->username = g_strdup (username);
  self->access_token = g_strdup (access_token);
  self->settings = g_object_ref (settings);
  self->download_dir = settings_download_dir (settings);
  self->t_download_dir = g_strdup (self->download_dir);
  self->t_accept_own = g_settings_get_boolean (settings, "auto-accept-own-devices");
  g_signal_connect_object (settings, "changed::download-folder", G_CALLBACK (settings_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::auto-accept-own-devices",
                           G_CALLBACK (settings_changed_cb), self, G_CONNECT_SWAPPED);
  self->server_fingerprint = g_settings_get_string (settings, "pinned-fingerprint");
  listen = g_getenv ("MESH_AGENT_LISTEN");
  self->listen = listen != NULL && *listen != '\0' ? g_strdup (listen) : NULL;
  return self;
}

void
mesh_embedded_agent_start (MeshEmbeddedAgent *self)
{
  g_return_if_fail (MESH_IS_EMBEDDED_AGENT (self));
  g_return_if_fail (self->thread == NULL && !self->stopped);

  self->thread = g_thread_new ("mesh-agent", agent_thread, self);
}

void
mesh_embedded_agent_stop (MeshEmbeddedAgent *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (MESH_IS_EMBEDDED_AGENT (self));

  if (self->stopped)
    return;
  self->stopped = TRUE;
  if (self->thread != NULL) {
    embedded_post (self, embedded_msg_new (MSG_QUIT, 0));
    g_thread_join (g_steal_pointer (&self->thread));
  }
  embedded_mailbox_clear (&self->to_thread_box);
  g_hash_table_iter_init (&iter, self->transfer_ids);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    mesh_transfer_set_state (value, MESH_TRANSFER_FAILED, _("Signed out"));
  g_hash_table_iter_init (&iter, self->terminals);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    g_signal_handlers_disconnect_by_data (value, self);
    mesh_shared_terminal_set_state (value, MESH_SHARED_TERMINAL_ENDED, NULL);
    g_hash_table_iter_remove (&iter);
  }
}

const char *
mesh_embedded_agent_get_user_id (MeshEmbeddedAgent *self)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);

  return self->user_id;
}

const char *
mesh_embedded_agent_get_device_id (MeshEmbeddedAgent *self)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);

  return self->device_id;
}

MeshSharedTerminal *
mesh_embedded_agent_share_terminal (MeshEmbeddedAgent *self,
                                    const char        *room_id)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (!self->stopped, NULL);

  return embedded_open_terminal (self, MESH_SHARED_TERMINAL_HOST, room_id, NULL, self->username);
}

MeshSharedTerminal *
mesh_embedded_agent_view_terminal (MeshEmbeddedAgent *self,
                                   const char        *room_id,
                                   const char        *share_id,
                                   const char        *host_name)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);
  g_return_val_if_fail (room_id != NULL && share_id != NULL, NULL);
  g_return_val_if_fail (!self->stopped, NULL);

  return embedded_open_terminal (self, MESH_SHARED_TERMINAL_VIEWER, room_id, share_id, host_name);
}

void
mesh_embedded_agent_join_room (MeshEmbeddedAgent *self,
                               const char        *room_id)
{
  Msg *msg;

  g_return_if_fail (MESH_IS_EMBEDDED_AGENT (self));
  g_return_if_fail (room_id != NULL);

  if (self->stopped)
    return;
  msg = embedded_msg_new (MSG_JOIN, 0);
  msg->join.room_id = g_strdup (room_id);
  embedded_post (self, msg);
}
