/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-embedded-agent"

#include "config.h"

#include "mesh-embedded-agent-private.h"

/* The messages between the main thread and the agent thread: what each
 * carries, and the mailbox that hands them over in order. */

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
      embedded_msg_dispatch (msg);
    msg_free (msg);
  }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs mailbox_funcs = { NULL, NULL, mailbox_dispatch, NULL, NULL, NULL };

void
embedded_mailbox_init (Mailbox      *box,
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
void
embedded_mailbox_clear (Mailbox *box)
{
  GQueue taken = G_QUEUE_INIT;

  g_mutex_lock (&box->lock);
  taken = box->queue;
  g_queue_init (&box->queue);
  g_mutex_unlock (&box->lock);
  g_queue_clear_full (&taken, (GDestroyNotify) msg_free);
}

void
embedded_mailbox_destroy (Mailbox *box)
{
  g_source_destroy (box->source);
  g_clear_pointer (&box->source, g_source_unref);
  embedded_mailbox_clear (box);
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
