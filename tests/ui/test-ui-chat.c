/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

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

/* Rooms and their conversations: chat, drafts, links, previews, the
 * window in the background, transfers in the conversation. */
void
test_ui_add_chat_tests (void)
{
  g_test_add_func ("/mesh/ui/room-chat", test_room_chat);
  g_test_add_func ("/mesh/ui/drafts-and-limits", test_drafts_and_limits);
  g_test_add_func ("/mesh/ui/message-links", test_message_links);
  g_test_add_func ("/mesh/ui/room-list-preview", test_room_list_preview);
  g_test_add_func ("/mesh/ui/run-in-background", test_run_in_background);
  g_test_add_func ("/mesh/ui/transfer-in-conversation", test_transfer_in_conversation);
}
