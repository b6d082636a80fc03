/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The application's call actions, exported on the session bus with the
 * others (org.gtk.Actions at the application's object path), so that the
 * notifications' buttons, desktop integrations and tests drive calls the
 * way the window's buttons do:
 *   app.call-room (s room id): calls everyone online in the room;
 *   app.call-peer ((ss) room id, client peer id): calls one member;
 *   app.call-accept (s room id): answers the call ringing in the room (or
 *     watches the screen shared there);
 *   app.call-decline (s room id);
 *   app.hang-up: ends every call and screen share, sent or watched;
 *   app.share-screen (s room id): offers the screen to the room;
 *   app.stop-sharing (s room id).
 * They act on the main window's signed-in session; errors are shown as
 * toasts in it. */
void mesh_call_actions_install (GtkApplication *application);

G_END_DECLS
