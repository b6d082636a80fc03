/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent.h"

#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-json.h"

#include <glib/gi18n.h>

enum {
  SIGNAL_READY,
  SIGNAL_FAILED,
  SIGNAL_OFFER,
  SIGNAL_RECEIVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* How a transfer ended, as the thread tells the main thread. */
typedef enum {
  END_OK,
  END_CANCELLED,
  END_DECLINED,
  END_FAILED,
} End;

/* The messages for one thread, in the order they were posted, and the
 * source that hands them over in that thread's context. */
typedef struct {
  GMutex   lock;
  GQueue   queue;    /* Msg */
  GSource *source;
  gint     quiet;    /* the priority while only bulk messages wait */
} Mailbox;

struct _MeshEmbeddedAgent {
  GObject              parent_instance;

  /* Set before the thread starts, read-only afterwards (the cancellable is thread-safe). */
  GMainContext        *main_context;
  GMainContext        *context;
  GMainLoop           *loop;
  char                *state_dir;
  char                *server_url;
  char                *server_fingerprint;  /* the certificate the user accepted, or NULL */
  char                *user_id;
  char                *username;
  char                *access_token;
  char                *listen;
  GCancellable        *cancellable;
  /* Transfer and terminal ids, taken by both threads. */
  guint                next_id;
  Mailbox              to_main_box;
  Mailbox              to_thread_box;

  /* Main thread only. */
  GSettings           *settings;
  char                *download_dir;     /* shown in offers; the thread has its own copy */
  GThread             *thread;
  char                *device_id;
  gboolean             stopped;
  GListStore          *transfers;        /* MeshTransfer */
  GHashTable          *transfer_ids;     /* id → MeshTransfer, borrowed from the list or held */
  GHashTable          *terminals;        /* id → MeshSharedTerminal */

  /* Agent thread only (set before it starts). */
  char                *t_download_dir;
  gboolean             t_accept_own;
  SoupSession         *soup;
  MeshAgentState      *state;
  MeshAgentIdentity   *identity;
  MeshAgentController *controller;
  GHashTable          *sends;            /* id → Send */
  GHashTable          *incoming;         /* session_id → id */
  GHashTable          *terms;            /* id → Term */
};

G_DEFINE_FINAL_TYPE (MeshEmbeddedAgent, mesh_embedded_agent, G_TYPE_OBJECT)

/* A message between the threads: @func runs in the other thread with the
 * fields it needs.  GFiles cross as paths: they are not thread-safe. */
typedef struct _Msg Msg;
typedef void (*MsgFunc) (MeshEmbeddedAgent *self, Msg *msg);

struct _Msg {
  MeshEmbeddedAgent *self;
  MsgFunc            func;
  gboolean           to_main;
  guint              id;
  char              *text;
  char              *text2;
  char              *text3;
  char              *path;
  GBytes            *bytes;
  GError            *error;
  guint64            a;
  guint64            b;
  gboolean           flag;
};

static Msg *
msg_new (MsgFunc func,
         guint   id)
{
  Msg *msg = g_new0 (Msg, 1);

  msg->func = func;
  msg->id = id;
  return msg;
}

static void
msg_free (Msg *msg)
{
  g_object_unref (msg->self);
  g_free (msg->text);
  g_free (msg->text2);
  g_free (msg->text3);
  g_free (msg->path);
  g_clear_pointer (&msg->bytes, g_bytes_unref);
  g_clear_error (&msg->error);
  g_free (msg);
}

static void term_output_on_main (MeshEmbeddedAgent *self, Msg *msg);
static void progress_on_main (MeshEmbeddedAgent *self, Msg *msg);

/* Output and progress may wait for the window to draw; anything else (a
 * terminal started or ended, an offer, a transfer's end) must not.  They
 * used to be idle sources: while a spinner turned and frames came late,
 * the frame clock's source (GDK_PRIORITY_REDRAW) was ready at every
 * iteration and no idle source ran, so "Starting Your Shell…" stayed up
 * until the animation paused. */
static gboolean
is_bulk (Msg *msg)
{
  return msg->func == term_output_on_main || msg->func == progress_on_main;
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
    if (!msg->to_main || !msg->self->stopped)
      msg->func (msg->self, msg);
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
static void
post (MeshEmbeddedAgent *self,
      Mailbox           *box,
      Msg               *msg)
{
  msg->self = g_object_ref (self);
  msg->to_main = box == &self->to_main_box;
  g_mutex_lock (&box->lock);
  g_queue_push_tail (&box->queue, msg);
  if (!is_bulk (msg))
    g_source_set_priority (box->source, G_PRIORITY_DEFAULT);
  /* Wakes the context up if another thread polls it. */
  g_source_set_ready_time (box->source, 0);
  g_mutex_unlock (&box->lock);
}

#define to_main(self, msg)   post ((self), &(self)->to_main_box, (msg))
#define to_thread(self, msg) post ((self), &(self)->to_thread_box, (msg))

static guint
take_id (MeshEmbeddedAgent *self)
{
  return (guint) g_atomic_int_add ((int *) &self->next_id, 1) + 1;
}

/* Main thread: what the thread reports. */

static void
ready_on_main (MeshEmbeddedAgent *self,
               Msg               *msg)
{
  g_free (self->device_id);
  self->device_id = g_strdup (msg->text);
  g_signal_emit (self, signals[SIGNAL_READY], 0, msg->text);
}

static void
failed_on_main (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  g_signal_emit (self, signals[SIGNAL_FAILED], 0, msg->text);
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

/* text: room_id, text2: sender, text3: name, a: size, flag: asks for an answer,
 * b: 1 for a folder. */
static void
offer_on_main (MeshEmbeddedAgent *self,
               Msg               *msg)
{
  g_autoptr(MeshTransfer) transfer = NULL;
  g_autoptr(GFile) folder = g_file_new_for_path (self->download_dir);

  transfer = mesh_transfer_new (msg->id, MESH_TRANSFER_INCOMING, msg->text, msg->text2,
                                msg->text3, msg->b != 0, msg->a);
  mesh_transfer_set_folder (transfer, folder);
  if (!msg->flag)
    mesh_transfer_set_state (transfer, MESH_TRANSFER_WAITING, NULL);
  add_transfer (self, transfer);
  if (msg->flag)
    g_signal_emit (self, signals[SIGNAL_OFFER], 0, transfer);
}

static void
progress_on_main (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  MeshTransfer *transfer = g_hash_table_lookup (self->transfer_ids, GUINT_TO_POINTER (msg->id));

  if (transfer != NULL)
    mesh_transfer_set_progress (transfer, msg->a, msg->b);
}

static void
saved_on_main (MeshEmbeddedAgent *self,
               Msg               *msg)
{
  MeshTransfer *transfer = g_hash_table_lookup (self->transfer_ids, GUINT_TO_POINTER (msg->id));
  g_autoptr(GFile) file = g_file_new_for_path (msg->path);

  if (transfer != NULL)
    mesh_transfer_set_file (transfer, file);
}

static const MeshTransferState end_states[] = {
  [END_OK] = MESH_TRANSFER_DONE,
  [END_CANCELLED] = MESH_TRANSFER_CANCELLED,
  [END_DECLINED] = MESH_TRANSFER_DECLINED,
  [END_FAILED] = MESH_TRANSFER_FAILED,
};

/* a: End, error: how it ended (the transfer turns it into words), or text */
static void
ended_on_main (MeshEmbeddedAgent *self,
               Msg               *msg)
{
  MeshTransfer *transfer = g_hash_table_lookup (self->transfer_ids, GUINT_TO_POINTER (msg->id));

  if (transfer == NULL || mesh_transfer_is_finished (transfer))
    return;
  if (msg->error != NULL) {
    g_autofree char *shown = mesh_escape_for_display (msg->error->message, -1);

    /* The raw error is for the log and the Details, not the sentence. */
    g_message ("Transfer %u ended: %s", msg->id, shown);
    mesh_transfer_end_with_error (transfer, msg->error);
    return;
  }
  mesh_transfer_set_state (transfer, end_states[msg->a], msg->text);
  /* Only a transfer that ended well, with the receiver's hash check, was received. */
  if (msg->a == END_OK && mesh_transfer_get_direction (transfer) == MESH_TRANSFER_INCOMING)
    g_signal_emit (self, signals[SIGNAL_RECEIVED], 0, transfer);
}

static MeshSharedTerminal *
lookup_terminal (MeshEmbeddedAgent *self,
                 guint              id)
{
  return g_hash_table_lookup (self->terminals, GUINT_TO_POINTER (id));
}

/* text: share_id, a: cols, b: rows */
static void
term_started_on_main (MeshEmbeddedAgent *self,
                      Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal == NULL)
    return;
  mesh_shared_terminal_set_share_id (terminal, msg->text);
  mesh_shared_terminal_set_size (terminal, (guint) msg->a, (guint) msg->b);
  mesh_shared_terminal_set_state (terminal, MESH_SHARED_TERMINAL_RUNNING, NULL);
}

static void
term_output_on_main (MeshEmbeddedAgent *self,
                     Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal != NULL)
    mesh_shared_terminal_push_output (terminal, msg->bytes);
}

static void
term_size_on_main (MeshEmbeddedAgent *self,
                   Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal != NULL)
    mesh_shared_terminal_set_size (terminal, (guint) msg->a, (guint) msg->b);
}

/* text: controller peer_id or NULL, text2: its name, flag: it is this app */
static void
term_control_on_main (MeshEmbeddedAgent *self,
                      Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal != NULL)
    mesh_shared_terminal_set_controller (terminal, msg->text, msg->text2, msg->flag);
}

/* text: peer_id, text2: username */
static void
term_ask_on_main (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal != NULL)
    mesh_shared_terminal_ask_control (terminal, msg->text, msg->text2);
}

static void
term_denied_on_main (MeshEmbeddedAgent *self,
                     Msg               *msg)
{
  MeshSharedTerminal *terminal = lookup_terminal (self, msg->id);

  if (terminal != NULL)
    mesh_shared_terminal_report_denied (terminal, msg->text);
}

/* text: the error in words, or NULL */
static void
term_ended_on_main (MeshEmbeddedAgent *self,
                    Msg               *msg)
{
  g_autoptr(MeshSharedTerminal) terminal = NULL;

  if (!g_hash_table_steal_extended (self->terminals, GUINT_TO_POINTER (msg->id), NULL,
                                    (gpointer *) &terminal))
    return;
  g_signal_handlers_disconnect_by_data (terminal, self);
  mesh_shared_terminal_set_state (terminal, MESH_SHARED_TERMINAL_ENDED, msg->text);
}

/* Agent thread from here to mesh_embedded_agent_new(). */

static void
report_failed (MeshEmbeddedAgent *self,
               const char        *message)
{
  Msg *msg = msg_new (failed_on_main, 0);

  msg->text = g_strdup (message);
  to_main (self, msg);
}

static void
report_ended (MeshEmbeddedAgent *self,
              guint              id,
              End                end,
              const char        *message)
{
  Msg *msg = msg_new (ended_on_main, id);

  msg->a = end;
  msg->text = g_strdup (message);
  to_main (self, msg);
}

/* How a session ended; NULL: it went well. */
static void
report_ended_error (MeshEmbeddedAgent *self,
                    guint              id,
                    const GError      *error)
{
  Msg *msg = msg_new (ended_on_main, id);

  msg->a = END_OK;
  msg->error = error != NULL ? g_error_copy (error) : NULL;
  to_main (self, msg);
}

typedef struct {
  MeshEmbeddedAgent *self;
  guint              id;
  char              *name;
  char              *session_id;  /* once the controller started its session */
  GCancellable      *cancellable;
} Send;

static void
send_free (Send *send)
{
  g_free (send->name);
  g_free (send->session_id);
  g_object_unref (send->cancellable);
  g_free (send);
}

/* A terminal, hosted or viewed. */
typedef struct {
  guint               id;
  char               *room_id;
  char               *share_id;
  MeshTerminalHost   *host;
  MeshTerminalViewer *viewer;
  GCancellable       *cancellable;
} Term;

static void
term_free (Term *term)
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
          const char        *error)
{
  Msg *msg = msg_new (term_ended_on_main, term->id);

  msg->text = g_strdup (error);
  to_main (self, msg);
  g_hash_table_remove (self->terms, GUINT_TO_POINTER (term->id));
}

static void
controller_ready_cb (MeshAgentController *controller,
                     MeshEmbeddedAgent   *self)
{
  Msg *msg = msg_new (ready_on_main, 0);

  msg->text = g_strdup (mesh_agent_controller_get_device_id (controller));
  to_main (self, msg);
}

static void
controller_fatal_cb (MeshAgentController *controller,
                     GError              *error,
                     MeshEmbeddedAgent   *self)
{
  report_failed (self, error->message);
}

static guint
incoming_id (MeshEmbeddedAgent *self,
             const char        *session_id)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->incoming, session_id));
}

static void
offer (MeshEmbeddedAgent *self,
       const char        *session_id,
       const char        *kind,
       const char        *room_id,
       const char        *sender,
       const char        *name,
       guint64            size,
       gboolean           ask)
{
  guint id = take_id (self);
  Msg *msg = msg_new (offer_on_main, id);

  g_hash_table_insert (self->incoming, g_strdup (session_id), GUINT_TO_POINTER (id));
  msg->text = g_strdup (room_id);
  msg->text2 = g_strdup (sender);
  msg->text3 = g_strdup (name);
  msg->a = size;
  msg->b = g_strcmp0 (kind, "folder") == 0;
  msg->flag = ask;
  to_main (self, msg);
}

static void
session_offered_cb (MeshAgentController *controller,
                    const char          *session_id,
                    const char          *kind,
                    const char          *room_id,
                    const char          *sender,
                    const char          *device_id,
                    const char          *name,
                    guint64              size,
                    MeshEmbeddedAgent   *self)
{
  offer (self, session_id, kind, room_id, sender, name, size, TRUE);
}

/* A session we open belongs to the send whose cancellable it was started
 * with (two sends of files with the same name must not show each other's
 * progress).  A session opened to us that nobody was asked about was
 * accepted by the policy (one's own devices). */
static void
session_started_cb (MeshAgentController *controller,
                    const char          *session_id,
                    const char          *kind,
                    const char          *role,
                    const char          *name,
                    const char          *peer,
                    MeshEmbeddedAgent   *self)
{
  g_autoptr(GList) sends = NULL;

  if (g_str_equal (kind, "terminal"))
    return;
  if (g_str_equal (role, "server")) {
    if (incoming_id (self, session_id) == 0)
      offer (self, session_id, kind, NULL, peer, name, 0, FALSE);
    return;
  }
  sends = g_hash_table_get_values (self->sends);
  for (GList *l = sends; l != NULL; l = l->next) {
    Send *send = l->data;

    if (send->session_id == NULL &&
        mesh_agent_controller_session_is_for (controller, session_id, send->cancellable)) {
      send->session_id = g_strdup (session_id);
      return;
    }
  }
}

static void
session_progress_cb (MeshAgentController *controller,
                     const char          *session_id,
                     guint64              done,
                     guint64              total,
                     MeshEmbeddedAgent   *self)
{
  GHashTableIter iter;
  guint id = incoming_id (self, session_id);
  Send *send;
  Msg *msg;

  g_hash_table_iter_init (&iter, self->sends);
  while (id == 0 && g_hash_table_iter_next (&iter, NULL, (gpointer *) &send)) {
    if (g_strcmp0 (send->session_id, session_id) == 0)
      id = send->id;
  }
  if (id == 0)
    return;
  msg = msg_new (progress_on_main, id);
  msg->a = done;
  msg->b = total;
  to_main (self, msg);
}

static void
session_saved_cb (MeshAgentController *controller,
                  const char          *session_id,
                  GFile               *file,
                  MeshEmbeddedAgent   *self)
{
  guint id = incoming_id (self, session_id);
  Msg *msg;

  if (id == 0)
    return;
  msg = msg_new (saved_on_main, id);
  msg->path = g_file_get_path (file);
  to_main (self, msg);
}

static void
session_finished_cb (MeshAgentController *controller,
                     const char          *session_id,
                     const char          *kind,
                     const char          *role,
                     gboolean             ok,
                     guint64              bytes,
                     GError              *error,
                     MeshEmbeddedAgent   *self)
{
  guint id = incoming_id (self, session_id);

  if (id == 0 || !g_str_equal (role, "server"))
    return;
  report_ended_error (self, id, error);
  g_hash_table_remove (self->incoming, session_id);
}

/* An offer nobody answered in time. */
static void
session_rejected_cb (MeshAgentController *controller,
                     const char          *session_id,
                     const char          *kind,
                     const char          *peer,
                     const char          *reason,
                     MeshEmbeddedAgent   *self)
{
  guint id = incoming_id (self, session_id);

  if (id == 0)
    return;
  report_ended (self, id, END_FAILED, _("The offer expired before it was answered."));
  g_hash_table_remove (self->incoming, session_id);
}

static void
control_changed_cb (MeshAgentController *controller,
                    const char          *share_id,
                    const char          *peer_id,
                    MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);
  Msg *msg;

  if (term == NULL)
    return;
  msg = msg_new (term_control_on_main, term->id);
  msg->text = g_strdup (peer_id);
  if (peer_id != NULL)
    msg->text2 = g_strdup (mesh_agent_controller_get_peer_username (controller, term->room_id,
                                                                    peer_id));
  msg->flag = g_strcmp0 (peer_id, mesh_agent_controller_get_peer_id (controller)) == 0;
  to_main (self, msg);
}

static void
control_requested_cb (MeshAgentController *controller,
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
  msg = msg_new (term_ask_on_main, term->id);
  msg->text = g_strdup (peer_id);
  msg->text2 = g_strdup (username);
  to_main (self, msg);
}

static void
control_denied_cb (MeshAgentController *controller,
                   const char          *share_id,
                   const char          *reason,
                   MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);
  Msg *msg;

  if (term == NULL)
    return;
  msg = msg_new (term_denied_on_main, term->id);
  msg->text = g_strdup (reason);
  to_main (self, msg);
}

static void
share_stopped_cb (MeshAgentController *controller,
                  const char          *share_id,
                  MeshEmbeddedAgent   *self)
{
  Term *term = find_term (self, share_id);

  if (term != NULL)
    end_term (self, term, NULL);
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
  g_signal_connect (self->controller, "session-offered", G_CALLBACK (session_offered_cb), self);
  g_signal_connect (self->controller, "session-started", G_CALLBACK (session_started_cb), self);
  g_signal_connect (self->controller, "session-progress", G_CALLBACK (session_progress_cb), self);
  g_signal_connect (self->controller, "session-saved", G_CALLBACK (session_saved_cb), self);
  g_signal_connect (self->controller, "session-finished", G_CALLBACK (session_finished_cb), self);
  g_signal_connect (self->controller, "session-rejected", G_CALLBACK (session_rejected_cb), self);
  g_signal_connect (self->controller, "control-changed", G_CALLBACK (control_changed_cb), self);
  g_signal_connect (self->controller, "control-requested", G_CALLBACK (control_requested_cb),
                    self);
  g_signal_connect (self->controller, "control-denied", G_CALLBACK (control_denied_cb), self);
  g_signal_connect (self->controller, "share-stopped", G_CALLBACK (share_stopped_cb), self);
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
  g_autoptr(JsonNode) answer = NULL;
  g_autofree char *name = NULL;
  const char *device_id = NULL, *device_token = NULL;

  answer = mesh_agent_state_rest_finish (MESH_AGENT_STATE (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (answer == NULL) {
    report_failed (self, error->message);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (answer) ||
      !mesh_json_get_string (json_node_get_object (answer), "device_id", TRUE, &device_id, NULL) ||
      !mesh_json_get_string (json_node_get_object (answer), "device_token", TRUE, &device_token,
                             NULL)) {
    report_failed (self, _("The server’s answer is malformed"));
    return;
  }
  name = device_name ();
  mesh_agent_state_set_device (self->state, device_id, name, device_token);
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
  g_autoptr(JsonObject) device = NULL;
  g_autoptr(JsonNode) body = NULL;
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
  device = json_object_new ();
  json_object_set_string_member (device, "name", name);
  json_object_set_string_member (device, "fingerprint",
                                 mesh_agent_identity_get_fingerprint (self->identity));
  body = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (body, device);
  self->soup = soup_session_new ();
  mesh_agent_state_rest_async (self->state, self->soup, "POST", "/devices", self->access_token,
                               body, self->cancellable, registered_cb, self);
}

static gboolean
controller_ready (MeshEmbeddedAgent *self)
{
  return !g_cancellable_is_cancelled (self->cancellable) && self->controller != NULL &&
         mesh_agent_controller_is_ready (self->controller);
}

static void
send_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Send *send = user_data;
  MeshEmbeddedAgent *self = send->self;
  g_autoptr(GError) error = NULL;

  mesh_agent_controller_send_finish (MESH_AGENT_CONTROLLER (source), result, &error);
  report_ended_error (self, send->id, error);
  g_hash_table_remove (self->sends, GUINT_TO_POINTER (send->id));
}

/* text: room_id, text2: device_id, path */
static void
send_in_thread (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  g_autoptr(GFile) file = g_file_new_for_path (msg->path);
  Send *send;

  if (!controller_ready (self)) {
    report_ended (self, msg->id, END_FAILED, _("This computer is not connected to the server yet"));
    return;
  }
  send = g_new0 (Send, 1);
  send->self = self;
  send->id = msg->id;
  send->name = g_file_get_basename (file);
  send->cancellable = g_cancellable_new ();
  g_hash_table_insert (self->sends, GUINT_TO_POINTER (send->id), send);
  g_cancellable_connect (self->cancellable, G_CALLBACK (g_cancellable_cancel),
                         g_object_ref (send->cancellable), g_object_unref);
  mesh_agent_controller_send_async (self->controller, msg->text, msg->text2, file,
                                    send->cancellable, send_done_cb, send);
}

static const char *
incoming_session (MeshEmbeddedAgent *self,
                  guint              id)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->incoming);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (GPOINTER_TO_UINT (value) == id)
      return key;
  }
  return NULL;
}

static void
cancel_in_thread (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  Send *send = g_hash_table_lookup (self->sends, GUINT_TO_POINTER (msg->id));
  const char *session_id;

  if (send != NULL) {
    /* Cancelling the session can end the send at once, and free it. */
    g_autoptr(GCancellable) cancellable = g_object_ref (send->cancellable);
    g_autofree char *send_session_id = g_strdup (send->session_id);

    /* The controller stops the stream at once and tells the receiver. */
    if (send_session_id != NULL && self->controller != NULL)
      mesh_agent_controller_cancel_session (self->controller, send_session_id);
    g_cancellable_cancel (cancellable);
    return;
  }
  session_id = incoming_session (self, msg->id);
  if (session_id != NULL && self->controller != NULL)
    mesh_agent_controller_cancel_session (self->controller, session_id);
}

/* path: the folder to save in, NULL to decline */
static void
answer_in_thread (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  g_autofree char *session_id = g_strdup (incoming_session (self, msg->id));
  g_autoptr(GFile) folder = msg->path != NULL ? g_file_new_for_path (msg->path) : NULL;

  if (session_id == NULL || self->controller == NULL)
    return;
  if (!mesh_agent_controller_answer_offer (self->controller, session_id, folder)) {
    report_ended (self, msg->id, END_FAILED, _("The offer expired before it was answered."));
    g_hash_table_remove (self->incoming, session_id);
  } else if (folder == NULL) {
    g_hash_table_remove (self->incoming, session_id);
  }
}

static void
join_in_thread (MeshEmbeddedAgent *self,
                Msg               *msg)
{
  if (self->controller != NULL)
    mesh_agent_controller_join_room (self->controller, msg->text);
}

/* Terminals */

static void
term_output_cb (GObject *source,
                GBytes  *data,
                Term    *term)
{
  MeshEmbeddedAgent *self = g_object_get_data (source, "mesh-embedded-agent");
  Msg *msg = msg_new (term_output_on_main, term->id);

  msg->bytes = g_bytes_ref (data);
  to_main (self, msg);
}

static void
term_started (MeshEmbeddedAgent *self,
              Term              *term,
              guint              cols,
              guint              rows)
{
  Msg *msg = msg_new (term_started_on_main, term->id);

  msg->text = g_strdup (term->share_id);
  msg->a = cols;
  msg->b = rows;
  to_main (self, msg);
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
    msg = msg_new (term_output_on_main, term->id);
    msg->bytes = g_steal_pointer (&scrollback);
    to_main (self, msg);
  }
}

static void
viewer_resize_cb (MeshTerminalViewer *viewer,
                  guint               cols,
                  guint               rows,
                  Term               *term)
{
  MeshEmbeddedAgent *self = g_object_get_data (G_OBJECT (viewer), "mesh-embedded-agent");
  Msg *msg = msg_new (term_size_on_main, term->id);

  msg->a = cols;
  msg->b = rows;
  to_main (self, msg);
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

/* text: room_id, text2: share_id (NULL: share this computer's shell) */
static void
term_open_in_thread (MeshEmbeddedAgent *self,
                     Msg               *msg)
{
  Term *term;
  TermCall *call;

  term = g_new0 (Term, 1);
  term->id = msg->id;
  term->room_id = g_strdup (msg->text);
  term->share_id = g_strdup (msg->text2);
  term->cancellable = g_cancellable_new ();
  g_hash_table_insert (self->terms, GUINT_TO_POINTER (term->id), term);
  if (!controller_ready (self)) {
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

static void
term_input_in_thread (MeshEmbeddedAgent *self,
                      Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);
  gsize len;
  const void *data = g_bytes_get_data (msg->bytes, &len);

  if (term != NULL && term->host != NULL)
    mesh_terminal_host_send_input (term->host, data, len);
  else if (term != NULL && term->viewer != NULL)
    mesh_terminal_viewer_send_input (term->viewer, data, len);
}

/* a: cols, b: rows */
static void
term_resize_in_thread (MeshEmbeddedAgent *self,
                       Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);
  Msg *answer;

  /* The host's window sets the shell's size; viewers follow it. */
  if (term == NULL || term->host == NULL)
    return;
  mesh_terminal_host_resize (term->host, (guint) msg->a, (guint) msg->b);
  answer = msg_new (term_size_on_main, term->id);
  answer->a = msg->a;
  answer->b = msg->b;
  to_main (self, answer);
}

static void
term_take_in_thread (MeshEmbeddedAgent *self,
                     Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  if (term != NULL && term->share_id != NULL && self->controller != NULL)
    mesh_agent_controller_take_control (self->controller, term->share_id);
}

static void
term_release_in_thread (MeshEmbeddedAgent *self,
                        Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  if (term != NULL && term->share_id != NULL && self->controller != NULL)
    mesh_agent_controller_release_control (self->controller, term->share_id);
}

/* text: peer_id, flag: grant */
static void
term_answer_in_thread (MeshEmbeddedAgent *self,
                       Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  if (term != NULL && term->share_id != NULL && self->controller != NULL)
    mesh_agent_controller_answer_control (self->controller, term->share_id, msg->text,
                                          msg->flag);
}

static void
term_stop_in_thread (MeshEmbeddedAgent *self,
                     Msg               *msg)
{
  Term *term = term_lookup (self, msg->id);

  if (term == NULL)
    return;
  if (term->host != NULL && self->controller != NULL)
    mesh_agent_controller_stop_share (self->controller, term->share_id);
  end_term (self, term, NULL);
}

/* path: the download folder, flag: accept one's own devices' offers */
static void
policy_in_thread (MeshEmbeddedAgent *self,
                  Msg               *msg)
{
  g_autoptr(GFile) folder = g_file_new_for_path (msg->path);

  g_free (self->t_download_dir);
  self->t_download_dir = g_strdup (msg->path);
  self->t_accept_own = msg->flag;
  if (self->controller == NULL)
    return;
  mesh_agent_controller_set_download_dir (self->controller, folder);
  mesh_agent_controller_set_accept_offers (self->controller, msg->flag);
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
  g_hash_table_remove_all (self->sends);
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
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
  msg = msg_new (policy_in_thread, 0);
  msg->path = g_strdup (self->download_dir);
  msg->flag = g_settings_get_boolean (self->settings, "auto-accept-own-devices");
  to_thread (self, msg);
}

static void
transfer_accept_cb (MeshTransfer      *transfer,
                    GFile             *folder,
                    MeshEmbeddedAgent *self)
{
  Msg *msg = msg_new (answer_in_thread, mesh_transfer_get_id (transfer));

  msg->path = folder != NULL ? g_file_get_path (folder) : g_strdup (self->download_dir);
  to_thread (self, msg);
}

static void
transfer_decline_cb (MeshTransfer      *transfer,
                     MeshEmbeddedAgent *self)
{
  to_thread (self, msg_new (answer_in_thread, mesh_transfer_get_id (transfer)));
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
  msg = msg_new (send_in_thread, mesh_transfer_get_id (transfer));
  msg->text = g_strdup (target->room_id);
  msg->text2 = g_strdup (target->device_id);
  msg->path = g_file_get_path (mesh_transfer_get_file (transfer));
  to_thread (self, msg);
}

static void
transfer_cancel_cb (MeshTransfer      *transfer,
                    MeshEmbeddedAgent *self)
{
  to_thread (self, msg_new (cancel_in_thread, mesh_transfer_get_id (transfer)));
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
  Msg *msg = msg_new (term_input_in_thread, terminal_id (self, terminal));

  msg->bytes = g_bytes_ref (data);
  to_thread (self, msg);
}

static void
terminal_resize_cb (MeshSharedTerminal *terminal,
                    guint               cols,
                    guint               rows,
                    MeshEmbeddedAgent  *self)
{
  Msg *msg = msg_new (term_resize_in_thread, terminal_id (self, terminal));

  msg->a = cols;
  msg->b = rows;
  to_thread (self, msg);
}

static void
terminal_request_control_cb (MeshSharedTerminal *terminal,
                             MeshEmbeddedAgent  *self)
{
  to_thread (self, msg_new (term_take_in_thread, terminal_id (self, terminal)));
}

static void
terminal_release_control_cb (MeshSharedTerminal *terminal,
                             MeshEmbeddedAgent  *self)
{
  to_thread (self, msg_new (term_release_in_thread, terminal_id (self, terminal)));
}

static void
terminal_answer_control_cb (MeshSharedTerminal *terminal,
                            const char         *peer_id,
                            gboolean            grant,
                            MeshEmbeddedAgent  *self)
{
  Msg *msg = msg_new (term_answer_in_thread, terminal_id (self, terminal));

  msg->text = g_strdup (peer_id);
  msg->flag = grant;
  to_thread (self, msg);
}

static void
terminal_stop_cb (MeshSharedTerminal *terminal,
                  MeshEmbeddedAgent  *self)
{
  to_thread (self, msg_new (term_stop_in_thread, terminal_id (self, terminal)));
}

static MeshSharedTerminal *
open_terminal (MeshEmbeddedAgent      *self,
               MeshSharedTerminalRole  role,
               const char             *room_id,
               const char             *share_id,
               const char             *host_name)
{
  MeshSharedTerminal *terminal = mesh_shared_terminal_new (role, room_id, host_name);
  guint id = take_id (self);
  Msg *msg = msg_new (term_open_in_thread, id);

  g_object_set_data (G_OBJECT (terminal), "mesh-terminal-id", GUINT_TO_POINTER (id));
  g_hash_table_insert (self->terminals, GUINT_TO_POINTER (id), g_object_ref (terminal));
  g_signal_connect (terminal, "input", G_CALLBACK (terminal_input_cb), self);
  g_signal_connect (terminal, "resize", G_CALLBACK (terminal_resize_cb), self);
  g_signal_connect (terminal, "request-control", G_CALLBACK (terminal_request_control_cb), self);
  g_signal_connect (terminal, "release-control", G_CALLBACK (terminal_release_control_cb), self);
  g_signal_connect (terminal, "answer-control", G_CALLBACK (terminal_answer_control_cb), self);
  g_signal_connect (terminal, "stop", G_CALLBACK (terminal_stop_cb), self);
  msg->text = g_strdup (room_id);
  msg->text2 = g_strdup (share_id);
  to_thread (self, msg);
  return terminal;
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
  g_hash_table_unref (self->sends);
  g_hash_table_unref (self->incoming);
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

  signals[SIGNAL_READY] =
    g_signal_new ("ready", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_STRING);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_STRING);
  signals[SIGNAL_OFFER] =
    g_signal_new ("offer", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  MESH_TYPE_TRANSFER);
  signals[SIGNAL_RECEIVED] =
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
  self->sends = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) send_free);
  self->incoming = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->terms = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) term_free);
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
    to_thread (self, msg_new (quit_in_thread, 0));
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
  transfer = mesh_transfer_new (take_id (self), MESH_TRANSFER_OUTGOING, room_id, peer_name,
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
  msg = msg_new (send_in_thread, mesh_transfer_get_id (transfer));
  msg->text = g_strdup (room_id);
  msg->text2 = g_strdup (device_id);
  msg->path = g_file_get_path (file);
  to_thread (self, msg);
  return transfer;
}

MeshSharedTerminal *
mesh_embedded_agent_share_terminal (MeshEmbeddedAgent *self,
                                    const char        *room_id)
{
  g_return_val_if_fail (MESH_IS_EMBEDDED_AGENT (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (!self->stopped, NULL);

  return open_terminal (self, MESH_SHARED_TERMINAL_HOST, room_id, NULL, self->username);
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

  return open_terminal (self, MESH_SHARED_TERMINAL_VIEWER, room_id, share_id, host_name);
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
  msg = msg_new (join_in_thread, 0);
  msg->text = g_strdup (room_id);
  to_thread (self, msg);
}
