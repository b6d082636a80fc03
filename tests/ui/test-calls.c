/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Calls and screen sharing in the app (issue 15): Alice's window against
 * Bob, a bare MeshCallEngine on his own session, through the real
 * mesh-server, with test sources (MESH_MEDIA_TEST_SOURCES=1) and the X
 * screen of the test's Xvfb (MESH_SCREEN_SOURCE=x11).  The app's actions
 * are driven over the session bus, as a desktop integration would. */
#define G_LOG_DOMAIN "test-calls"

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-application.h"
#include "mesh-call-banner.h"
#include "mesh-call-engine.h"
#include "mesh-call-tile.h"
#include "mesh-call-view.h"
#include "mesh-calls-page.h"
#include "mesh-member-row.h"
#include "mesh-preferences-window.h"
#include "mesh-screen-source.h"
#include "mesh-screen-viewer.h"
#include "mesh-window.h"
#include "media-test-devices.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <gst/gst.h>
#include <string.h>

static MeshApplication *app;

typedef struct {
  UiTestScene       scene;
  MeshCallEngine   *bob_engine;
  MeshCall         *bob_incoming;  /* the last call that rang at Bob's */
  char             *kitchen_id;
  MeshRoomView     *view;
  MeshCallEngine   *engine;        /* Alice's, the window's */
  GDBusActionGroup *actions;       /* the app's, over the bus */
} Fixture;

static void
bob_incoming_cb (Fixture  *fixture,
                 MeshCall *call)
{
  g_set_object (&fixture->bob_incoming, call);
}

static GstElement *
test_bin (const char *description)
{
  g_autoptr(GError) error = NULL;
  GstElement *bin = gst_parse_bin_from_description (description, TRUE, &error);

  g_assert_no_error (error);
  return bin;
}

static gboolean
has_tooltip (GtkWidget     *widget,
             gconstpointer  tooltip)
{
  return g_strcmp0 (gtk_widget_get_tooltip_text (widget), tooltip) == 0;
}

static gboolean
actions_known (gpointer user_data)
{
  return g_action_group_has_action (G_ACTION_GROUP (user_data), "call-room");
}

/* Alice's window in Bob's Kitchen, Bob's engine on his session. */
static void
fixture_set_up (Fixture *fixture)
{
  GDBusConnection *connection;
  g_auto(GStrv) names = NULL;

  ui_test_scene_start (&fixture->scene, app, 1280, 800);
  fixture->bob_engine = mesh_call_engine_new (fixture->scene.bob.session);
  g_object_set (fixture->bob_engine, "local-address", "127.0.0.1", NULL);
  mesh_call_engine_set_camera (fixture->bob_engine,
                               test_bin ("videotestsrc is-live=true pattern=smpte ! capsfilter caps="
                                         "video/x-raw,width=640,height=360,framerate=30/1"));
  mesh_call_engine_set_microphone (fixture->bob_engine,
                                   test_bin ("audiotestsrc is-live=true volume=0.05"));
  g_signal_connect_swapped (fixture->bob_engine, "incoming-call", G_CALLBACK (bob_incoming_cb),
                            fixture);

  fixture->kitchen_id = ui_test_scene_add_room (&fixture->scene, "Kitchen");
  g_assert_true (mesh_window_open_room (fixture->scene.window, fixture->kitchen_id));
  ui_test_wait_room_open (fixture->scene.window, fixture->kitchen_id, "the kitchen to open");
  fixture->view = mesh_window_get_room_view (fixture->scene.window);
  fixture->engine = mesh_call_controller_get_engine (
    mesh_window_get_call_controller (fixture->scene.window));
  g_assert_nonnull (fixture->engine);
  g_object_set (fixture->engine, "local-address", "127.0.0.1", NULL);

  /* The app's actions as another process sees them on the session bus. */
  connection = g_application_get_dbus_connection (G_APPLICATION (app));
  g_assert_nonnull (connection);
  fixture->actions = g_dbus_action_group_get (connection,
                                              g_dbus_connection_get_unique_name (connection),
                                              g_application_get_dbus_object_path (G_APPLICATION (app)));
  names = g_action_group_list_actions (G_ACTION_GROUP (fixture->actions));
  ui_test_wait_until (actions_known, fixture->actions, UI_TEST_WAIT_S,
                      "the app's actions on the bus");
  for (guint i = 0; i < 5; i++) {
    const char *wanted[] = { "call-room", "call-accept", "call-decline", "hang-up",
                             "share-screen" };

    g_assert_true (g_action_group_has_action (G_ACTION_GROUP (fixture->actions), wanted[i]));
  }
}

static void
fixture_tear_down (Fixture *fixture)
{
  mesh_call_engine_hang_up_all (fixture->bob_engine);
  g_clear_object (&fixture->bob_incoming);
  g_clear_object (&fixture->actions);
  g_clear_object (&fixture->bob_engine);
  ui_test_scene_stop (&fixture->scene);
  g_free (fixture->kitchen_id);
}

static void
activate (Fixture    *fixture,
          const char *name,
          GVariant   *parameter)
{
  g_action_group_activate_action (G_ACTION_GROUP (fixture->actions), name, parameter);
}

static MeshCallView *
call_view (Fixture *fixture)
{
  return MESH_CALL_VIEW (mesh_room_view_get_call_view (fixture->view));
}

static gboolean
banner_says (gpointer user_data)
{
  Fixture *fixture = ((gpointer *) user_data)[0];
  const char *text = ((gpointer *) user_data)[1];
  g_auto(GStrv) texts = mesh_call_banner_dup_texts (
    MESH_CALL_BANNER (mesh_room_view_get_call_banner (fixture->view)));

  if (text == NULL)
    return texts[0] == NULL;
  return g_strv_contains ((const char * const *) texts, text);
}

static void
wait_banner (Fixture    *fixture,
             const char *text,
             const char *what)
{
  gpointer data[2] = { fixture, (gpointer) text };

  ui_test_wait_until (banner_says, data, UI_TEST_WAIT_S, what);
}

static gboolean
bob_rings (gpointer user_data)
{
  Fixture *fixture = user_data;

  return fixture->bob_incoming != NULL &&
         mesh_call_get_state (fixture->bob_incoming) == MESH_CALL_STATE_RINGING;
}

static gboolean
view_active (gpointer user_data)
{
  return mesh_call_view_get_active (user_data);
}

static gboolean
view_inactive (gpointer user_data)
{
  return !mesh_call_view_get_active (user_data);
}

/* The view has a tile for the other person that shows their video. */
static gboolean
tile_shows_video (gpointer user_data)
{
  g_autoptr(GPtrArray) tiles = mesh_call_view_dup_tiles (user_data);

  return tiles->len == 1 && mesh_call_tile_get_showing_video (tiles->pdata[0]) &&
         gdk_paintable_get_intrinsic_width (mesh_call_tile_get_paintable (tiles->pdata[0])) > 0;
}

/* Bob's side of a call decodes Alice's video and audio. */
static gboolean
bob_receives (gpointer user_data)
{
  MeshCall *call = user_data;
  g_autoptr(MeshCallPeer) peer = g_list_model_get_item (mesh_call_get_peers (call), 0);

  return peer != NULL && mesh_call_peer_get_video (peer) != NULL &&
         mesh_video_output_get_frames (mesh_call_peer_get_video (peer)) > 5 &&
         mesh_call_peer_get_audio_buffers (peer) > 5;
}

/* A self view's frames once they follow its tile's size (224 × 126). */
static gboolean
paintable_fits (gpointer user_data)
{
  int width = gdk_paintable_get_intrinsic_width (user_data);

  return width > 0 && width <= 224;
}

static gboolean
call_ended (gpointer user_data)
{
  return mesh_call_get_state (user_data) == MESH_CALL_STATE_ENDED;
}

static gboolean
no_calls (gpointer user_data)
{
  return g_list_model_get_n_items (mesh_call_engine_get_calls (user_data)) == 0;
}

/* Alice calls the room from the bus; Bob answers; both see and hear each
 * other; Alice hangs up from the bus and both ends stop. */
static void
test_call_room (void)
{
  Fixture fixture = { NULL };
  g_autoptr(MeshCall) bob_call = NULL;
  g_autoptr(GString) faults = g_string_new (NULL);
  g_autofree char *shot = NULL;

  fixture_set_up (&fixture);
  activate (&fixture, "call-room", g_variant_new_string (fixture.kitchen_id));
  ui_test_wait_until (view_active, call_view (&fixture), UI_TEST_WAIT_S,
                      "the call view to show while calling");
  ui_test_wait_until (bob_rings, &fixture, UI_TEST_WAIT_S, "Bob's engine to ring");
  bob_call = g_object_ref (fixture.bob_incoming);
  g_assert_cmpstr (mesh_call_get_caller_name (bob_call), ==, "alice");
  mesh_call_accept (bob_call);

  ui_test_wait_until (tile_shows_video, call_view (&fixture), UI_TEST_WAIT_S,
                      "Bob's video in Alice's call view");
  ui_test_wait_until (bob_receives, bob_call, UI_TEST_WAIT_S, "Alice's media at Bob's");
  g_assert_cmpint (mesh_call_get_state (mesh_call_view_get_call (call_view (&fixture))), ==,
                   MESH_CALL_STATE_ACTIVE);
  /* Bob's 640×360 arrive scaled to his tile (the self view, 224 wide in
   * its corner, gets its frames at that size too). */
  {
    g_autoptr(GPtrArray) tiles = mesh_call_view_dup_tiles (call_view (&fixture));
    MeshCallTile *self_tile = MESH_CALL_TILE (mesh_call_view_get_self_tile (call_view (&fixture)));
    GdkPaintable *own = mesh_call_tile_get_paintable (self_tile);

    ui_test_wait_until (paintable_fits, own, UI_TEST_WAIT_S, "the self view scaled to its tile");
    g_assert_cmpint (gdk_paintable_get_intrinsic_width (own), <=,
                     gtk_widget_get_width (GTK_WIDGET (self_tile)) *
                     gtk_widget_get_scale_factor (GTK_WIDGET (self_tile)));
    g_assert_cmpint (gdk_paintable_get_intrinsic_width (mesh_call_tile_get_paintable (tiles->pdata[0])),
                     <=, gtk_widget_get_width (tiles->pdata[0]));
  }
  shot = ui_test_screenshot (GTK_WIDGET (fixture.scene.window), "call-view");
  g_assert_cmpstr (faults->str, ==, "");

  /* Mute and camera off from the call's buttons; the test microphone's
   * tone counts as speaking, so the muted hint shows. */
  {
    MeshCall *call = mesh_call_view_get_call (call_view (&fixture));
    GtkWidget *self_tile = mesh_call_view_get_self_tile (call_view (&fixture));

    ui_test_click (ui_test_find_widget (GTK_WIDGET (call_view (&fixture)), GTK_TYPE_TOGGLE_BUTTON,
                                        has_tooltip, "Mute"));
    g_assert_true (mesh_call_get_muted (call));
    ui_test_wait_label_shown (GTK_WIDGET (call_view (&fixture)), "You are muted",
                              "the muted hint while the microphone hears a tone");
    ui_test_click (ui_test_find_widget (GTK_WIDGET (call_view (&fixture)), GTK_TYPE_TOGGLE_BUTTON,
                                        has_tooltip, "Turn Camera Off"));
    g_assert_false (mesh_call_get_camera_enabled (call));
    g_assert_false (mesh_call_tile_get_showing_video (MESH_CALL_TILE (self_tile)));
    g_assert_cmpstr (mesh_call_tile_get_status (MESH_CALL_TILE (self_tile)), ==, "Camera off");
    g_free (ui_test_screenshot (GTK_WIDGET (fixture.scene.window), "call-muted"));
  }

  /* The call view's Share Screen, during the call; Hang Up ends both. */
  ui_test_click (ui_test_find_widget (GTK_WIDGET (call_view (&fixture)), GTK_TYPE_BUTTON,
                                      has_tooltip, "Share Screen"));
  wait_banner (&fixture, "You are sharing your screen", "Alice's share beside her call");
  g_assert_nonnull (ui_test_find_widget (GTK_WIDGET (call_view (&fixture)), GTK_TYPE_BUTTON,
                                         has_tooltip, "Stop Sharing"));
  activate (&fixture, "hang-up", NULL);
  ui_test_wait_until (view_inactive, call_view (&fixture), UI_TEST_WAIT_S,
                      "the call view to go away");
  ui_test_wait_until (call_ended, bob_call, UI_TEST_WAIT_S, "Bob's call to end");
  ui_test_wait_until (no_calls, fixture.engine, UI_TEST_WAIT_S,
                      "Alice's call and share to end");
  wait_banner (&fixture, NULL, "the banner to go with the share");
  fixture_tear_down (&fixture);
}

/* Bob calls: the room rings (banner and notification); Alice answers
 * with the notification's Accept, which withdraws it. */
static void
test_incoming_accept (void)
{
  Fixture fixture = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) faults = g_string_new (NULL);
  UiTestNotified *notified;
  MeshCall *call;

  fixture_set_up (&fixture);
  /* Not looking at the room: the notification is for a room off screen. */
  gtk_widget_activate_action (GTK_WIDGET (fixture.scene.window), "win.show-rooms", NULL);
  mesh_notifier_set_focused_room_id (mesh_window_get_notifier (fixture.scene.window), NULL);
  call = mesh_call_engine_start_call (fixture.bob_engine, fixture.kitchen_id, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (call);
  wait_banner (&fixture, "bob is calling", "the room to ring");
  g_assert_nonnull (ui_test_find_button (mesh_room_view_get_call_banner (fixture.view),
                                         "_Accept"));
  ui_test_assert_all_named (mesh_room_view_get_call_banner (fixture.view), "ringing", faults);
  g_assert_cmpstr (faults->str, ==, "");
  g_free (ui_test_screenshot (GTK_WIDGET (fixture.scene.window), "call-ringing"));
  notified = ui_test_notify_wait_summary ("bob is calling", "the ringing notification");
  g_assert_true (g_strv_contains ((const char * const *) notified->actions, "accept"));
  g_assert_true (g_strv_contains ((const char * const *) notified->actions, "decline"));

  ui_test_notify_invoke (notified, "accept");
  ui_test_wait_until (view_active, call_view (&fixture), UI_TEST_WAIT_S,
                      "the call view once answered");
  ui_test_notify_wait_closed (notified->id, "the notification to be withdrawn");
  ui_test_wait_until (tile_shows_video, call_view (&fixture), UI_TEST_WAIT_S,
                      "Bob's video in Alice's call view");
  ui_test_wait_until (bob_receives, call, UI_TEST_WAIT_S, "Alice's media at Bob's");
  wait_banner (&fixture, NULL, "the banner to go once answered");

  /* Bob hangs up: Alice's view goes. */
  mesh_call_hang_up (call);
  ui_test_wait_until (view_inactive, call_view (&fixture), UI_TEST_WAIT_S,
                      "the call view to go when Bob hangs up");
  fixture_tear_down (&fixture);
}

static gboolean
bob_gone (gpointer user_data)
{
  Fixture *fixture = user_data;
  g_autoptr(GPtrArray) peers = mesh_client_session_dup_room_peers (
    mesh_window_get_session (fixture->scene.window), fixture->kitchen_id);

  for (guint i = 0; i < peers->len; i++) {
    if (g_strcmp0 (((MeshPeerInfo *) peers->pdata[i])->username, "bob") == 0)
      return FALSE;
  }
  return TRUE;
}

/* Bob calls; Alice declines from the bus: Bob's call ends declined, the
 * banner goes. */
static void
test_incoming_decline (void)
{
  Fixture fixture = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCall) call = NULL;

  fixture_set_up (&fixture);
  call = mesh_call_engine_start_call (fixture.bob_engine, fixture.kitchen_id, NULL, &error);
  g_assert_no_error (error);
  g_object_ref (call);
  wait_banner (&fixture, "bob is calling", "the room to ring");
  activate (&fixture, "call-decline", g_variant_new_string (fixture.kitchen_id));
  wait_banner (&fixture, NULL, "the banner to go once declined");
  ui_test_wait_until (call_ended, call, UI_TEST_WAIT_S, "Bob's call to end");
  g_assert_cmpint (mesh_call_get_end_reason (call), ==, MESH_CALL_END_DECLINED);
  g_assert_false (mesh_call_view_get_active (call_view (&fixture)));

  /* Nobody left to call: said in words, nothing rings. */
  mesh_client_session_leave_room (fixture.scene.bob.session, fixture.kitchen_id);
  ui_test_wait_until (bob_gone, &fixture, UI_TEST_WAIT_S, "Bob to leave the kitchen");
  activate (&fixture, "call-room", g_variant_new_string (fixture.kitchen_id));
  ui_test_wait_label_shown (GTK_WIDGET (fixture.scene.window),
                            "Nobody else in this room is online right now.",
                            "the toast saying nobody can answer");
  g_assert_false (mesh_call_view_get_active (call_view (&fixture)));
  fixture_tear_down (&fixture);
}

static gboolean
is_bobs_row (GtkWidget     *widget,
             gconstpointer  data)
{
  return g_strcmp0 (mesh_member_get_username (mesh_member_row_get_member (MESH_MEMBER_ROW (widget))),
                    "bob") == 0;
}

/* Calling one member from the members popover rings only them; signing
 * out in the call hangs it up at the other end. */
static void
test_call_member_and_sign_out (void)
{
  Fixture fixture = { NULL };
  g_autoptr(MeshCall) bob_call = NULL;
  GtkWidget *members, *row, *button;

  fixture_set_up (&fixture);
  members = ui_test_find_widget (GTK_WIDGET (fixture.view), GTK_TYPE_MENU_BUTTON, has_tooltip,
                                 "Members");
  g_assert_nonnull (members);
  row = ui_test_find_widget (gtk_popover_get_child (gtk_menu_button_get_popover (
                               GTK_MENU_BUTTON (members))), MESH_TYPE_MEMBER_ROW, is_bobs_row,
                             NULL);
  g_assert_nonnull (row);
  button = ui_test_find_widget (row, GTK_TYPE_BUTTON, has_tooltip, "Call");
  ui_test_click (button);
  ui_test_wait_until (bob_rings, &fixture, UI_TEST_WAIT_S, "Bob's engine to ring");
  bob_call = g_object_ref (fixture.bob_incoming);
  mesh_call_accept (bob_call);
  ui_test_wait_until (tile_shows_video, call_view (&fixture), UI_TEST_WAIT_S,
                      "Bob's video in Alice's call view");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture.scene.window), "win.sign-out",
                                             NULL));
  ui_test_wait_until (call_ended, bob_call, UI_TEST_WAIT_S, "Bob's call to end at sign-out");
  g_assert_null (mesh_window_get_call_controller (fixture.scene.window));
  fixture_tear_down (&fixture);
}

static gboolean
room_shown (gpointer user_data)
{
  Fixture *fixture = ((gpointer *) user_data)[0];
  MeshRoom *room = mesh_room_view_get_room (fixture->view);

  return room != NULL && g_strcmp0 (mesh_room_get_room_id (room), ((gpointer *) user_data)[1]) == 0;
}

/* A call elsewhere: ringing in another room is answered from the room on
 * screen (which then shows the call's room), and a running call is one click
 * away from any other room. */
static void
test_other_room (void)
{
  Fixture fixture = { NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *garden_id = NULL;
  gpointer kitchen_shown[2], garden_shown[2];
  MeshCall *call;

  fixture_set_up (&fixture);
  garden_id = ui_test_scene_add_room (&fixture.scene, "Garden");
  g_assert_true (mesh_window_open_room (fixture.scene.window, fixture.kitchen_id));
  kitchen_shown[0] = garden_shown[0] = &fixture;
  kitchen_shown[1] = fixture.kitchen_id;
  garden_shown[1] = garden_id;
  ui_test_wait_until (room_shown, kitchen_shown, UI_TEST_WAIT_S, "the kitchen on screen");

  call = mesh_call_engine_start_call (fixture.bob_engine, garden_id, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (call);
  wait_banner (&fixture, "bob is calling in “Garden”", "the garden's call rung in the kitchen");
  ui_test_click_labelled (mesh_room_view_get_call_banner (fixture.view), "_Accept");
  ui_test_wait_until (room_shown, garden_shown, UI_TEST_WAIT_S, "the garden once answered");
  ui_test_wait_until (view_active, call_view (&fixture), UI_TEST_WAIT_S, "the garden's call");

  g_assert_true (mesh_window_open_room (fixture.scene.window, fixture.kitchen_id));
  ui_test_wait_until (room_shown, kitchen_shown, UI_TEST_WAIT_S, "back in the kitchen");
  g_assert_false (mesh_call_view_get_active (call_view (&fixture)));
  wait_banner (&fixture, "You are in a call in “Garden”", "the way back to the call");
  ui_test_click_labelled (mesh_room_view_get_call_banner (fixture.view), "_Go to Call");
  ui_test_wait_until (room_shown, garden_shown, UI_TEST_WAIT_S, "the garden again");
  g_assert_true (mesh_call_view_get_active (call_view (&fixture)));
  fixture_tear_down (&fixture);
}

static void
share_ready_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  *(MeshScreenSource **) user_data = mesh_screen_source_new_finish (result, &error);
  g_assert_no_error (error);
}

static gboolean
viewer_shows (gpointer user_data)
{
  MeshScreenViewer *viewer = user_data;
  GdkPaintable *paintable = mesh_screen_viewer_get_paintable (viewer);

  return paintable != NULL && gdk_paintable_get_intrinsic_width (paintable) > 0;
}

/* @call's first peer has handed over a few frames of its video. */
static gboolean
watch_shows_frames (gpointer call)
{
  g_autoptr(MeshCallPeer) peer = g_list_model_get_item (mesh_call_get_peers (call), 0);

  /* Frames are counted on the streaming thread, the size is set on this
   * one when the newest frame is handed over: wait for both. */
  return peer != NULL && mesh_video_output_get_frames (mesh_call_peer_get_video (peer)) > 3 &&
         mesh_video_output_get_width (mesh_call_peer_get_video (peer)) > 0;
}

/* Alice shares her screen from the bus and Bob watches it; Bob shares his
 * and Alice watches it from the banner, full screen and back, then closes
 * the viewer, which hangs that share up at her end only. */
static void
test_screen_share (void)
{
  Fixture fixture = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCall) bob_watch = NULL;
  g_autoptr(MeshScreenSource) source = NULL;
  g_autoptr(MeshCall) bob_share = NULL;
  g_autoptr(GString) faults = g_string_new (NULL);
  MeshScreenViewer *viewer;
  MeshCall *alice_watch;
  g_autofree char *shot = NULL;

  fixture_set_up (&fixture);
  activate (&fixture, "share-screen", g_variant_new_string (fixture.kitchen_id));
  wait_banner (&fixture, "You are sharing your screen", "Alice's own share in the banner");
  ui_test_wait_until (bob_rings, &fixture, UI_TEST_WAIT_S, "Bob to be offered the screen");
  bob_watch = g_object_ref (fixture.bob_incoming);
  g_assert_cmpint (mesh_call_get_kind (bob_watch), ==, MESH_MEDIA_KIND_SCREENSHARE);
  mesh_call_accept (bob_watch);
  ui_test_wait_until (watch_shows_frames, bob_watch, UI_TEST_WAIT_S, "Alice's screen at Bob's");
  {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (mesh_call_get_peers (bob_watch), 0);

    /* The X screen of the test's Xvfb, its aspect ratio kept. */
    g_assert_cmpint (mesh_video_output_get_width (mesh_call_peer_get_video (peer)), >, 0);
  }
  activate (&fixture, "stop-sharing", g_variant_new_string (fixture.kitchen_id));
  ui_test_wait_until (call_ended, bob_watch, UI_TEST_WAIT_S, "Bob's view of it to end");
  wait_banner (&fixture, NULL, "the banner to go once stopped");

  /* Bob shares; Alice watches from the banner. */
  mesh_screen_source_new_async (NULL, NULL, share_ready_cb, &source);
  ui_test_wait_until (ui_test_pointer_is_set, &source, UI_TEST_WAIT_S, "Bob's screen");
  bob_share = mesh_call_engine_start_screenshare (fixture.bob_engine, fixture.kitchen_id,
                                                  mesh_screen_source_get_element (source),
                                                  &error);
  g_assert_no_error (error);
  g_object_ref (bob_share);
  wait_banner (&fixture, "bob is sharing a screen", "Bob's share in the banner");
  ui_test_click_labelled (mesh_room_view_get_call_banner (fixture.view), "_Watch");
  viewer = MESH_SCREEN_VIEWER (ui_test_wait_toplevel (MESH_TYPE_SCREEN_VIEWER, "the viewer"));
  alice_watch = mesh_screen_viewer_get_call (viewer);
  ui_test_wait_until (viewer_shows, viewer, UI_TEST_WAIT_S, "Bob's screen in the viewer");
  ui_test_present (GTK_WINDOW (viewer), 1280, 800);
  shot = ui_test_screenshot (GTK_WIDGET (viewer), "screen-viewer");
  ui_test_assert_all_named (GTK_WIDGET (viewer), "screen viewer", faults);
  ui_test_assert_all_named (mesh_room_view_get_call_banner (fixture.view), "sharing", faults);
  g_assert_cmpstr (faults->str, ==, "");

  /* Xvfb has no window manager to take the window full screen: the
   * actions are there and asked for. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (viewer), "viewer.fullscreen", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (viewer), "viewer.leave-fullscreen",
                                             NULL));

  g_object_ref (alice_watch);
  gtk_window_close (GTK_WINDOW (viewer));
  ui_test_wait_until (call_ended, alice_watch, UI_TEST_WAIT_S, "Alice's watching to end");
  g_object_unref (alice_watch);
  /* Bob still shares (with nobody now), until he stops. */
  g_assert_cmpint (mesh_call_get_state (bob_share), !=, MESH_CALL_STATE_ENDED);
  mesh_call_hang_up (bob_share);
  mesh_screen_source_close (source);
  fixture_tear_down (&fixture);
}

static gboolean
row_has_n (gpointer user_data)
{
  AdwComboRow *row = ((gpointer *) user_data)[0];

  return g_list_model_get_n_items (adw_combo_row_get_model (row)) ==
         GPOINTER_TO_UINT (((gpointer *) user_data)[1]);
}

static const char *
row_item (AdwComboRow *row,
          guint        position)
{
  g_autoptr(GtkStringObject) item = g_list_model_get_item (adw_combo_row_get_model (row), position);

  return item != NULL ? gtk_string_object_get_string (item) : NULL;
}

/* The Calls page lists Default and the devices plugged in now, follows
 * them in and out, and saves the choice, which outlives the device's
 * absence. */
static void
test_calls_page (void)
{
  GSettings *settings = mesh_application_get_settings (app);
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  g_autoptr(GstDevice) camera = media_test_device_new ("Video/Source", "Desk Camera", "cam-1");
  g_autoptr(GString) faults = g_string_new (NULL);
  g_autofree char *saved = NULL;
  GtkWidget *page = g_object_ref_sink (mesh_calls_page_new (settings, devices));
  const char *keys[] = { "camera", "microphone", "speaker" };
  AdwComboRow *row = mesh_calls_page_get_row (MESH_CALLS_PAGE (page), "camera");
  gpointer two[2] = { row, GUINT_TO_POINTER (2) };
  gpointer one[2] = { row, GUINT_TO_POINTER (1) };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    AdwComboRow *r = mesh_calls_page_get_row (MESH_CALLS_PAGE (page), keys[i]);

    g_assert_cmpstr (row_item (r, 0), ==, "Default");
    g_assert_cmpuint (adw_combo_row_get_selected (r), ==, 0);
  }
  ui_test_assert_all_named (page, "calls page", faults);
  g_assert_cmpstr (faults->str, ==, "");

  media_test_device_plug (camera);
  ui_test_wait_until (row_has_n, two, UI_TEST_WAIT_S, "the camera plugged in to be listed");
  g_assert_cmpstr (row_item (row, 1), ==, "Desk Camera");
  adw_combo_row_set_selected (row, 1);
  saved = g_settings_get_string (settings, "camera");
  g_assert_cmpstr (saved, !=, "");

  /* Unplugged: Default is what is used, the choice stays saved. */
  media_test_device_unplug (camera);
  ui_test_wait_until (row_has_n, one, UI_TEST_WAIT_S, "the camera unplugged to go");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 0);
  g_assert_cmpstr (g_settings_get_string (settings, "camera"), ==, saved);
  media_test_device_plug (camera);
  ui_test_wait_until (row_has_n, two, UI_TEST_WAIT_S, "the camera back");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 1);

  adw_combo_row_set_selected (row, 0);
  g_assert_cmpstr (g_settings_get_string (settings, "camera"), ==, "");
  media_test_device_unplug (camera);
  g_object_unref (page);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  /* Tests and machines without a camera: live test sources; the X screen. */
  g_setenv ("MESH_MEDIA_TEST_SOURCES", "1", TRUE);
  g_setenv ("MESH_SCREEN_SOURCE", "x11", TRUE);
  /* Names for screen readers are checked: GTK's test backend keeps them. */
  g_setenv ("GTK_A11Y", "test", TRUE);
  ui_test_init (&argc, &argv);
  gst_init (&argc, &argv);
  /* The devices are the test's: none unless it plugs some. */
  media_test_devices_install ();
  ui_test_notify_start ();
  app = ui_test_app_new ("test-calls");

  g_test_add_func ("/mesh/calls/call-room", test_call_room);
  g_test_add_func ("/mesh/calls/incoming-accept", test_incoming_accept);
  g_test_add_func ("/mesh/calls/incoming-decline", test_incoming_decline);
  g_test_add_func ("/mesh/calls/call-member-and-sign-out", test_call_member_and_sign_out);
  g_test_add_func ("/mesh/calls/other-room", test_other_room);
  g_test_add_func ("/mesh/calls/screen-share", test_screen_share);
  g_test_add_func ("/mesh/calls/calls-page", test_calls_page);
  status = ui_test_run (&app, NULL);
  ui_test_notify_stop ();
  return status;
}
