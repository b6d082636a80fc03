/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent-private.h"

guint embedded_agent_signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeshEmbeddedAgent, mesh_embedded_agent, G_TYPE_OBJECT)

Msg *
embedded_msg_new (MsgType type,
                  guint   id)
{
  Msg *msg = g_new0 (Msg, 1);

  msg->type = type;
  msg->id = id;
  return msg;
}

static void
msg_free (Msg *msg)
{
  switch (msg->type) {
  case MSG_READY:
    g_free (msg->ready.device_id);
    break;
  case MSG_FAILED:
    g_free (msg->failed.message);
    break;
  case MSG_TRANSFER_OFFERED:
    g_free (msg->offered.room_id);
    g_free (msg->offered.sender);
    g_free (msg->offered.name);
    break;
  case MSG_TRANSFER_SAVED:
    g_free (msg->saved.path);
    break;
  case MSG_TRANSFER_ENDED:
    g_free (msg->ended.sentence);
    g_clear_error (&msg->ended.error);
    break;
  case MSG_TERM_STARTED:
    g_free (msg->started.share_id);
    break;
  case MSG_TERM_OUTPUT:
    g_bytes_unref (msg->output.data);
    break;
  case MSG_TERM_CONTROL:
    g_free (msg->control.peer_id);
    g_free (msg->control.name);
    break;
  case MSG_TERM_ASK:
    g_free (msg->ask.peer_id);
    g_free (msg->ask.username);
    break;
  case MSG_TERM_DENIED:
    g_free (msg->denied.reason);
    break;
  case MSG_TERM_ENDED:
    g_free (msg->term_ended.sentence);
    break;
  case MSG_SEND:
    g_free (msg->send.room_id);
    g_free (msg->send.device_id);
    g_free (msg->send.path);
    break;
  case MSG_ANSWER:
    g_free (msg->answer.folder);
    break;
  case MSG_JOIN:
    g_free (msg->join.room_id);
    break;
  case MSG_POLICY:
    g_free (msg->policy.download_dir);
    break;
  case MSG_TERM_OPEN:
    g_free (msg->open.room_id);
    g_free (msg->open.share_id);
    break;
  case MSG_TERM_INPUT:
    g_bytes_unref (msg->input.data);
    break;
  case MSG_TERM_GRANT:
    g_free (msg->grant.peer_id);
    break;
  case MSG_TRANSFER_PROGRESS:
  case MSG_TERM_SIZE:
  case MSG_CANCEL:
  case MSG_QUIT:
  case MSG_TERM_RESIZE:
  case MSG_TERM_TAKE:
  case MSG_TERM_RELEASE:
  case MSG_TERM_STOP:
  case N_MSG_TYPES:
    break;
  }
  g_clear_object (&msg->self);
  g_free (msg);
}

/* Runs @msg in the thread it was posted to (msg_handlers[], below). */
static void msg_dispatch (Msg *msg);

/* Output and progress may wait for the window to draw; anything else (a
 * terminal started or ended, an offer, a transfer's end) must not.  They
 * used to be idle sources: while a spinner turned and frames came late,
 * the frame clock's source (GDK_PRIORITY_REDRAW) was ready at every
 * iteration and no idle source ran, so "Starting Your Shell…" stayed up
 * until the animation paused. */
static gboolean
is_bulk (Msg *msg)
{
  return msg->type == MSG_TERM_OUTPUT || msg->type == MSG_TRANSFER_PROGRESS;
}

static gboolean
is_to_main (Msg *msg)
{
  return msg->type < MSG_SEND;
}

typedef struct {
  GSource  source;
  Mailbox *box;
} MailboxSource;

static gboolean
mailbox_dispatch (GSource     *source,
                  GSourceFunc  callback,
                  gpointer     user_data)
{
  Mailbox *box = ((MailboxSource *) source)->box;
  GQueue taken = G_QUEUE_INIT;
  Msg *msg;

  g_mutex_lock (&box->lock);
  taken = box->queue;
  g_queue_init (&box->queue);
  g_source_set_ready_time (source, -1);
  g_source_set_priority (source, box->quiet);
  g_mutex_unlock (&box->lock);

  /* In order: an ended terminal's last output comes before its end. */
  while ((msg = g_queue_pop_head (&taken)) != NULL) {
    /* Nothing reaches the main thread once the agent was stopped. */
    if (!is_to_main (msg) || !msg->self->stopped)
      msg_dispatch (msg);
    msg_free (msg);
  }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs mailbox_funcs = { NULL, NULL, mailbox_dispatch, NULL, NULL, NULL };

static void
mailbox_init (Mailbox      *box,
              GMainContext *context,
              gint          quiet)
{
  g_mutex_init (&box->lock);
  g_queue_init (&box->queue);
  box->quiet = quiet;
  box->source = g_source_new (&mailbox_funcs, sizeof (MailboxSource));
  ((MailboxSource *) box->source)->box = box;
  g_source_set_priority (box->source, quiet);
  g_source_set_static_name (box->source, "mesh-embedded-agent mailbox");
  g_source_attach (box->source, context);
}

/* Messages never dispatched (the thread has ended). */
static void
mailbox_clear (Mailbox *box)
{
  GQueue taken = G_QUEUE_INIT;

  g_mutex_lock (&box->lock);
  taken = box->queue;
  g_queue_init (&box->queue);
  g_mutex_unlock (&box->lock);
  g_queue_clear_full (&taken, (GDestroyNotify) msg_free);
}

static void
mailbox_destroy (Mailbox *box)
{
  g_source_destroy (box->source);
  g_clear_pointer (&box->source, g_source_unref);
  mailbox_clear (box);
  g_mutex_clear (&box->lock);
}

/* Unlike g_main_context_invoke(), never runs in the calling thread, even
 * when nobody iterates the context at that moment, so order is kept. */
void
embedded_post (MeshEmbeddedAgent *self,
               Msg               *msg)
{
  Mailbox *box = is_to_main (msg) ? &self->to_main_box : &self->to_thread_box;

  msg->self = g_object_ref (self);
  g_mutex_lock (&box->lock);
  g_queue_push_tail (&box->queue, msg);
  if (!is_bulk (msg))
    g_source_set_priority (box->source, G_PRIORITY_DEFAULT);
  /* Wakes the context up if another thread polls it. */
  g_source_set_ready_time (box->source, 0);
  g_mutex_unlock (&box->lock);
}

guint
embedded_take_id (MeshEmbeddedAgent *self)
{
  return (guint) g_atomic_int_add ((int *) &self->next_id, 1) + 1;
}

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

static void transfer_accept_cb (MeshTransfer *transfer, GFile *folder, MeshEmbeddedAgent *self);
static void transfer_decline_cb (MeshTransfer *transfer, MeshEmbeddedAgent *self);
static void transfer_cancel_cb (MeshTransfer *transfer, MeshEmbeddedAgent *self);
static void transfer_retry_cb (MeshTransfer *transfer, MeshEmbeddedAgent *self);

static void
add_transfer (MeshEmbeddedAgent *self,
              MeshTransfer      *transfer)
{
  g_signal_connect_object (transfer, "accept", G_CALLBACK (transfer_accept_cb), self, 0);
  g_signal_connect_object (transfer, "decline", G_CALLBACK (transfer_decline_cb), self, 0);
  g_signal_connect_object (transfer, "cancel", G_CALLBACK (transfer_cancel_cb), self, 0);
  g_signal_connect_object (transfer, "retry", G_CALLBACK (transfer_retry_cb), self, 0);
  g_hash_table_insert (self->transfer_ids, GUINT_TO_POINTER (mesh_transfer_get_id (transfer)),
                       g_object_ref (transfer));
  g_list_store_append (self->transfers, transfer);
}

static MeshTransfer *
lookup_transfer (MeshEmbeddedAgent *self,
                 guint              id)
{
  return g_hash_table_lookup (self->transfer_ids, GUINT_TO_POINTER (id));
}

static void
transfer_offered_on_main (MeshEmbeddedAgent *self,
                          Msg               *msg)
{
  g_autoptr(MeshTransfer) transfer = NULL;
  g_autoptr(GFile) folder = g_file_new_for_path (self->download_dir);

  transfer = mesh_transfer_new (msg->id, MESH_TRANSFER_INCOMING, msg->offered.room_id,
                                msg->offered.sender, msg->offered.name, msg->offered.is_folder,
                                msg->offered.size);
  mesh_transfer_set_folder (transfer, folder);
  if (!msg->offered.ask)
    mesh_transfer_set_state (transfer, MESH_TRANSFER_WAITING, NULL);
  add_transfer (self, transfer);
  if (msg->offered.ask)
    g_signal_emit (self, embedded_agent_signals[SIGNAL_OFFER], 0, transfer);
}

static void
transfer_progress_on_main (MeshEmbeddedAgent *self,
                           Msg               *msg)
{
  MeshTransfer *transfer = lookup_transfer (self, msg->id);

  if (transfer != NULL)
    mesh_transfer_set_progress (transfer, msg->progress.done, msg->progress.total);
}

static void
transfer_saved_on_main (MeshEmbeddedAgent *self,
                        Msg               *msg)
{
  MeshTransfer *transfer = lookup_transfer (self, msg->id);
  g_autoptr(GFile) file = g_file_new_for_path (msg->saved.path);

  if (transfer != NULL)
    mesh_transfer_set_file (transfer, file);
}

static void
transfer_ended_on_main (MeshEmbeddedAgent *self,
                        Msg               *msg)
{
  MeshTransfer *transfer = lookup_transfer (self, msg->id);

  if (transfer == NULL || mesh_transfer_is_finished (transfer))
    return;
  if (msg->ended.error != NULL) {
    g_autofree char *shown = mesh_escape_for_display (msg->ended.error->message, -1);

    /* The raw error is for the log and the Details, not the sentence. */
    g_message ("Transfer %u ended: %s", msg->id, shown);
    mesh_transfer_end_with_error (transfer, msg->ended.error);
    return;
  }
  mesh_transfer_set_state (transfer, msg->ended.state, msg->ended.sentence);
  /* Only a transfer that ended well, with the receiver's hash check, was received. */
  if (msg->ended.state == MESH_TRANSFER_DONE &&
      mesh_transfer_get_direction (transfer) == MESH_TRANSFER_INCOMING)
    g_signal_emit (self, embedded_agent_signals[SIGNAL_RECEIVED], 0, transfer);
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

static void
report_ended (MeshEmbeddedAgent *self,
              guint              id,
              MeshTransferState  state,
              const char        *sentence)
{
  Msg *msg = embedded_msg_new (MSG_TRANSFER_ENDED, id);

  msg->ended.state = state;
  msg->ended.sentence = g_strdup (sentence);
  embedded_post (self, msg);
}

/* How a session ended; NULL: it went well. */
static void
report_ended_error (MeshEmbeddedAgent *self,
                    guint              id,
                    const GError      *error)
{
  Msg *msg = embedded_msg_new (MSG_TRANSFER_ENDED, id);

  msg->ended.state = MESH_TRANSFER_DONE;
  msg->ended.error = error != NULL ? g_error_copy (error) : NULL;
  embedded_post (self, msg);
}

/* One transfer as the agent thread follows it: the session the controller
 * runs for it, mirrored onto the main thread's MeshTransfer of the same id.
 * Nothing is looked up by name: the session object is the link. */
typedef struct {
  MeshEmbeddedAgent *self;
  guint              id;
  MeshP2pSession    *session;
  GCancellable      *cancellable;  /* outgoing: the send's */
  gboolean           announced;    /* the main thread has its row */
} Link;

static void
link_free (Link *link)
{
  if (link->session != NULL)
    g_signal_handlers_disconnect_by_data (link->session, link);
  g_clear_object (&link->session);
  g_clear_object (&link->cancellable);
  g_free (link);
}

static Link *
lookup_link (MeshEmbeddedAgent *self,
             guint              id)
{
  return g_hash_table_lookup (self->links, GUINT_TO_POINTER (id));
}

static void
link_forget (Link *link)
{
  g_hash_table_remove (link->self->links, GUINT_TO_POINTER (link->id));
}

/* An incoming session gets its row when it is offered to our user, or,
 * taken by the policy, once it runs. */
static void
link_announce (Link     *link,
               gboolean  ask)
{
  MeshP2pSession *session = link->session;
  Msg *msg = embedded_msg_new (MSG_TRANSFER_OFFERED, link->id);
  const char *name = mesh_p2p_session_get_name (session);

  link->announced = TRUE;
  msg->offered.room_id = ask ? g_strdup (mesh_p2p_session_get_room_id (session)) : NULL;
  msg->offered.sender = g_strdup (mesh_p2p_session_get_peer_username (session));
  msg->offered.name = g_strdup (name != NULL ? name : "");
  msg->offered.size = ask ? mesh_p2p_session_get_bytes_total (session) : 0;
  msg->offered.is_folder = mesh_p2p_session_get_kind (session) == MESH_P2P_KIND_FOLDER;
  msg->offered.ask = ask;
  embedded_post (link->self, msg);
}

static void
link_state_cb (MeshP2pSession *session,
               GParamSpec     *pspec,
               Link           *link)
{
  MeshEmbeddedAgent *self = link->self;
  const GError *error = mesh_p2p_session_get_error (session);

  if (!link->announced) {
    if (mesh_p2p_session_get_state (session) == MESH_P2P_STATE_OFFERED)
      link_announce (link, TRUE);
    else if (mesh_p2p_session_get_state (session) == MESH_P2P_STATE_RUNNING)
      link_announce (link, FALSE);
    else if (mesh_p2p_session_is_finished (session))
      link_forget (link);
    return;
  }
  switch (mesh_p2p_session_get_state (session)) {
  case MESH_P2P_STATE_DONE:
    report_ended_error (self, link->id, NULL);
    link_forget (link);
    break;
  case MESH_P2P_STATE_FAILED:
    report_ended_error (self, link->id, error);
    link_forget (link);
    break;
  case MESH_P2P_STATE_REFUSED:
    /* Our user's own decline is on the row already. */
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      report_ended (self, link->id, MESH_TRANSFER_FAILED,
                    _("The offer expired before it was answered."));
    link_forget (link);
    break;
  case MESH_P2P_STATE_REQUESTING:
  case MESH_P2P_STATE_OFFERED:
  case MESH_P2P_STATE_ACCEPTED:
  case MESH_P2P_STATE_CONNECTING:
  case MESH_P2P_STATE_RUNNING:
    break;
  }
}

static void
link_progress_cb (MeshP2pSession *session,
                  GParamSpec     *pspec,
                  Link           *link)
{
  Msg *msg;

  if (!link->announced)
    return;
  msg = embedded_msg_new (MSG_TRANSFER_PROGRESS, link->id);
  msg->progress.done = mesh_p2p_session_get_bytes_done (session);
  msg->progress.total = mesh_p2p_session_get_bytes_total (session);
  embedded_post (link->self, msg);
}

static void
link_file_cb (MeshP2pSession *session,
              GParamSpec     *pspec,
              Link           *link)
{
  Msg *msg;

  if (!link->announced || mesh_p2p_session_get_role (session) != MESH_P2P_ROLE_SERVER ||
      mesh_p2p_session_get_file (session) == NULL)
    return;
  msg = embedded_msg_new (MSG_TRANSFER_SAVED, link->id);
  msg->saved.path = g_file_get_path (mesh_p2p_session_get_file (session));
  embedded_post (link->self, msg);
}

static Link *
link_new (MeshEmbeddedAgent *self,
          guint              id,
          MeshP2pSession    *session,
          gboolean           announced)
{
  Link *link = g_new0 (Link, 1);

  link->self = self;
  link->id = id;
  link->session = g_object_ref (session);
  link->announced = announced;
  g_hash_table_replace (self->links, GUINT_TO_POINTER (id), link);
  g_signal_connect (session, "notify::state", G_CALLBACK (link_state_cb), link);
  g_signal_connect (session, "notify::bytes-done", G_CALLBACK (link_progress_cb), link);
  g_signal_connect (session, "notify::file", G_CALLBACK (link_file_cb), link);
  return link;
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

/* Someone sends us a file or a folder; our own sends are linked when made. */
static void
session_added_cb (MeshAgentController *controller,
                  MeshP2pSession      *session,
                  MeshEmbeddedAgent   *self)
{
  Link *link;

  if (mesh_p2p_session_get_role (session) != MESH_P2P_ROLE_SERVER ||
      mesh_p2p_session_get_kind (session) == MESH_P2P_KIND_TERMINAL)
    return;
  link = link_new (self, embedded_take_id (self), session, FALSE);
  link_state_cb (session, NULL, link);
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
  g_signal_connect (self->controller, "session-added", G_CALLBACK (session_added_cb), self);
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
send_in_thread (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  g_autoptr(GFile) file = g_file_new_for_path (msg->send.path);
  g_autoptr(GCancellable) cancellable = NULL;
  MeshP2pSession *session;
  Link *link;

  if (!embedded_controller_ready (self)) {
    report_ended (self, msg->id, MESH_TRANSFER_FAILED,
                  _("This computer is not connected to the server yet"));
    return;
  }
  cancellable = g_cancellable_new ();
  g_cancellable_connect (self->cancellable, G_CALLBACK (g_cancellable_cancel),
                         g_object_ref (cancellable), g_object_unref);
  session = mesh_agent_controller_send_async (self->controller, msg->send.room_id,
                                              msg->send.device_id, file, cancellable, NULL,
                                              NULL);
  link = link_new (self, msg->id, session, TRUE);
  link->cancellable = g_steal_pointer (&cancellable);
}

static void
cancel_in_thread (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  Link *link = lookup_link (self, msg->id);
  g_autoptr(GCancellable) cancellable = NULL;
  g_autofree char *session_id = NULL;

  if (link == NULL || self->controller == NULL)
    return;
  /* Either can end the session at once, and free the link. */
  cancellable = link->cancellable != NULL ? g_object_ref (link->cancellable) : NULL;
  session_id = g_strdup (mesh_p2p_session_get_session_id (link->session));
  /* The controller stops the stream at once and tells the other side. */
  if (session_id != NULL)
    mesh_agent_controller_cancel_session (self->controller, session_id);
  if (cancellable != NULL)
    g_cancellable_cancel (cancellable);
}

static void
answer_in_thread (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  Link *link = lookup_link (self, msg->id);
  g_autoptr(GFile) folder = msg->answer.folder != NULL ? g_file_new_for_path (msg->answer.folder)
                                                       : NULL;
  const char *session_id;

  if (link == NULL || self->controller == NULL)
    return;
  session_id = mesh_p2p_session_get_session_id (link->session);
  if (!mesh_agent_controller_answer_offer (self->controller, session_id, folder)) {
    report_ended (self, msg->id, MESH_TRANSFER_FAILED,
                  _("The offer expired before it was answered."));
    g_hash_table_remove (self->links, GUINT_TO_POINTER (msg->id));
  } else if (folder == NULL) {
    /* Declining may have forgotten it already. */
    g_hash_table_remove (self->links, GUINT_TO_POINTER (msg->id));
  }
}

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

static void
msg_dispatch (Msg *msg)
{
  static void (* const handlers[N_MSG_TYPES]) (MeshEmbeddedAgent *self, Msg *msg) = {
    [MSG_READY] = ready_on_main,
    [MSG_FAILED] = failed_on_main,
    [MSG_TRANSFER_OFFERED] = transfer_offered_on_main,
    [MSG_TRANSFER_PROGRESS] = transfer_progress_on_main,
    [MSG_TRANSFER_SAVED] = transfer_saved_on_main,
    [MSG_TRANSFER_ENDED] = transfer_ended_on_main,
    [MSG_TERM_STARTED] = embedded_term_update_on_main,
    [MSG_TERM_OUTPUT] = embedded_term_update_on_main,
    [MSG_TERM_SIZE] = embedded_term_update_on_main,
    [MSG_TERM_CONTROL] = embedded_term_update_on_main,
    [MSG_TERM_ASK] = embedded_term_update_on_main,
    [MSG_TERM_DENIED] = embedded_term_update_on_main,
    [MSG_TERM_ENDED] = embedded_term_ended_on_main,
    [MSG_SEND] = send_in_thread,
    [MSG_CANCEL] = cancel_in_thread,
    [MSG_ANSWER] = answer_in_thread,
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
transfer_accept_cb (MeshTransfer      *transfer,
                    GFile             *folder,
                    MeshEmbeddedAgent *self)
{
  Msg *msg = embedded_msg_new (MSG_ANSWER, mesh_transfer_get_id (transfer));

  msg->answer.folder = folder != NULL ? g_file_get_path (folder) : g_strdup (self->download_dir);
  embedded_post (self, msg);
}

static void
transfer_decline_cb (MeshTransfer      *transfer,
                     MeshEmbeddedAgent *self)
{
  embedded_post (self, embedded_msg_new (MSG_ANSWER, mesh_transfer_get_id (transfer)));
}

/* The main thread keeps where an outgoing transfer went, for a retry. */
typedef struct {
  char *room_id;
  char *device_id;
} SendTarget;

static void
send_target_free (SendTarget *target)
{
  g_free (target->room_id);
  g_free (target->device_id);
  g_free (target);
}

static void
transfer_retry_cb (MeshTransfer      *transfer,
                   MeshEmbeddedAgent *self)
{
  SendTarget *target = g_object_get_data (G_OBJECT (transfer), "mesh-send-target");
  Msg *msg;

  if (target == NULL || mesh_transfer_get_file (transfer) == NULL || self->stopped)
    return;
  /* The same file to the same device: the receiver's .part makes it resume. */
  msg = embedded_msg_new (MSG_SEND, mesh_transfer_get_id (transfer));
  msg->send.room_id = g_strdup (target->room_id);
  msg->send.device_id = g_strdup (target->device_id);
  msg->send.path = g_file_get_path (mesh_transfer_get_file (transfer));
  embedded_post (self, msg);
}

static void
transfer_cancel_cb (MeshTransfer      *transfer,
                    MeshEmbeddedAgent *self)
{
  embedded_post (self, embedded_msg_new (MSG_CANCEL, mesh_transfer_get_id (transfer)));
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

  mailbox_destroy (&self->to_main_box);
  mailbox_destroy (&self->to_thread_box);
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
  mailbox_init (&self->to_main_box, self->main_context, G_PRIORITY_DEFAULT_IDLE);
  /* The agent thread has no frames to draw: everything comes at once. */
  mailbox_init (&self->to_thread_box, self->context, G_PRIORITY_DEFAULT);
  self->cancellable = g_cancellable_new ();
  self->transfers = g_list_store_new (MESH_TYPE_TRANSFER);
  self->transfer_ids = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->terminals = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->links = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) link_free);
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
  mailbox_clear (&self->to_thread_box);
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

GListModel *
mesh_embedded_agent_get_transfers (MeshEmbeddedAgent *self)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);

  return G_LIST_MODEL (self->transfers);
}

void
mesh_embedded_agent_clear_finished (MeshEmbeddedAgent *self)
{
  g_return_if_fail (MESH_IS_EMBEDDED_AGENT (self));

  for (guint i = g_list_model_get_n_items (G_LIST_MODEL (self->transfers)); i > 0; i--) {
    g_autoptr(MeshTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (self->transfers),
                                                              i - 1);

    if (mesh_transfer_is_finished (transfer)) {
      g_hash_table_remove (self->transfer_ids,
                           GUINT_TO_POINTER (mesh_transfer_get_id (transfer)));
      g_list_store_remove (self->transfers, i - 1);
    }
  }
}

MeshTransfer *
mesh_embedded_agent_send (MeshEmbeddedAgent *self,
                          const char        *room_id,
                          const char        *device_id,
                          const char        *peer_name,
                          GFile             *file)
{
  g_autoptr(MeshTransfer) transfer = NULL;
  g_autofree char *name = NULL;
  GFileType type;
  Msg *msg;

  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);
  g_return_val_if_fail (room_id != NULL && device_id != NULL, NULL);
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (!self->stopped, NULL);

  name = g_file_get_basename (file);
  /* Local files only (a drop can carry other URIs): the agent reads paths. */
  type = g_file_is_native (file)
         ? g_file_query_file_type (file, G_FILE_QUERY_INFO_NONE, NULL) : G_FILE_TYPE_UNKNOWN;
  transfer = mesh_transfer_new (embedded_take_id (self), MESH_TRANSFER_OUTGOING, room_id, peer_name,
                                name != NULL ? name : "", type == G_FILE_TYPE_DIRECTORY, 0);
  mesh_transfer_set_file (transfer, file);
  {
    SendTarget *target = g_new0 (SendTarget, 1);

    target->room_id = g_strdup (room_id);
    target->device_id = g_strdup (device_id);
    g_object_set_data_full (G_OBJECT (transfer), "mesh-send-target", target,
                            (GDestroyNotify) send_target_free);
  }
  add_transfer (self, transfer);
  if (!g_file_is_native (file)) {
    mesh_transfer_set_state (transfer, MESH_TRANSFER_FAILED, _("Only local files can be sent"));
    return transfer;
  }
  msg = embedded_msg_new (MSG_SEND, mesh_transfer_get_id (transfer));
  msg->send.room_id = g_strdup (room_id);
  msg->send.device_id = g_strdup (device_id);
  msg->send.path = g_file_get_path (file);
  embedded_post (self, msg);
  return transfer;
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
