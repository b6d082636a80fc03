/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-application.h"
#include "mesh-call-controller.h"
#include "mesh-client-session.h"
#include "mesh-notifier.h"
#include "mesh-room-list.h"
#include "mesh-room-sidebar.h"
#include "mesh-room-view.h"
#include "mesh-signin-page.h"

G_BEGIN_DECLS

#define MESH_TYPE_WINDOW (mesh_window_get_type ())

G_DECLARE_FINAL_TYPE (MeshWindow, mesh_window, MESH, WINDOW, AdwApplicationWindow)

/* The main window: the sign-in page until signed in, then the rooms
 * sidebar and the room view side by side (one at a time when narrow).  It
 * owns the account's session, room list and notifier, restores a saved
 * sign-in at start and forgets it at sign-out.  The "page" property names
 * what is shown: "signin" or "rooms". */
MeshWindow        *mesh_window_new              (MeshApplication *application);
const char        *mesh_window_get_page         (MeshWindow      *self);
MeshClientSession *mesh_window_get_session      (MeshWindow      *self);
MeshRoomList      *mesh_window_get_room_list    (MeshWindow      *self);
MeshNotifier      *mesh_window_get_notifier     (MeshWindow      *self);
/* The embedded agent while signed in, else NULL. */
MeshEmbeddedAgent *mesh_window_get_agent        (MeshWindow      *self);
/* The calls of the signed-in session, else NULL. */
MeshCallController *mesh_window_get_call_controller (MeshWindow *self);
MeshSigninPage    *mesh_window_get_signin_page  (MeshWindow      *self);
MeshRoomSidebar   *mesh_window_get_sidebar      (MeshWindow      *self);
MeshRoomView      *mesh_window_get_room_view    (MeshWindow      *self);
/* Shows the room (as a notification does); FALSE when it is not one of the
 * user's rooms. */
gboolean           mesh_window_open_room        (MeshWindow      *self,
                                                 const char      *room_id);
void               mesh_window_sign_out         (MeshWindow      *self);

G_END_DECLS
