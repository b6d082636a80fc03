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

#define NOTIFY_PATH "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"

/* A notification server on the test's session bus, in a thread of its own:
 * libnotify calls it synchronously from the main thread. */
static const char notify_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.Notifications'>"
  "    <method name='Notify'>"
  "      <arg type='s' direction='in'/><arg type='u' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='as' direction='in'/>"
  "      <arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
  "      <arg type='u' direction='out'/>"
  "    </method>"
  "    <method name='CloseNotification'><arg type='u' direction='in'/></method>"
  "    <method name='GetCapabilities'><arg type='as' direction='out'/></method>"
  "    <method name='GetServerInformation'>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "    </method>"
  "    <signal name='NotificationClosed'><arg type='u'/><arg type='u'/></signal>"
  "    <signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
  "  </interface>"
  "</node>";

/* One Notify call as the server received it. */
typedef struct {
  guint32  id;
  guint32  replaces_id;
  char    *summary;
  char    *body;
  char   **actions;   /* key, label, key, label… */
  char    *category;
  char    *desktop_entry;
} Notified;

static struct {
  GMutex           lock;
  GCond            cond;
  GThread         *thread;
  GMainContext    *context;
  GMainLoop       *loop;
  GDBusConnection *connection;
  gboolean         owned;
  gboolean         lost;
  guint32          last_id;
  GPtrArray       *notified;  /* Notified, never freed during the run */
  GArray          *closed;    /* guint32 ids */
} bus;

/* One application for the whole run, as in the app: windows come and go. */
static MeshApplication *app;
static char *tmp_dir;

static void
notified_free (Notified *notified)
{
  g_free (notified->summary);
  g_free (notified->body);
  g_strfreev (notified->actions);
  g_free (notified->category);
  g_free (notified->desktop_entry);
  g_free (notified);
}

static void
bus_method_cb (GDBusConnection       *connection,
               const char            *sender,
               const char            *path,
               const char            *interface,
               const char            *method,
               GVariant              *parameters,
               GDBusMethodInvocation *invocation,
               gpointer               user_data)
{
  if (g_str_equal (method, "Notify")) {
    Notified *notified = g_new0 (Notified, 1);
    g_autoptr(GVariant) hints = NULL;
    const char *app_name, *icon, *summary, *body;
    g_autofree const char **actions = NULL;
    gint32 timeout;

    g_variant_get (parameters, "(&su&s&s&s^a&s@a{sv}i)", &app_name, &notified->replaces_id, &icon,
                   &summary, &body, &actions, &hints, &timeout);
    notified->summary = g_strdup (summary);
    notified->body = g_strdup (body);
    notified->actions = g_strdupv ((char **) actions);
    g_variant_lookup (hints, "category", "s", &notified->category);
    g_variant_lookup (hints, "desktop-entry", "s", &notified->desktop_entry);
    g_mutex_lock (&bus.lock);
    notified->id = notified->replaces_id != 0 ? notified->replaces_id : ++bus.last_id;
    g_ptr_array_add (bus.notified, notified);
    g_mutex_unlock (&bus.lock);
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", notified->id));
  } else if (g_str_equal (method, "CloseNotification")) {
    guint32 id;

    g_variant_get (parameters, "(u)", &id);
    g_mutex_lock (&bus.lock);
    g_array_append_val (bus.closed, id);
    g_mutex_unlock (&bus.lock);
    /* 3: closed by a call to CloseNotification. */
    g_dbus_connection_emit_signal (connection, NULL, NOTIFY_PATH, NOTIFY_IFACE,
                                   "NotificationClosed", g_variant_new ("(uu)", id, 3), NULL);
    g_dbus_method_invocation_return_value (invocation, NULL);
  } else if (g_str_equal (method, "GetCapabilities")) {
    const char *caps[] = { "actions", "body", NULL };

    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", caps));
  } else if (g_str_equal (method, "GetServerInformation")) {
    g_dbus_method_invocation_return_value (invocation,
                                           g_variant_new ("(ssss)", "test-notifier", "Mesh",
                                                          "1.0", "1.2"));
  } else {
    g_dbus_method_invocation_return_dbus_error (invocation,
                                                "org.freedesktop.DBus.Error.UnknownMethod",
                                                method);
  }
}

/* Sets @flag (bus.owned or bus.lost) and wakes bus_start (). */
static void
name_cb (GDBusConnection *connection,
         const char      *name,
         gboolean        *flag)
{
  g_mutex_lock (&bus.lock);
  *flag = TRUE;
  g_cond_signal (&bus.cond);
  g_mutex_unlock (&bus.lock);
}

static gpointer
bus_thread (gpointer user_data)
{
  static const GDBusInterfaceVTable vtable = { bus_method_cb, NULL, NULL, { NULL } };

  g_main_context_push_thread_default (bus.context);
  /* Its own connection, as a real notification daemon has. */
  bus.connection = ui_test_bus_serve (notify_xml, NOTIFY_PATH, NOTIFY_IFACE, &vtable,
                                      g_cclosure_new (G_CALLBACK (name_cb), &bus.owned, NULL),
                                      g_cclosure_new (G_CALLBACK (name_cb), &bus.lost, NULL));
  g_main_loop_run (bus.loop);
  g_main_context_pop_thread_default (bus.context);
  return NULL;
}

static void
bus_start (void)
{
  g_mutex_init (&bus.lock);
  g_cond_init (&bus.cond);
  bus.notified = g_ptr_array_new_with_free_func ((GDestroyNotify) notified_free);
  bus.closed = g_array_new (FALSE, FALSE, sizeof (guint32));
  bus.context = g_main_context_new ();
  bus.loop = g_main_loop_new (bus.context, FALSE);
  bus.thread = g_thread_new ("notification-server", bus_thread, NULL);

  g_mutex_lock (&bus.lock);
  while (!bus.owned && !bus.lost)
    g_cond_wait (&bus.cond, &bus.lock);
  g_mutex_unlock (&bus.lock);
  /* The test's own bus (ui_test_init ()): nobody else may hold the name. */
  g_assert_true (bus.owned);
}

static void
bus_stop (void)
{
  g_main_loop_quit (bus.loop);
  g_thread_join (bus.thread);
  g_clear_object (&bus.connection);
  g_main_loop_unref (bus.loop);
  g_main_context_unref (bus.context);
  g_ptr_array_unref (bus.notified);
  g_array_unref (bus.closed);
}

static guint
n_notified (void)
{
  guint n;

  g_mutex_lock (&bus.lock);
  n = bus.notified->len;
  g_mutex_unlock (&bus.lock);
  return n;
}

static gboolean
more_than (gpointer user_data)
{
  return n_notified () > GPOINTER_TO_UINT (user_data);
}

/* The notification number @index (from 0) of the run, once it is there. */
static Notified *
wait_notified (guint       index,
               const char *what)
{
  Notified *notified;

  ui_test_wait_until (more_than, GUINT_TO_POINTER (index), UI_TEST_WAIT_S, what);
  g_mutex_lock (&bus.lock);
  notified = bus.notified->pdata[index];
  g_mutex_unlock (&bus.lock);
  return notified;
}

static gboolean
is_closed (gpointer user_data)
{
  guint32 id = GPOINTER_TO_UINT (user_data);
  gboolean found = FALSE;

  g_mutex_lock (&bus.lock);
  for (guint i = 0; i < bus.closed->len && !found; i++)
    found = g_array_index (bus.closed, guint32, i) == id;
  g_mutex_unlock (&bus.lock);
  return found;
}

/* The desktop's answer to a click: ActionInvoked to every listener. */
static void
invoke (Notified   *notified,
        const char *action)
{
  g_autoptr(GError) error = NULL;

  g_dbus_connection_emit_signal (bus.connection, NULL, NOTIFY_PATH, NOTIFY_IFACE, "ActionInvoked",
                                 g_variant_new ("(us)", notified->id, action), &error);
  g_assert_no_error (error);
}

static const char *
action_label (Notified   *notified,
              const char *key)
{
  for (guint i = 0; notified->actions[i] != NULL && notified->actions[i + 1] != NULL; i += 2) {
    if (g_str_equal (notified->actions[i], key))
      return notified->actions[i + 1];
  }
  return NULL;
}

typedef struct {
  MeshTestServer *server;
  UiTestPeer        bob;
  char             *kitchen_id;
  char             *garden_id;
  char             *kitchen_invite;
  char             *garden_invite;
  MeshWindow       *window;
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
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) login = NULL;
  g_autofree char *state = g_build_filename (tmp_dir, device_name, NULL);
  g_autofree char *downloads = g_build_filename (state, "downloads", NULL);
  g_autofree char *password = g_strdup_printf ("%s-password\n", username);
  GSubprocess *run;

  if (!g_file_test (state, G_FILE_TEST_IS_DIR)) {
    login = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "login", "--state-dir", state,
                                 "--server", mesh_test_server_get_base_url (fixture->server),
                                 "--user", username, "--device-name", device_name, NULL);
    g_assert_true (g_subprocess_communicate_utf8 (login, password, NULL, NULL, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (g_subprocess_get_successful (login));
    g_assert_cmpint (g_mkdir_with_parents (downloads, 0700), ==, 0);
  }
  run = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "run", "--state-dir", state,
                             "--download-dir", downloads, "--listen", "127.0.0.1", NULL);
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
  fixture->server = mesh_test_server_new (NULL);
  g_free (mesh_test_server_add_user (fixture->server, "alice", "alice-password"));
  g_free (mesh_test_server_add_user (fixture->server, "bob", "bob-password"));
  mesh_test_server_start (fixture->server);

  ui_test_peer_start (&fixture->bob, mesh_test_server_get_base_url (fixture->server), "bob",
                      "bob-password");
  fixture->kitchen_id = ui_test_peer_create_room (&fixture->bob, "Kitchen",
                                                  &fixture->kitchen_invite);
  fixture->garden_id = ui_test_peer_create_room (&fixture->bob, "Garden", &fixture->garden_invite);

  fixture->window = mesh_window_new (app);
  gtk_window_set_default_size (GTK_WINDOW (fixture->window), 1280, 800);
  gtk_window_present (GTK_WINDOW (fixture->window));
  ui_test_wait_drawn (GTK_WIDGET (fixture->window));
  ui_test_sign_in (fixture->window, mesh_test_server_get_base_url (fixture->server), "alice",
                   "alice-password");
  fixture->notifier = mesh_window_get_notifier (fixture->window);
  g_assert_nonnull (fixture->notifier);

  ui_test_accept_invite (fixture->window, fixture->kitchen_invite, fixture->kitchen_id);
  ui_test_accept_invite (fixture->window, fixture->garden_invite, fixture->garden_id);
}

/* Shows @room_id in the window and waits until it counts as looked at. */
static void
look_at (Fixture    *fixture,
         const char *room_id)
{
  gpointer focus[2] = { fixture->notifier, (gpointer) room_id };

  g_assert_true (mesh_window_open_room (fixture->window, room_id));
  ui_test_wait_room_open (fixture->window, room_id, "the room to open");
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
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.sign-out", NULL));
  ui_test_destroy_window (GTK_WINDOW (fixture->window));
  ui_test_peer_clear (&fixture->bob);
  g_clear_pointer (&fixture->server, mesh_test_server_free);
  g_clear_pointer (&fixture->agents, g_ptr_array_unref);
  g_free (fixture->kitchen_id);
  g_free (fixture->garden_id);
  g_free (fixture->kitchen_invite);
  g_free (fixture->garden_invite);
}

static char *
bob_share_terminal (Fixture    *fixture,
                    const char *device_id)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  char *share_id;

  mesh_client_session_terminal_share_start_async (fixture->bob.session, fixture->kitchen_id,
                                                  device_id, NULL, ui_test_store_result_cb,
                                                  &result);
  ui_test_wait_result (&result, "bob's share to start");
  share_id = mesh_client_session_terminal_share_start_finish (fixture->bob.session, result, &error);
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
  MeshClientSession *alice = mesh_window_get_session (fixture->window);
  const char *alice_peer = mesh_client_session_get_peer_id (alice);
  g_autofree char *token = NULL;
  GAsyncResult *result = NULL;

  mesh_client_rest_request_caps_async (fixture->bob.rest, fixture->kitchen_id, caps, alice_peer,
                                       NULL, 0, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "bob's call capability");
  token = mesh_client_rest_request_caps_finish (fixture->bob.rest, result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  json_object_set_string_member (offer, "room_id", fixture->kitchen_id);
  json_object_set_string_member (offer, "target_peer_id", alice_peer);
  json_object_set_string_member (offer, "sdp", "v=0\r\n");
  json_object_set_string_member (offer, "media", "call");
  json_object_set_string_member (offer, "cap_token", token);
  g_free (mesh_client_session_send_event (fixture->bob.session, "rtc.offer", NULL, offer, &error));
  g_assert_no_error (error);
  json_object_set_string_member (hangup, "room_id", fixture->kitchen_id);
  json_object_set_string_member (hangup, "target_peer_id", alice_peer);
  g_free (mesh_client_session_send_event (fixture->bob.session, "rtc.hangup", NULL, hangup,
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
  Notified *notified;
  guint n;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  fixture_set_up (&fixture);
  alice = mesh_window_get_session (fixture.window);
  kitchen = mesh_room_list_find (mesh_window_get_room_list (fixture.window), fixture.kitchen_id,
                                 NULL);
  g_assert_nonnull (kitchen);
  g_signal_connect_swapped (alice, "terminal-share-started", G_CALLBACK (ui_test_set_flag),
                            &started);
  g_signal_connect_swapped (alice, "event::call.missed", G_CALLBACK (ui_test_set_flag), &missed);

  /* A message in the room on screen tells nobody: the window shows it. */
  look_at (&fixture, fixture.kitchen_id);
  n = n_notified ();
  ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, "The kettle is on");
  ui_test_wait_label_shown (GTK_WIDGET (fixture.window), "The kettle is on",
                            "bob's message on screen");
  g_assert_cmpuint (n_notified (), ==, n);

  /* One in a room that is not on screen does. */
  ui_test_peer_chat (&fixture.bob, fixture.garden_id, "Tomatoes are ripe");
  notified = wait_notified (n, "the garden message's notification");
  g_assert_cmpstr (notified->summary, ==, "bob in Garden");
  g_assert_cmpstr (notified->body, ==, "Tomatoes are ripe");
  g_assert_cmpstr (notified->category, ==, "im.received");
  g_assert_cmpstr (notified->desktop_entry, ==, APP_ID);
  g_assert_cmpstr (action_label (notified, "default"), ==, "Open Room");

  /* Clicking it shows the garden. */
  invoke (notified, "default");
  ui_test_wait_room_open (fixture.window, fixture.garden_id, "the garden to open");
  look_at (&fixture, fixture.garden_id);

  /* Bob shares a terminal from his agent in the kitchen. */
  start_agent (&fixture, "bob", "bob-box");
  bob_device = wait_device (fixture.bob.session, fixture.kitchen_id, "bob-box");
  n = n_notified ();
  share_id = bob_share_terminal (&fixture, bob_device);
  notified = wait_notified (n, "the shared terminal's notification");
  g_assert_cmpstr (notified->summary, ==, "bob is sharing a terminal");
  g_assert_cmpstr (notified->body, ==, "In “Kitchen”");
  g_assert_cmpstr (action_label (notified, "default"), ==, "Open Room");

  /* The share ends: its notification goes. */
  g_assert_true (mesh_client_session_terminal_share_stop (fixture.bob.session, share_id, NULL));
  ui_test_wait_until (is_closed, GUINT_TO_POINTER (notified->id), UI_TEST_WAIT_S,
                      "the terminal notification to be withdrawn");

  /* Bob calls and hangs up before Alice answers. */
  n = n_notified ();
  bob_missed_call (&fixture);
  notified = wait_notified (n, "the missed call's notification");
  g_assert_cmpstr (notified->summary, ==, "Missed call from bob");
  g_assert_true (g_str_has_prefix (notified->body, "bob called you in “Kitchen” at "));
  g_assert_cmpstr (notified->category, ==, "call.unanswered");
  g_assert_true (missed);

  /* Turned off, a kind takes its notification away and shows no more. */
  g_settings_set_boolean (settings, "notify-calls", FALSE);
  ui_test_wait_until (is_closed, GUINT_TO_POINTER (notified->id), UI_TEST_WAIT_S,
                      "the call notification to be withdrawn");
  missed = FALSE;
  n = n_notified ();
  bob_missed_call (&fixture);
  ui_test_wait_until (ui_test_flag_is_set, &missed, UI_TEST_WAIT_S, "the second call.missed");
  g_assert_cmpuint (n_notified (), ==, n);

  g_settings_set_boolean (settings, "notify-terminal", FALSE);
  started = FALSE;
  second_share = bob_share_terminal (&fixture, bob_device);
  ui_test_wait_until (ui_test_flag_is_set, &started, UI_TEST_WAIT_S,
                      "alice to hear of the second share");
  g_assert_cmpuint (n_notified (), ==, n);

  g_settings_set_boolean (settings, "notify-chat", FALSE);
  ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, "Nobody is told");
  {
    gpointer data[2] = { kitchen, GUINT_TO_POINTER (1) };

    ui_test_wait_until (unread_is, data, UI_TEST_WAIT_S, "the kitchen's unread count");
  }
  g_assert_cmpuint (n_notified (), ==, n);

  /* On again; Alice's own message in the kitchen tells her nothing, Bob's does. */
  g_settings_set_boolean (settings, "notify-chat", TRUE);
  g_free (mesh_client_session_send_chat (alice, fixture.kitchen_id, "My own words", NULL));
  ui_test_wait_outbox_empty (alice, "alice's message to be confirmed");
  g_assert_cmpuint (n_notified (), ==, n);
  ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, "Bob's words");
  notified = wait_notified (n, "the kitchen message's notification");
  g_assert_cmpstr (notified->summary, ==, "bob in Kitchen");
  g_assert_cmpstr (notified->body, ==, "Bob's words");

  fixture_tear_down (&fixture);
}

static gboolean
last_summary_is (gpointer user_data)
{
  gboolean is;

  g_mutex_lock (&bus.lock);
  is = bus.notified->len > 0 &&
       g_strcmp0 (((Notified *) g_ptr_array_index (bus.notified, bus.notified->len - 1))->summary,
                  user_data) == 0;
  g_mutex_unlock (&bus.lock);
  return is;
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
  Notified *notified;
  guint n;

  fixture_set_up (&fixture);
  alice = mesh_window_get_session (fixture.window);
  kitchen = mesh_room_list_find (mesh_window_get_room_list (fixture.window), fixture.kitchen_id,
                                 NULL);
  g_assert_nonnull (kitchen);
  look_at (&fixture, fixture.garden_id);

  /* Alice is away while Bob talks in the kitchen. */
  n = n_notified ();
  mesh_client_session_disconnect (alice);
  for (guint i = 1; i <= CAUGHT_UP; i++) {
    g_autofree char *text = g_strdup_printf ("Message %u", i);

    ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, text);
  }
  ui_test_wait_outbox_empty (fixture.bob.session, "bob's messages to be confirmed");
  g_assert_cmpuint (n_notified (), ==, n);

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
  notified = wait_notified (n, "the catch-up's notification");
  g_assert_cmpstr (notified->summary, ==, "120 new messages in Kitchen");
  g_assert_cmpstr (notified->body, ==, "bob: Message 120");
  g_assert_cmpstr (action_label (notified, "default"), ==, "Open Room");
  /* Whatever was still gathered would be told within a few windows. */
  g_timeout_add (2000, settled_cb, &settled);
  ui_test_wait_until (ui_test_flag_is_set, &settled, UI_TEST_WAIT_S, "a quiet while");
  g_assert_cmpuint (n_notified (), ==, n + 1);

  /* Live messages that follow count on, in the same notification. */
  ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, "Live one");
  ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, "Live two");
  ui_test_wait_until (last_summary_is, "122 new messages in Kitchen", UI_TEST_WAIT_S,
                      "the live messages' notification");
  g_mutex_lock (&bus.lock);
  notified = g_ptr_array_index (bus.notified, bus.notified->len - 1);
  g_mutex_unlock (&bus.lock);
  g_assert_cmpstr (notified->body, ==, "bob: Live two");

  /* Looked at, it goes, and the count starts again. */
  look_at (&fixture, fixture.kitchen_id);
  ui_test_wait_until (is_closed, GUINT_TO_POINTER (notified->id), UI_TEST_WAIT_S,
                      "the kitchen notification to be withdrawn");
  look_at (&fixture, fixture.garden_id);
  n = n_notified ();
  ui_test_peer_chat (&fixture.bob, fixture.kitchen_id, "Fresh start");
  notified = wait_notified (n, "the next kitchen message's notification");
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
  Notified *notified;
  guint32 first_id;
  guint n, tick;

  fixture_set_up (&fixture);
  g_assert_cmpint (g_mkdir_with_parents (folder_path, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, "shopping list\n", -1, &error));
  g_assert_no_error (error);
  look_at (&fixture, fixture.garden_id);

  /* Not for the room on screen, nor for a file from this same account. */
  n = n_notified ();
  mesh_notifier_notify_received (fixture.notifier, fixture.garden_id, "bob", "notes.txt", 14, FALSE,
                                 file);
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "alice", "notes.txt", 14,
                                 FALSE, file);
  g_assert_cmpuint (n_notified (), ==, n);

  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  notified = wait_notified (n, "the received file's notification");
  g_assert_cmpuint (notified->replaces_id, ==, 0);
  g_assert_cmpstr (notified->summary, ==, "File received: notes.txt");
  g_assert_cmpstr (notified->body, ==, "bob sent you “notes.txt” (14 bytes) in “Kitchen”");
  g_assert_cmpstr (notified->category, ==, "transfer.complete");
  g_assert_cmpstr (action_label (notified, "default"), ==, "Open Room");
  g_assert_cmpstr (action_label (notified, "open"), ==, "Open");
  first_id = notified->id;

  /* A folder in the same room replaces it; "Show in Folder" opens where it is. */
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "photos", 2500000,
                                 TRUE, folder);
  notified = wait_notified (n + 1, "the received folder's notification");
  g_assert_cmpuint (notified->replaces_id, ==, first_id);
  g_assert_cmpstr (notified->summary, ==, "Folder received: photos");
  g_assert_cmpstr (notified->body, ==, "bob sent you “photos” (2.5\u00a0MB) in “Kitchen”");
  g_assert_cmpstr (action_label (notified, "default"), ==, "Open Room");
  g_assert_cmpstr (action_label (notified, "open"), ==, "Show in Folder");
  /* What the launched applications do wakes nobody up here: look every 50 ms. */
  tick = g_timeout_add (50, tick_cb, NULL);
  invoke (notified, "open");
  ui_test_wait_until (links_to, (gpointer[]) { shown, dir }, UI_TEST_WAIT_S,
                      "the folder to be shown");

  /* Clicked, it was done with: the next file has a notification of its own,
   * whose "Open" hands the file to its default application. */
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  notified = wait_notified (n + 2, "the second file's notification");
  g_assert_cmpuint (notified->replaces_id, ==, 0);
  invoke (notified, "open");
  ui_test_wait_until (file_has, (gpointer[]) { opened, "shopping list\n" }, UI_TEST_WAIT_S,
                      "the file to be opened");
  g_source_remove (tick);

  /* Its default action opens its room. */
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  notified = wait_notified (n + 3, "the third file's notification");
  invoke (notified, "default");
  ui_test_wait_room_open (fixture.window, fixture.kitchen_id, "the kitchen to open");

  /* Turned off: nothing. */
  look_at (&fixture, fixture.garden_id);
  g_settings_set_boolean (mesh_application_get_settings (app), "notify-files", FALSE);
  n = n_notified ();
  mesh_notifier_notify_received (fixture.notifier, fixture.kitchen_id, "bob", "notes.txt", 14,
                                 FALSE, file);
  g_assert_cmpuint (n_notified (), ==, n);

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
  Notified *notified;
  guint n;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  fixture_set_up (&fixture);
  alice = mesh_window_get_session (fixture.window);
  ui_test_wait_agent_ready (fixture.window, "the embedded agent");

  laptop = start_agent (&fixture, "alice", "alice-laptop");
  desktop = start_agent (&fixture, "alice", "alice-desktop");
  laptop_id = wait_device (alice, fixture.kitchen_id, "alice-laptop");
  desktop_id = wait_device (alice, fixture.kitchen_id, "alice-desktop");

  g_object_set (fixture.notifier, "agent-offline-delay", 1, NULL);
  mesh_notifier_set_own_device_id (fixture.notifier, laptop_id);

  /* The laptop goes first: were it reported, its notification would come first. */
  n = n_notified ();
  stop_agent (&fixture, laptop);
  {
    DeviceWait wait = { alice, fixture.kitchen_id, "alice-laptop", NULL };

    ui_test_wait_until (device_gone, &wait, UI_TEST_WAIT_S, "the laptop to leave the room");
    g_free (wait.device_id);
  }
  stop_agent (&fixture, desktop);
  notified = wait_notified (n, "the offline agent's notification");
  g_assert_cmpstr (notified->summary, ==, "Agent offline: alice-desktop");
  g_assert_true (g_str_has_prefix (notified->body, "Your agent “alice-desktop” disconnected at "));
  g_assert_cmpstr (notified->category, ==, "network.disconnected");
  g_assert_null (action_label (notified, "default"));

  /* Back: the notification is withdrawn. */
  start_agent (&fixture, "alice", "alice-desktop");
  g_free (wait_device (alice, fixture.kitchen_id, "alice-desktop"));
  ui_test_wait_until (is_closed, GUINT_TO_POINTER (notified->id), UI_TEST_WAIT_S,
                      "the offline notification to be withdrawn");
  g_assert_cmpuint (n_notified (), ==, n + 1);

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
  bus_start ();
  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/notifier/room-events", test_room_events);
  g_test_add_func ("/mesh/notifier/catch-up", test_catch_up);
  g_test_add_func ("/mesh/notifier/received", test_received);
  g_test_add_func ("/mesh/notifier/agent-offline", test_agent_offline);
  g_test_add_func ("/mesh/notifier/preferences", test_preferences);
  ret = g_test_run ();

  g_application_release (G_APPLICATION (app));
  g_clear_object (&app);
  bus_stop ();
  {
    g_autofree char *rm = g_strdup_printf ("rm -rf %s", tmp_dir);

    g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL);
  }
  g_free (tmp_dir);
  return ret;
}
