/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "client-test-server.h"
#include "mesh-application.h"
#include "mesh-connection-banner.h"
#include "mesh-embedded-agent.h"
#include "mesh-member-row.h"
#include "mesh-client-rest.h"
#include "mesh-error.h"
#include "mesh-gotify-page.h"
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
#include "mesh-window.h"
#include "ui-test-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/stat.h>
#include <vte/vte.h>

#define WAIT_S 60

/* One application for the whole run, as in the app: windows come and go. */
static MeshApplication *app;

/* Bob, the other side of the chat, through the client library. */
typedef struct {
  MeshClientRest    *rest;
  MeshClientSession *session;
  char              *room_id;
  char              *invite;
  GPtrArray         *received;   /* contents of chat-message from others */
} Peer;

static gboolean
page_is (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];

  return g_strcmp0 (mesh_window_get_page (window), ((gpointer *) user_data)[1]) == 0;
}

static void
wait_page (MeshWindow *window,
           const char *page)
{
  gpointer data[2] = { window, (gpointer) page };
  g_autofree char *what = g_strdup_printf ("the “%s” page", page);

  ui_test_wait_until (page_is, data, WAIT_S, what);
}

static gboolean
session_connected (gpointer user_data)
{
  MeshClientSession *session = mesh_window_get_session (user_data);

  return session != NULL && mesh_client_session_get_state (session) == MESH_CLIENT_SESSION_CONNECTED;
}

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

static gboolean
toplevel_message_dialog (gpointer user_data)
{
  return ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) != NULL;
}

static gboolean
async_done (gpointer user_data)
{
  return *(GAsyncResult **) user_data != NULL;
}

static void
store_result_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static MeshWindow *
new_window (int width,
            int height)
{
  MeshWindow *window = mesh_window_new (app);
  int dw, dh;

  gtk_window_set_default_size (GTK_WINDOW (window), width, height);
  gtk_window_present (GTK_WINDOW (window));
  /* Client-side decorations take a margin of the size asked for: ask again
   * so that the window itself has the size of the screenshots' names. */
  ui_test_wait_drawn (GTK_WIDGET (window));
  dw = width - gtk_widget_get_width (GTK_WIDGET (window));
  dh = height - gtk_widget_get_height (GTK_WIDGET (window));
  if (dw != 0 || dh != 0) {
    gtk_window_set_default_size (GTK_WINDOW (window), width + dw, height + dh);
    ui_test_wait_drawn (GTK_WIDGET (window));
  }
  return window;
}

/* Types into the sign-in page's rows and clicks a button, as a person would. */
static void
fill_sign_in (MeshWindow *window,
              const char *server,
              const char *username,
              const char *password)
{
  GtkWidget *page = GTK_WIDGET (mesh_window_get_signin_page (window));
  GtkWidget *rows[3] = { NULL };
  guint n = 0;

  for (GtkWidget *w = ui_test_find_widget (page, ADW_TYPE_ENTRY_ROW, NULL, NULL); w != NULL && n < 3;
       w = gtk_widget_get_next_sibling (w))
    rows[n++] = w;
  g_assert_cmpuint (n, ==, 3);
  gtk_editable_set_text (GTK_EDITABLE (rows[0]), server);
  gtk_editable_set_text (GTK_EDITABLE (rows[1]), username);
  gtk_editable_set_text (GTK_EDITABLE (rows[2]), password);
}

static void
click_sign_in (MeshWindow *window)
{
  GtkWidget *page = GTK_WIDGET (mesh_window_get_signin_page (window));
  GtkWidget *button = ui_test_find_button_for_action (page, "signin.sign-in");

  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_sensitive (button));
  gtk_widget_activate (button);
}

static void
close_window (MeshWindow *window)
{
  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
test_sign_in (void)
{
  g_autoptr(ClientTestServer) server = client_test_server_new ();
  g_autofree char *alice_id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *shot = NULL;
  g_autoptr(MeshSavedSession) saved = NULL;
  g_autofree char *saved_url = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  MeshWindow *window;
  GStatBuf st;

  alice_id = client_test_server_add_user (server, "alice", "alice-password");
  client_test_server_start (server);

  window = new_window (1280, 800);
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  shot = ui_test_screenshot (GTK_WIDGET (window), "signin-1280x800");

  /* A wrong password keeps the page and marks the field. */
  fill_sign_in (window, client_test_server_get_url (server), "alice", "wrong");
  click_sign_in (window);
  ui_test_wait_until (is_busy, mesh_window_get_signin_page (window), WAIT_S, "the request");
  ui_test_wait_until (not_busy, mesh_window_get_signin_page (window), WAIT_S, "the refusal");
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  g_assert_nonnull (ui_test_find_widget (GTK_WIDGET (window), ADW_TYPE_PASSWORD_ENTRY_ROW, NULL,
                                         NULL));
  g_assert_true (gtk_widget_has_css_class (ui_test_find_widget (GTK_WIDGET (window),
                                                                ADW_TYPE_PASSWORD_ENTRY_ROW,
                                                                NULL, NULL), "error"));

  fill_sign_in (window, client_test_server_get_url (server), "alice", "alice-password");
  click_sign_in (window);
  wait_page (window, "rooms");
  ui_test_wait_until (session_connected, window, WAIT_S, "the session");
  g_assert_cmpstr (mesh_client_session_get_user_id (mesh_window_get_session (window)), ==,
                   alice_id);

  /* The sign-in is kept for the next start, readable by its owner only. */
  saved_url = g_settings_get_string (settings, "server-url");
  g_assert_cmpstr (saved_url, ==, client_test_server_get_url (server));
  path = mesh_saved_session_path ("test");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  saved = mesh_saved_session_load ("test", NULL);
  g_assert_nonnull (saved);
  g_assert_cmpstr (saved->user_id, ==, alice_id);
  g_assert_cmpstr (saved->username, ==, "alice");
  close_window (window);

  /* A new window starts signed in. */
  window = new_window (1280, 800);
  g_assert_cmpstr (mesh_window_get_page (window), ==, "rooms");
  ui_test_wait_until (session_connected, window, WAIT_S, "the restored session");

  /* Signing out forgets it. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  close_window (window);
}

static void
test_certificate (void)
{
  g_autoptr(ClientTestServer) server = client_test_server_new ();
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *pinned = NULL;
  g_autofree char *first_group = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  AdwMessageDialog *dialog;
  MeshWindow *window;

  fingerprint = client_test_make_certificate (client_test_server_get_data_dir (server), &cert, &key);
  client_test_server_set_tls (server, cert, key);
  g_free (client_test_server_add_user (server, "carol", "carol-password"));
  client_test_server_start (server);
  g_assert_true (g_str_has_prefix (client_test_server_get_url (server), "https://"));

  window = new_window (1280, 800);
  fill_sign_in (window, client_test_server_get_url (server), "carol", "carol-password");
  click_sign_in (window);

  /* The unknown certificate is shown by its fingerprint before anything is sent. */
  ui_test_wait_until (toplevel_message_dialog, NULL, WAIT_S, "the trust question");
  dialog = ADW_MESSAGE_DIALOG (ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
  first_group = g_ascii_strup (fingerprint, 2);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), first_group));
  g_assert_cmpstr (mesh_window_get_page (window), ==, "signin");

  adw_message_dialog_response (dialog, "trust");
  wait_page (window, "rooms");
  ui_test_wait_until (session_connected, window, WAIT_S, "the TLS session");

  pinned = g_settings_get_string (settings, "pinned-fingerprint");
  g_assert_cmpint (g_ascii_strcasecmp (pinned, fingerprint), ==, 0);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  close_window (window);
  g_settings_reset (settings, "pinned-fingerprint");
}

static void
chat_message_cb (MeshClientSession *session,
                 MeshChatMessage   *message,
                 Peer              *peer)
{
  if (!mesh_chat_message_get_is_own (message))
    g_ptr_array_add (peer->received, g_strdup (mesh_chat_message_get_content (message)));
}

static void
peer_start (Peer       *peer,
            const char *url,
            const char *username,
            const char *password)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;

  peer->rest = mesh_client_rest_new (url);
  peer->received = g_ptr_array_new_with_free_func (g_free);
  mesh_client_rest_login_async (peer->rest, username, password, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "the peer's login");
  g_assert_true (mesh_client_rest_login_finish (peer->rest, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  peer->session = mesh_client_session_new (peer->rest);
  g_signal_connect (peer->session, "chat-message", G_CALLBACK (chat_message_cb), peer);
  mesh_client_session_connect_async (peer->session, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "the peer's session");
  g_assert_true (mesh_client_session_connect_finish (peer->session, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
}

/* Creates a room, joins it and makes an invite code for it. */
static char *
peer_create_room (Peer       *peer,
                  const char *name,
                  char      **invite)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;
  g_autofree char *room_id = NULL;

  mesh_client_rest_create_room_async (peer->rest, name, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "the room");
  room_id = mesh_client_rest_create_room_finish (peer->rest, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  mesh_client_session_join_room_async (peer->session, room_id, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "the peer to join");
  g_assert_true (mesh_client_session_join_room_finish (peer->session, result, &error));
  g_clear_object (&result);

  mesh_client_rest_create_invite_async (peer->rest, room_id, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "the invite");
  *invite = mesh_client_rest_create_invite_finish (peer->rest, result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  return g_steal_pointer (&room_id);
}

static void
peer_clear (Peer *peer)
{
  mesh_client_session_disconnect (peer->session);
  g_clear_object (&peer->session);
  g_clear_object (&peer->rest);
  g_clear_pointer (&peer->received, g_ptr_array_unref);
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
outbox_empty (gpointer user_data)
{
  Peer *peer = user_data;
  g_autoptr(GPtrArray) outbox = mesh_client_session_dup_outbox (peer->session, peer->room_id);

  return outbox->len == 0;
}

static gboolean
peer_received_n (gpointer user_data)
{
  Peer *peer = user_data;

  return peer->received->len >= GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (peer->session),
                                                                     "expect"));
}

static gboolean
room_is_open (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];
  MeshRoom *room = mesh_room_view_get_room (mesh_window_get_room_view (window));

  return room != NULL && g_strcmp0 (mesh_room_get_room_id (room), ((gpointer *) user_data)[1]) == 0;
}

static gboolean
label_shown (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];
  GtkWidget *label = ui_test_find_label (GTK_WIDGET (window), ((gpointer *) user_data)[1]);

  return label != NULL && gtk_widget_get_mapped (label);
}

static gboolean
last_own_sent (gpointer user_data)
{
  MeshChatModel *chat = mesh_room_view_get_chat (mesh_window_get_room_view (user_data));
  guint n = g_list_model_get_n_items (G_LIST_MODEL (chat));
  g_autoptr(MeshChatMessage) last = n ? g_list_model_get_item (G_LIST_MODEL (chat), n - 1) : NULL;

  return last != NULL && mesh_chat_message_get_is_own (last) &&
         mesh_chat_message_get_delivery_state (last) == MESH_DELIVERY_SENT;
}

static gboolean
unread_is_one (gpointer user_data)
{
  return mesh_room_get_unread_count (user_data) == 1;
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

static gboolean
last_own_pending (gpointer user_data)
{
  MeshChatModel *chat = mesh_room_view_get_chat (mesh_window_get_room_view (user_data));
  guint n = g_list_model_get_n_items (G_LIST_MODEL (chat));
  g_autoptr(MeshChatMessage) last = n ? g_list_model_get_item (G_LIST_MODEL (chat), n - 1) : NULL;

  return last != NULL && mesh_chat_message_get_is_own (last) &&
         mesh_chat_message_get_delivery_state (last) == MESH_DELIVERY_PENDING;
}

static void
read_text_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  char **text = user_data;

  *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, NULL);
  if (*text == NULL)
    *text = g_strdup ("");
}

static gboolean
text_read (gpointer user_data)
{
  return *(char **) user_data != NULL;
}

static void
set_true (gboolean *flag)
{
  *flag = TRUE;
}

static gboolean
is_true (gpointer user_data)
{
  return *(gboolean *) user_data;
}

static gboolean
garden_joined (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];

  return mesh_client_session_is_room_joined (mesh_window_get_session (window),
                                             ((gpointer *) user_data)[1]);
}

static void
test_room_chat (void)
{
  g_autoptr(ClientTestServer) server = client_test_server_new ();
  g_autoptr(GError) error = NULL;
  Peer bob = { NULL };
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

  g_free (client_test_server_add_user (server, "alice", "alice-password"));
  g_free (client_test_server_add_user (server, "bob", "bob-password"));
  client_test_server_start (server);

  /* Bob has a room with more history than one page. */
  peer_start (&bob, client_test_server_get_url (server), "bob", "bob-password");
  bob.room_id = peer_create_room (&bob, "Kitchen", &invite);
  for (guint i = 1; i <= 60; i++) {
    g_autofree char *text = g_strdup_printf ("Message number %u", i);
    g_autofree char *id = mesh_client_session_send_chat (bob.session, bob.room_id, text, &error);

    g_assert_no_error (error);
  }
  ui_test_wait_until (outbox_empty, &bob, WAIT_S, "bob's messages to be stored");

  window = new_window (1280, 800);
  fill_sign_in (window, client_test_server_get_url (server), "alice", "alice-password");
  click_sign_in (window);
  wait_page (window, "rooms");

  /* No rooms yet: the empty state offers to create or join one. */
  ui_test_wait_until (session_connected, window, WAIT_S, "alice's session");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), "No Rooms"));
  g_free (ui_test_screenshot (GTK_WIDGET (window), "no-rooms-1280x800"));

  /* Join with the invite code through the dialog. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.join-room", NULL));
  ui_test_wait_until (toplevel_message_dialog, NULL, WAIT_S, "the join dialog");
  dialog = ADW_MESSAGE_DIALOG (ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
  entry = adw_message_dialog_get_extra_child (dialog);
  gtk_editable_set_text (GTK_EDITABLE (entry), invite);
  adw_message_dialog_response (dialog, "ok");
  {
    gpointer data[2] = { window, bob.room_id };

    ui_test_wait_until (room_is_open, data, WAIT_S, "the joined room to open");
  }

  /* The newest page is shown, the newest message on screen. */
  wait = (ChatWait) { window, MESH_CHAT_MODEL_PAGE_SIZE };
  ui_test_wait_until (chat_has_n, &wait, WAIT_S, "the first page");
  {
    gpointer data[2] = { window, "Message number 60" };

    ui_test_wait_until (label_shown, data, WAIT_S, "the newest message on screen");
  }
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
    ui_test_wait_until (chat_has_n, &wait, WAIT_S, "the older page");
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
  g_object_set_data (G_OBJECT (bob.session), "expect", GUINT_TO_POINTER (1));
  ui_test_wait_until (peer_received_n, &bob, WAIT_S, "bob to receive alice's message");
  g_assert_cmpstr (g_ptr_array_index (bob.received, 0), ==, "Hello from Alice");
  ui_test_wait_until (last_own_sent, window, WAIT_S, "the delivery confirmation");
  {
    gpointer data[2] = { window, "Hello from Alice" };

    ui_test_wait_until (label_shown, data, WAIT_S, "alice's message on screen");
  }

  /* A reply, and an answer to it: runs of messages with their senders. */
  g_free (mesh_client_session_send_chat (bob.session, bob.room_id,
                                         "Hi Alice! The coffee machine is fixed, by the way.",
                                         &error));
  g_assert_no_error (error);
  {
    gpointer data[2] = { window, "Hi Alice! The coffee machine is fixed, by the way." };

    ui_test_wait_until (label_shown, data, WAIT_S, "bob's reply");
  }
  gtk_editable_set_text (GTK_EDITABLE (entry), "Great news. See you at lunch?");
  g_signal_emit_by_name (entry, "activate");
  ui_test_wait_until (last_own_sent, window, WAIT_S, "the second confirmation");
  shot = ui_test_screenshot (GTK_WIDGET (window), "room-1280x800");


  /* A message in a room alice is not looking at: unread badge and a
   * notification; her own message there notifies nobody. */
  garden_id = peer_create_room (&bob, "Garden", &garden_invite);
  {
    GAsyncResult *result = NULL;
    g_autoptr(MeshRoom) joined = NULL;

    mesh_room_list_accept_invite_async (mesh_window_get_room_list (window), garden_invite, NULL,
                                        store_result_cb, &result);
    ui_test_wait_until (async_done, &result, WAIT_S, "alice to join the garden");
    joined = mesh_room_list_accept_invite_finish (mesh_window_get_room_list (window), result,
                                                  &error);
    g_assert_no_error (error);
    g_clear_object (&result);
  }
  garden = mesh_room_list_find (mesh_window_get_room_list (window), garden_id, NULL);
  g_assert_nonnull (garden);
  {
    gpointer data[2] = { window, garden_id };

    ui_test_wait_until (garden_joined, data, WAIT_S, "alice's session to join the garden");
  }
  notifier = mesh_window_get_notifier (window);
  shown = mesh_notifier_get_n_shown (notifier);
  g_free (mesh_client_session_send_chat (bob.session, garden_id, "Tomatoes are ripe", &error));
  g_assert_no_error (error);
  ui_test_wait_until (unread_is_one, garden, WAIT_S, "the unread count");
  g_assert_cmpuint (mesh_notifier_get_n_shown (notifier), ==, shown + 1);

  /* Opening it (what activating the notification does) shows it. */
  g_assert_true (mesh_window_open_room (window, garden_id));
  {
    gpointer data[2] = { window, garden_id };
    gpointer label[2] = { window, "Tomatoes are ripe" };

    ui_test_wait_until (room_is_open, data, WAIT_S, "the garden");
    ui_test_wait_until (label_shown, label, WAIT_S, "bob's garden message");
  }
  g_assert_true (mesh_window_open_room (window, bob.room_id));

  /* "Copy Invite Code" puts a fresh code on the clipboard. */
  {
    GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (window));
    g_autofree char *code = NULL;
    gboolean changed = FALSE;
    gulong id;

    id = g_signal_connect_swapped (clipboard, "changed", G_CALLBACK (set_true), &changed);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (mesh_window_get_room_view (window)),
                                               "room.copy-invite", NULL));
    ui_test_wait_until (is_true, &changed, WAIT_S, "the invite on the clipboard");
    g_signal_handler_disconnect (clipboard, id);
    gdk_clipboard_read_text_async (clipboard, NULL, read_text_cb, &code);
    ui_test_wait_until (text_read, &code, WAIT_S, "the clipboard's text");
    g_assert_cmpstr (code, !=, invite);
    g_assert_cmpuint (strlen (code), >=, 6);
  }

  /* Offline: the banner says so, and a message waits (pending) until the
   * server is back, then is delivered once. */
  client_test_server_stop (server);
  ui_test_wait_until (banner_revealed, mesh_window_get_room_view (window), WAIT_S,
                      "the disconnected banner");
  g_free (ui_test_screenshot (GTK_WIDGET (window), "offline-1280x800"));
  gtk_editable_set_text (GTK_EDITABLE (entry), "Sent while offline");
  g_signal_emit_by_name (entry, "activate");
  g_assert_true (last_own_pending (window));
  client_test_server_start (server);
  mesh_client_session_reconnect_now (mesh_window_get_session (window));
  mesh_client_session_reconnect_now (bob.session);
  ui_test_wait_until (last_own_sent, window, WAIT_S, "the waiting message to be delivered");
  ui_test_wait_until (banner_hidden, mesh_window_get_room_view (window), WAIT_S,
                      "the banner to go");

  /* The same account in a phone-sized window: the list, then the room. */
  narrow = new_window (360, 720);
  g_assert_cmpstr (mesh_window_get_page (narrow), ==, "rooms");
  ui_test_wait_until (session_connected, narrow, WAIT_S, "the narrow window's session");
  g_free (ui_test_screenshot (GTK_WIDGET (narrow), "rooms-360x720"));
  g_assert_true (mesh_window_open_room (narrow, bob.room_id));
  wait = (ChatWait) { narrow, MESH_CHAT_MODEL_PAGE_SIZE };
  ui_test_wait_until (chat_has_n, &wait, WAIT_S, "the narrow window's chat");
  g_free (ui_test_screenshot (GTK_WIDGET (narrow), "room-360x720"));
  close_window (narrow);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  close_window (window);
  peer_clear (&bob);
}

static gboolean
toplevel_of_type (gpointer user_data)
{
  return ui_test_find_toplevel (GPOINTER_TO_SIZE (user_data)) != NULL;
}

static void
test_preferences (void)
{
  GSettings *settings = mesh_application_get_settings (app);
  AdwStyleManager *style = adw_style_manager_get_default ();
  MeshWindow *window = new_window (1280, 800);
  GtkWindow *preferences;
  AdwComboRow *style_row;
  GtkWidget *notify_switch;

  /* Ctrl+, opens the preferences on this profile's settings. */
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  ui_test_wait_until (toplevel_of_type, GSIZE_TO_POINTER (MESH_TYPE_PREFERENCES_WINDOW), WAIT_S,
                      "the preferences");
  preferences = ui_test_find_toplevel (MESH_TYPE_PREFERENCES_WINDOW);
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
  ui_test_wait_until (toplevel_of_type, GSIZE_TO_POINTER (ADW_TYPE_ABOUT_WINDOW), WAIT_S,
                      "the about window");
  gtk_window_destroy (ui_test_find_toplevel (ADW_TYPE_ABOUT_WINDOW));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.show-help-overlay", NULL));
  ui_test_wait_until (toplevel_of_type, GSIZE_TO_POINTER (GTK_TYPE_SHORTCUTS_WINDOW), WAIT_S,
                      "the shortcuts window");
  g_free (ui_test_screenshot (GTK_WIDGET (ui_test_find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW)),
                              "shortcuts"));
  gtk_window_destroy (ui_test_find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW));
  close_window (window);
}

static gboolean
gotify_idle (gpointer user_data)
{
  return !mesh_gotify_page_get_busy (user_data);
}

static gboolean
button_labelled (GtkWidget    *widget,
                 gconstpointer label)
{
  return g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0;
}

static gboolean
row_titled (GtkWidget    *widget,
            gconstpointer title)
{
  return g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0;
}

static void
click_labelled (GtkWidget  *page,
                const char *label)
{
  GtkWidget *button = ui_test_find_widget (page, GTK_TYPE_BUTTON, button_labelled, label);

  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_sensitive (button));
  /* "clicked" at once: activating animates the press and clicks later. */
  g_signal_emit_by_name (button, "clicked");
  g_assert_true (mesh_gotify_page_get_busy (MESH_GOTIFY_PAGE (page)));
  ui_test_wait_until (gotify_idle, page, WAIT_S, label);
}

/* Opens the preferences through the application, on the Gotify page once
 * it has loaded what the server holds. */
static GtkWindow *
open_gotify (GtkWidget **page)
{
  GtkWindow *preferences;

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  ui_test_wait_until (toplevel_of_type, GSIZE_TO_POINTER (MESH_TYPE_PREFERENCES_WINDOW), WAIT_S,
                      "the preferences");
  preferences = ui_test_find_toplevel (MESH_TYPE_PREFERENCES_WINDOW);
  *page = mesh_preferences_window_get_gotify_page (MESH_PREFERENCES_WINDOW (preferences));
  g_assert_nonnull (*page);
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (preferences),
                                           ADW_PREFERENCES_PAGE (*page));
  ui_test_wait_until (gotify_idle, *page, WAIT_S, "the Gotify settings");
  return preferences;
}

static JsonNode *
get_gotify (MeshClientRest *rest,
            GError        **error)
{
  GAsyncResult *result = NULL;
  JsonNode *node;

  mesh_client_rest_call_async (rest, "GET", "me/gotify", NULL, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "GET me/gotify");
  node = mesh_client_rest_call_finish (rest, result, error);
  g_object_unref (result);
  return node;
}

static void
test_gotify (void)
{
  g_autoptr(ClientTestServer) server = client_test_server_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) stored = NULL;
  g_autoptr(JsonNode) gone = NULL;
  g_autofree char *alice_id = NULL;
  Peer alice = { NULL };
  GtkWindow *preferences;
  GtkWidget *page;
  GtkWidget *url_row;
  GtkWidget *token_row;
  GtkWidget *calls_row;
  JsonObject *view;
  JsonArray *events;
  MeshWindow *window;

  alice_id = client_test_server_add_user (server, "alice", "alice-password");
  client_test_server_start (server);
  window = new_window (1280, 800);
  if (g_strcmp0 (mesh_window_get_page (window), "signin") != 0)
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  fill_sign_in (window, client_test_server_get_url (server), "alice", "alice-password");
  click_sign_in (window);
  wait_page (window, "rooms");

  /* Nothing set yet: an empty form that can only be saved. */
  preferences = open_gotify (&page);
  url_row = ui_test_find_widget (page, ADW_TYPE_ENTRY_ROW, NULL, NULL);
  token_row = ui_test_find_widget (page, ADW_TYPE_PASSWORD_ENTRY_ROW, NULL, NULL);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (url_row)), ==, "");
  g_assert_false (gtk_widget_is_sensitive (ui_test_find_widget (page, GTK_TYPE_BUTTON,
                                                                button_labelled, "_Remove")));

  /* Nothing listens on port 9: messages only queue, nothing leaves the host. */
  gtk_editable_set_text (GTK_EDITABLE (url_row), "http://127.0.0.1:9/");
  gtk_editable_set_text (GTK_EDITABLE (token_row), "AbCdEf.123");
  calls_row = ui_test_find_widget (page, ADW_TYPE_ACTION_ROW, row_titled, "_Missed Calls");
  gtk_switch_set_active (GTK_SWITCH (ui_test_find_widget (calls_row, GTK_TYPE_SWITCH, NULL, NULL)),
                         FALSE);
  click_labelled (page, "_Save");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (preferences), "Gotify settings saved"));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (token_row)), ==, "");

  /* The server stored it, as its owner sees through the client library. */
  peer_start (&alice, client_test_server_get_url (server), "alice", "alice-password");
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
  click_labelled (page, "Send _Test");
  g_assert_null (ui_test_find_label (GTK_WIDGET (preferences), "Gotify answered: delivered"));
  gtk_window_destroy (preferences);

  /* Opened again, the page shows what the server holds. */
  preferences = open_gotify (&page);
  url_row = ui_test_find_widget (page, ADW_TYPE_ENTRY_ROW, NULL, NULL);
  calls_row = ui_test_find_widget (page, ADW_TYPE_ACTION_ROW, row_titled, "_Missed Calls");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (url_row)), ==, "http://127.0.0.1:9/");
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (ui_test_find_widget (calls_row,
                                                                           GTK_TYPE_SWITCH,
                                                                           NULL, NULL))));
  g_free (ui_test_screenshot (GTK_WIDGET (preferences), "preferences-gotify"));

  click_labelled (page, "_Remove");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (url_row)), ==, "");
  gone = get_gotify (alice.rest, &error);
  g_assert_error (error, MESH_ERROR, MESH_ERROR_NOT_FOUND);
  gtk_window_destroy (preferences);

  peer_clear (&alice);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  close_window (window);
}

/* An agent left running by a test that aborted would hold the test's output
 * open and keep meson waiting until its timeout. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn_agent (const char *stdin_text,
             GError    **error,
             ...)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_SILENCE;
  const char *arg;
  va_list args;

  if (stdin_text != NULL)
    flags |= G_SUBPROCESS_FLAGS_STDIN_PIPE;
  launcher = g_subprocess_launcher_new (flags);
  /* The agent's own warnings are its business, not this test's. */
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_ptr_array_add (argv, (gpointer) g_getenv ("MESH_AGENT_BIN"));
  va_start (args, error);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, error);
}

static gboolean
agent_ready (gpointer user_data)
{
  MeshEmbeddedAgent *agent = mesh_window_get_agent (user_data);

  return agent != NULL && mesh_embedded_agent_get_device_id (agent) != NULL;
}

static gboolean
row_with_device (GtkWidget     *widget,
                 gconstpointer  username)
{
  MeshMember *member = mesh_member_row_get_member (MESH_MEMBER_ROW (widget));

  return g_strcmp0 (mesh_member_get_username (member), username) == 0 &&
         mesh_member_get_devices (member)[0] != NULL;
}

static gboolean
member_has_device (gpointer user_data)
{
  MeshWindow *window = ((gpointer *) user_data)[0];

  return ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                              MESH_TYPE_MEMBER_ROW, row_with_device,
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
is_set (gpointer user_data)
{
  return *(gpointer *) user_data != NULL;
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

/* As a user does: the dialog answers and closes. */
static void
click_response (GtkWindow  *dialog,
                const char *label)
{
  GtkWidget *button = ui_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_BUTTON, button_labelled,
                                           label);

  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
}

static gboolean
terminal_running (gpointer user_data)
{
  return mesh_shared_terminal_get_state (user_data) == MESH_SHARED_TERMINAL_RUNNING;
}

static gboolean
controlled_by_bob (gpointer user_data)
{
  return g_strcmp0 (mesh_shared_terminal_get_controller_name (user_data), "bob") == 0;
}

static gboolean
terminal_ended (gpointer user_data)
{
  return mesh_shared_terminal_get_state (user_data) == MESH_SHARED_TERMINAL_ENDED;
}

static gboolean
process_exited (gpointer user_data)
{
  return g_subprocess_get_identifier (user_data) == NULL;
}

static gboolean
room_opened (gpointer user_data)
{
  return mesh_window_open_room (((gpointer *) user_data)[0], ((gpointer *) user_data)[1]);
}

/* Alice drops a file on the room: her embedded agent sends it to Bob's.
 * Bob's agent sends one back: Alice accepts it in a dialog.  Bob shares a
 * terminal: Alice watches it in a terminal window. */
static void
test_send_files (void)
{
  g_autoptr(ClientTestServer) server = client_test_server_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) login = NULL;
  g_autoptr(GSubprocess) run = NULL;
  g_autoptr(GFile) file = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("mesh-ui-send-XXXXXX", NULL);
  g_autofree char *bob_state = g_build_filename (tmp, "bob-agent", NULL);
  g_autofree char *bob_downloads = g_build_filename (tmp, "bob-downloads", NULL);
  g_autofree char *path = g_build_filename (tmp, "report.bin", NULL);
  g_autofree char *received_path = g_build_filename (bob_downloads, "report.bin", NULL);
  g_autofree char *invite = NULL;
  g_autofree char *received = NULL;
  g_autofree char *toast = NULL;
  g_autoptr(GBytes) content = NULL;
  gsize received_len;
  g_autoptr(MeshClientRest) alice_rest = NULL;
  GAsyncResult *result = NULL;
  Peer bob = { NULL };
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
  g_autofree char *notes_path = g_build_filename (tmp, "notes.txt", NULL);
  g_autofree char *alice_downloads = g_build_filename (tmp, "alice-downloads", NULL);
  g_autofree char *alice_saved = g_build_filename (alice_downloads, "notes.txt", NULL);
  g_autofree char *saved_path = NULL;
  g_autofree char *received_back = NULL;
  GtkWindow *dialog, *terminal_window;
  guchar *data;
  gsize size = 300 * 1024;

  g_assert_nonnull (g_getenv ("MESH_AGENT_BIN"));
  g_free (client_test_server_add_user (server, "alice", "alice-password"));
  g_free (client_test_server_add_user (server, "bob", "bob-password"));
  client_test_server_start (server);

  peer_start (&bob, client_test_server_get_url (server), "bob", "bob-password");
  bob.room_id = peer_create_room (&bob, "Lab", &invite);

  /* Bob's agent, logged in and running as a user would start it. */
  login = spawn_agent ("bob-password\n", &error, "login", "--state-dir", bob_state, "--server",
                       client_test_server_get_url (server), "--user", "bob", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (login, "bob-password\n", NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (login));
  g_assert_cmpint (g_mkdir_with_parents (bob_downloads, 0700), ==, 0);
  run = spawn_agent (NULL, &error, "run", "--state-dir", bob_state, "--download-dir",
                     bob_downloads, "--accept-from", "alice", "--listen", "127.0.0.1", NULL);
  g_assert_no_error (error);

  /* Alice is in the room before she signs in: the agent joins the rooms it
   * finds when it connects. */
  alice_rest = mesh_client_rest_new (client_test_server_get_url (server));
  mesh_client_rest_login_async (alice_rest, "alice", "alice-password", NULL, store_result_cb,
                                &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "alice's login");
  g_assert_true (mesh_client_rest_login_finish (alice_rest, result, &error));
  g_clear_object (&result);
  mesh_client_rest_accept_invite_async (alice_rest, invite, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "alice to join");
  g_free (mesh_client_rest_accept_invite_finish (alice_rest, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  /* Files offered to Alice's computer go there unless she picks another folder. */
  g_assert_cmpint (g_mkdir_with_parents (alice_downloads, 0700), ==, 0);
  g_settings_set_string (mesh_application_get_settings (app), "download-folder", alice_downloads);
  window = new_window (1280, 800);
  fill_sign_in (window, client_test_server_get_url (server), "alice", "alice-password");
  click_sign_in (window);
  wait_page (window, "rooms");
  ui_test_wait_until (session_connected, window, WAIT_S, "alice's session");
  ui_test_wait_until (agent_ready, window, WAIT_S, "alice's embedded agent");

  {
    gpointer room_data[2] = { window, bob.room_id };
    gpointer member_data[2] = { window, "bob" };

    ui_test_wait_until (room_opened, room_data, WAIT_S, "the room to open");
    ui_test_wait_until (member_has_device, member_data, WAIT_S, "bob's device in the room");
  }

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
  ui_test_wait_until (transfer_finished, transfer, WAIT_S, "the transfer");
  g_assert_cmpstr (mesh_transfer_get_error (transfer), ==, NULL);
  g_assert_cmpint (mesh_transfer_get_state (transfer), ==, MESH_TRANSFER_DONE);
  g_assert_cmpuint (mesh_transfer_get_done (transfer), ==, size);

  /* The receiver confirmed the hash: the file is complete on Bob's disk. */
  g_assert_true (g_file_get_contents (received_path, &received, &received_len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (received, received_len, g_bytes_get_data (content, NULL), size);
  toast = g_strdup_printf ("Sent %s", "report.bin");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), toast));

  g_subprocess_send_signal (run, SIGTERM);
  g_subprocess_wait_async (run, NULL, store_result_cb, &result);
  ui_test_wait_until (async_done, &result, WAIT_S, "bob's agent to stop");
  g_assert_true (g_subprocess_wait_finish (run, result, &error));
  g_clear_object (&result);
  g_assert_true (g_subprocess_get_if_exited (run));
  g_assert_cmpint (g_subprocess_get_exit_status (run), ==, 0);

  /* Bob sends a file back: Alice is asked (with who, what and where) and accepts. */
  g_assert_true (g_file_set_contents (notes_path, "from bob\n", -1, &error));
  g_signal_connect (mesh_window_get_agent (window), "offer", G_CALLBACK (offer_cb), &offered);
  send = spawn_agent (NULL, &error, "send", "--state-dir", bob_state, "--room", "Lab", "--to",
                      mesh_embedded_agent_get_device_id (mesh_window_get_agent (window)),
                      notes_path, NULL);
  g_assert_no_error (error);
  ui_test_wait_until (is_set, &offered, WAIT_S, "bob's offer");
  g_signal_handlers_disconnect_by_data (mesh_window_get_agent (window), &offered);
  g_assert_cmpint (mesh_transfer_get_direction (offered), ==, MESH_TRANSFER_INCOMING);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_OFFERED);
  g_assert_cmpstr (mesh_transfer_get_peer_name (offered), ==, "bob");
  g_assert_cmpstr (mesh_transfer_get_name (offered), ==, "notes.txt");
  g_assert_cmpuint (mesh_transfer_get_size (offered), ==, strlen ("from bob\n"));
  dialog = ui_test_find_toplevel (MESH_TYPE_OFFER_DIALOG);
  g_assert_nonnull (dialog);
  g_free (ui_test_screenshot (GTK_WIDGET (dialog), "offer-dialog"));
  click_response (dialog, "_Accept");
  ui_test_wait_until (transfer_finished, offered, WAIT_S, "the file from bob");
  g_assert_cmpstr (mesh_transfer_get_error (offered), ==, NULL);
  g_assert_cmpint (mesh_transfer_get_state (offered), ==, MESH_TRANSFER_DONE);
  g_assert_nonnull (mesh_transfer_get_file (offered));
  saved_path = g_file_get_path (mesh_transfer_get_file (offered));
  g_assert_cmpstr (saved_path, ==, alice_saved);
  g_assert_true (g_file_get_contents (alice_saved, &received_back, NULL, &error));
  g_assert_cmpstr (received_back, ==, "from bob\n");
  ui_test_wait_until (process_exited, send, WAIT_S, "bob's send to end");
  g_assert_true (g_subprocess_get_successful (send));

  /* Bob shares a terminal: Alice sees it in the room, watches, and sees its output. */
  share = spawn_agent (NULL, &error, "share-terminal", "--state-dir", bob_state, "--room", "Lab",
                       "--", "sh", "-c", "echo hello-from-bob; exec sleep 60", NULL);
  g_assert_no_error (error);
  ui_test_wait_until (share_shown, mesh_window_get_room_view (window), WAIT_S,
                      "bob's share in the room");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (window), "bob is sharing a terminal"));
  {
    GtkWidget *watch = ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                                            GTK_TYPE_BUTTON, button_labelled, "_Watch");

    g_assert_nonnull (watch);
    g_signal_emit_by_name (watch, "clicked");
  }
  ui_test_wait_until (terminal_shows, "hello-from-bob", WAIT_S, "bob's terminal output");
  terminal_window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  terminal = g_object_ref (mesh_terminal_window_get_terminal (MESH_TERMINAL_WINDOW (terminal_window)));
  g_assert_cmpint (mesh_shared_terminal_get_role (terminal), ==, MESH_SHARED_TERMINAL_VIEWER);
  g_assert_false (mesh_shared_terminal_get_has_control (terminal));
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-viewer"));

  /* Bob stops sharing: Alice's view says so. */
  g_subprocess_send_signal (share, SIGTERM);
  ui_test_wait_until (terminal_ended, terminal, WAIT_S, "the share to end");
  ui_test_wait_until (process_exited, share, WAIT_S, "bob's share to end");
  gtk_window_destroy (terminal_window);
  g_clear_object (&terminal);

  /* Alice shares her shell; Bob watches, asks for control, Alice allows it
   * in a dialog, and what Bob types runs in Alice's shell. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (mesh_window_get_room_view (window)),
                                             "room.share-terminal", NULL));
  terminal_window = ui_test_find_toplevel (MESH_TYPE_TERMINAL_WINDOW);
  g_assert_nonnull (terminal_window);
  terminal = g_object_ref (mesh_terminal_window_get_terminal (MESH_TERMINAL_WINDOW (terminal_window)));
  g_assert_cmpint (mesh_shared_terminal_get_role (terminal), ==, MESH_SHARED_TERMINAL_HOST);
  ui_test_wait_until (terminal_running, terminal, WAIT_S, "alice's share to start");
  view = spawn_agent ("", &error, "view-terminal", "--state-dir", bob_state, "--room", "Lab",
                      "--share", mesh_shared_terminal_get_share_id (terminal), "--control", NULL);
  g_assert_no_error (error);
  ui_test_wait_until (toplevel_message_dialog, NULL, WAIT_S, "bob's request for control");
  control_dialog = ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (control_dialog)), ==,
                   "bob wants to control your terminal");
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-host-request"));
  click_response (control_dialog, "_Allow");
  ui_test_wait_until (controlled_by_bob, terminal, WAIT_S, "bob to get control");
  g_assert_true (mesh_shared_terminal_get_has_control (terminal));
  {
    GOutputStream *input = g_subprocess_get_stdin_pipe (view);

    const char *command = "echo typed-by-$((6*7))\n";

    /* Bob's terminal echoes the command; only the shell prints the product. */
    g_assert_true (g_output_stream_write_all (input, command, strlen (command), NULL, NULL, &error));
    g_assert_no_error (error);
  }
  ui_test_wait_until (terminal_shows, "typed-by-42", WAIT_S, "bob's command to run in alice's shell");
  ui_test_wait_drawn (GTK_WIDGET (terminal_window));
  g_free (ui_test_screenshot (GTK_WIDGET (terminal_window), "terminal-host-controlled"));

  /* Alice stops sharing: Bob's viewer ends normally. */
  mesh_shared_terminal_stop (terminal);
  ui_test_wait_until (terminal_ended, terminal, WAIT_S, "alice's share to end");
  ui_test_wait_until (process_exited, view, WAIT_S, "bob's viewer to end");
  g_assert_true (g_subprocess_get_successful (view));
  gtk_window_destroy (terminal_window);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.sign-out", NULL));
  g_assert_null (mesh_window_get_agent (window));
  close_window (window);
  peer_clear (&bob);
  g_free (bob.room_id);
  {
    g_autofree char *rm = g_strdup_printf ("rm -rf %s", tmp);

    g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *config = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  /* The saved sign-in goes to a throwaway folder, not the user's. */
  config = g_dir_make_tmp ("mesh-ui-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);
  /* So is the embedded agent's state. */
  g_setenv ("XDG_STATE_HOME", config, TRUE);

  g_test_init (&argc, &argv, NULL);
  gtk_init ();
  /* Screenshots show the end of a transition, not its middle. */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  app = mesh_application_new ();
  mesh_application_set_profile (app, "test");
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);
  /* Windows are created by the tests, so hold the application meanwhile. */
  g_application_hold (G_APPLICATION (app));

  g_test_add_func ("/mesh/ui/sign-in", test_sign_in);
  g_test_add_func ("/mesh/ui/certificate", test_certificate);
  g_test_add_func ("/mesh/ui/room-chat", test_room_chat);
  g_test_add_func ("/mesh/ui/preferences", test_preferences);
  g_test_add_func ("/mesh/ui/gotify", test_gotify);
  g_test_add_func ("/mesh/ui/files-and-terminal", test_send_files);
  ret = g_test_run ();

  g_application_release (G_APPLICATION (app));
  g_clear_object (&app);
  return ret;
}
