/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-notifier"

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-application.h"
#include "mesh-cap-token.h"
#include "mesh-notifier.h"
#include "mesh-preferences-window.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <glib/gstdio.h>

/* One application for the whole run, as in the app: windows come and go. */
static MeshApplication *app;
static char *tmp_dir;

typedef struct {
  UiTestScene       scene;
  char             *kitchen_id;
  char             *garden_id;
  MeshNotifier     *notifier;
  GPtrArray        *agents;   /* GSubprocess */
} Fixture;

static gboolean
room_focused (gpointer user_data)
{
  MeshNotifier *notifier = ((gpointer *) user_data)[0];

  return g_strcmp0 (mesh_notifier_get_focused_room_id (notifier), ((gpointer *) user_data)[1]) == 0;
}

static gboolean
unread_is (gpointer user_data)
{
  MeshRoom *room = ((gpointer *) user_data)[0];

  return mesh_room_get_unread_count (room) == GPOINTER_TO_UINT (((gpointer *) user_data)[1]);
}

/* `mesh-agent login` once (the device is registered under @device_name),
 * then `mesh-agent run`, as a user would start it. */
static GSubprocess *
start_agent (Fixture    *fixture,
             const char *username,
             const char *device_name)
{
  g_autofree char *state = g_build_filename (tmp_dir, device_name, NULL);
  g_autofree char *downloads = g_build_filename (state, "downloads", NULL);
  g_autofree char *password = g_strdup_printf ("%s-password", username);
  GSubprocess *run;

  if (!g_file_test (state, G_FILE_TEST_IS_DIR))
    ui_test_agent_login (mesh_test_server_get_base_url (fixture->scene.server), state, username,
                         password, device_name);
  run = ui_test_agent_run (state, downloads, NULL);
  g_ptr_array_add (fixture->agents, run);
  return run;
}

static void
stop_agent (Fixture     *fixture,
            GSubprocess *agent)
{
  ui_test_stop_agent (agent);
  g_ptr_array_remove (fixture->agents, agent);
}

typedef struct {
  MeshClientSession *session;
  const char        *room_id;
  const char        *device_name;
  char              *device_id;
} DeviceWait;

/* Whether @session sees the agent named device_name in the room. */
static gboolean
device_in_room (gpointer user_data)
{
  DeviceWait *wait = user_data;
  g_autoptr(GPtrArray) peers = mesh_client_session_dup_room_peers (wait->session, wait->room_id);

  for (guint i = 0; i < peers->len; i++) {
    MeshPeerInfo *info = peers->pdata[i];

    if (info->device_id != NULL && g_strcmp0 (info->device_name, wait->device_name) == 0) {
      g_free (wait->device_id);
      wait->device_id = g_strdup (info->device_id);
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
device_gone (gpointer user_data)
{
  return !device_in_room (user_data);
}

static char *
wait_device (MeshClientSession *session,
             const char        *room_id,
             const char        *device_name)
{
  DeviceWait wait = { session, room_id, device_name, NULL };
  g_autofree char *what = g_strdup_printf ("the agent “%s” in the room", device_name);

  ui_test_wait_until (device_in_room, &wait, UI_TEST_WAIT_S, what);
  return wait.device_id;
}

/* Alice's window, signed in, in Bob's Kitchen and Garden. */
static void
fixture_set_up (Fixture *fixture)
{
  fixture->agents = g_ptr_array_new_with_free_func (g_object_unref);
  ui_test_scene_start (&fixture->scene, app, 1280, 800);
  fixture->notifier = mesh_window_get_notifier (fixture->scene.window);
  g_assert_nonnull (fixture->notifier);
  fixture->kitchen_id = ui_test_scene_add_room (&fixture->scene, "Kitchen");
  fixture->garden_id = ui_test_scene_add_room (&fixture->scene, "Garden");
}

/* Shows @room_id in the window and waits until it counts as looked at. */
static void
look_at (Fixture    *fixture,
         const char *room_id)
{
  gpointer focus[2] = { fixture->notifier, (gpointer) room_id };

  g_assert_true (mesh_window_open_room (fixture->scene.window, room_id));
  ui_test_wait_room_open (fixture->scene.window, room_id, "the room to open");
  ui_test_wait_until (room_focused, focus, UI_TEST_WAIT_S, "the room to be the one on screen");
}

static void
fixture_tear_down (Fixture *fixture)
{
  GSettings *settings = mesh_application_get_settings (app);
  const char *keys[] = { "notify-chat", "notify-terminal", "notify-calls", "notify-files",
                         "notify-agents" };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    g_settings_reset (settings, keys[i]);
  while (fixture->agents->len > 0)
    stop_agent (fixture, fixture->agents->pdata[0]);
  ui_test_scene_stop (&fixture->scene);
  g_clear_pointer (&fixture->agents, g_ptr_array_unref);
  g_free (fixture->kitchen_id);
  g_free (fixture->garden_id);
}

static char *
bob_share_terminal (Fixture    *fixture,
                    const char *device_id)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  char *share_id;

  mesh_client_session_terminal_share_start_async (fixture->scene.bob.session, fixture->kitchen_id,
                                                  device_id, NULL, ui_test_store_result_cb,
                                                  &result);
  ui_test_wait_result (&result, "bob's share to start");
  share_id = mesh_client_session_terminal_share_start_finish (fixture->scene.bob.session, result,
                                                              &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  return share_id;
}

/* Bob rings Alice's window in the kitchen and hangs up before she answers. */
static void
bob_missed_call (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) offer = json_object_new ();
  g_autoptr(JsonObject) hangup = json_object_new ();
  const char *caps[] = { MESH_CAP_CALL, NULL };
  MeshClientSession *alice = mesh_window_get_session (fixture->scene.window);
  const char *alice_peer = mesh_client_session_get_peer_id (alice);
  g_autofree char *token = NULL;
  GAsyncResult *result = NULL;

  mesh_client_rest_request_caps_async (fixture->scene.bob.rest, fixture->kitchen_id, caps,
                                       alice_peer, NULL, 0, NULL, ui_test_store_result_cb,
                                       &result);
  ui_test_wait_result (&result, "bob's call capability");
  token = mesh_client_rest_request_caps_finish (fixture->scene.bob.rest, result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  json_object_set_string_member (offer, "room_id", fixture->kitchen_id);
  json_object_set_string_member (offer, "target_peer_id", alice_peer);
  json_object_set_string_member (offer, "sdp", "v=0\r\n");
  json_object_set_string_member (offer, "media", "call");
  json_object_set_string_member (offer, "cap_token", token);
  g_free (mesh_client_session_send_event (fixture->scene.bob.session, "rtc.offer", NULL, offer,
                                          &error));
  g_assert_no_error (error);
  json_object_set_string_member (hangup, "room_id", fixture->kitchen_id);
  json_object_set_string_member (hangup, "target_peer_id", alice_peer);
  g_free (mesh_client_session_send_event (fixture->scene.bob.session, "rtc.hangup", NULL, hangup,
                                          &error));
  g_assert_no_error (error);
}

static void
test_room_events (void)
{
  Fixture fixture = { NULL };
  GSettings *settings = mesh_application_get_settings (app);
  MeshClientSession *alice;
  MeshRoom *kitchen;
  g_autofree char *bob_device = NULL;
  g_autofree char *share_id = NULL;
  g_autofree char *second_share = NULL;
  gboolean started = FALSE, missed = FALSE;
  UiTestNotified *notified;
  guint n;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  fixture_set_up (&fixture);
  alice = mesh_window_get_session (fixture.scene.window);
  kitchen = mesh_room_list_find (mesh_window_get_room_list (fixture.scene.window),
                                 fixture.kitchen_id, NULL);
  g_assert_nonnull (kitchen);
  g_signal_connect_swapped (alice, "terminal-share-started", G_CALLBACK (ui_test_set_flag),
                            &started);
  g_signal_connect_swapped (alice, "event::call.missed", G_CALLBACK (ui_test_set_flag), &missed);

  /* A message in the room on screen tells nobody: the window shows it. */
  look_at (&fixture, fixture.kitchen_id);
  n = ui_test_notify_count ();
  ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, "The kettle is on");
  ui_test_wait_label_shown (GTK_WIDGET (fixture.scene.window), "The kettle is on",
                            "bob's message on screen");
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  /* One in a room that is not on screen does. */
  ui_test_peer_chat (&fixture.scene.bob, fixture.garden_id, "Tomatoes are ripe");
  notified = ui_test_notify_wait (n, "the garden message's notification");
  g_assert_cmpstr (notified->summary, ==, "bob in Garden");
  g_assert_cmpstr (notified->body, ==, "Tomatoes are ripe");
  g_assert_cmpstr (notified->category, ==, "im.received");
  g_assert_cmpstr (notified->desktop_entry, ==, APP_ID);
  g_assert_cmpstr (ui_test_notify_action_label (notified, "default"), ==, "Open Room");

  /* Clicking it shows the garden. */
  ui_test_notify_invoke (notified, "default");
  ui_test_wait_room_open (fixture.scene.window, fixture.garden_id, "the garden to open");
  look_at (&fixture, fixture.garden_id);

  /* Bob shares a terminal from his agent in the kitchen. */
  start_agent (&fixture, "bob", "bob-box");
  bob_device = wait_device (fixture.scene.bob.session, fixture.kitchen_id, "bob-box");
  n = ui_test_notify_count ();
  share_id = bob_share_terminal (&fixture, bob_device);
  notified = ui_test_notify_wait (n, "the shared terminal's notification");
  g_assert_cmpstr (notified->summary, ==, "bob is sharing a terminal");
  g_assert_cmpstr (notified->body, ==, "In “Kitchen”");
  g_assert_cmpstr (ui_test_notify_action_label (notified, "default"), ==, "Open Room");

  /* The share ends: its notification goes. */
  g_assert_true (mesh_client_session_terminal_share_stop (fixture.scene.bob.session, share_id,
                                                          NULL));
  ui_test_notify_wait_closed (notified->id, "the terminal notification to be withdrawn");

  /* Bob calls and hangs up before Alice answers. */
  n = ui_test_notify_count ();
  bob_missed_call (&fixture);
  notified = ui_test_notify_wait (n, "the missed call's notification");
  g_assert_cmpstr (notified->summary, ==, "Missed call from bob");
  g_assert_true (g_str_has_prefix (notified->body, "bob called you in “Kitchen” at "));
  g_assert_cmpstr (notified->category, ==, "call.unanswered");
  g_assert_true (missed);

  /* Turned off, a kind takes its notification away and shows no more. */
  g_settings_set_boolean (settings, "notify-calls", FALSE);
  ui_test_notify_wait_closed (notified->id, "the call notification to be withdrawn");
  missed = FALSE;
  n = ui_test_notify_count ();
  bob_missed_call (&fixture);
  ui_test_wait_until (ui_test_flag_is_set, &missed, UI_TEST_WAIT_S, "the second call.missed");
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  g_settings_set_boolean (settings, "notify-terminal", FALSE);
  started = FALSE;
  second_share = bob_share_terminal (&fixture, bob_device);
  ui_test_wait_until (ui_test_flag_is_set, &started, UI_TEST_WAIT_S,
                      "alice to hear of the second share");
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  g_settings_set_boolean (settings, "notify-chat", FALSE);
  ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, "Nobody is told");
  {
    gpointer data[2] = { kitchen, GUINT_TO_POINTER (1) };

    ui_test_wait_until (unread_is, data, UI_TEST_WAIT_S, "the kitchen's unread count");
  }
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  /* On again; Alice's own message in the kitchen tells her nothing, Bob's does. */
  g_settings_set_boolean (settings, "notify-chat", TRUE);
  g_free (mesh_client_session_send_chat (alice, fixture.kitchen_id, "My own words", NULL));
  ui_test_wait_outbox_empty (alice, "alice's message to be confirmed");
  g_assert_cmpuint (ui_test_notify_count (), ==, n);
  ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, "Bob's words");
  notified = ui_test_notify_wait (n, "the kitchen message's notification");
  g_assert_cmpstr (notified->summary, ==, "bob in Kitchen");
  g_assert_cmpstr (notified->body, ==, "Bob's words");

  fixture_tear_down (&fixture);
}

static gboolean
last_summary_is (gpointer user_data)
{
  UiTestNotified *last = ui_test_notify_last ();

  return last != NULL && g_strcmp0 (last->summary, user_data) == 0;
}

static gboolean
settled_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

#define CAUGHT_UP 120

/* After an outage the catch-up delivers every missed message, but the
 * desktop is told once per room ("120 new messages in Kitchen"), not once
 * per message: each is a synchronous D-Bus call. */
static void
test_catch_up (void)
{
  Fixture fixture = { NULL };
  g_autoptr(GError) error = NULL;
  MeshClientSession *alice;
  MeshRoom *kitchen;
  GAsyncResult *result = NULL;
  gboolean settled = FALSE;
  UiTestNotified *notified;
  guint n;

  fixture_set_up (&fixture);
  alice = mesh_window_get_session (fixture.scene.window);
  kitchen = mesh_room_list_find (mesh_window_get_room_list (fixture.scene.window),
                                 fixture.kitchen_id, NULL);
  g_assert_nonnull (kitchen);
  look_at (&fixture, fixture.garden_id);

  /* Alice is away while Bob talks in the kitchen. */
  n = ui_test_notify_count ();
  mesh_client_session_disconnect (alice);
  for (guint i = 1; i <= CAUGHT_UP; i++) {
    g_autofree char *text = g_strdup_printf ("Message %u", i);

    ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, text);
  }
  ui_test_wait_outbox_empty (fixture.scene.bob.session, "bob's messages to be confirmed");
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  /* Back: every message is caught up, and told of once. */
  mesh_client_session_connect_async (alice, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "alice to reconnect");
  g_assert_true (mesh_client_session_connect_finish (alice, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  {
    gpointer data[2] = { kitchen, GUINT_TO_POINTER (CAUGHT_UP) };

    ui_test_wait_until (unread_is, data, UI_TEST_WAIT_S, "the kitchen's missed messages");
  }
  notified = ui_test_notify_wait (n, "the catch-up's notification");
  g_assert_cmpstr (notified->summary, ==, "120 new messages in Kitchen");
  g_assert_cmpstr (notified->body, ==, "bob: Message 120");
  g_assert_cmpstr (ui_test_notify_action_label (notified, "default"), ==, "Open Room");
  /* Whatever was still gathered would be told within a few windows. */
  g_timeout_add (2000, settled_cb, &settled);
  ui_test_wait_until (ui_test_flag_is_set, &settled, UI_TEST_WAIT_S, "a quiet while");
  g_assert_cmpuint (ui_test_notify_count (), ==, n + 1);

  /* Live messages that follow count on, in the same notification. */
  ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, "Live one");
  ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, "Live two");
  ui_test_wait_until (last_summary_is, "122 new messages in Kitchen", UI_TEST_WAIT_S,
                      "the live messages' notification");
  notified = ui_test_notify_last ();
  g_assert_cmpstr (notified->body, ==, "bob: Live two");

  /* Looked at, it goes, and the count starts again. */
  look_at (&fixture, fixture.kitchen_id);
  ui_test_notify_wait_closed (notified->id, "the kitchen notification to be withdrawn");
  look_at (&fixture, fixture.garden_id);
  n = ui_test_notify_count ();
  ui_test_peer_chat (&fixture.scene.bob, fixture.kitchen_id, "Fresh start");
  notified = ui_test_notify_wait (n, "the next kitchen message's notification");
  g_assert_cmpstr (notified->summary, ==, "bob in Kitchen");
  g_assert_cmpstr (notified->body, ==, "Fresh start");

  fixture_tear_down (&fixture);
}

static gboolean
file_has (gpointer user_data)
{
  const char *path = ((gpointer *) user_data)[0];
  g_autofree char *contents = NULL;

  return g_file_get_contents (path, &contents, NULL, NULL) &&
         g_strcmp0 (contents, ((gpointer *) user_data)[1]) == 0;
}

static gboolean
links_to (gpointer user_data)
{
  g_autofree char *target = g_file_read_link (((gpointer *) user_data)[0], NULL);

  return g_strcmp0 (target, ((gpointer *) user_data)[1]) == 0;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
test_received (void)
{
  Fixture fixture = { NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (tmp_dir, "received", NULL);
  g_autofree char *path = g_build_filename (dir, "notes.txt", NULL);
  g_autofree char *folder_path = g_build_filename (dir, "photos", NULL);
  g_autofree char *opened = g_build_filename (tmp_dir, "opened", NULL);
  g_autofree char *shown = g_build_filename (tmp_dir, "shown", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFile) folder = g_file_new_for_path (folder_path);
  UiTestNotified *notified;
  guint32 first_id;
  guint n, tick;

  fixture_set_up (&fixture);
  g_assert_cmpint (g_mkdir_with_parents (folder_path, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, "shopping list\n", -1, &error));
  g_assert_no_error (error);
  look_at (&fixture, fixture.garden_id);

  /* Not for the room on screen, nor for a file from this same account. */
  n = ui_test_notify_count ();
  mesh_notifier_notify_received (fixture.notifier, fixture.garden_id, "bob", "notes.txt", 14, FALSE,
                                 file);
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "alice", "notes.txt", 14,
                                 FALSE, file);
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  notified = ui_test_notify_wait (n, "the received file's notification");
  g_assert_cmpuint (notified->replaces_id, ==, 0);
  g_assert_cmpstr (notified->summary, ==, "File received: notes.txt");
  g_assert_cmpstr (notified->body, ==, "bob sent you “notes.txt” (14 bytes) in “Kitchen”");
  g_assert_cmpstr (notified->category, ==, "transfer.complete");
  g_assert_cmpstr (ui_test_notify_action_label (notified, "default"), ==, "Open Room");
  g_assert_cmpstr (ui_test_notify_action_label (notified, "open"), ==, "Open");
  first_id = notified->id;

  /* A folder in the same room replaces it; "Show in Folder" opens where it is. */
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "photos", 2500000,
                                 TRUE, folder);
  notified = ui_test_notify_wait (n + 1, "the received folder's notification");
  g_assert_cmpuint (notified->replaces_id, ==, first_id);
  g_assert_cmpstr (notified->summary, ==, "Folder received: photos");
  g_assert_cmpstr (notified->body, ==, "bob sent you “photos” (2.5\u00a0MB) in “Kitchen”");
  g_assert_cmpstr (ui_test_notify_action_label (notified, "default"), ==, "Open Room");
  g_assert_cmpstr (ui_test_notify_action_label (notified, "open"), ==, "Show in Folder");
  /* What the launched applications do wakes nobody up here: look every 50 ms. */
  tick = g_timeout_add (50, tick_cb, NULL);
  ui_test_notify_invoke (notified, "open");
  ui_test_wait_until (links_to, (gpointer[]) { shown, dir }, UI_TEST_WAIT_S,
                      "the folder to be shown");

  /* Clicked, it was done with: the next file has a notification of its own,
   * whose "Open" hands the file to its default application. */
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  notified = ui_test_notify_wait (n + 2, "the second file's notification");
  g_assert_cmpuint (notified->replaces_id, ==, 0);
  ui_test_notify_invoke (notified, "open");
  ui_test_wait_until (file_has, (gpointer[]) { opened, "shopping list\n" }, UI_TEST_WAIT_S,
                      "the file to be opened");
  g_source_remove (tick);

  /* Its default action opens its room. */
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  notified = ui_test_notify_wait (n + 3, "the third file's notification");
  ui_test_notify_invoke (notified, "default");
  ui_test_wait_room_open (fixture.scene.window, fixture.kitchen_id, "the kitchen to open");

  /* Turned off: nothing. */
  look_at (&fixture, fixture.garden_id);
  g_settings_set_boolean (mesh_application_get_settings (app), "notify-files", FALSE);
  n = ui_test_notify_count ();
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  g_assert_cmpuint (ui_test_notify_count (), ==, n);

  fixture_tear_down (&fixture);
}

/* Two more agents of Alice's: the one standing for this app's own is never
 * reported; the other is, once it stays away, and withdrawn when it is back. */
static void
test_agent_offline (void)
{
  Fixture fixture = { NULL };
  MeshClientSession *alice;
  GSubprocess *laptop, *desktop;
  g_autofree char *laptop_id = NULL;
  g_autofree char *desktop_id = NULL;
  UiTestNotified *notified;
  guint n;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  fixture_set_up (&fixture);
  alice = mesh_window_get_session (fixture.scene.window);
  ui_test_wait_agent_ready (fixture.scene.window, "the embedded agent");

  laptop = start_agent (&fixture, "alice", "alice-laptop");
  desktop = start_agent (&fixture, "alice", "alice-desktop");
  laptop_id = wait_device (alice, fixture.kitchen_id, "alice-laptop");
  desktop_id = wait_device (alice, fixture.kitchen_id, "alice-desktop");

  g_object_set (fixture.notifier, "agent-offline-delay", 1, NULL);
  mesh_notifier_set_own_device_id (fixture.notifier, laptop_id);

  /* The laptop goes first: were it reported, its notification would come first. */
  n = ui_test_notify_count ();
  stop_agent (&fixture, laptop);
  {
    DeviceWait wait = { alice, fixture.kitchen_id, "alice-laptop", NULL };

    ui_test_wait_until (device_gone, &wait, UI_TEST_WAIT_S, "the laptop to leave the room");
    g_free (wait.device_id);
  }
  stop_agent (&fixture, desktop);
  notified = ui_test_notify_wait (n, "the offline agent's notification");
  g_assert_cmpstr (notified->summary, ==, "Agent offline: alice-desktop");
  g_assert_true (g_str_has_prefix (notified->body, "Your agent “alice-desktop” disconnected at "));
  g_assert_cmpstr (notified->category, ==, "network.disconnected");
  g_assert_null (ui_test_notify_action_label (notified, "default"));

  /* Back: the notification is withdrawn. */
  start_agent (&fixture, "alice", "alice-desktop");
  g_free (wait_device (alice, fixture.kitchen_id, "alice-desktop"));
  ui_test_notify_wait_closed (notified->id, "the offline notification to be withdrawn");
  g_assert_cmpuint (ui_test_notify_count (), ==, n + 1);

  fixture_tear_down (&fixture);
}

/* Each kind has its switch, bound to its setting. */
static void
test_preferences (void)
{
  GSettings *settings = mesh_application_get_settings (app);
  GtkWindow *preferences = mesh_preferences_window_new (settings);
  const struct {
    const char *title;
    const char *key;
  } rows[] = {
    { "_Messages", "notify-chat" },
    { "_Terminal Sharing", "notify-terminal" },
    { "_Calls", "notify-calls" },
    { "_Received Files", "notify-files" },
    { "_Offline Devices", "notify-agents" },
  };

  gtk_window_present (preferences);
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++) {
    GtkWidget *row = ui_test_find_action_row (GTK_WIDGET (preferences), rows[i].title);
    GtkSwitch *toggle;

    g_assert_nonnull (row);
    toggle = GTK_SWITCH (ui_test_find_widget (row, GTK_TYPE_SWITCH, NULL, NULL));
    g_assert_true (g_settings_get_boolean (settings, rows[i].key));
    g_assert_true (gtk_switch_get_active (toggle));
    gtk_switch_set_active (toggle, FALSE);
    g_assert_false (g_settings_get_boolean (settings, rows[i].key));
    g_settings_reset (settings, rows[i].key);
    g_assert_true (gtk_switch_get_active (toggle));
  }
  gtk_window_destroy (preferences);
}

/* A default application for text files that copies the file it opens to
 * TMP/opened, and one for folders that links TMP/shown to the folder. */
static void
install_openers (const char *data_home,
                 const char *config_home)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *apps = g_build_filename (data_home, "applications", NULL);
  g_autofree char *open_path = g_build_filename (apps, "mesh-test-open.desktop", NULL);
  g_autofree char *show_path = g_build_filename (apps, "mesh-test-show.desktop", NULL);
  g_autofree char *mimeapps = g_build_filename (config_home, "mimeapps.list", NULL);
  g_autofree char *open = NULL;
  g_autofree char *show = NULL;

  g_assert_cmpint (g_mkdir_with_parents (apps, 0700), ==, 0);
  open = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Open\n"
                          "Exec=cp %%f %s/opened\nMimeType=text/plain;\n", tmp_dir);
  show = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Show\n"
                          "Exec=ln -s %%f %s/shown\nMimeType=inode/directory;\n", tmp_dir);
  g_assert_true (g_file_set_contents (open_path, open, -1, &error));
  g_assert_true (g_file_set_contents (show_path, show, -1, &error));
  g_assert_true (g_file_set_contents (mimeapps, "[Default Applications]\n"
                                      "text/plain=mesh-test-open.desktop\n"
                                      "inode/directory=mesh-test-show.desktop\n", -1, &error));
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *config = NULL;
  g_autofree char *data = NULL;
  int ret;

  /* The saved sign-in, the embedded agent's state and the default
   * applications go to throwaway folders, not the user's. */
  tmp_dir = g_dir_make_tmp ("mesh-notifier-test-XXXXXX", &error);
  g_assert_no_error (error);
  config = g_build_filename (tmp_dir, "config", NULL);
  data = g_build_filename (tmp_dir, "data", NULL);
  g_assert_cmpint (g_mkdir_with_parents (config, 0700), ==, 0);
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);
  g_setenv ("XDG_STATE_HOME", config, TRUE);
  g_setenv ("XDG_DATA_HOME", data, TRUE);
  install_openers (data, config);

  ui_test_init (&argc, &argv);
  ui_test_notify_start ();
  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/notifier/room-events", test_room_events);
  g_test_add_func ("/mesh/notifier/catch-up", test_catch_up);
  g_test_add_func ("/mesh/notifier/received", test_received);
  g_test_add_func ("/mesh/notifier/agent-offline", test_agent_offline);
  g_test_add_func ("/mesh/notifier/preferences", test_preferences);
  /* It deletes and frees tmp_dir once the tests, which use it, have run. */
  ret = ui_test_run (&app, tmp_dir);
  tmp_dir = NULL;
  ui_test_notify_stop ();
  return ret;
}
