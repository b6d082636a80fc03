/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent-private.h"

/* Files and folders sent or received: the main thread's MeshTransfer rows
 * and, in the agent thread, the session each one mirrors (by id). */

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

void
embedded_transfer_offered_on_main (MeshEmbeddedAgent *self,
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

void
embedded_transfer_progress_on_main (MeshEmbeddedAgent *self,
                                    Msg               *msg)
{
  MeshTransfer *transfer = lookup_transfer (self, msg->id);

  if (transfer != NULL)
    mesh_transfer_set_progress (transfer, msg->progress.done, msg->progress.total);
}

void
embedded_transfer_saved_on_main (MeshEmbeddedAgent *self,
                                 Msg               *msg)
{
  MeshTransfer *transfer = lookup_transfer (self, msg->id);
  g_autoptr(GFile) file = g_file_new_for_path (msg->saved.path);

  if (transfer != NULL)
    mesh_transfer_set_file (transfer, file);
}

void
embedded_transfer_ended_on_main (MeshEmbeddedAgent *self,
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
struct _Link {
  MeshEmbeddedAgent *self;
  guint              id;
  MeshP2pSession    *session;
  GCancellable      *cancellable;  /* outgoing: the send's */
  gboolean           announced;    /* the main thread has its row */
};

void
embedded_link_free (Link *link)
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

/* Someone sends us a file or a folder; our own sends are linked when made. */
void
embedded_session_added_cb (MeshAgentController *controller,
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

void
embedded_send_in_thread (MeshEmbeddedAgent *self,
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

void
embedded_cancel_in_thread (MeshEmbeddedAgent *self,
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

void
embedded_answer_in_thread (MeshEmbeddedAgent *self,
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
