/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "mesh-call-engine.h"
#include "mesh-client-session.h"
#include "mesh-media-devices.h"
#include "mesh-notifier.h"
#include "mesh-room-list.h"

G_BEGIN_DECLS

#define MESH_TYPE_CALL_CONTROLLER (mesh_call_controller_get_type ())

G_DECLARE_FINAL_TYPE (MeshCallController, mesh_call_controller, MESH, CALL_CONTROLLER, GObject)

/* The calls of one signed-in session: its MeshCallEngine, fed from the
 * camera, microphone and speaker chosen in the settings ("camera",
 * "microphone", "speaker": device ids, "" for the default; a device that is
 * unplugged falls back to the default and comes back when plugged in), the
 * incoming-call notifications (withdrawn once answered or ended) and the
 * screen shares started from a window.  One call at a time: starting or
 * accepting a call ends the one running.
 *
 * Signal "screen-watched" (MeshCall *share): a screen share offered to this
 * app was accepted; the window shows it.
 *
 * With MESH_MEDIA_TEST_SOURCES=1 in the environment the camera and the
 * microphone are videotestsrc and audiotestsrc (live) and nothing is played,
 * for tests and demos on machines without devices. */
MeshCallController *mesh_call_controller_new            (GSettings          *settings,
                                                         MeshClientSession  *session,
                                                         MeshRoomList       *room_list,
                                                         MeshNotifier       *notifier);
MeshCallEngine     *mesh_call_controller_get_engine     (MeshCallController *self);
/* For widgets that show calls: sets *@calls to @controller's list of calls
 * (NULL without a controller or engine, FALSE then) and calls @update with
 * @widget now and on every change of the list or of a call's state. */
gboolean            mesh_call_controller_follow_calls   (MeshCallController  *controller,
                                                         GListModel         **calls,
                                                         gpointer             widget,
                                                         GCallback            update);
/* The name of one of the user's rooms, escaped for display; NULL if unknown. */
char               *mesh_call_controller_dup_room_name  (MeshCallController *self,
                                                         const char         *room_id);
/* The signed-in user's name, for their own tile. */
char               *mesh_call_controller_get_own_name   (MeshCallController *self);
MeshMediaDevices   *mesh_call_controller_get_devices    (MeshCallController *self);
/* The running call (not a screen share) of @room_id, or of any room for NULL:
 * ringing, calling or active. */
MeshCall           *mesh_call_controller_get_call       (MeshCallController *self,
                                                         const char         *room_id);
/* Calls everyone online in @room_id, or only @peer_id (a client peer). */
gboolean            mesh_call_controller_call           (MeshCallController *self,
                                                         const char         *room_id,
                                                         const char         *peer_id,
                                                         GError            **error);
/* Answers the ringing call of @room_id (or, when there is none, watches its
 * ringing screen share). */
gboolean            mesh_call_controller_accept         (MeshCallController *self,
                                                         const char         *room_id,
                                                         GError            **error);
gboolean            mesh_call_controller_watch          (MeshCallController *self,
                                                         const char         *room_id,
                                                         GError            **error);
void                mesh_call_controller_decline        (MeshCallController *self,
                                                         const char         *room_id);
/* Ends everything: calls, screen shares sent and watched. */
void                mesh_call_controller_hang_up_all    (MeshCallController *self);
/* Asks for the screen (the portal's picker, modal to @parent; the whole X
 * screen where there is no portal) and offers it to @room_id. */
void                mesh_call_controller_share_screen_async  (MeshCallController  *self,
                                                              const char          *room_id,
                                                              GtkWindow           *parent,
                                                              GCancellable        *cancellable,
                                                              GAsyncReadyCallback  callback,
                                                              gpointer             user_data);
gboolean            mesh_call_controller_share_screen_finish (MeshCallController  *self,
                                                              GAsyncResult        *result,
                                                              GError             **error);
/* The screen share this app sends to @room_id (NULL: any room), or NULL. */
MeshCall           *mesh_call_controller_get_own_share  (MeshCallController *self,
                                                         const char         *room_id);
void                mesh_call_controller_stop_sharing   (MeshCallController *self,
                                                         const char         *room_id);
/* Hangs up and drops the engine (sign-out). */
void                mesh_call_controller_shutdown       (MeshCallController *self);

G_END_DECLS
