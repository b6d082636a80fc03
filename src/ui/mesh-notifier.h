/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-client-session.h"
#include "mesh-room-list.h"

G_BEGIN_DECLS

#define MESH_TYPE_NOTIFIER (mesh_notifier_get_type ())

G_DECLARE_FINAL_TYPE (MeshNotifier, mesh_notifier, MESH, NOTIFIER, GObject)

/* Desktop notifications (libnotify) for the §9 events of @session's rooms,
 * each kind behind its own setting:
 *   notify-chat      chat messages;
 *   notify-terminal  someone started sharing a terminal;
 *   notify-calls     a call to this user nobody answered (call.missed), and
 *                    a call or screen share ringing here
 *                    (mesh_notifier_notify_call());
 *   notify-files     a file or folder this computer received
 *                    (mesh_notifier_notify_received());
 *   notify-agents    one of the user's own agents went offline and did not
 *                    come back within "agent-offline-delay" seconds (30).
 * Never for the user's own actions, nor for the room on screen (the focused
 * room, NULL when the window is not active); the agent one has no room.
 * One notification per kind and room (per device for agents), replaced by
 * the newest event and withdrawn when the room comes on screen (the agent
 * one when the device is back, the terminal one when the share stops).
 * Chat messages that come in a burst (within half a second of each other,
 * or a whole catch-up after a reconnect) are told once: "N new messages in
 * Kitchen" with the newest, counted since the room was last on screen.
 * Activating one emits "activate-room" (room_id). */
MeshNotifier *mesh_notifier_new                  (GSettings         *settings,
                                                  MeshClientSession *session,
                                                  MeshRoomList      *room_list);
void          mesh_notifier_set_focused_room_id  (MeshNotifier      *self,
                                                  const char        *room_id);
const char   *mesh_notifier_get_focused_room_id  (MeshNotifier      *self);
/* The device of this app's embedded agent: never reported offline, since it
 * goes with the app (quitting or signing out is the user's own action) and
 * its failures are shown in the window. */
void          mesh_notifier_set_own_device_id    (MeshNotifier      *self,
                                                  const char        *device_id);
/* How many notifications were shown (the desktop may still drop them). */
guint         mesh_notifier_get_n_shown          (MeshNotifier      *self);
void          mesh_notifier_withdraw_room        (MeshNotifier      *self,
                                                  const char        *room_id);
/* This computer received @file from @sender_username in @room_id: "File
 * received" / "Folder received", with an action that opens the file (or
 * shows the folder containing the received folder).  Nothing when the
 * sender is this same account. */
void          mesh_notifier_notify_received      (MeshNotifier      *self,
                                                  const char        *room_id,
                                                  const char        *sender_username,
                                                  const char        *name,
                                                  guint64            size,
                                                  gboolean           is_folder,
                                                  GFile             *file);
/* A call (or, with @screenshare, a screen share) offered to this app rings
 * in @room_id: a notification with Accept and Decline (Watch), which
 * activate app.call-accept / app.call-decline with the room's id; behind
 * "notify-calls", not for the room on screen. */
void          mesh_notifier_notify_call          (MeshNotifier      *self,
                                                  const char        *room_id,
                                                  const char        *caller_username,
                                                  gboolean           screenshare);
/* The call was answered, declined or ended: its notification goes away. */
void          mesh_notifier_withdraw_call        (MeshNotifier      *self,
                                                  const char        *room_id,
                                                  gboolean           screenshare);
/* The window was closed while the app keeps running: says so, with a Quit
 * action. */
void          mesh_notifier_notify_background    (MeshNotifier      *self);

G_END_DECLS
