/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the parts of MeshClientSession share: mesh-client-session.c (the
 * object, waiters, outgoing frames, the public API's core), -connection.c
 * (the socket, reconnecting, the event table), -rooms.c (rooms, members and
 * presence), -chat.c (the outbox and catching up with history) and
 * -terminal.c (terminal-share events and requests). */

#include "mesh-client-session.h"
#include "mesh-client-private.h"

#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

G_BEGIN_DECLS

enum {
  PROP_0,
  PROP_REST,
  PROP_STATE,
  PROP_PEER_ID,
  PROP_USER_ID,
  PROP_PEER_TYPE,
  PROP_RETRY_FIRST,
  N_PROPS
};

enum {
  CONNECTION_ERROR,
  ROOM_JOINED,
  ROOM_LEFT,
  PRESENCE_CHANGED,
  CHAT_MESSAGE,
  CHAT_QUEUED,
  CHAT_FAILED,
  TERMINAL_SHARE_STARTED,
  TERMINAL_SHARE_RUNNING,
  TERMINAL_SHARE_STOPPED,
  TERMINAL_CONTROL_REQUEST,
  TERMINAL_CONTROL_GRANTED,
  TERMINAL_CONTROL_RELEASED,
  TERMINAL_CONTROL_DENIED,
  SERVER_ERROR,
  EVENT,
  PREPARE_HELLO,
  FATAL_ERROR,
  N_SIGNALS
};

extern guint client_session_signals[N_SIGNALS];

/* A room this session wants to be in. */
typedef struct {
  char       *room_id;
  char       *join_id;   /* id of the last room.join sent */
  gboolean    join_sent; /* on this socket, not answered yet */
  gboolean    joined;
  GHashTable *peers;     /* peer_id → MeshPeerInfo */

  /* Catching up after a reconnect: what was said while we were away comes
   * through "chat-message" like live messages, in order, once each. */
  char       *last_message_id;  /* the newest message seen */
  gboolean    baselined;        /* last_message_id is known (NULL: the room was empty) */
  gboolean    baselining;
  gboolean    catching_up;
  gboolean    catch_up_again;   /* rejoined while catching up: once more after */
  GPtrArray  *held;             /* live MeshChatMessage that came while catching up */
  GHashTable *caught;           /* message_ids the last catch-up emitted */
} SessionRoom;

typedef enum {
  WAIT_CONNECT,
  WAIT_JOIN,      /* key: room_id */
  WAIT_REQUEST,   /* key: the request's id */
} WaitKind;

struct _MeshClientSession {
  GObject                  parent_instance;

  GMainContext            *context;       /* thread-default at creation: every source goes there */
  MeshClientRest          *rest;
  char                    *peer_type;     /* "client" or "agent" */
  gboolean                 retry_first;   /* a failed first attempt is retried */
  MeshClientSessionState   state;
  gboolean                 running;       /* wants to be connected */
  gboolean                 ever_connected;
  guint                    failures;      /* attempts failed since the last welcome */

  SoupMessage             *attempt_msg;
  GCancellable            *attempt_cancellable;
  SoupWebsocketConnection *ws;
  gboolean                 welcomed;
  GError                  *hello_error;   /* the server refused our hello */
  gint64                   last_activity;
  guint                    retry_id;
  guint                    hello_timeout_id;
  guint                    liveness_id;

  char                    *peer_id;
  char                    *user_id;
  MeshPresence             presence;
  GHashTable              *rooms;         /* room_id → SessionRoom */
  GPtrArray               *outbox;        /* MeshChatMessage, pending, in order */
  GPtrArray               *waiters;       /* Waiter */
  GCancellable            *history_cancellable;  /* baselines and catch-ups */
};

/* mesh-client-session.c */
guint    client_session_add_timeout             (MeshClientSession      *self,
                                                 guint                   ms,
                                                 GSourceFunc             func);
void     client_session_clear_source            (MeshClientSession      *self,
                                                 guint                  *id);
gboolean client_session_is_agent                (MeshClientSession      *self);
void     client_session_set_state               (MeshClientSession      *self,
                                                 MeshClientSessionState  state);
void     client_session_set_string_prop         (MeshClientSession      *self,
                                                 char                  **field,
                                                 const char             *value,
                                                 guint                   prop);
gboolean client_session_is_open                 (MeshClientSession      *self);
gboolean client_session_send_frame              (MeshClientSession      *self,
                                                 const char             *type,
                                                 const char             *id,
                                                 const char             *to,
                                                 JsonObject             *payload);
void     client_session_send_join               (MeshClientSession      *self,
                                                 SessionRoom            *room);
void     client_session_send_presence           (MeshClientSession      *self);
void     client_session_send_chat_frame         (MeshClientSession      *self,
                                                 MeshChatMessage        *message);
void     client_session_add_waiter              (MeshClientSession      *self,
                                                 WaitKind                kind,
                                                 const char             *key,
                                                 GTask                  *task);
void     client_session_complete_waiters        (MeshClientSession      *self,
                                                 WaitKind                kind,
                                                 const char             *key,
                                                 JsonObject             *payload,
                                                 const GError           *error);

/* -connection.c */
void     client_session_close_ws                (MeshClientSession      *self);

/* -rooms.c */
void     client_session_room_free               (SessionRoom            *room);
void     client_session_handle_room_joined      (MeshClientSession      *self,
                                                 MeshEnvelope           *env);
void     client_session_handle_room_left        (MeshClientSession      *self,
                                                 MeshEnvelope           *env);
void     client_session_handle_room_gone        (MeshClientSession      *self,
                                                 MeshEnvelope           *env);
void     client_session_handle_presence         (MeshClientSession      *self,
                                                 MeshEnvelope           *env);

/* -chat.c */
void     client_session_catch_up                (MeshClientSession      *self,
                                                 SessionRoom            *room);
MeshChatMessage *
         client_session_outbox_take             (MeshClientSession      *self,
                                                 const char             *client_msg_id);
void     client_session_handle_chat_created     (MeshClientSession      *self,
                                                 MeshEnvelope           *env);

/* -terminal.c */
void     client_session_announce_running_shares (MeshClientSession      *self,
                                                 SessionRoom            *room,
                                                 JsonObject             *payload);
void     client_session_handle_terminal         (MeshClientSession      *self,
                                                 MeshEnvelope           *env);

G_END_DECLS
