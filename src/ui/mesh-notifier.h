/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "mesh-client-session.h"
#include "mesh-room-list.h"

G_BEGIN_DECLS

#define MESH_TYPE_NOTIFIER (mesh_notifier_get_type ())

G_DECLARE_FINAL_TYPE (MeshNotifier, mesh_notifier, MESH, NOTIFIER, GObject)

/* Desktop notifications (libnotify) for the chat of @session's rooms:
 * not for the user's own messages, not for the room on screen
 * ("focused-room-id", NULL when the window is not active), and only while
 * the "notify-chat" setting is on.  One notification per room, replaced by
 * the newest message; activating it emits "activate-room" (room_id). */
MeshNotifier *mesh_notifier_new                  (GSettings         *settings,
                                                  MeshClientSession *session,
                                                  MeshRoomList      *room_list);
void          mesh_notifier_set_focused_room_id  (MeshNotifier      *self,
                                                  const char        *room_id);
const char   *mesh_notifier_get_focused_room_id  (MeshNotifier      *self);
/* How many notifications were shown (the desktop may still drop them). */
guint         mesh_notifier_get_n_shown          (MeshNotifier      *self);
void          mesh_notifier_withdraw_room        (MeshNotifier      *self,
                                                  const char        *room_id);

G_END_DECLS
