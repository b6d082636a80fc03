/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-gotify.h"
#include "mesh-store.h"

G_BEGIN_DECLS

/* Notifiable events (§9): who hears about what, in which words.  The hub
 * calls one function per event; the notifier finds the users concerned (never
 * the one who acted), writes a title and a body, and hands them to Gotify.
 * It also keeps the two timers the events need: an agent is "offline" only
 * after a grace period without reconnecting, and an unanswered call offer
 * becomes "missed" after a time limit. */

typedef enum {
  MESH_NOTIFY_CHAT_MESSAGE,
  MESH_NOTIFY_CALL_MISSED,
  MESH_NOTIFY_SHARE_COMPLETED,
  MESH_NOTIFY_TERMINAL_SHARE,
  MESH_NOTIFY_AGENT_OFFLINE,
  MESH_NOTIFY_N_KINDS
} MeshNotifyKind;

typedef struct {
  gboolean          gotify_enabled;
  MeshGotifyConfig  gotify;
  gint64            priorities[MESH_NOTIFY_N_KINDS];   /* 0..10 */
  double            agent_offline_delay_s;
  double            call_timeout_s;
} MeshNotifyConfig;

void        mesh_notify_config_init_default (MeshNotifyConfig *config);
/* The wire name ("chat.message.created", …) and back. */
const char *mesh_notify_kind_to_string      (MeshNotifyKind    kind);
gboolean    mesh_notify_kind_from_string    (const char       *name,
                                             MeshNotifyKind   *kind);

#define MESH_TYPE_NOTIFIER (mesh_notifier_get_type ())
G_DECLARE_FINAL_TYPE (MeshNotifier, mesh_notifier, MESH, NOTIFIER, GObject)

/* Signal "call-missed" (const char *callee_user_id, JsonObject *payload):
 * payload is {room_id, caller_peer_id, caller_user_id, caller_username,
 * media}, for the callee's connected clients. */

MeshNotifier *mesh_notifier_new              (MeshStore              *store,
                                              const MeshNotifyConfig *config);
/* Resumes the outbox (Gotify) after a restart. */
void          mesh_notifier_start            (MeshNotifier           *self);
/* Cancels timers and requests; undelivered messages stay in the outbox. */
void          mesh_notifier_stop             (MeshNotifier           *self);
gboolean      mesh_notifier_gotify_enabled   (MeshNotifier           *self);
MeshGotify   *mesh_notifier_get_gotify       (MeshNotifier           *self);
gint64        mesh_notifier_get_priority     (MeshNotifier           *self,
                                              MeshNotifyKind          kind);

/* chat.message.created: every member of the room but the sender's user. */
void          mesh_notifier_chat_message     (MeshNotifier           *self,
                                              const MeshStoreMessage *message);
/* terminal.share.started: every member of the room but the host's user. */
void          mesh_notifier_terminal_started (MeshNotifier           *self,
                                              const char             *room_id,
                                              const char             *share_id,
                                              const char             *host_user_id,
                                              const char             *host_username);
/* share.completed: the receiving user (the sender acted), unless it is the
 * sender's own user.  @meta is the session's {name, size, hash?}. */
void          mesh_notifier_share_completed  (MeshNotifier           *self,
                                              const char             *room_id,
                                              const char             *session_id,
                                              const char             *kind,
                                              JsonObject             *meta,
                                              gint64                  bytes,
                                              const char             *sender_user_id,
                                              const char             *sender_username,
                                              const char             *receiver_user_id,
                                              const char             *receiver_device_id);

/* agent.offline: the agent's own user, once the agent has stayed away for
 * the grace period; a reconnection within it cancels the notification. */
void          mesh_notifier_agent_disconnected (MeshNotifier         *self,
                                                const char           *device_id,
                                                const char           *user_id);
void          mesh_notifier_agent_connected    (MeshNotifier         *self,
                                                const char           *device_id);

/* call.missed bookkeeping, fed with each rtc event the hub relayed (@type
 * "rtc.offer", "rtc.answer", "rtc.hangup"; others are ignored; @media only
 * for offers): an offer with media "call" that is not answered within the
 * time limit, or is hung up (or dropped) by the caller first, is missed for
 * the callee.  A hang-up by the callee is a refusal, not a miss. */
void          mesh_notifier_rtc_relayed      (MeshNotifier           *self,
                                              const char             *type,
                                              const char             *room_id,
                                              const char             *media,
                                              const char             *from_peer_id,
                                              const char             *from_user_id,
                                              const char             *from_username,
                                              const char             *to_peer_id,
                                              const char             *to_user_id);
/* A socket closed: the calls it made or was offered end unanswered. */
void          mesh_notifier_peer_gone        (MeshNotifier           *self,
                                              const char             *peer_id);

G_END_DECLS
