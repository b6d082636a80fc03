/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of MeshEmbeddedAgent share: mesh-embedded-agent.c (sign-in
 * of the device, the thread, the API), mesh-embedded-agent-mailbox.c (the
 * messages between the threads), mesh-embedded-agent-transfer.c (files and
 * folders sent or received) and mesh-embedded-agent-terminal.c (terminals
 * hosted or viewed). */

#include "mesh-embedded-agent.h"

#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-json.h"

#include <glib/gi18n.h>

G_BEGIN_DECLS

enum {
  SIGNAL_READY,
  SIGNAL_FAILED,
  SIGNAL_OFFER,
  SIGNAL_RECEIVED,
  N_SIGNALS
};

extern guint embedded_agent_signals[N_SIGNALS];

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
  GHashTable          *links;            /* transfer id → Link */
  GHashTable          *terms;            /* terminal id → Term */
};

/* A terminal, hosted or viewed (mesh-embedded-agent-terminal.c). */
typedef struct _Term Term;

/* A transfer as the agent thread follows it (mesh-embedded-agent-transfer.c). */
typedef struct _Link Link;

/* What the threads tell each other.  Each message is about one transfer or
 * terminal (its id; 0 for the agent as a whole) and carries the fields of
 * its type only.  GFiles cross as paths: they are not thread-safe. */
typedef enum {
  /* To the main thread. */
  MSG_READY,
  MSG_FAILED,
  MSG_TRANSFER_OFFERED,
  MSG_TRANSFER_PROGRESS,
  MSG_TRANSFER_SAVED,
  MSG_TRANSFER_ENDED,
  MSG_TERM_STARTED,
  MSG_TERM_OUTPUT,
  MSG_TERM_SIZE,
  MSG_TERM_CONTROL,
  MSG_TERM_ASK,
  MSG_TERM_DENIED,
  MSG_TERM_ENDED,
  /* To the agent thread. */
  MSG_SEND,
  MSG_CANCEL,
  MSG_ANSWER,
  MSG_JOIN,
  MSG_POLICY,
  MSG_QUIT,
  MSG_TERM_OPEN,
  MSG_TERM_INPUT,
  MSG_TERM_RESIZE,
  MSG_TERM_TAKE,
  MSG_TERM_RELEASE,
  MSG_TERM_GRANT,
  MSG_TERM_STOP,
  N_MSG_TYPES
} MsgType;

typedef struct {
  MsgType            type;
  guint              id;
  MeshEmbeddedAgent *self;
  union {
    struct { char *device_id; } ready;
    struct { char *message; } failed;
    struct {
      char     *room_id;
      char     *sender;
      char     *name;
      guint64   size;
      gboolean  is_folder;
      gboolean  ask;        /* FALSE: the policy took it already */
    } offered;
    struct { guint64 done, total; } progress;
    struct { char *path; } saved;
    struct {
      MeshTransferState  state;
      char              *sentence;  /* why, in words, or NULL */
      GError            *error;     /* how it failed (the transfer words it), or NULL */
    } ended;
    struct { char *share_id; guint cols, rows; } started;
    struct { GBytes *data; } output;
    struct { guint cols, rows; } size;
    struct { char *peer_id; char *name; gboolean is_us; } control;
    struct { char *peer_id; char *username; } ask;
    struct { char *reason; } denied;
    struct { char *sentence; } term_ended;
    struct { char *room_id; char *device_id; char *path; } send;
    struct { char *folder; } answer;                  /* NULL: decline */
    struct { char *room_id; } join;
    struct { char *download_dir; gboolean accept_own; } policy;
    struct { char *room_id; char *share_id; } open;   /* share_id NULL: share our shell */
    struct { GBytes *data; } input;
    struct { guint cols, rows; } resize;
    struct { char *peer_id; gboolean grant; } grant;
  };
} Msg;

Msg * embedded_msg_new (MsgType type,
                        guint id);
void embedded_post (MeshEmbeddedAgent *self,
                    Msg *msg);
guint embedded_take_id (MeshEmbeddedAgent *self);
void embedded_mailbox_init (Mailbox *box,
                            GMainContext *context,
                            gint quiet);
void embedded_mailbox_clear (Mailbox *box);
void embedded_mailbox_destroy (Mailbox *box);
/* Runs @msg in the thread it was posted to (mesh-embedded-agent.c). */
void embedded_msg_dispatch (Msg *msg);
void embedded_transfer_offered_on_main (MeshEmbeddedAgent *self,
                                        Msg *msg);
void embedded_transfer_progress_on_main (MeshEmbeddedAgent *self,
                                         Msg *msg);
void embedded_transfer_saved_on_main (MeshEmbeddedAgent *self,
                                      Msg *msg);
void embedded_transfer_ended_on_main (MeshEmbeddedAgent *self,
                                      Msg *msg);
void embedded_link_free (Link *link);
void embedded_session_added_cb (MeshAgentController *controller,
                                MeshP2pSession *session,
                                MeshEmbeddedAgent *self);
void embedded_send_in_thread (MeshEmbeddedAgent *self,
                              Msg *msg);
void embedded_cancel_in_thread (MeshEmbeddedAgent *self,
                                Msg *msg);
void embedded_answer_in_thread (MeshEmbeddedAgent *self,
                                Msg *msg);
void embedded_term_update_on_main (MeshEmbeddedAgent *self,
                                   Msg *msg);
void embedded_term_ended_on_main (MeshEmbeddedAgent *self,
                                  Msg *msg);
void embedded_term_free (Term *term);
void embedded_control_changed_cb (MeshAgentController *controller,
                                  const char *share_id,
                                  const char *peer_id,
                                  MeshEmbeddedAgent *self);
void embedded_control_requested_cb (MeshAgentController *controller,
                                    const char *share_id,
                                    const char *peer_id,
                                    const char *username,
                                    MeshEmbeddedAgent *self);
void embedded_control_denied_cb (MeshAgentController *controller,
                                 const char *share_id,
                                 const char *reason,
                                 MeshEmbeddedAgent *self);
void embedded_share_stopped_cb (MeshAgentController *controller,
                                const char *share_id,
                                MeshEmbeddedAgent *self);
gboolean embedded_controller_ready (MeshEmbeddedAgent *self);
void embedded_term_open_in_thread (MeshEmbeddedAgent *self,
                                   Msg *msg);
void embedded_term_input_in_thread (MeshEmbeddedAgent *self,
                                    Msg *msg);
void embedded_term_resize_in_thread (MeshEmbeddedAgent *self,
                                     Msg *msg);
void embedded_term_control_in_thread (MeshEmbeddedAgent *self,
                                      Msg *msg);
void embedded_term_stop_in_thread (MeshEmbeddedAgent *self,
                                   Msg *msg);
MeshSharedTerminal * embedded_open_terminal (MeshEmbeddedAgent *self,
                                             MeshSharedTerminalRole role,
                                             const char *room_id,
                                             const char *share_id,
                                             const char *host_name);

G_END_DECLS
