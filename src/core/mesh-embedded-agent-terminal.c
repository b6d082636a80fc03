/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent-private.h"

static MeshSharedTerminal *
lookup_terminal (MeshEmbeddedAgent *self,
                 guint              id)
{
  return g_hash_table_lookup (self->terminals, GUINT_TO_POINTER (id));
}

/* What the agent thread tells about a running terminal, applied to its
 * model. */
void
embedded_term_update_on_main (MeshEmbeddedAgent *self,
                              Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal == NULL)
    return;
  switch (msg->type) {
  case MSG_TERM_STARTED:
    mesh_shared_terminal_set_share_id (terminal, msg->started.share_id);
    mesh_shared_terminal_set_size (terminal, msg->started.cols, msg->started.rows);
    mesh_shared_terminal_set_state (terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);
    break;
  case MSG_TERM_OUTPUT:
    mesh_shared_terminal_push_output (terminal, msg->output.data);
    break;
  case MSG_TERM_SIZE:
    mesh_shared_terminal_set_size (terminal, msg->size.cols, msg->size.rows);
    break;
  case MSG_TERM_CONTROL:
    mesh_shared_terminal_set_controller (terminal, msg->control.peer_id, msg->control.name,
                                         msg->control.is_us);
    break;
  case MSG_TERM_ASK:
    mesh_shared_terminal_ask_control (terminal, msg->ask.peer_id, msg->ask.username);
    break;
  case MSG_TERM_DENIED:
    mesh_shared_terminal_report_denied (terminal, msg->denied.reason);
    break;
  default:
    g_assert_not_reached ();
  }
}

void
embedded_term_ended_on_main (MeshEmbeddedAgent *self,
                             Msg               *msg)
{
  g_autoptr(MeshSharedTerminal) terminal = NULL;

  if (!g_hash_table_steal_extended (self->terminals, GUINT_TO_POINTER (msg->id), NULL,
                                    (gpointer *) &terminal))
    return;
  g_signal_handlers_disconnect_by_data (terminal, self);
  mesh_shared_terminal_set_state (terminal, MESH_SHARED_TERMINAL_ENDED, msg->term_ended.sentence);
}

/* Terminals */

struct _Term {
  guint               id;
  char               *room_id;
  char               *share_id;
  MeshTerminalHost   *host;
  MeshTerminalViewer *viewer;
  GCancellable       *cancellable;
};

void
embedded_term_free (Term *term)
{
  g_cancellable_cancel (term->cancellable);
  g_object_unref (term->cancellable);
  if (term->host != NULL)
    g_signal_handlers_disconnect_matched (term->host, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                          term);
  g_clear_object (&term->host);
  if (term->viewer != NULL) {
    g_signal_handlers_disconnect_matched (term->viewer, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                          term);
    mesh_terminal_viewer_close (term->viewer);
  }
  g_clear_object (&term->viewer);
  g_free (term->room_id);
  g_free (term->share_id);
  g_free (term);
}

static Term *
find_term (MeshEmbeddedAgent *self,
           const char        *share_id)
{
  GHashTableIter iter;
  Term *term;

  g_hash_table_iter_init (&iter, self->terms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &term)) {
    if (g_strcmp0 (term->share_id, share_id) == 0)
      return term;
  }
  return NULL;
}

static void
end_term (MeshEmbeddedAgent *self,
          Term              *term,
          const char        *sentence)
{
  Msg *msg = embedded_msg_new (MSG_TERM_ENDED, term->id);

  msg->term_ended.sentence = g_strdup (sentence);
  embedded_post (self, msg);
  g_hash_table_remove (self->terms, GUINT_TO_POINTER (term->id));
}

void
embedded_control_changed_cb (MeshAgentController *controller,
                             const char          *share_id,
                             const char          *peer_id,
                             MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);
  Msg *msg;

  if (term == NULL)
    return;
  msg = embedded_msg_new (MSG_TERM_CONTROL, term->id);
  msg->control.peer_id = g_strdup (peer_id);
  if (peer_id != NULL)
    msg->control.name = g_strdup (mesh_agent_controller_get_peer_username (controller,
                                                                           term->room_id,
                                                                           peer_id));
  msg->control.is_us = g_strcmp0 (peer_id, mesh_agent_controller_get_peer_id (controller)) == 0;
  embedded_post (self, msg);
}

void
embedded_control_requested_cb (MeshAgentController *controller,
                               const char          *share_id,
                               const char          *peer_id,
                               const char          *username,
                               MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);
  Msg *msg;

  if (term == NULL) {
    mesh_agent_controller_answer_control (controller, share_id, peer_id, FALSE);
    return;
  }
  msg = embedded_msg_new (MSG_TERM_ASK, term->id);
  msg->ask.peer_id = g_strdup (peer_id);
  msg->ask.username = g_strdup (username);
  embedded_post (self, msg);
}

void
embedded_control_denied_cb (MeshAgentController *controller,
                            const char          *share_id,
                            const char          *reason,
                            MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);
  Msg *msg;

  if (term == NULL)
    return;
  msg = embedded_msg_new (MSG_TERM_DENIED, term->id);
  msg->denied.reason = g_strdup (reason);
  embedded_post (self, msg);
}

void
embedded_share_stopped_cb (MeshAgentController *controller,
                           const char          *share_id,
                           MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);

  if (term != NULL)
    end_term (self, term, NULL);
}

static void
term_output_cb (GObject *source,
                GBytes  *data,
                Term    *term)
{
  MeshEmbeddedAgent *self = g_object_get_data (source, "mesh-embedded-agent");
  Msg *msg = embedded_msg_new (MSG_TERM_OUTPUT, term->id);

  msg->output.data = g_bytes_ref (data);
  embedded_post (self, msg);
}

static void
term_started (MeshEmbeddedAgent *self,
              Term              *term,
              guint              cols,
              guint              rows)
{
  Msg *msg = embedded_msg_new (MSG_TERM_STARTED, term->id);

  msg->started.share_id = g_strdup (term->share_id);
  msg->started.cols = cols;
  msg->started.rows = rows;
  embedded_post (self, msg);
}

typedef struct {
  MeshEmbeddedAgent *self;
  guint              id;
} TermCall;

/* Why a terminal could not start or ended, in words; the raw error goes to
 * the log. */
static char *
terminal_sentence (const GError *error)
{
  g_autofree char *raw = mesh_escape_for_display (error->message, -1);

  g_message ("Terminal ended: %s", raw);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_strdup (_("The server did not answer in time. Check the connection and try again."));
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED))
    return g_strdup (_("This computer is not connected to the server. Try again once it is."));
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_UNROUTABLE))
    return g_strdup (_("The computer sharing this terminal is offline or not in this room."));
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_P2P_SESSION_DENIED))
    return g_strdup (_("The computer sharing this terminal refused the connection."));
  if (error->domain == G_IO_ERROR && (error->code == G_IO_ERROR_CONNECTION_CLOSED ||
                                      error->code == G_IO_ERROR_BROKEN_PIPE))
    return g_strdup (_("The connection to the shared terminal was lost."));
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return NULL;
  return g_strdup (_("The terminal could not be opened. The log has the details."));
}

static Term *
term_call_finish (TermCall *call)
{
  Term *term = g_hash_table_lookup (call->self->terms, GUINT_TO_POINTER (call->id));

  g_free (call);
  return term;
}

static void
shared_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  TermCall *call = user_data;
  MeshEmbeddedAgent *self = call->self;
  Term *term = term_call_finish (call);
  g_autoptr(GError) error = NULL;
  g_autofree char *share_id = NULL;
  g_autoptr(GBytes) scrollback = NULL;
  Msg *msg;

  share_id = mesh_agent_controller_share_terminal_finish (MESH_AGENT_CONTROLLER (source), result,
                                                          &error);
  if (term == NULL) {
    /* Stopped while starting. */
    if (share_id != NULL)
      mesh_agent_controller_stop_share (MESH_AGENT_CONTROLLER (source), share_id);
    return;
  }
  if (share_id == NULL) {
    g_autofree char *sentence = terminal_sentence (error);

    end_term (self, term, sentence);
    return;
  }
  term->share_id = g_steal_pointer (&share_id);
  term->host = g_object_ref (mesh_agent_controller_get_share_host (self->controller,
                                                                   term->share_id));
  g_object_set_data (G_OBJECT (term->host), "mesh-embedded-agent", self);
  g_signal_connect (term->host, "output", G_CALLBACK (term_output_cb), term);
  term_started (self, term, 80, 24);
  /* What the shell wrote before we listened (its first prompt). */
  scrollback = mesh_terminal_host_get_scrollback (term->host);
  if (g_bytes_get_size (scrollback) > 0) {
    msg = embedded_msg_new (MSG_TERM_OUTPUT, term->id);
    msg->output.data = g_steal_pointer (&scrollback);
    embedded_post (self, msg);
  }
}

static void
post_size (MeshEmbeddedAgent *self,
           Term              *term,
           guint              cols,
           guint              rows)
{
  Msg *msg = embedded_msg_new (MSG_TERM_SIZE, term->id);

  msg->size.cols = cols;
  msg->size.rows = rows;
  embedded_post (self, msg);
}

static void
viewer_resize_cb (MeshTerminalViewer *viewer,
                  guint               cols,
                  guint               rows,
                  Term               *term)
{
  post_size (g_object_get_data (G_OBJECT (viewer), "mesh-embedded-agent"), term, cols, rows);
}

static void
viewer_closed_cb (MeshTerminalViewer *viewer,
                  GError             *error,
                  Term               *term)
{
  MeshEmbeddedAgent *self = g_object_get_data (G_OBJECT (viewer), "mesh-embedded-agent");
  g_autofree char *sentence = error != NULL ? terminal_sentence (error) : NULL;

  end_term (self, term, sentence);
}

static void
viewing_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  TermCall *call = user_data;
  MeshEmbeddedAgent *self = call->self;
  Term *term = term_call_finish (call);
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTerminalViewer) viewer = NULL;

  viewer = mesh_agent_controller_view_terminal_finish (MESH_AGENT_CONTROLLER (source), result,
                                                       &error);
  if (term == NULL) {
    if (viewer != NULL)
      mesh_terminal_viewer_close (viewer);
    return;
  }
  if (viewer == NULL) {
    g_autofree char *sentence = terminal_sentence (error);

    end_term (self, term, sentence);
    return;
  }
  term->viewer = g_steal_pointer (&viewer);
  g_object_set_data (G_OBJECT (term->viewer), "mesh-embedded-agent", self);
  g_signal_connect (term->viewer, "output", G_CALLBACK (term_output_cb), term);
  g_signal_connect (term->viewer, "resize", G_CALLBACK (viewer_resize_cb), term);
  g_signal_connect (term->viewer, "closed", G_CALLBACK (viewer_closed_cb), term);
  term_started (self, term, mesh_terminal_viewer_get_cols (term->viewer),
                mesh_terminal_viewer_get_rows (term->viewer));
}


void
embedded_term_open_in_thread (MeshEmbeddedAgent *self,
                              Msg               *msg)
{
  Term *term;
  TermCall *call;

  term = g_new0 (Term, 1);
  term->id = msg->id;
  term->room_id = g_strdup (msg->open.room_id);
  term->share_id = g_strdup (msg->open.share_id);
  term->cancellable = g_cancellable_new ();
  g_hash_table_insert (self->terms, GUINT_TO_POINTER (term->id), term);
  if (!embedded_controller_ready (self)) {
    end_term (self, term, _("This computer is not connected to the server yet"));
    return;
  }
  call = g_new0 (TermCall, 1);
  call->self = self;
  call->id = term->id;
  if (term->share_id == NULL)
    mesh_agent_controller_share_terminal_async (self->controller, term->room_id, NULL,
                                                term->cancellable, shared_cb, call);
  else
    mesh_agent_controller_view_terminal_async (self->controller, term->room_id, term->share_id,
                                               term->cancellable, viewing_cb, call);
}

static Term *
term_lookup (MeshEmbeddedAgent *self,
             guint              id)
{
  return g_hash_table_lookup (self->terms, GUINT_TO_POINTER (id));
}

void
embedded_term_input_in_thread (MeshEmbeddedAgent *self,
                               Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);
  gsize len;
  const void *data = g_bytes_get_data (msg->input.data, &len);

  if (term != NULL && term->host != NULL)
    mesh_terminal_host_send_input (term->host, data, len);
  else if (term != NULL && term->viewer != NULL)
    mesh_terminal_viewer_send_input (term->viewer, data, len);
}

void
embedded_term_resize_in_thread (MeshEmbeddedAgent *self,
                                Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  /* The host's window sets the shell's size; viewers follow it. */
  if (term == NULL || term->host == NULL)
    return;
  mesh_terminal_host_resize (term->host, msg->resize.cols, msg->resize.rows);
  post_size (self, term, msg->resize.cols, msg->resize.rows);
}

/* Take, release or answer control of a terminal we view or host. */
void
embedded_term_control_in_thread (MeshEmbeddedAgent *self,
                                 Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  if (term == NULL || term->share_id == NULL || self->controller == NULL)
    return;
  switch (msg->type) {
  case MSG_TERM_TAKE:
    mesh_agent_controller_take_control (self->controller, term->share_id);
    break;
  case MSG_TERM_RELEASE:
    mesh_agent_controller_release_control (self->controller, term->share_id);
    break;
  case MSG_TERM_GRANT:
    mesh_agent_controller_answer_control (self->controller, term->share_id,
                                          msg->grant.peer_id, msg->grant.grant);
    break;
  default:
    g_assert_not_reached ();
  }
}

void
embedded_term_stop_in_thread (MeshEmbeddedAgent *self,
                              Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  if (term == NULL)
    return;
  if (term->host != NULL && self->controller != NULL)
    mesh_agent_controller_stop_share (self->controller, term->share_id);
  end_term (self, term, NULL);
}

static guint
terminal_id (MeshEmbeddedAgent  *self,
             MeshSharedTerminal *terminal)
{
  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (terminal), "mesh-terminal-id"));
}

static void
terminal_input_cb (MeshSharedTerminal *terminal,
                   GBytes             *data,
                   MeshEmbeddedAgent  *self)
{
  Msg *msg = embedded_msg_new (MSG_TERM_INPUT, terminal_id (self, terminal));

  msg->input.data = g_bytes_ref (data);
  embedded_post (self, msg);
}

static void
terminal_resize_cb (MeshSharedTerminal *terminal,
                    guint               cols,
                    guint               rows,
                    MeshEmbeddedAgent  *self)
{
  Msg *msg = embedded_msg_new (MSG_TERM_RESIZE, terminal_id (self, terminal));

  msg->resize.cols = cols;
  msg->resize.rows = rows;
  embedded_post (self, msg);
}

static void
terminal_request_control_cb (MeshSharedTerminal *terminal,
                             MeshEmbeddedAgent  *self)
{
  embedded_post (self, embedded_msg_new (MSG_TERM_TAKE, terminal_id (self, terminal)));
}

static void
terminal_release_control_cb (MeshSharedTerminal *terminal,
                             MeshEmbeddedAgent  *self)
{
  embedded_post (self, embedded_msg_new (MSG_TERM_RELEASE, terminal_id (self, terminal)));
}

static void
terminal_answer_control_cb (MeshSharedTerminal *terminal,
                            const char         *peer_id,
                            gboolean            grant,
                            MeshEmbeddedAgent  *self)
{
  Msg *msg = embedded_msg_new (MSG_TERM_GRANT, terminal_id (self, terminal));

  msg->grant.peer_id = g_strdup (peer_id);
  msg->grant.grant = grant;
  embedded_post (self, msg);
}

static void
terminal_stop_cb (MeshSharedTerminal *terminal,
                  MeshEmbeddedAgent  *self)
{
  embedded_post (self, embedded_msg_new (MSG_TERM_STOP, terminal_id (self, terminal)));
}

MeshSharedTerminal *
embedded_open_terminal (MeshEmbeddedAgent      *self,
                        MeshSharedTerminalRole  role,
                        const char             *room_id,
                        const char             *share_id,
                        const char             *host_name)
{
  MeshSharedTerminal *terminal = mesh_shared_terminal_new (role, room_id, host_name);
  guint id = embedded_take_id (self);
  Msg *msg = embedded_msg_new (MSG_TERM_OPEN, id);

  g_object_set_data (G_OBJECT (terminal), "mesh-terminal-id", GUINT_TO_POINTER (id));
  g_hash_table_insert (self->terminals, GUINT_TO_POINTER (id), g_object_ref (terminal));
  g_signal_connect (terminal, "input", G_CALLBACK (terminal_input_cb), self);
  g_signal_connect (terminal, "resize", G_CALLBACK (terminal_resize_cb), self);
  g_signal_connect (terminal, "request-control", G_CALLBACK (terminal_request_control_cb), self);
  g_signal_connect (terminal, "release-control", G_CALLBACK (terminal_release_control_cb), self);
  g_signal_connect (terminal, "answer-control", G_CALLBACK (terminal_answer_control_cb), self);
  g_signal_connect (terminal, "stop", G_CALLBACK (terminal_stop_cb), self);
  msg->open.room_id = g_strdup (room_id);
  msg->open.share_id = g_strdup (share_id);
  embedded_post (self, msg);
  return terminal;
}
