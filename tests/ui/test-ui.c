/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-agent-controller.h"
#include "mesh-agent-state.h"
#include "mesh-application.h"
#include "mesh-connection-banner.h"
#include "mesh-embedded-agent.h"
#include "mesh-member-row.h"
#include "mesh-message-row.h"
#include "mesh-client-rest.h"
#include "mesh-error.h"
#include "mesh-frame.h"
#include "mesh-devices-page.h"
#include "mesh-gotify-page.h"
#include "mesh-ids.h"
#include "mesh-client-session.h"
#include "mesh-notifier.h"
#include "mesh-offer-dialog.h"
#include "mesh-preferences-window.h"
#include "mesh-room-list.h"
#include "mesh-saved-session.h"
#include "mesh-share-bar.h"
#include "mesh-signin-page.h"
#include "mesh-terminal-view.h"
#include "mesh-terminal-window.h"
#include "mesh-transfer-row.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <glib/gstdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <vte/vte.h>

/* One application for the whole run, as in the app: windows come and go. */
static MeshApplication *app;

static gboolean
not_busy (gpointer user_data)
{
  return !mesh_signin_page_get_busy (user_data);
}

static gboolean
is_busy (gpointer user_data)
{
  return mesh_signin_page_get_busy (user_data);
}

static void
test_sign_in (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autofree char *alice_id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(MeshSavedSession) saved = NULL;
  g_autofree char *saved_url = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  MeshWindow *window;
  GStatBuf st;

  alice_id = mesh_test_server_add_user (server, "alice", "alice-password");
  mesh_test_server_start (server);

  window = ui_test_window_new (app, 1280, 800);
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  shot = ui_test_screenshot (GTK_WIDGET (window), "signin-1280x800");

  /* A wrong password keeps the page and marks the field. */
  ui_test_fill_sign_in (window, mesh_test_server_get_base_url (server), "alice", "wrong");
  ui_test_click_sign_in (window);
  ui_test_wait_until (is_busy, mesh_window_get_signin_page (window), UI_TEST_WAIT_S, "the request");
  ui_test_wait_until (not_busy, mesh_window_get_signin_page (window), UI_TEST_WAIT_S,
                      "the refusal");
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  g_assert_nonnull (ui_test_find_widget (GTK_WIDGET (window), ADW_TYPE_PASSWORD_ENTRY_ROW, NULL,
                                         NULL));
  g_assert_true (gtk_widget_has_css_class (ui_test_find_widget (GTK_WIDGET (window),
                                                                ADW_TYPE_PASSWORD_ENTRY_ROW,
                                                                NULL, NULL), "error"));

  ui_test_sign_in (window, mesh_test_server_get_base_url (server), "alice", "alice-password");
  g_assert_cmpstr (mesh_client_session_get_user_id (mesh_window_get_session (window)), ==,
                   alice_id);

  /* The sign-in is kept for the next start, readable by its owner only. */
  saved_url = g_settings_get_string (settings, "server-url");
  g_assert_cmpstr (saved_url, ==, mesh_test_server_get_base_url (server));
  path = mesh_saved_session_path ("test");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  saved = mesh_saved_session_load ("test", NULL);
  g_assert_nonnull (saved);
  g_assert_cmpstr (saved->user_id, ==, alice_id);
  g_assert_cmpstr (saved->username, ==, "alice");
  ui_test_destroy_window (GTK_WINDOW (window));

  /* A new window starts signed in. */
  window = ui_test_window_new (app, 1280, 800);
  g_assert_cmpstr (mesh_window_get_page (window), ==, "rooms");
  ui_test_wait_connected (window, "the restored session");

  /* Signing out forgets it. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  ui_test_destroy_window (GTK_WINDOW (window));
}

static void
test_certificate (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *pinned = NULL;
  g_autofree char *first_group = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  AdwMessageDialog *dialog;
  MeshWindow *window;

  fingerprint = mesh_test_make_certificate (mesh_test_server_get_data_dir (server), &cert, &key);
  mesh_test_server_set_tls (server, cert, key);
  g_free (mesh_test_server_add_user (server, "carol", "carol-password"));
  mesh_test_server_start (server);
  g_assert_true (g_str_has_prefix (mesh_test_server_get_base_url (server), "https://"));

  window = ui_test_window_new (app, 1280, 800);
  ui_test_fill_sign_in (window, mesh_test_server_get_base_url (server), "carol", "carol-password");
  ui_test_click_sign_in (window);

  /* The unknown certificate is shown by its fingerprint before anything is sent. */
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG,
                                                      "the trust question"));
  first_group = g_ascii_strup (fingerprint, 2);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), first_group));
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");

  adw_message_dialog_response (dialog, "trust");
  ui_test_wait_page (window, "rooms");
  ui_test_wait_connected (window, "the TLS session");

  pinned = g_settings_get_string (settings, "pinned-fingerprint");
  g_assert_cmpint (g_ascii_strcasecmp (pinned, fingerprint), ==, 0);
  /* The embedded agent trusts the same certificate: it signs in and connects. */
  ui_test_wait_agent_ready (window, "the embedded agent over TLS");

  ui_test_sign_out_and_close (window);
  g_settings_reset (settings, "pinned-fingerprint");
}

typedef struct {
  MeshWindow *window;
  guint       n;
} ChatWait;

static gboolean
chat_has_n (gpointer user_data)
{
  ChatWait *wait = user_data;
  MeshChatModel *chat = mesh_room_view_get_chat (mesh_window_get_room_view (wait->window));

  return chat != NULL && !mesh_chat_model_get_loading (chat) &&
         g_list_model_get_n_items (G_LIST_MODEL (chat)) >= wait->n;
}

static gboolean
peer_received_n (gpointer user_data)
{
  UiTestPeer *peer = user_data;

  return peer->received->len >= GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (peer->session),
                                                                     "expect"));
}

/* The delivery state of the last message in the window's room when it is
 * the user's own; -1 when it is not. */
static int
last_own_state (MeshWindow *window)
{
  MeshChatModel *chat = mesh_room_view_get_chat (mesh_window_get_room_view (window));
  guint n = g_list_model_get_n_items (G_LIST_MODEL (chat));
  g_autoptr(MeshChatMessage) last = n ? g_list_model_get_item (G_LIST_MODEL (chat), n - 1) : NULL;

  if (last == NULL || !mesh_chat_message_get_is_own (last))
    return -1;
  return mesh_chat_message_get_delivery_state (last);
}

static gboolean
last_own_sent (gpointer window)
{
  return last_own_state (window) == MESH_DELIVERY_SENT;
}

typedef struct {
  MeshRoom *room;
  guint     n;
} UnreadWait;

static gboolean
unread_is (gpointer user_data)
{
  UnreadWait *wait = user_data;

  return mesh_room_get_unread_count (wait->room) == wait->n;
}

static void
wait_unread (MeshRoom   *room,
             guint       n,
             const char *what)
{
  UnreadWait wait = { room, n };

  ui_test_wait_until (unread_is, &wait, UI_TEST_WAIT_S, what);
}

static gboolean
banner_revealed (gpointer user_data)
{
  GtkWidget *banner = ui_test_find_widget (user_data, MESH_TYPE_CONNECTION_BANNER, NULL, NULL);

  return gtk_revealer_get_reveal_child (GTK_REVEALER (adw_bin_get_child (ADW_BIN (banner))));
}

static gboolean
banner_hidden (gpointer user_data)
{
  return !banner_revealed (user_data);
}

static void
test_room_chat (void)
{
  UiTestScene scene = { NULL };
  g_autofree char *invite = NULL;
  g_autofree char *garden_invite = NULL;
  g_autofree char *garden_id = NULL;
  g_autoptr(MeshChatMessage) first = NULL;
  g_autofree char *shot = NULL;
  AdwMessageDialog *dialog;
  MeshWindow *window, *narrow;
  MeshNotifier *notifier;
  MeshRoom *garden;
  GtkWidget *entry;
  ChatWait wait;
  guint shown;

  ui_test_scene_start (&scene, app, 1280, 800);
  window = scene.window;

  /* Bob has a room with more history than one page. */
  scene.bob.room_id = ui_test_peer_create_room (&scene.bob, "Kitchen", &invite);
  for (guint i = 1; i <= 60; i++) {
    g_autofree char *text = g_strdup_printf ("Message number %u", i);

    ui_test_peer_chat (&scene.bob, scene.bob.room_id, text);
  }
  ui_test_wait_outbox_empty (scene.bob.session, "bob's messages to be stored");

  /* No rooms yet: the empty state offers to create or join one. */
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), "No Rooms"));
  g_free (ui_test_screenshot (GTK_WIDGET (window), "no-rooms-1280x800"));

  /* Join with the invite code through the dialog. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.join-room", NULL));
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the join dialog"));
  entry = adw_message_dialog_get_extra_child (dialog);
  gtk_editable_set_text (GTK_EDITABLE (entry), invite);
  adw_message_dialog_response (dialog, "ok");
  ui_test_wait_room_open (window, scene.bob.room_id, "the joined room to open");

  /* The newest page is shown, the newest message on screen. */
  wait = (ChatWait) { window, MESH_CHAT_MODEL_PAGE_SIZE };
  ui_test_wait_until (chat_has_n, &wait, UI_TEST_WAIT_S, "the first page");
  ui_test_wait_label_shown (GTK_WIDGET (window), "Message number 60",
                            "the newest message on screen");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), "Today"));

  /* Scrolling to the top brings the older page. */
  {
    GtkScrolledWindow *scroller;
    GtkWidget *list = ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                                           GTK_TYPE_LIST_VIEW, NULL, NULL);

    scroller = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (list, GTK_TYPE_SCROLLED_WINDOW));
    ui_test_wait_drawn (GTK_WIDGET (window));
    gtk_adjustment_set_value (gtk_scrolled_window_get_vadjustment (scroller), 0);
    wait.n = 60;
    ui_test_wait_until (chat_has_n, &wait, UI_TEST_WAIT_S, "the older page");
  }
  first = g_list_model_get_item (G_LIST_MODEL (mesh_room_view_get_chat (
                                   mesh_window_get_room_view (window))), 0);
  g_assert_cmpstr (mesh_chat_message_get_content (first), ==, "Message number 1");

  /* Enter sends; bob gets it and alice sees it delivered. */
  entry = ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)), GTK_TYPE_ENTRY,
                               NULL, NULL);
  gtk_editable_set_text (GTK_EDITABLE (entry), "Hello from Alice");
  /* What Enter in the entry emits. */
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry)), ==, "");
  g_object_set_data (G_OBJECT (scene.bob.session), "expect", GUINT_TO_POINTER (1));
  ui_test_wait_until (peer_received_n, &scene.bob, UI_TEST_WAIT_S,
                      "bob to receive alice's message");
  g_assert_cmpstr (g_ptr_array_index (scene.bob.received, 0), ==, "Hello from Alice");
  ui_test_wait_until (last_own_sent, window, UI_TEST_WAIT_S, "the delivery confirmation");
  ui_test_wait_label_shown (GTK_WIDGET (window), "Hello from Alice", "alice's message on screen");

  /* A reply, and an answer to it: runs of messages with their senders. */
  ui_test_peer_chat (&scene.bob, scene.bob.room_id,
                     "Hi Alice! The coffee machine is fixed, by the way.");
  ui_test_wait_label_shown (GTK_WIDGET (window),
                            "Hi Alice! The coffee machine is fixed, by the way.", "bob's reply");
  gtk_editable_set_text (GTK_EDITABLE (entry), "Great news. See you at lunch?");
  g_signal_emit_by_name (entry, "activate");
  ui_test_wait_until (last_own_sent, window, UI_TEST_WAIT_S, "the second confirmation");
  shot = ui_test_screenshot (GTK_WIDGET (window), "room-1280x800");

  /* A message in a room alice is not looking at: unread badge and a
   * notification; her own message there notifies nobody. */
  garden_id = ui_test_peer_create_room (&scene.bob, "Garden", &garden_invite);
  ui_test_accept_invite (window, garden_invite, garden_id);
  garden = mesh_room_list_find (mesh_window_get_room_list (window), garden_id, NULL);
  g_assert_nonnull (garden);
  notifier = mesh_window_get_notifier (window);
  shown = mesh_notifier_get_n_shown (notifier);
  ui_test_peer_chat (&scene.bob, garden_id, "Tomatoes are ripe");
  wait_unread (garden, 1, "the unread count");
  g_assert_cmpuint (mesh_notifier_get_n_shown (notifier), ==, shown + 1);

  /* Opening it (what activating the notification does) shows it. */
  g_assert_true (mesh_window_open_room (window, garden_id));
  ui_test_wait_room_open (window, garden_id, "the garden");
  ui_test_wait_label_shown (GTK_WIDGET (window), "Tomatoes are ripe", "bob's garden message");
  g_assert_true (mesh_window_open_room (window, scene.bob.room_id));

  /* "Copy Invite Code" puts a fresh code on the clipboard. */
  {
    GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (window));
    g_autofree char *code = NULL;
    gboolean changed = FALSE;
    gulong id;

    id = g_signal_connect_swapped (clipboard, "changed", G_CALLBACK (ui_test_set_flag), &changed);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (mesh_window_get_room_view (window)),
                                               "room.copy-invite", NULL));
    ui_test_wait_until (ui_test_flag_is_set, &changed, UI_TEST_WAIT_S,
                        "the invite on the clipboard");
    g_signal_handler_disconnect (clipboard, id);
    code = ui_test_clipboard_text (GTK_WIDGET (window));
    g_assert_cmpstr (code, !=, invite);
    g_assert_cmpuint (strlen (code), >=, 6);
  }

  /* Offline: the banner says so, and a message waits (pending) until the
   * server is back, then is delivered once. */
  mesh_test_server_stop (scene.server);
  ui_test_wait_until (banner_revealed, mesh_window_get_room_view (window), UI_TEST_WAIT_S,
                      "the disconnected banner");
  g_free (ui_test_screenshot (GTK_WIDGET (window), "offline-1280x800"));
  gtk_editable_set_text (GTK_EDITABLE (entry), "Sent while offline");
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpint (last_own_state (window), ==, MESH_DELIVERY_PENDING);
  mesh_test_server_start (scene.server);
  mesh_client_session_reconnect_now (mesh_window_get_session (window));
  mesh_client_session_reconnect_now (scene.bob.session);
  ui_test_wait_until (last_own_sent, window, UI_TEST_WAIT_S, "the waiting message to be delivered");
  ui_test_wait_until (banner_hidden, mesh_window_get_room_view (window), UI_TEST_WAIT_S,
                      "the banner to go");

  /* The same account in a phone-sized window: the list, then the room. */
  narrow = ui_test_window_new (app, 360, 720);
  g_assert_cmpstr (mesh_window_get_page (narrow), ==, "rooms");
  ui_test_wait_connected (narrow, "the narrow window's session");
  g_free (ui_test_screenshot (GTK_WIDGET (narrow), "rooms-360x720"));
  g_assert_true (mesh_window_open_room (narrow, scene.bob.room_id));
  wait = (ChatWait) { narrow, MESH_CHAT_MODEL_PAGE_SIZE };
  ui_test_wait_until (chat_has_n, &wait, UI_TEST_WAIT_S, "the narrow window's chat");
  g_free (ui_test_screenshot (GTK_WIDGET (narrow), "room-360x720"));
  ui_test_destroy_window (GTK_WINDOW (narrow));

  ui_test_scene_stop (&scene);
}

static void
test_preferences (void)
{
  GSettings *settings = mesh_application_get_settings (app);
  AdwStyleManager *style = adw_style_manager_get_default ();
  MeshWindow *window = ui_test_window_new (app, 1280, 800);
  GtkWindow *preferences, *shortcuts;
  AdwComboRow *style_row;
  GtkWidget *notify_switch;

  /* Ctrl+, opens the preferences on this profile's settings. */
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  preferences = ui_test_wait_toplevel (MESH_TYPE_PREFERENCES_WINDOW, "the preferences");
  g_free (ui_test_screenshot (GTK_WIDGET (preferences), "preferences"));

  /* The style follows the combo row, through GSettings. */
  style_row = ADW_COMBO_ROW (ui_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_COMBO_ROW,
                                                  NULL, NULL));
  adw_combo_row_set_selected (style_row, 2);
  g_assert_cmpint (g_settings_get_enum (settings, "style-variant"), ==, 2);
  g_assert_cmpint (adw_style_manager_get_color_scheme (style), ==, ADW_COLOR_SCHEME_FORCE_DARK);
  g_free (ui_test_screenshot (GTK_WIDGET (window), "signin-dark-1280x800"));
  adw_combo_row_set_selected (style_row, 0);
  g_assert_cmpint (adw_style_manager_get_color_scheme (style), ==, ADW_COLOR_SCHEME_DEFAULT);

  notify_switch = ui_test_find_widget (GTK_WIDGET (preferences), GTK_TYPE_SWITCH, NULL, NULL);
  g_assert_true (gtk_switch_get_active (GTK_SWITCH (notify_switch)));
  gtk_switch_set_active (GTK_SWITCH (notify_switch), FALSE);
  g_assert_false (g_settings_get_boolean (settings, "notify-chat"));
  g_settings_reset (settings, "notify-chat");
  gtk_window_destroy (preferences);

  /* About and the shortcuts window. */
  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  gtk_window_destroy (ui_test_wait_toplevel (ADW_TYPE_ABOUT_WINDOW, "the about window"));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.show-help-overlay", NULL));
  shortcuts = ui_test_wait_toplevel (GTK_TYPE_SHORTCUTS_WINDOW, "the shortcuts window");
  g_free (ui_test_screenshot (GTK_WIDGET (shortcuts), "shortcuts"));
  gtk_window_destroy (shortcuts);
  ui_test_destroy_window (GTK_WINDOW (window));
}

static JsonNode *
get_gotify (MeshClientRest *rest,
            GError        **error)
{
  GAsyncResult *result = NULL;
  JsonNode *node;

  mesh_client_rest_call_async (rest, "GET", "me/gotify", NULL, NULL, ui_test_store_result_cb,
                               &result);
  ui_test_wait_result (&result, "GET me/gotify");
  node = mesh_client_rest_call_finish (rest, result, error);
  g_object_unref (result);
  return node;
}

static void
test_gotify (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) stored = NULL;
  g_autoptr(JsonNode) gone = NULL;
  UiTestPeer alice = { NULL };
  GtkWindow *preferences;
  GtkWidget *page;
  GtkWidget *url_row;
  GtkWidget *token_row;
  GtkWidget *calls_row;
  JsonObject *view;
  JsonArray *events;
  MeshWindow *window;

  ui_test_start_server (server, "alice", NULL);
  window = ui_test_window_signed_in (app, 1280, 800, mesh_test_server_get_base_url (server),
                                     "alice", "alice-password");

  /* Nothing set yet: an empty form that can only be saved. */
  preferences = ui_test_open_gotify (app, &page, &url_row, &token_row);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (url_row)), ==, "");
  g_assert_false (gtk_widget_is_sensitive (ui_test_find_button (page, "_Remove")));

  /* Nothing listens on port 9: messages only queue, nothing leaves the host. */
  gtk_editable_set_text (GTK_EDITABLE (url_row), "http://127.0.0.1:9/");
  gtk_editable_set_text (GTK_EDITABLE (token_row), "AbCdEf.123");
  calls_row = ui_test_find_action_row (page, "_Missed Calls");
  gtk_switch_set_active (GTK_SWITCH (ui_test_find_widget (calls_row, GTK_TYPE_SWITCH, NULL, NULL)),
                         FALSE);
  ui_test_click_gotify (page, "_Save");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (preferences), "Gotify settings saved"));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (token_row)), ==, "");

  /* The server stored it, as its owner sees through the client library. */
  ui_test_peer_start (&alice, mesh_test_server_get_base_url (server), "alice", "alice-password");
  stored = get_gotify (alice.rest, &error);
  g_assert_no_error (error);
  view = json_node_get_object (stored);
  g_assert_cmpstr (json_object_get_string_member (view, "url"), ==, "http://127.0.0.1:9/");
  g_assert_true (json_object_get_boolean_member (view, "token_set"));
  g_assert_true (json_object_get_null_member (view, "priority"));
  events = json_object_get_array_member (view, "events");
  g_assert_cmpuint (json_array_get_length (events), ==, 4);
  for (guint i = 0; i < json_array_get_length (events); i++)
    g_assert_cmpstr (json_array_get_string_element (events, i), !=, "call.missed");

  /* The test message cannot be delivered: the reason is shown, not "delivered". */
  ui_test_click_gotify (page, "Send _Test");
  g_assert_null (ui_test_find_label (GTK_WIDGET (preferences), "Gotify answered: delivered"));
  gtk_window_destroy (preferences);

  /* Opened again, the page shows what the server holds. */
  preferences = ui_test_open_gotify (app, &page, &url_row, NULL);
  calls_row = ui_test_find_action_row (page, "_Missed Calls");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (url_row)), ==, "http://127.0.0.1:9/");
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (ui_test_find_widget (calls_row,
                                                                           GTK_TYPE_SWITCH,
                                                                           NULL, NULL))));
  g_free (ui_test_screenshot (GTK_WIDGET (preferences), "preferences-gotify"));

  ui_test_click_gotify (page, "_Remove");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (url_row)), ==, "");
  gone = get_gotify (alice.rest, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);
  gtk_window_destroy (preferences);

  ui_test_peer_clear (&alice);
  ui_test_sign_out_and_close (window);
}

/* Bob's member row, listing the device @device_id (NULL: any device). */
static gboolean
is_bobs_row_with (GtkWidget     *widget,
                  gconstpointer  device_id)
{
  MeshMember *member = mesh_member_row_get_member (MESH_MEMBER_ROW (widget));
  const char * const *devices = mesh_member_get_devices (member);

  return g_strcmp0 (mesh_member_get_username (member), "bob") == 0 &&
         (device_id == NULL ? devices[0] != NULL : g_strv_contains (devices, device_id));
}

/* The room on screen shows bob's device (so it is connected and in the room). */
static gboolean
bob_device_shown (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];

  return ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                              MESH_TYPE_MEMBER_ROW, is_bobs_row_with,
                              ((gpointer *) user_data)[1]) != NULL;
}

static gboolean
transfer_finished (gpointer user_data)
{
  return mesh_transfer_is_finished (user_data);
}

static void
offer_cb (MeshEmbeddedAgent  *agent,
          MeshTransfer       *transfer,
          MeshTransfer      **out)
{
  g_set_object (out, transfer);
}

static gboolean
share_shown (gpointer user_data)
{
  GtkWidget *bar = ui_test_find_widget (user_data, MESH_TYPE_SHARE_BAR, NULL, NULL);

  return bar != NULL && mesh_share_bar_get_n_shares (MESH_SHARE_BAR (bar)) > 0;
}

static gboolean
terminal_shows (gpointer user_data)
{
  GtkWindow *window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  GtkWidget *view, *vte;
  g_autofree char *text = NULL;

  if (window == NULL)
    return FALSE;
  view = ui_test_find_widget (GTK_WIDGET (window), MESH_TYPE_TERMINAL_VIEW, NULL, NULL);
  vte = mesh_terminal_view_get_vte (MESH_TERMINAL_VIEW (view));
  text = vte_terminal_get_text (VTE_TERMINAL (vte), NULL, NULL, NULL);
  return text != NULL && strstr (text, user_data) != NULL;
}

static gboolean
controlled_by_bob (gpointer user_data)
{
  return g_strcmp0 (mesh_shared_terminal_get_controller_name (user_data), "bob") == 0;
}

static gboolean
process_exited (gpointer user_data)
{
  return g_subprocess_get_identifier (user_data) == NULL;
}

/* Bob's room "Lab" on a server of its own, and a throwaway folder for the
 * test's files and agents.  Alice joins the Lab before she signs in (her
 * embedded agent joins the rooms it finds when it connects), so that bob's
 * agents can be started in between. */
typedef struct {
  MeshTestServer *server;
  const char     *url;
  UiTestPeer      bob;              /* bob.room_id: the Lab */
  char           *invite;
  char           *tmp;
  char           *bob_state;        /* TMP/bob-agent */
  char           *bob_downloads;    /* TMP/bob-downloads */
  char           *alice_downloads;  /* TMP/alice-downloads, alice's download folder */
  MeshClientRest *alice_rest;
  MeshWindow     *window;
} Lab;

static void
lab_start (Lab        *lab,
           const char *tmp_template)
{
  lab->tmp = g_dir_make_tmp (tmp_template, NULL);
  g_assert_nonnull (lab->tmp);
  lab->bob_state = g_build_filename (lab->tmp, "bob-agent", NULL);
  lab->bob_downloads = g_build_filename (lab->tmp, "bob-downloads", NULL);
  lab->alice_downloads = g_build_filename (lab->tmp, "alice-downloads", NULL);
  lab->server = mesh_test_server_new (NULL);
  ui_test_start_server (lab->server, "alice", "bob", NULL);
  lab->url = mesh_test_server_get_base_url (lab->server);
  ui_test_peer_start (&lab->bob, lab->url, "bob", "bob-password");
  lab->bob.room_id = ui_test_peer_create_room (&lab->bob, "Lab", &lab->invite);
}

/* Bob's `mesh-agent login` into @state_dir, as @device_name (may be NULL). */
static void
lab_login_bob (Lab        *lab,
               const char *state_dir,
               const char *device_name)
{
  ui_test_agent_login (lab->url, state_dir, "bob", "bob-password", device_name);
}

/* Alice joins the Lab, signs in in a new window and opens it once her
 * embedded agent is there; returns her agent.  Files offered to her go to
 * TMP/alice-downloads: set while signed in, the preference applies at once. */
static MeshEmbeddedAgent *
lab_enter (Lab *lab)
{
  lab->alice_rest = ui_test_rest_login (lab->url, NULL, "alice", "alice-password");
  ui_test_rest_accept_invite (lab->alice_rest, lab->invite);
  lab->window = ui_test_window_new (app, 1280, 800);
  ui_test_sign_in_to_room (lab->window, lab->url, "alice", "alice-password", lab->bob.room_id);
  g_assert_cmpint (g_mkdir_with_parents (lab->alice_downloads, 0700), ==, 0);
  g_settings_set_string (mesh_application_get_settings (app), "download-folder",
                         lab->alice_downloads);
  return mesh_window_get_agent (lab->window);
}

/* Waits until bob's member row in the open room lists @device_id (NULL:
 * a device). */
static void
lab_wait_bob_device (Lab        *lab,
                     const char *device_id)
{
  gpointer member_data[2] = { lab->window, (gpointer) device_id };

  ui_test_wait_until (bob_device_shown, member_data, UI_TEST_WAIT_S, "bob's device in the room");
}

static void
lab_stop (Lab *lab)
{
  ui_test_sign_out_and_close (lab->window);
  ui_test_peer_clear (&lab->bob);
  g_clear_object (&lab->alice_rest);
  g_clear_pointer (&lab->server, mesh_test_server_free);
  g_free (lab->invite);
  mesh_test_remove_tree (lab->tmp);
  g_free (lab->tmp);
  g_free (lab->bob_state);
  g_free (lab->bob_downloads);
  g_free (lab->alice_downloads);
}

/* Alice drops a file on the room: her embedded agent sends it to Bob's.
 * Bob's agent sends one back: Alice accepts it in a dialog.  Bob shares a
 * terminal: Alice watches it in a terminal window. */
static void
test_send_files (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) run = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = NULL;
  g_autofree char *received_path = NULL;
  g_autofree char *received = NULL;
  g_autofree char *toast = NULL;
  g_autoptr(GBytes) content = NULL;
  gsize received_len;
  Lab lab = { NULL };
  MeshWindow *window;
  GList files = { NULL };
  GListModel *transfers;
  g_autoptr(MeshTransfer) transfer = NULL;
  g_autoptr(MeshTransfer) offered = NULL;
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autoptr(GSubprocess) send = NULL;
  g_autoptr(GSubprocess) share = NULL;
  g_autoptr(GSubprocess) view = NULL;
  GtkWindow *control_dialog;
  g_autofree char *notes_path = NULL;
  g_autofree char *alice_saved = NULL;
  g_autofree char *saved_path = NULL;
  g_autofree char *received_back = NULL;
  GtkWindow *dialog, *terminal_window;
  guchar *data;
  gsize size = 300 * 1024;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  lab_start (&lab, "mesh-ui-send-XXXXXX");
  path = g_build_filename (lab.tmp, "report.bin", NULL);
  received_path = g_build_filename (lab.bob_downloads, "report.bin", NULL);
  notes_path = g_build_filename (lab.tmp, "notes.txt", NULL);
  alice_saved = g_build_filename (lab.alice_downloads, "notes.txt", NULL);
  /* Bob's agent, logged in and running as a user would start it. */
  lab_login_bob (&lab, lab.bob_state, NULL);
  run = ui_test_agent_run (lab.bob_state, lab.bob_downloads, "alice");
  lab_enter (&lab);
  window = lab.window;
  lab_wait_bob_device (&lab, NULL);

  /* Not a multiple of any buffer size, and not text. */
  data = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    data[i] = (guchar) g_random_int ();
  content = g_bytes_new_take (data, size);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (content, NULL), size, &error));
  g_assert_no_error (error);

  file = g_file_new_for_path (path);
  files.data = file;
  transfers = mesh_embedded_agent_get_transfers (mesh_window_get_agent (window));
  mesh_room_view_send_files (mesh_window_get_room_view (window), &files);
  g_assert_cmpuint (g_list_model_get_n_items (transfers), ==, 1);
  transfer = g_list_model_get_item (transfers, 0);
  g_assert_cmpint (mesh_transfer_get_direction (transfer), ==, MESH_TRANSFER_OUTGOING);
  g_assert_cmpstr (mesh_transfer_get_peer_name (transfer), ==, "bob");
  ui_test_wait_until (transfer_finished, transfer, UI_TEST_WAIT_S, "the transfer");
  g_assert_cmpstr (mesh_transfer_get_error (transfer), ==, NULL);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_DONE);
  g_assert_cmpuint (mesh_transfer_get_done (transfer), ==, size);

  /* The receiver confirmed the hash: the file is complete on Bob's disk. */
  g_assert_true (g_file_get_contents (received_path, &received, &received_len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (received, received_len, g_bytes_get_data (content, NULL), size);
  toast = g_strdup_printf ("Sent %s", "report.bin");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), toast));

  ui_test_stop_agent (run);
  g_assert_true (g_subprocess_get_if_exited (run));
  g_assert_cmpint (g_subprocess_get_exit_status (run), ==, 0);

  /* Bob sends a file back: Alice is asked (with who, what and where) and accepts. */
  g_assert_true (g_file_set_contents (notes_path, "from bob\n", -1, &error));
  g_signal_connect (mesh_window_get_agent (window), "offer", G_CALLBACK (offer_cb), &offered);
  send = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "send", "--state-dir", lab.bob_state,
                              "--room", "Lab", "--to",
                              mesh_embedded_agent_get_device_id (mesh_window_get_agent (window)),
                              notes_path, NULL);
  ui_test_wait_until (ui_test_pointer_is_set, &offered, UI_TEST_WAIT_S, "bob's offer");
  g_signal_handlers_disconnect_by_data (mesh_window_get_agent (window), &offered);
  g_assert_cmpint (mesh_transfer_get_direction (offered), ==, MESH_TRANSFER_INCOMING);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_OFFERED);
  g_assert_cmpstr (mesh_transfer_get_peer_name (offered), ==, "bob");
  g_assert_cmpstr (mesh_transfer_get_name (offered), ==, "notes.txt");
  g_assert_cmpuint (mesh_transfer_get_size (offered), ==, strlen ("from bob\n"));
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  g_free (ui_test_screenshot (GTK_WIDGET (dialog), "offer-dialog"));
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Accept");
  ui_test_wait_until (transfer_finished, offered, UI_TEST_WAIT_S, "the file from bob");
  g_assert_cmpstr (mesh_transfer_get_error (offered), ==, NULL);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_DONE);
  g_assert_nonnull (mesh_transfer_get_file (offered));
  saved_path = g_file_get_path (mesh_transfer_get_file (offered));
  g_assert_cmpstr (saved_path, ==, alice_saved);
  g_assert_true (g_file_get_contents (alice_saved, &received_back, NULL, &error));
  g_assert_cmpstr (received_back, ==, "from bob\n");
  ui_test_wait_until (process_exited, send, UI_TEST_WAIT_S, "bob's send to end");
  g_assert_true (g_subprocess_get_successful (send));

  /* Bob shares a terminal: Alice sees it in the room, watches, and sees its output. */
  share = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_NONE, "share-terminal", "--state-dir",
                               lab.bob_state, "--room", "Lab", "--", "sh", "-c",
                               "echo hello-from-bob; exec sleep 60", NULL);
  ui_test_wait_until (share_shown, mesh_window_get_room_view (window), UI_TEST_WAIT_S,
                      "bob's share in the room");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), "bob is sharing a terminal"));
  ui_test_click_labelled (GTK_WIDGET (mesh_window_get_room_view (window)), "_Watch");
  ui_test_wait_until (terminal_shows, "hello-from-bob", UI_TEST_WAIT_S, "bob's terminal output");
  terminal_window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  terminal = g_object_ref (mesh_terminal_window_get_terminal (MESH_TERMINAL_WINDOW (terminal_window)));
  g_assert_cmpint (mesh_shared_terminal_get_role (terminal), ==, MESH_SHARED_TERMINAL_VIEWER);
  g_assert_false (mesh_shared_terminal_get_has_control (terminal));
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-viewer"));

  /* Bob stops sharing: Alice's view says so. */
  g_subprocess_send_signal (share, SIGTERM);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to end");
  ui_test_wait_until (process_exited, share, UI_TEST_WAIT_S, "bob's share to end");
  gtk_window_destroy (terminal_window);
  g_clear_object (&terminal);

  /* Alice shares her shell; Bob watches, asks for control, Alice allows it
   * in a dialog, and what Bob types runs in Alice's shell. */
  terminal = ui_test_share_terminal (window, &terminal_window);
  g_assert_cmpint (mesh_shared_terminal_get_role (terminal), ==, MESH_SHARED_TERMINAL_HOST);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING, "alice's share to start");
  view = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "view-terminal", "--state-dir",
                              lab.bob_state, "--room", "Lab", "--share",
                              mesh_shared_terminal_get_share_id (terminal), "--control", NULL);
  control_dialog = ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "bob's request for control");
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (control_dialog)), ==,
                   "bob wants to control your terminal");
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-host-request"));
  ui_test_click_labelled (GTK_WIDGET (control_dialog), "_Allow");
  ui_test_wait_until (controlled_by_bob, terminal, UI_TEST_WAIT_S, "bob to get control");
  g_assert_true (mesh_shared_terminal_get_has_control (terminal));
  {
    GOutputStream *input = g_subprocess_get_stdin_pipe (view);

    const char *command = "echo typed-by-$((6*7))\n";

    /* Bob's terminal echoes the command; only the shell prints the product. */
    g_assert_true (g_output_stream_write_all (input, command, strlen (command), NULL, NULL, &error));
    g_assert_no_error (error);
  }
  ui_test_wait_until (terminal_shows, "typed-by-42", UI_TEST_WAIT_S,
                      "bob's command to run in alice's shell");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-host-controlled"));

  /* Alice stops sharing: Bob's viewer ends normally. */
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "alice's share to end");
  ui_test_wait_until (process_exited, view, UI_TEST_WAIT_S, "bob's viewer to end");
  g_assert_true (g_subprocess_get_successful (view));
  gtk_window_destroy (terminal_window);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  g_assert_null (mesh_window_get_agent (window));
  lab_stop (&lab);
}

/* Drafts, limits: a half-typed message stays in its room, across a new
 * window; text over the limits is refused with a sentence, never cut. */

static GtkEditable *
composer_of (MeshWindow *window)
{
  return GTK_EDITABLE (ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                                            GTK_TYPE_ENTRY, NULL, NULL));
}

static gboolean
label_starts_with (GtkWidget     *widget,
                   gconstpointer  prefix)
{
  return g_str_has_prefix (gtk_label_get_text (GTK_LABEL (widget)), prefix);
}

static gboolean
send_enabled (MeshWindow *window)
{
  GtkWidget *button = ui_test_find_button_for_action (GTK_WIDGET (mesh_window_get_room_view (window)),
                                                      "room.send");

  g_assert_nonnull (button);
  return gtk_widget_get_sensitive (button);
}

static void
test_drafts_and_limits (void)
{
  UiTestScene scene = { NULL };
  g_autofree char *kitchen_id = NULL;
  g_autofree char *garden_id = NULL;
  g_autofree char *long_text = NULL;
  g_autofree char *long_name = NULL;
  g_autofree char *shot = NULL;
  AdwMessageDialog *dialog;
  MeshWindow *window;
  GtkEditable *entry;
  GtkWidget *label;
  const char *draft = "Half a thought for the kitchen,\nwith a second line";

  ui_test_scene_start (&scene, app, 1280, 800);
  window = scene.window;
  kitchen_id = ui_test_scene_add_room (&scene, "Kitchen");
  garden_id = ui_test_scene_add_room (&scene, "Garden");

  /* Typed in one room, not there in the next, back when returning. */
  ui_test_open_room (window, kitchen_id);
  entry = composer_of (window);
  gtk_editable_set_text (entry, draft);
  ui_test_open_room (window, garden_id);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "");
  gtk_editable_set_text (entry, "For the garden");
  ui_test_open_room (window, kitchen_id);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, draft);

  /* A new window (as after a restart) finds both drafts, kept private. */
  ui_test_destroy_window (GTK_WINDOW (window));
  {
    g_autofree char *path = g_build_filename (g_get_user_state_dir (), "mesh", "drafts.ini",
                                              NULL);
    GStatBuf st;

    g_assert_cmpint (g_stat (path, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  }
  window = ui_test_window_new (app, 1280, 800);
  ui_test_wait_connected (window, "the restored session");
  ui_test_open_room (window, garden_id);
  entry = composer_of (window);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "For the garden");
  ui_test_open_room (window, kitchen_id);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, draft);

  /* Sending empties the draft for good. */
  gtk_editable_set_text (entry, "Sent, not a draft");
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "");
  ui_test_destroy_window (GTK_WINDOW (window));
  window = ui_test_window_new (app, 1280, 800);
  ui_test_wait_connected (window, "the restored session");
  ui_test_open_room (window, kitchen_id);
  entry = composer_of (window);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "");

  /* Far from the limit: no count.  More than 4 000 characters are kept. */
  long_text = g_strnfill (5000, 'a');
  gtk_editable_set_text (entry, long_text);
  g_assert_cmpuint (strlen (gtk_editable_get_text (entry)), ==, 5000);
  label = ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)), GTK_TYPE_LABEL,
                               label_starts_with, "Too long");
  g_assert_true (label == NULL || !gtk_widget_get_visible (label));
  g_assert_true (send_enabled (window));

  /* Near it: what is left.  16 000 of 16 384 bytes. */
  g_free (long_text);
  long_text = g_strnfill (16000, 'b');
  gtk_editable_set_text (entry, long_text);
  label = ui_test_find_label (GTK_WIDGET (mesh_window_get_room_view (window)), "384");
  g_assert_nonnull (label);
  g_assert_true (gtk_widget_get_visible (label));
  g_assert_true (send_enabled (window));

  /* Over it: a sentence, no sending, nothing removed. */
  g_free (long_text);
  long_text = g_strnfill (17000, 'c');
  gtk_editable_set_text (entry, long_text);
  label = ui_test_find_label (GTK_WIDGET (mesh_window_get_room_view (window)),
                              "Too long by 616: shorten it to send");
  g_assert_nonnull (label);
  g_assert_true (gtk_widget_get_visible (label));
  g_assert_false (send_enabled (window));
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, long_text);
  shot = ui_test_screenshot (GTK_WIDGET (window), "composer-over-limit-1280x800");
  gtk_editable_set_text (entry, "");

  /* A room name over 100 characters: said while typing, kept. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.new-room", NULL));
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the new room dialog"));
  long_name = g_strnfill (101, 'n');
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), long_name);
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "ok"));
  g_assert_true (strstr (adw_message_dialog_get_body (dialog), "101") != NULL);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog))),
                   ==, long_name);
  long_name[100] = '\0';
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), long_name);
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "ok"));
  adw_message_dialog_response (dialog, "cancel");

  scene.window = window;
  ui_test_scene_stop (&scene);
}

/* After a failed test the Gotify page says so, not "Delivering, nothing
 * waiting". */
static void
test_gotify_failed_test (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  GtkWidget *page, *url_row, *token_row, *status_row;
  GtkWindow *preferences;
  MeshWindow *window;
  const char *subtitle;

  ui_test_start_server (server, "alice", NULL);
  window = ui_test_window_signed_in (app, 1280, 800, mesh_test_server_get_base_url (server),
                                     "alice", "alice-password");

  preferences = ui_test_open_gotify (app, &page, &url_row, &token_row);
  /* Nothing listens on port 9 (and a private address is refused). */
  gtk_editable_set_text (GTK_EDITABLE (url_row), "http://127.0.0.1:9/");
  gtk_editable_set_text (GTK_EDITABLE (token_row), "AbCdEf.123");
  ui_test_click_gotify (page, "_Save");
  status_row = ui_test_find_action_row (page, "Delivery");
  g_assert_nonnull (status_row);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (status_row)), ==,
                   "Delivering, nothing waiting");

  ui_test_click_gotify (page, "Send _Test");
  subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (status_row));
  g_assert_true (g_str_has_prefix (subtitle, "The test message was not delivered: "));
  g_assert_true (gtk_widget_has_css_class (status_row, "error"));

  ui_test_click_gotify (page, "_Remove");
  gtk_window_destroy (preferences);
  ui_test_sign_out_and_close (window);
}

/* Web addresses become links; nothing else in a message is markup. */
static void
test_message_links (void)
{
  static const struct {
    const char *content;
    const char *markup;
  } cases[] = {
    { "no link here", "no link here" },
    { "see https://example.org/a?b=1&c=2.",
      "see <a href=\"https://example.org/a?b=1&amp;c=2\">https://example.org/a?b=1&amp;c=2</a>." },
    { "(http://x.test/p) and <b>bold</b>",
      "(<a href=\"http://x.test/p\">http://x.test/p</a>) and &lt;b&gt;bold&lt;/b&gt;" },
    { "http://q.test/\"onclick=x", "<a href=\"http://q.test/\">http://q.test/</a>&quot;onclick=x" },
    { "file:///etc/passwd javascript:alert(1)", "file:///etc/passwd javascript:alert(1)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *markup = mesh_message_row_markup (cases[i].content);

    GtkWidget *label = g_object_ref_sink (gtk_label_new (NULL));

    g_assert_cmpstr (markup, ==, cases[i].markup);
    /* What the label shows is the message, to the letter. */
    gtk_label_set_markup (GTK_LABEL (label), markup);
    g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (label)), ==, cases[i].content);
    g_object_unref (label);
  }
}

static gboolean
label_is (GtkWidget     *widget,
          gconstpointer  text)
{
  return g_strcmp0 (gtk_label_get_text (GTK_LABEL (widget)), text) == 0;
}

typedef struct {
  GtkWidget  *root;
  const char *text;
} LabelWait;

static gboolean
label_present (gpointer user_data)
{
  LabelWait *wait = user_data;
  GtkWidget *label = ui_test_find_widget (wait->root, GTK_TYPE_LABEL, label_is, wait->text);

  return label != NULL && gtk_widget_get_visible (label);
}

/* The room list shows each room's last message and its time; a message's
 * address is a link in the conversation. */
static void
test_room_list_preview (void)
{
  UiTestScene scene = { NULL };
  g_autofree char *invite = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *shot = NULL;
  GtkWidget *sidebar, *content;
  MeshWindow *window;
  LabelWait wait;
  const char *link_text = "Plans: https://example.org/plan?a=1&b=2.";

  ui_test_scene_start (&scene, app, 1280, 800);
  window = scene.window;
  room_id = ui_test_peer_create_room (&scene.bob, "Workshop", &invite);
  ui_test_peer_chat (&scene.bob, room_id, "Said before alice came");
  ui_test_wait_outbox_empty (scene.bob.session, "bob's first message");
  ui_test_accept_invite (window, invite, room_id);
  sidebar = GTK_WIDGET (mesh_window_get_sidebar (window));

  /* The newest message from history, then live ones. */
  wait = (LabelWait) { sidebar, "bob: Said before alice came" };
  ui_test_wait_until (label_present, &wait, UI_TEST_WAIT_S, "the history preview");
  ui_test_peer_chat (&scene.bob, room_id, link_text);
  wait.text = "bob: Plans: https://example.org/plan?a=1&b=2.";
  ui_test_wait_until (label_present, &wait, UI_TEST_WAIT_S, "the live preview");
  {
    g_autoptr(GDateTime) now = g_date_time_new_now_local ();
    g_autofree char *hhmm = g_date_time_format (now, "%H:%M");
    g_autoptr(GDateTime) before = g_date_time_add_minutes (now, -1);
    g_autofree char *hhmm_before = g_date_time_format (before, "%H:%M");

    g_assert_true (ui_test_find_widget (sidebar, GTK_TYPE_LABEL, label_is, hhmm) != NULL ||
                   ui_test_find_widget (sidebar, GTK_TYPE_LABEL, label_is, hhmm_before) != NULL);
  }

  /* In the conversation, the address is a link, the text unchanged. */
  g_assert_true (mesh_window_open_room (window, room_id));
  ui_test_wait_room_open (window, room_id, "the room to open");
  wait = (LabelWait) { GTK_WIDGET (mesh_window_get_room_view (window)), link_text };
  ui_test_wait_until (label_present, &wait, UI_TEST_WAIT_S, "the message with a link");
  content = ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)), GTK_TYPE_LABEL,
                                 label_is, link_text);
  g_assert_nonnull (strstr (gtk_label_get_label (GTK_LABEL (content)),
                            "<a href=\"https://example.org/plan?a=1&amp;b=2\">"));
  shot = ui_test_screenshot (GTK_WIDGET (window), "room-list-preview-1280x800");

  ui_test_scene_stop (&scene);
}

static void
weak_flag_cb (gpointer  data,
              GObject  *where_the_object_was)
{
  *(gboolean *) data = TRUE;
}

/* With "run in background", closing the window hides it: the user stays
 * online (messages still arrive); opening the app shows it again.  Off (the
 * default), closing ends the window. */
static void
test_run_in_background (void)
{
  GSettings *settings = mesh_application_get_settings (app);
  UiTestScene scene = { NULL };
  g_autofree char *room_id = NULL;
  MeshWindow *window;
  MeshRoom *room;
  gboolean gone = FALSE;

  g_assert_false (g_settings_get_boolean (settings, "run-in-background"));
  g_settings_set_boolean (settings, "run-in-background", TRUE);

  ui_test_scene_start (&scene, app, 1280, 800);
  window = scene.window;
  room_id = ui_test_scene_add_room (&scene, "Night shift");
  room = mesh_room_list_find (mesh_window_get_room_list (window), room_id, NULL);
  g_assert_nonnull (room);

  /* Closed: hidden, still in the application, still online. */
  g_object_weak_ref (G_OBJECT (window), weak_flag_cb, &gone);
  gtk_window_close (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_false (gone);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (window)));
  g_assert_nonnull (g_list_find (gtk_application_get_windows (GTK_APPLICATION (app)), window));
  ui_test_peer_chat (&scene.bob, room_id, "Are you still there?");
  wait_unread (room, 1, "the message while the window is hidden");
  g_assert_cmpint (mesh_client_session_get_state (mesh_window_get_session (window)), ==,
                   MESH_CLIENT_SESSION_CONNECTED);

  /* Opening the app again shows it. */
  g_application_activate (G_APPLICATION (app));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));

  /* Off: closing ends the window. */
  g_settings_set_boolean (settings, "run-in-background", FALSE);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  gtk_window_close (GTK_WINDOW (window));
  while (!gone && g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_true (gone);
  scene.window = NULL;
  ui_test_scene_stop (&scene);
}

static gboolean
devices_idle (gpointer user_data)
{
  return !mesh_devices_page_get_busy (user_data);
}

/* A row of the devices page titled @name, or NULL. */
static GtkWidget *
find_device_row (GtkWidget  *page,
                 const char *name)
{
  GtkWidget *row = ui_test_find_action_row (page, name);

  return row != NULL && gtk_widget_get_mapped (row) ? row : NULL;
}

/* Issue #10: a device token must be revocable from the app.  A second
 * device of alice's shows in Preferences → Devices with the app's own agent
 * marked; removing it (after confirming) takes it off the list and its
 * token stops working at once. */
static void
test_devices (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  g_autoptr(MeshClientRest) stolen = NULL;
  g_autoptr(JsonNode) refused = NULL;
  g_autofree char *fingerprint = mesh_sha256_hex ("old-laptop", 10);
  g_autofree char *device_token = NULL;
  g_autofree char *device_id = NULL;
  GAsyncResult *result = NULL;
  MeshClientRest *rest;
  AdwMessageDialog *dialog;
  GtkWindow *preferences;
  GtkWidget *page, *row, *own_row = NULL;
  MeshWindow *window;

  ui_test_start_server (server, "alice", NULL);
  window = ui_test_window_signed_in (app, 1280, 800, mesh_test_server_get_base_url (server),
                                     "alice", "alice-password");
  ui_test_wait_agent_ready (window, "alice's agent");
  rest = mesh_client_session_get_rest (mesh_window_get_session (window));

  /* A laptop <b>with markup</b> in its name, signed in earlier. */
  mesh_client_rest_register_device_async (rest, "old <b>laptop</b>", fingerprint, NULL,
                                          ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "POST devices");
  device_id = mesh_client_rest_register_device_finish (rest, result, &device_token, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  preferences = ui_test_wait_toplevel (MESH_TYPE_PREFERENCES_WINDOW, "the preferences");
  page = mesh_preferences_window_get_devices_page (MESH_PREFERENCES_WINDOW (preferences));
  g_assert_nonnull (page);
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (preferences),
                                           ADW_PREFERENCES_PAGE (page));
  ui_test_wait_until (devices_idle, page, UI_TEST_WAIT_S, "the list of devices");
  ui_test_wait_drawn (GTK_WIDGET (preferences));
  g_free (ui_test_screenshot (GTK_WIDGET (preferences), "devices"));

  /* The name is shown as typed, and the app's own agent is marked. */
  row = find_device_row (page, "old <b>laptop</b>");
  g_assert_nonnull (row);
  for (GtkWidget *child = gtk_widget_get_first_child (gtk_widget_get_parent (row)); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    const char *subtitle = ADW_IS_ACTION_ROW (child) ?
                           adw_action_row_get_subtitle (ADW_ACTION_ROW (child)) : NULL;

    if (subtitle != NULL && g_str_has_prefix (subtitle, "This computer"))
      own_row = child;
  }
  g_assert_nonnull (own_row);
  g_assert_true (own_row != row);

  /* Remove asks first; Cancel keeps the device. */
  ui_test_click_labelled (row, "_Remove");
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the confirmation"));
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Cancel");
  ui_test_wait_no_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the confirmation to close");
  g_assert_false (mesh_devices_page_get_busy (MESH_DEVICES_PAGE (page)));

  ui_test_click_labelled (row, "_Remove");
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the confirmation"));
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Remove");
  ui_test_wait_no_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the confirmation to close");
  g_assert_true (mesh_devices_page_get_busy (MESH_DEVICES_PAGE (page)));
  ui_test_wait_until (devices_idle, page, UI_TEST_WAIT_S, "the removal");
  ui_test_wait_drawn (GTK_WIDGET (preferences));
  g_assert_null (find_device_row (page, "old <b>laptop</b>"));

  /* The server agrees, and the token is dead. */
  mesh_client_rest_list_devices_async (rest, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "GET devices");
  devices = mesh_client_rest_list_devices_finish (rest, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  for (guint i = 0; i < devices->len; i++)
    g_assert_cmpstr (((MeshClientDevice *) devices->pdata[i])->device_id, !=, device_id);

  stolen = mesh_client_rest_new (mesh_test_server_get_base_url (server));
  mesh_client_rest_set_access_token (stolen, device_token);
  mesh_client_rest_call_async (stolen, "GET", "rooms", NULL, NULL, ui_test_store_result_cb,
                               &result);
  ui_test_wait_result (&result, "GET rooms with the revoked token");
  refused = mesh_client_rest_call_finish (stolen, result, &error);
  g_clear_object (&result);
  g_assert_null (refused);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED);

  /* The next test starts from the sign-in page. */
  gtk_window_destroy (preferences);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  ui_test_wait_page (window, "signin");
  ui_test_destroy_window (GTK_WINDOW (window));
}

/* Issue #11 item 1: Cancel cancels, on both sides. */

/* The big file is hashed before its first byte moves: 8 GiB take a while
 * on a loaded machine. */
#define HASH_WAIT_S (4 * UI_TEST_WAIT_S)

static gboolean
transfer_moving (gpointer user_data)
{
  return mesh_transfer_get_state (user_data) == MESH_TRANSFER_RUNNING &&
         mesh_transfer_get_done (user_data) > 0;
}

/* Whether @dir holds a file whose name ends with @suffix (or is @name). */
static gboolean
dir_has (const char *dir,
         const char *name,
         const char *suffix)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL) {
    if ((name != NULL && g_str_equal (entry, name)) ||
        (suffix != NULL && g_str_has_suffix (entry, suffix)))
      return TRUE;
  }
  return FALSE;
}

static gboolean
part_in (gpointer dir)
{
  return dir_has (dir, NULL, ".part");
}

static gboolean
no_part_in (gpointer dir)
{
  return !dir_has (dir, NULL, ".part");
}

static void
count_received_cb (MeshEmbeddedAgent *agent,
                   MeshTransfer      *transfer,
                   guint             *n)
{
  (*n)++;
}

/* A file big enough that no transfer ends before its cancel (sparse: it
 * takes no room on the sender's disk). */
static void
make_big_file (const char *path)
{
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, (off_t) 8 << 30), ==, 0);
  g_assert_cmpint (write (fd, "end", 3), ==, 3);
  close (fd);
}

static void
shoot_row (MeshTransfer *transfer,
           const char   *name)
{
  GtkWidget *window = adw_window_new ();
  GtkWidget *list = gtk_list_box_new ();

  gtk_widget_add_css_class (list, "boxed-list");
  gtk_widget_set_margin_top (list, 12);
  gtk_widget_set_margin_bottom (list, 12);
  gtk_widget_set_margin_start (list, 12);
  gtk_widget_set_margin_end (list, 12);
  gtk_widget_set_valign (list, GTK_ALIGN_START);
  gtk_list_box_append (GTK_LIST_BOX (list), mesh_transfer_row_new (transfer));
  adw_window_set_content (ADW_WINDOW (window), list);
  ui_test_present (GTK_WINDOW (window), 420, 120);
  g_free (ui_test_screenshot (window, name));
  ui_test_destroy_window (GTK_WINDOW (window));
}

/* Bob's agent, in this process: the test cancels its send as a user would. */
static MeshAgentController *
start_agent_here (const char *state_dir)
{
  g_autoptr(MeshAgentState) state = mesh_agent_state_new (state_dir);
  g_autoptr(MeshAgentIdentity) identity = NULL;
  g_autoptr(GInetAddress) address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) bind = g_inet_socket_address_new (address, 0);
  g_autoptr(GError) error = NULL;
  MeshAgentController *controller;

  g_assert_true (mesh_agent_state_load (state, &error));
  g_assert_no_error (error);
  identity = mesh_agent_state_load_identity (state, &error);
  g_assert_no_error (error);
  controller = mesh_agent_controller_new (state, identity);
  mesh_agent_controller_set_reconnect (controller, FALSE);
  mesh_agent_controller_set_quic_address (controller, G_INET_SOCKET_ADDRESS (bind));
  g_assert_true (mesh_agent_controller_start (controller, &error));
  g_assert_no_error (error);
  return controller;
}

static gboolean
agent_here_ready (gpointer controller)
{
  return mesh_agent_controller_is_ready (controller);
}

static void
test_transfer_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) run = NULL;
  g_autoptr(MeshAgentController) bob_agent = NULL;
  g_autoptr(GCancellable) bob_cancel = NULL;
  g_autofree char *bob_state2 = NULL;
  g_autofree char *big = NULL;
  g_autoptr(MeshTransfer) offered = NULL;
  g_autoptr(MeshTransfer) sent = NULL;
  g_autoptr(GFile) file = NULL;
  GAsyncResult *result = NULL;
  Lab lab = { NULL };
  MeshEmbeddedAgent *agent;
  GtkWindow *dialog;
  guint n_received = 0;

  lab_start (&lab, "mesh-ui-cancel-XXXXXX");
  bob_state2 = g_build_filename (lab.tmp, "bob-agent-2", NULL);
  big = g_build_filename (lab.tmp, "big.bin", NULL);
  lab_login_bob (&lab, lab.bob_state, NULL);
  agent = lab_enter (&lab);
  g_signal_connect (agent, "received", G_CALLBACK (count_received_cb), &n_received);
  make_big_file (big);

  /* 1. Bob sends, Alice accepts, Bob cancels: Alice keeps nothing, is not
   * told a file arrived, and sees who cancelled. */
  bob_agent = start_agent_here (lab.bob_state);
  ui_test_wait_until (agent_here_ready, bob_agent, UI_TEST_WAIT_S, "bob's agent");
  file = g_file_new_for_path (big);
  g_signal_connect (agent, "offer", G_CALLBACK (offer_cb), &offered);
  bob_cancel = g_cancellable_new ();
  mesh_agent_controller_send_async (bob_agent, lab.bob.room_id,
                                    mesh_embedded_agent_get_device_id (agent), file, bob_cancel,
                                    ui_test_store_result_cb, &result);
  ui_test_wait_until (ui_test_pointer_is_set, &offered, UI_TEST_WAIT_S, "bob's offer");
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Accept");
  ui_test_wait_until (transfer_moving, offered, HASH_WAIT_S, "bob's file to flow");
  g_cancellable_cancel (bob_cancel);
  ui_test_wait_result (&result, "bob's send to end");
  g_assert_false (mesh_agent_controller_send_finish (bob_agent, result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_object (&result);
  ui_test_wait_until (transfer_finished, offered, UI_TEST_WAIT_S, "bob's cancel to arrive");
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_CANCELLED);
  g_assert_cmpstr (mesh_transfer_get_cancelled_by (offered), ==, "bob");
  ui_test_wait_until (no_part_in, lab.alice_downloads, UI_TEST_WAIT_S, "alice's .part to go");
  g_assert_false (dir_has (lab.alice_downloads, "big.bin", NULL));
  g_assert_cmpuint (n_received, ==, 0);
  shoot_row (offered, "transfer-cancelled-by-sender-receiver-side");
  g_clear_object (&offered);

  /* 2. Bob sends again, Alice (the receiver) cancels: her .part goes, and
   * Bob's side hears that she cancelled (which his window shows as
   * "Cancelled by alice"). */
  mesh_agent_controller_send_async (bob_agent, lab.bob.room_id,
                                    mesh_embedded_agent_get_device_id (agent), file, NULL,
                                    ui_test_store_result_cb, &result);
  ui_test_wait_until (ui_test_pointer_is_set, &offered, UI_TEST_WAIT_S, "bob's second offer");
  g_signal_handlers_disconnect_by_func (agent, offer_cb, &offered);
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  ui_test_click_labelled (GTK_WIDGET (dialog), "_Accept");
  ui_test_wait_until (transfer_moving, offered, HASH_WAIT_S, "bob's file to flow again");
  ui_test_wait_until (part_in, lab.alice_downloads, UI_TEST_WAIT_S, "alice's .part");
  mesh_transfer_cancel (offered);
  ui_test_wait_result (&result, "bob's second send to end");
  g_assert_false (mesh_agent_controller_send_finish (bob_agent, result, &error));
  g_assert_error (error, MESH_FRAME_ERROR, MESH_FRAME_ERROR_CANCELLED);
  g_clear_object (&result);
  {
    g_autoptr(MeshTransfer) bobs = mesh_transfer_new (1, MESH_TRANSFER_OUTGOING, lab.bob.room_id,
                                                      "alice", "big.bin", FALSE, 0);

    mesh_transfer_set_progress (bobs, 1, 8589934595);
    mesh_transfer_end_with_error (bobs, error);
    g_assert_cmpstr (mesh_transfer_get_cancelled_by (bobs), ==, "alice");
    shoot_row (bobs, "transfer-cancelled-by-receiver-sender-side");
  }
  g_clear_error (&error);
  ui_test_wait_until (no_part_in, lab.alice_downloads, UI_TEST_WAIT_S, "alice's .part to go");
  g_assert_false (dir_has (lab.alice_downloads, "big.bin", NULL));
  g_assert_cmpuint (n_received, ==, 0);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_CANCELLED);
  g_assert_null (mesh_transfer_get_cancelled_by (offered));
  shoot_row (offered, "transfer-cancelled-receiver-side");
  mesh_agent_controller_stop (bob_agent);
  g_clear_object (&bob_agent);
  g_clear_object (&file);

  /* 3. Alice sends to Bob's other computer and cancels: Bob keeps neither
   * the file nor a .part. */
  {
    g_autoptr(MeshAgentState) state2 = mesh_agent_state_new (bob_state2);

    lab_login_bob (&lab, bob_state2, "bob-server");
    run = ui_test_agent_run (bob_state2, lab.bob_downloads, "alice");
    g_assert_true (mesh_agent_state_load (state2, &error));
    /* Bob's other computer. */
    lab_wait_bob_device (&lab, mesh_agent_state_get_device_id (state2));
    file = g_file_new_for_path (big);
    sent = g_object_ref (mesh_embedded_agent_send (agent, lab.bob.room_id,
                                                   mesh_agent_state_get_device_id (state2), "bob",
                                                   file));
  }
  g_assert_cmpint (mesh_transfer_get_direction (sent), ==, MESH_TRANSFER_OUTGOING);
  ui_test_wait_until (transfer_moving, sent, HASH_WAIT_S, "alice's file to flow");
  ui_test_wait_until (part_in, lab.bob_downloads, UI_TEST_WAIT_S, "bob's .part");
  mesh_transfer_cancel (sent);
  ui_test_wait_until (no_part_in, lab.bob_downloads, UI_TEST_WAIT_S, "bob's .part to go");
  g_assert_false (dir_has (lab.bob_downloads, "big.bin", NULL));
  g_assert_cmpint (mesh_transfer_get_state (sent), ==, MESH_TRANSFER_CANCELLED);
  shoot_row (sent, "transfer-cancelled-sender-side");
  ui_test_stop_agent (run);

  g_signal_handlers_disconnect_by_data (agent, &n_received);
  lab_stop (&lab);
}

/* Issue #11 item 4: the first terminal share after signing in gets its
 * shell (it used to stay on "Starting Your Shell…" until another share
 * started), and a member can watch it at once. */
/* The mesh-server this test started (a child of this process). */
static GPid
server_pid (void)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  while (proc != NULL && (entry = g_dir_read_name (proc)) != NULL) {
    g_autofree char *path = g_build_filename ("/proc", entry, "stat", NULL);
    g_autofree char *stat = NULL;
    const char *end;
    int ppid = 0;

    if (!g_ascii_isdigit (entry[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    end = strrchr (stat, ')');
    if (strstr (stat, "(mesh-server)") == NULL || end == NULL ||
        sscanf (end + 1, " %*c %d", &ppid) != 1 || ppid != getpid ())
      continue;
    return (GPid) atoi (entry);
  }
  g_assert_not_reached ();
}

static void
first_share (gboolean tls)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GSubprocess) view = NULL;
  g_autoptr(MeshClientRest) alice_rest = NULL;
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("mesh-ui-share-XXXXXX", NULL);
  g_autofree char *bob_state = g_build_filename (tmp, "bob-agent", NULL);
  g_autofree char *invite = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *room_id = NULL;
  UiTestPeer bob = { NULL };
  GtkWindow *terminal_window;
  MeshWindow *window;
  const char *url;

  if (tls) {
    g_autofree char *cert = NULL;
    g_autofree char *key = NULL;

    fingerprint = mesh_test_make_certificate (mesh_test_server_get_data_dir (server), &cert,
                                                &key);
    mesh_test_server_set_tls (server, cert, key);
  }
  ui_test_start_server (server, "alice", "bob", NULL);
  url = mesh_test_server_get_base_url (server);
  if (!tls) {
    ui_test_peer_start (&bob, url, "bob", "bob-password");
    room_id = ui_test_peer_create_room (&bob, "Lab", &invite);
    ui_test_agent_login (url, bob_state, "bob", "bob-password", NULL);
  }

  alice_rest = ui_test_rest_login (url, fingerprint, "alice", "alice-password");
  if (tls) {
    /* Alice's own room (the CLI peers do not pin certificates). */
    room_id = ui_test_rest_create_room (alice_rest, "Lab");
  } else {
    ui_test_rest_accept_invite (alice_rest, invite);
  }

  window = ui_test_window_new (app, 1280, 800);
  if (tls) {
    ui_test_fill_sign_in (window, url, "alice", "alice-password");
    ui_test_click_sign_in (window);
    adw_message_dialog_response (ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (
                                   ADW_TYPE_MESSAGE_DIALOG, "the trust question")), "trust");
    ui_test_wait_page (window, "rooms");
  } else {
    ui_test_sign_in (window, url, "alice", "alice-password");
  }
  ui_test_wait_agent_ready (window, "alice's embedded agent");
  ui_test_open_room (window, room_id);

  /* The first thing Alice does: share her shell. */
  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING,
                               "alice's first share to start");
  g_assert_null (mesh_shared_terminal_get_error (terminal));

  /* Bob watches it and sees what Alice's shell prints. */
  if (!tls)
    view = ui_test_spawn_agent (G_SUBPROCESS_FLAGS_STDIN_PIPE, "view-terminal", "--state-dir",
                              bob_state, "--room", "Lab", "--share",
                              mesh_shared_terminal_get_share_id (terminal), NULL);
  {
    const char *command = "echo first-$((20+22))\n";

    mesh_shared_terminal_write (terminal, command, strlen (command));
  }
  ui_test_wait_until (terminal_shows, "first-42", UI_TEST_WAIT_S, "alice's shell to answer");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-first-share"));

  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "alice's share to end");
  if (view != NULL)
    ui_test_wait_until (process_exited, view, UI_TEST_WAIT_S, "bob's viewer to end");
  gtk_window_destroy (terminal_window);
  ui_test_sign_out_and_close (window);
  if (!tls)
    ui_test_peer_clear (&bob);
  mesh_test_remove_tree (tmp);
}

static void
test_first_share (void)
{
  first_share (FALSE);
}

/* Every step of starting a share has a time limit: with a server that
 * stopped answering, "Starting Your Shell…" gives way to an error in words,
 * and the next try works once the server is back. */
static void
test_share_server_silent (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  g_autofree char *room_id = NULL;
  GtkWindow *terminal_window;
  MeshWindow *window;
  GPid pid;

  window = ui_test_alone_in_room (app, server, "Lab", &room_id);

  pid = server_pid ();
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to give up");
  g_assert_cmpstr (mesh_shared_terminal_get_error (terminal), ==,
                   "The server did not answer in time. Check the connection and try again.");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-share-timeout"));
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  gtk_window_destroy (terminal_window);
  g_clear_object (&terminal);

  terminal = ui_test_share_terminal (window, &terminal_window);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_RUNNING, "the next share to start");
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_terminal_state (terminal, MESH_SHARED_TERMINAL_ENDED, "the share to end");
  gtk_window_destroy (terminal_window);
  ui_test_sign_out_and_close (window);
}

/* The same over TLS, as most servers are. */
static void
test_first_share_tls (void)
{
  first_share (TRUE);
}

static gboolean
transfer_done (gpointer user_data)
{
  return mesh_transfer_get_state (user_data) == MESH_TRANSFER_DONE;
}

/* Keeps the session id of the offer bob's asking device was asked about. */
static void
offer_id_cb (MeshAgentController *controller,
             const char          *session_id,
             const char          *kind,
             const char          *room_id,
             const char          *sender,
             const char          *device_id,
             const char          *name,
             guint64              size,
             char               **out)
{
  g_free (*out);
  *out = g_strdup (session_id);
}

static gboolean
string_is_set (gpointer user_data)
{
  return *(char **) user_data != NULL;
}


/* Bob in the Lab with two devices: one in this process that asks its user
 * before it takes a file (the test follows its "session-offered"), one
 * that takes alice's files at once into TMP/bob-downloads; alice's window
 * in the Lab; a file named same.bin in TMP/one and another in TMP/two. */
typedef struct {
  Lab                  lab;
  MeshAgentController *asker;
  MeshAgentState      *taker;
  GSubprocess         *run;
  MeshEmbeddedAgent   *agent;
  GFile               *files[2];
} SameNames;

static void
same_names_start (SameNames  *t,
                  const char *tmp_template,
                  const char *first,
                  gssize      first_len,
                  const char *second,
                  GCallback   offered,
                  gpointer    offered_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *asker_state = NULL;
  g_autofree char *taker_dir = NULL;
  const char *contents[2] = { first, second };
  gssize lengths[2] = { first_len, -1 };

  lab_start (&t->lab, tmp_template);
  asker_state = g_build_filename (t->lab.tmp, "bob-asks", NULL);
  taker_dir = g_build_filename (t->lab.tmp, "bob-takes", NULL);
  lab_login_bob (&t->lab, asker_state, "asks");
  lab_login_bob (&t->lab, taker_dir, "takes");
  for (guint i = 0; i < 2; i++) {
    g_autofree char *dir = g_build_filename (t->lab.tmp, i == 0 ? "one" : "two", NULL);
    g_autofree char *path = g_build_filename (dir, "same.bin", NULL);

    g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
    g_assert_true (g_file_set_contents (path, contents[i], lengths[i], &error));
    g_assert_no_error (error);
    t->files[i] = g_file_new_for_path (path);
  }

  t->asker = start_agent_here (asker_state);
  mesh_agent_controller_set_ask_offers (t->asker, TRUE);
  g_signal_connect (t->asker, "session-offered", offered, offered_data);
  ui_test_wait_until (agent_here_ready, t->asker, UI_TEST_WAIT_S, "bob's asking agent");
  t->run = ui_test_agent_run (taker_dir, t->lab.bob_downloads, "alice");
  t->taker = mesh_agent_state_new (taker_dir);
  g_assert_true (mesh_agent_state_load (t->taker, &error));
  g_assert_no_error (error);

  t->agent = lab_enter (&t->lab);
  lab_wait_bob_device (&t->lab, NULL);
}

/* Alice sends TMP/one/same.bin to bob's asking device (@i = 0) or
 * TMP/two/same.bin to his taking one (@i = 1). */
static MeshTransfer *
same_names_send (SameNames *t,
                 guint      i)
{
  const char *device_id = i == 0 ? mesh_agent_controller_get_device_id (t->asker)
                                 : mesh_agent_state_get_device_id (t->taker);

  return g_object_ref (mesh_embedded_agent_send (t->agent, t->lab.bob.room_id, device_id, "bob",
                                                 t->files[i]));
}

static void
same_names_stop (SameNames *t)
{
  ui_test_stop_agent (t->run);
  mesh_agent_controller_stop (t->asker);
  lab_stop (&t->lab);
  g_clear_object (&t->run);
  g_clear_object (&t->asker);
  g_clear_object (&t->taker);
  g_clear_object (&t->files[0]);
  g_clear_object (&t->files[1]);
}

/* Two sends of files with the same name: each row shows its own progress
 * (they were matched by name, so the first row took the second's). */
static void
test_same_name_progress (void)
{
  const char *data2 = "the second one, longer than the first";
  g_autoptr(MeshTransfer) first = NULL;
  g_autoptr(MeshTransfer) second = NULL;
  g_autofree char *offer = NULL;
  SameNames t = { { NULL } };

  /* Bob's asking device asks its user, who never answers. */
  same_names_start (&t, "mesh-ui-names-XXXXXX", "the first one", -1, data2,
                    G_CALLBACK (offer_id_cb), &offer);
  first = same_names_send (&t, 0);
  ui_test_wait_until (string_is_set, &offer, UI_TEST_WAIT_S, "bob to be asked");
  second = same_names_send (&t, 1);
  ui_test_wait_until (transfer_done, second, UI_TEST_WAIT_S, "the second file");
  g_assert_cmpuint (mesh_transfer_get_size (second), ==, strlen (data2));
  g_assert_cmpuint (mesh_transfer_get_done (second), ==, strlen (data2));
  /* The first still waits for bob's answer, untouched by the second's progress. */
  g_assert_cmpint (mesh_transfer_get_state (first), ==, MESH_TRANSFER_WAITING);
  g_assert_cmpuint (mesh_transfer_get_done (first), ==, 0);

  mesh_transfer_cancel (first);
  same_names_stop (&t);
}

static gboolean
is_open_button_for (GtkWidget     *widget,
                    gconstpointer  name)
{
  return gtk_widget_get_visible (widget) &&
         g_strcmp0 (gtk_widget_get_tooltip_text (widget), name) == 0;
}

/* A transfer of the window's agent that ends puts a line in its room's
 * conversation: a received file with Open (named for the file), a cancelled
 * send without. */
static void
test_transfer_in_conversation (void)
{
  UiTestScene scene = { NULL };
  g_autofree char *room_id = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *shot = NULL;
  g_autofree char *size = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(GFile) saved = NULL;
  g_autoptr(MeshTransfer) received = NULL;
  g_autoptr(MeshTransfer) sent = NULL;
  g_autoptr(GError) error = NULL;
  GtkWidget *view, *button;
  MeshWindow *window;
  GListStore *transfers;
  LabelWait wait;

  ui_test_scene_start (&scene, app, 1280, 800);
  window = scene.window;
  room_id = ui_test_scene_add_room (&scene, "Desk");
  g_assert_true (mesh_window_open_room (window, room_id));
  ui_test_wait_room_open (window, room_id, "the room to open");
  view = GTK_WIDGET (mesh_window_get_room_view (window));

  dir = g_dir_make_tmp ("mesh-ui-file-item-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "report.pdf", NULL);
  g_assert_true (g_file_set_contents (path, "%PDF-1.4\n", -1, NULL));
  saved = g_file_new_for_path (path);

  /* The agent's own list, as its thread fills it. */
  transfers = G_LIST_STORE (mesh_embedded_agent_get_transfers (mesh_window_get_agent (window)));
  received = mesh_transfer_new (9001, MESH_TRANSFER_INCOMING, room_id, "bob", "report.pdf", FALSE,
                                2100000);
  sent = mesh_transfer_new (9002, MESH_TRANSFER_OUTGOING, room_id, "bob", "notes.txt", FALSE,
                            4096);
  g_list_store_append (transfers, received);
  g_list_store_append (transfers, sent);
  mesh_transfer_set_state (received, MESH_TRANSFER_RUNNING, NULL);
  mesh_transfer_set_file (received, saved);
  mesh_transfer_set_progress (received, 2100000, 2100000);
  mesh_transfer_set_state (received, MESH_TRANSFER_DONE, NULL);
  mesh_transfer_set_state (sent, MESH_TRANSFER_CANCELLED, NULL);

  /* The size as GLib writes it (2.1 MB, maybe with a no-break space). */
  size = g_format_size (2100000);
  expected = g_strdup_printf ("bob sent you “report.pdf” (%s)", size);
  wait = (LabelWait) { view, expected };
  ui_test_wait_until (label_present, &wait, UI_TEST_WAIT_S, "the received file in the conversation");
  wait.text = "Sending “notes.txt” to bob was cancelled";
  ui_test_wait_until (label_present, &wait, UI_TEST_WAIT_S, "the cancelled send in the conversation");
  button = ui_test_find_widget (view, GTK_TYPE_BUTTON, is_open_button_for, "Open report.pdf");
  g_assert_nonnull (button);
  /* Only the file that is here can be opened. */
  g_assert_null (ui_test_find_widget (view, GTK_TYPE_BUTTON, is_open_button_for, "Open notes.txt"));
  ui_test_wait_drawn (GTK_WIDGET (window));
  shot = ui_test_screenshot (GTK_WIDGET (window), "room-file-items-1280x800");
  g_test_message ("screenshot: %s", shot);

  ui_test_scene_stop (&scene);
  g_unlink (path);
  g_rmdir (dir);
}

/* The largest "done" a row ever showed: another send's progress would push
 * it past its own size. */
static void
record_done_cb (MeshTransfer *transfer,
                GParamSpec   *pspec,
                guint64      *most)
{
  *most = MAX (*most, mesh_transfer_get_done (transfer));
}

/* Two files of the same name sent at once, to two devices: the second
 * finishes while the first still waits for its receiver, then the first
 * runs.  Each row shows its own file's progress and ends with its own
 * size, and both files arrive whole (rows were matched to sessions by
 * name: the first row took the second's session and the second row none). */
static void
test_same_name_both_complete (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshTransfer) first = NULL;
  g_autoptr(MeshTransfer) second = NULL;
  g_autoptr(GFile) asker_downloads = NULL;
  g_autofree char *asked_downloads = NULL;
  g_autofree char *got1 = NULL, *got2 = NULL;
  g_autofree char *contents1 = NULL, *contents2 = NULL, *offer = NULL;
  g_autofree char *data1 = NULL;
  const char *data2 = "the second one, shorter";
  gsize size1 = 256 * 1024, len = 0;
  guint64 most1 = 0, most2 = 0;
  SameNames t = { { NULL } };

  data1 = g_malloc (size1);
  for (gsize i = 0; i < size1; i++)
    data1[i] = (char) ('a' + i % 26);
  /* Bob's asking device is answered late, by the test. */
  same_names_start (&t, "mesh-ui-names2-XXXXXX", data1, size1, data2,
                    G_CALLBACK (offer_id_cb), &offer);
  asked_downloads = g_build_filename (t.lab.tmp, "bob-asked-downloads", NULL);
  got1 = g_build_filename (asked_downloads, "same.bin", NULL);
  got2 = g_build_filename (t.lab.bob_downloads, "same.bin", NULL);
  g_assert_cmpint (g_mkdir_with_parents (asked_downloads, 0700), ==, 0);

  /* Both at once: nothing happens in between. */
  first = same_names_send (&t, 0);
  second = same_names_send (&t, 1);
  g_signal_connect (first, "notify::done", G_CALLBACK (record_done_cb), &most1);
  g_signal_connect (second, "notify::done", G_CALLBACK (record_done_cb), &most2);

  ui_test_wait_until (transfer_done, second, UI_TEST_WAIT_S, "the second file");
  ui_test_wait_until (string_is_set, &offer, UI_TEST_WAIT_S, "bob to be asked");
  g_assert_cmpint (mesh_transfer_get_state (first), ==, MESH_TRANSFER_WAITING);
  g_assert_cmpuint (mesh_transfer_get_done (first), ==, 0);

  asker_downloads = g_file_new_for_path (asked_downloads);
  g_assert_true (mesh_agent_controller_answer_offer (t.asker, offer, asker_downloads));
  ui_test_wait_until (transfer_done, first, UI_TEST_WAIT_S, "the first file");

  g_assert_cmpuint (mesh_transfer_get_size (first), ==, size1);
  g_assert_cmpuint (mesh_transfer_get_done (first), ==, size1);
  g_assert_cmpuint (most1, ==, size1);
  g_assert_null (mesh_transfer_get_error (first));
  g_assert_cmpuint (mesh_transfer_get_size (second), ==, strlen (data2));
  g_assert_cmpuint (mesh_transfer_get_done (second), ==, strlen (data2));
  g_assert_cmpuint (most2, ==, strlen (data2));
  g_assert_null (mesh_transfer_get_error (second));

  g_assert_true (g_file_get_contents (got1, &contents1, &len, &error));
  g_assert_cmpmem (contents1, len, data1, size1);
  g_assert_true (g_file_get_contents (got2, &contents2, &len, &error));
  g_assert_cmpmem (contents2, len, data2, strlen (data2));

  same_names_stop (&t);
}

int
main (int   argc,
      char *argv[])
{
  char *home = ui_test_init_with_home (&argc, &argv, "mesh-ui-test-XXXXXX");

  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/ui/sign-in", test_sign_in);
  g_test_add_func ("/mesh/ui/certificate", test_certificate);
  g_test_add_func ("/mesh/ui/room-chat", test_room_chat);
  g_test_add_func ("/mesh/ui/preferences", test_preferences);
  g_test_add_func ("/mesh/ui/gotify", test_gotify);
  g_test_add_func ("/mesh/ui/files-and-terminal", test_send_files);
  g_test_add_func ("/mesh/ui/transfer-cancel", test_transfer_cancel);
  g_test_add_func ("/mesh/ui/first-terminal-share", test_first_share);
  g_test_add_func ("/mesh/ui/first-terminal-share-tls", test_first_share_tls);
  g_test_add_func ("/mesh/ui/terminal-share-server-silent", test_share_server_silent);
  g_test_add_func ("/mesh/ui/transfer-same-name-progress", test_same_name_progress);
  g_test_add_func ("/mesh/ui/transfer-same-name-both-complete", test_same_name_both_complete);
  g_test_add_func ("/mesh/ui/devices", test_devices);
  g_test_add_func ("/mesh/ui/drafts-and-limits", test_drafts_and_limits);
  g_test_add_func ("/mesh/ui/gotify-failed-test", test_gotify_failed_test);
  g_test_add_func ("/mesh/ui/message-links", test_message_links);
  g_test_add_func ("/mesh/ui/room-list-preview", test_room_list_preview);
  g_test_add_func ("/mesh/ui/run-in-background", test_run_in_background);
  g_test_add_func ("/mesh/ui/transfer-in-conversation", test_transfer_in_conversation);
  return ui_test_run (&app, home);
}
