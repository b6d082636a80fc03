/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-call-controller.h"
#include "mesh-chat-model.h"
#include "mesh-client-session.h"
#include "mesh-embedded-agent.h"
#include "mesh-room.h"

G_BEGIN_DECLS

#define MESH_TYPE_ROOM_VIEW (mesh_room_view_get_type ())

G_DECLARE_FINAL_TYPE (MeshRoomView, mesh_room_view, MESH, ROOM_VIEW, AdwBin)

/* The room on screen: its name and members (with presence) in the header,
 * its chat (older pages loaded as the user scrolls up) and a message
 * entry.  Each room's chat model is kept while the session lives, so
 * switching rooms is instant and no live message is missed. */
GtkWidget     *mesh_room_view_new         (void);
void           mesh_room_view_set_session (MeshRoomView      *self,
                                           MeshClientSession *session);
void           mesh_room_view_set_room    (MeshRoomView      *self,
                                           MeshRoom          *room);
MeshRoom      *mesh_room_view_get_room    (MeshRoomView      *self);
MeshChatModel *mesh_room_view_get_chat    (MeshRoomView      *self);
/* Clears the room's unread count (the user is looking at it). */
void           mesh_room_view_mark_read   (MeshRoomView      *self);
void           mesh_room_view_focus_entry (MeshRoomView      *self);
/* The agent that sends files dropped on the room or chosen for a member. */
void           mesh_room_view_set_agent   (MeshRoomView      *self,
                                           MeshEmbeddedAgent *agent);
/* Sends @files (GFile) to the only other member with a device connected, or
 * asks the user whom to send them to. */
void           mesh_room_view_send_files  (MeshRoomView      *self,
                                           GList             *files);
/* When @transfer ends (done, cancelled or failed), a line about it goes in
 * its room's conversation, with Open for a file or folder that is here. */
void           mesh_room_view_watch_transfer (MeshRoomView   *self,
                                              MeshTransfer   *transfer);

/* The session's calls: the header's Call and Share Screen buttons, the
 * ringing banner and the call view follow the room shown. */
void           mesh_room_view_set_call_controller (MeshRoomView       *self,
                                                   MeshCallController *controller);
MeshCallController *mesh_room_view_get_call_controller (MeshRoomView *self);
/* The MeshCallView and the MeshCallBanner. */
GtkWidget     *mesh_room_view_get_call_view   (MeshRoomView      *self);
GtkWidget     *mesh_room_view_get_call_banner (MeshRoomView      *self);

G_END_DECLS
