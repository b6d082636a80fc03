/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the parts of MeshAgentController share: mesh-agent-controller.c (the
 * server connection through MeshClientSession, rooms, the event table, the
 * public API's core),
 * -sessions.c (P2P sessions: offers, requests, sends, cancels), -hello.c (the
 * server role: an incoming connection and its P2P_HELLO), -connect.c (the
 * client role: connecting to the peer) and -terminal.c (terminal shares
 * hosted or viewed here). */

#include "mesh-agent-controller.h"
#include "mesh-agent-session.h"
#include "mesh-cap-token.h"
#include "mesh-client-rest.h"
#include "mesh-client-session.h"
#include "mesh-room.h"
#include "mesh-envelope.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-events.h"
#include "mesh-file-transfer.h"
#include "mesh-folder-transfer.h"
#include "mesh-frame-reader.h"
#include "mesh-frame-writer.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-p2p-session-private.h"
#include "mesh-quic-endpoint.h"
#include "mesh-terminal-host.h"

#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>


G_BEGIN_DECLS

#define HELLO_TIMEOUT_S      10
#define CONNECT_TIMEOUT_S    10
#define TERM_COLS            80
#define TERM_ROWS            24
#define CONNECTION_DEVICE_KEY "mesh-peer-device-id"

enum {
  SIGNAL_READY,
  SIGNAL_DISCONNECTED,
  SIGNAL_FATAL,
  SIGNAL_SESSION_STARTED,
  SIGNAL_SESSION_PROGRESS,
  SIGNAL_SESSION_FINISHED,
  SIGNAL_SESSION_REJECTED,
  SIGNAL_CONTROL_CHANGED,
  SIGNAL_CONTROL_DENIED,
  SIGNAL_SHARE_STOPPED,
  SIGNAL_SESSION_OFFERED,
  SIGNAL_SESSION_SAVED,
  SIGNAL_CONTROL_REQUESTED,
  SIGNAL_SESSION_ADDED,
  N_SIGNALS
};

extern guint controller_signals[N_SIGNALS];

typedef struct {
  char             *share_id;
  char             *room_id;
  MeshTerminalHost *host;
  char             *controller_peer_id;  /* as the server last said; NULL: nobody */
  char             *granted_peer_id;     /* whom we last granted control, before the server says so */
  MeshP2pSession   *controller;          /* the viewer session holding control, borrowed */
  GPtrArray        *viewers;             /* MeshP2pSession*, owned */
} Share;

/* What a pending request (p2p.session.request, terminal.share.start) is for. */
typedef struct {
  char             *room_id;
  MeshP2pSession   *session;   /* what a send or a view becomes */
  GFile            *path;
  char             *name;
  guint64           size;
  char             *share_id;
  GPtrArray        *devices;   /* candidate target devices */
  guint             next_device;
  char             *cap_token;
  MeshTerminalHost *host;
  GCancellable     *deadline;  /* a step with a time limit */
  GSource          *timer;
} Op;

struct _MeshAgentController {
  GObject                  parent_instance;

  GMainContext            *context;
  MeshAgentState          *state;
  MeshAgentIdentity       *identity;
  MeshClientRest          *rest;           /* REST with the device token */
  MeshClientSession       *session;        /* the WebSocket: rooms, members, reconnecting */
  MeshQuicEndpoint        *endpoint;
  GInetSocketAddress      *quic_address;
  GCancellable            *cancellable;    /* everything until stop */
  char                    *peer_id;        /* of the current connection, once welcomed */
  char                    *user_id;
  char                    *username;
  GHashTable              *rooms;          /* room_id → name (NULL: not listed) */
  GHashTable              *joining;        /* room_ids not joined yet: "ready" waits */
  GPtrArray               *own_devices;    /* MeshClientDevice* from GET /devices */
  gboolean                 running;
  gboolean                 ready;
  gboolean                 reconnect;      /* the session's retry-first */
  gboolean                 transient;      /* a one-off command: said in the hello */
  GHashTable              *pending;        /* envelope id → GTask */
  GHashTable              *reports;        /* ids of p2p.session.completed we sent */
  GHashTable              *sessions;       /* session_id → MeshP2pSession */
  GPtrArray               *connections;    /* incoming MeshQuicConnection */
  GHashTable              *shares;         /* share_id → Share (hosted here) */
  GHashTable              *viewed;         /* share_id → MeshP2pSession (viewed from here) */
  GHashTable              *share_hosts;    /* share_id → host device_id, of the rooms' shares */
  MeshCapKey              *cap_key;
  GFile                   *download_dir;
  GStrv                    accept_from;
  GStrv                    allow_control;
  gboolean                 accept_offers;
  gboolean                 ask_offers;
  gboolean                 ask_control;
  guint                    max_token_lifetime;
};

/* How long the server may take to answer a request (terminal.share.start,
 * p2p.session.request, GET /keys): it answers at once when it is alive, so
 * a request left unanswered fails with a clear error instead of waiting forever. */
#define PENDING_TIMEOUT_S 30

char * controller_shown (const char *text);
const MeshPeerInfo * controller_room_peer (MeshAgentController *self,
                                           const char *room_id,
                                           const char *peer_id);
GPtrArray * controller_room_peers (MeshAgentController *self,
                                   const char *room_id);
void controller_op_free (Op *op);
void controller_share_free (Share *share);
GSource * controller_add_timeout (MeshAgentController *self,
                                  guint ms,
                                  GSourceFunc func,
                                  gpointer data,
                                  GDestroyNotify destroy);
char * controller_send_event (MeshAgentController *self,
                              const char *type,
                              JsonObject *payload);
void controller_send_simple (MeshAgentController *self,
                             const char *type,
                             const char *key,
                             const char *value);
const char * controller_payload_string (JsonObject *payload,
                                        const char *member);
void controller_note_share_host (MeshAgentController *self,
                                 JsonObject *share);
void controller_session_finish (MeshP2pSession *session,
                                const GError *error);
gboolean controller_user_in (const char *username,
                             const char * const *list);
void controller_on_term_control (JsonObject *control,
                                 gpointer user_data);
void controller_on_incoming_connection (MeshQuicEndpoint *endpoint,
                                        MeshQuicConnection *connection,
                                        gpointer user_data);
GTask * controller_take_pending (MeshAgentController *self,
                                 const char *ref);
void controller_add_pending (MeshAgentController *self,
                             char *id,
                             GTask *task);
void controller_handle_session_created (MeshAgentController *self,
                                        JsonObject *payload);
void controller_handle_session_accept (MeshAgentController *self,
                                       JsonObject *payload);
void controller_handle_share_started (MeshAgentController *self,
                                      JsonObject *payload);
void controller_handle_share_stopped (MeshAgentController *self,
                                      JsonObject *payload);
void controller_handle_control_request (MeshAgentController *self,
                                        JsonObject *payload);
void controller_handle_control_granted (MeshAgentController *self,
                                        JsonObject *payload);
void controller_handle_control_released (MeshAgentController *self,
                                         JsonObject *payload);
void controller_handle_control_denied (MeshAgentController *self,
                                       JsonObject *payload);
void controller_request_session (MeshAgentController *self,
                                 GTask *task);
void controller_request_cap (MeshAgentController *self,
                             GTask *task,
                             const char *target_device_id);
gboolean controller_require_ready (MeshAgentController *self,
                                   GTask *task);

/* mesh-agent-controller-sessions.c, for the two roles' files (-hello.c, -connect.c) */
const char * session_kind (MeshP2pSession *session);
void session_forget_peer (MeshP2pSession *session);
/* mesh-agent-controller-connect.c */
void session_accepted (MeshP2pSession *session);

G_END_DECLS
