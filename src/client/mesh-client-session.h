/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "mesh-chat-message.h"
#include "mesh-client-enums.h"
#include "mesh-client-rest.h"

G_BEGIN_DECLS

/* One connection of a room as room.joined describes it. */
typedef struct {
  char         *peer_id;
  char         *user_id;
  char         *username;
  char         *peer_type;   /* "client" or "agent" */
  char         *device_id;   /* agents only */
  char         *device_name; /* agents only, when the server said it */
  char         *role;        /* when the server said it */
  MeshPresence  status;
  gboolean      transient;   /* an agent run for one command (mesh-agent send) */
} MeshPeerInfo;

#define MESH_TYPE_PEER_INFO (mesh_peer_info_get_type ())

GType         mesh_peer_info_get_type (void) G_GNUC_CONST;
MeshPeerInfo *mesh_peer_info_copy     (const MeshPeerInfo *info);
void          mesh_peer_info_free     (MeshPeerInfo       *info);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshPeerInfo, mesh_peer_info_free)

#define MESH_TYPE_CLIENT_SESSION (mesh_client_session_get_type ())

G_DECLARE_FINAL_TYPE (MeshClientSession, mesh_client_session, MESH, CLIENT_SESSION, GObject)

/* The app's and the agents' WebSocket to mesh-server (protocol §3, §5, §7),
 * on the thread-default main context of its creation: every source and
 * callback goes there.  Once connected it stays connected: after
 * a drop it reconnects with exponential backoff and jitter (1 s doubling to
 * 30 s), joins its rooms again, restores its presence and re-sends every
 * chat message not yet confirmed, with the same client_msg_id.
 *
 * Properties: "state" (MeshClientSessionState), "peer-id", "user-id",
 *   "peer-type" ("client" or "agent", construct-only), "retry-first".
 * Signals:
 *   connection-error (GError *error): an attempt failed or the socket dropped.
 *   fatal-error (GError *error): after connection-error, the session stopped
 *     trying by itself (see connect_async and set_retry_first).
 *   prepare-hello (JsonObject *hello): before each system.hello is sent;
 *     an agent adds `quic` and `transient` to it.
 *   room-joined (const char *room_id, MeshPeerInfo *peer): a peer (maybe this
 *     session) joined a room.
 *   room-left (const char *room_id, const char *peer_id)
 *   presence-changed (const char *peer_id, MeshPresence status)
 *   chat-message (MeshChatMessage *message): chat.message.created; for an own
 *     queued message it is the very object chat-queued gave, now "sent".
 *   chat-queued (MeshChatMessage *message): an own message was queued (pending).
 *   chat-failed (MeshChatMessage *message, GError *error): the server refused it.
 *   terminal-share-started (room_id, share_id, host_device_id, host_peer_id,
 *     user_id, username), terminal-share-stopped (room_id, share_id),
 *   terminal-share-running (the same as started): a share that was already running
 *     when this session joined the room,
 *   terminal-control-request (share_id, peer_id, user_id, username) (to the host),
 *   terminal-control-granted (room_id, share_id, controller_peer_id),
 *   terminal-control-released (room_id, share_id),
 *   terminal-control-denied (share_id, reason): strings, some may be NULL.
 *   server-error (GError *error, const char *ref): every `error` event.
 *   event::TYPE (const char *type, const char *from, JsonObject *payload): every
 *     event after the welcome, `error` included, once the session's own
 *     handling is done, for what has no signal of its own (rtc.*, p2p.*). */

MeshClientSession      *mesh_client_session_new            (MeshClientRest      *rest);
MeshClientSession      *mesh_client_session_new_agent      (MeshClientRest      *rest);
void                    mesh_client_session_set_retry_first (MeshClientSession  *self,
                                                            gboolean             retry);
MeshClientRest         *mesh_client_session_get_rest       (MeshClientSession   *self);
MeshClientSessionState  mesh_client_session_get_state      (MeshClientSession   *self);
/* Known once connected (system.welcome). */
const char             *mesh_client_session_get_peer_id    (MeshClientSession   *self);
const char             *mesh_client_session_get_user_id    (MeshClientSession   *self);

/* Starts the session with the REST object's access token and completes
 * with the first attempt: TRUE once welcomed.  On a transient failure it
 * returns the error and keeps trying in the background; an unusable token
 * (MESH_ERROR_UNAUTHORIZED), an untrusted certificate
 * (G_TLS_ERROR_BAD_CERTIFICATE), a hello the server refused (its error) or
 * an incompatible server stop it, with "fatal-error". */
void                    mesh_client_session_connect_async  (MeshClientSession   *self,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
gboolean                mesh_client_session_connect_finish (MeshClientSession   *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
/* Closes the socket and stops reconnecting; rooms and the outbox are kept
 * for the next connect.  Waiting calls fail with G_IO_ERROR_CANCELLED. */
void                    mesh_client_session_disconnect     (MeshClientSession   *self);
/* Skips the backoff wait (e.g. the network came back). */
void                    mesh_client_session_reconnect_now  (MeshClientSession   *self);
void                    mesh_client_session_drop           (MeshClientSession   *self,
                                                            const GError        *reason);

/* Joins now or as soon as connected, and after every reconnect.  Completes
 * on the server's room.joined, or with its error (ROOM_NOT_FOUND,
 * FORBIDDEN), which also forgets the room. */
void                    mesh_client_session_join_room_async  (MeshClientSession *self,
                                                              const char        *room_id,
                                                              GCancellable      *cancellable,
                                                              GAsyncReadyCallback callback,
                                                              gpointer           user_data);
gboolean                mesh_client_session_join_room_finish (MeshClientSession *self,
                                                              GAsyncResult      *result,
                                                              GError           **error);
void                    mesh_client_session_leave_room     (MeshClientSession   *self,
                                                            const char          *room_id);
gboolean                mesh_client_session_is_room_joined (MeshClientSession   *self,
                                                            const char          *room_id);
/* Whether what was said in @room_id while the socket was down is being
 * delivered ("chat-message") right now: a burst that is not live. */
gboolean                mesh_client_session_is_catching_up (MeshClientSession   *self,
                                                            const char          *room_id);
const MeshPeerInfo     *mesh_client_session_lookup_room_peer (MeshClientSession *self,
                                                              const char        *room_id,
                                                              const char        *peer_id);
/* Copies of the room's connected peers (MeshPeerInfo), this one included. */
GPtrArray              *mesh_client_session_dup_room_peers (MeshClientSession   *self,
                                                            const char          *room_id);

void                    mesh_client_session_set_presence   (MeshClientSession   *self,
                                                            MeshPresence         status);
MeshPresence            mesh_client_session_get_presence   (MeshClientSession   *self);

/* Queues a chat message (sent now, or after the next connect) and returns
 * its client_msg_id; fails at once for empty or over-long content. */
char                   *mesh_client_session_send_chat      (MeshClientSession   *self,
                                                            const char          *room_id,
                                                            const char          *content,
                                                            GError             **error);
/* The own messages of @room_id still waiting for confirmation. */
GPtrArray              *mesh_client_session_dup_outbox     (MeshClientSession   *self,
                                                            const char          *room_id);

/* Sends any event (@to and @payload may be NULL) and returns its id, which
 * an answer or error names as `ref`.  Fails when not connected. */
char                   *mesh_client_session_send_event     (MeshClientSession   *self,
                                                            const char          *type,
                                                            const char          *to,
                                                            JsonObject          *payload,
                                                            GError             **error);
/* The same, completing with the payload of the answer that names it as
 * `ref`, or with its error; fails when the connection drops first. */
void                    mesh_client_session_request_async  (MeshClientSession   *self,
                                                            const char          *type,
                                                            const char          *to,
                                                            JsonObject          *payload,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
JsonObject             *mesh_client_session_request_finish (MeshClientSession   *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);

/* Terminal sharing (protocol §7).  The share runs on @device_id, this
 * user's connected agent; the result is the share_id.  Control is the
 * agents' business (the app's embedded agent asks for and grants it). */
void                    mesh_client_session_terminal_share_start_async  (MeshClientSession *self,
                                                                         const char        *room_id,
                                                                         const char        *device_id,
                                                                         GCancellable      *cancellable,
                                                                         GAsyncReadyCallback callback,
                                                                         gpointer           user_data);
char                   *mesh_client_session_terminal_share_start_finish (MeshClientSession *self,
                                                                         GAsyncResult      *result,
                                                                         GError           **error);
gboolean                mesh_client_session_terminal_share_stop      (MeshClientSession *self,
                                                                      const char        *share_id,
                                                                      GError           **error);

G_END_DECLS
