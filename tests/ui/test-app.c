/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app"

/* The app as a new user meets it: what a screen reader can name, signing in
 * to an address typed without a scheme, errors in words (and in French), and
 * sending files from the composer.  Window tests against a real mesh-server
 * under Xvfb. */

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-application.h"
#include "mesh-gotify-page.h"
#include "mesh-member-row.h"
#include "mesh-preferences-window.h"
#include "mesh-room-view.h"
#include "mesh-shared-terminal.h"
#include "mesh-signin-page.h"
#include "mesh-terminal-window.h"
#include "mesh-transfer-list.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

static MeshApplication *app;

/* --- Accessibility ------------------------------------------------------ */

static gboolean
has_tooltip (GtkWidget     *widget,
             gconstpointer  tooltip)
{
  return g_strcmp0 (gtk_widget_get_tooltip_text (widget), tooltip) == 0;
}

static void
test_accessible_names (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GString) faults = g_string_new (NULL);
  g_autoptr(MeshSharedTerminal) terminal = NULL;
  UiTestPeer bob = { NULL };
  g_autofree char *invite = NULL;
  MeshWindow *window;
  GtkWindow *preferences;
  MeshTerminalWindow *terminal_window;
  MeshRoomView *view;
  GtkWidget *transfers;
  AdwMessageDialog *dialog;
  GtkWidget *members;

  ui_test_start_server (server, "alice", "bob", NULL);
  ui_test_peer_start (&bob, mesh_test_server_get_base_url (server), "bob", "bob-password");
  bob.room_id = ui_test_peer_create_room (&bob, "Kitchen", &invite);

  window = ui_test_window_new (app, 1280, 800);
  ui_test_assert_all_named (GTK_WIDGET (window), "sign-in page", faults);

  ui_test_sign_in (window, mesh_test_server_get_base_url (server), "alice", "alice-password");
  /* Joined through the dialog, which opens the room. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.join-room", NULL));
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the join dialog"));
  ui_test_assert_all_named (GTK_WIDGET (dialog), "join dialog", faults);
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), invite);
  adw_message_dialog_response (dialog, "ok");
  ui_test_wait_room_open (window, bob.room_id, "the joined room to open");
  ui_test_wait_drawn (GTK_WIDGET (window));
  /* The room list, the room view with its members and transfers popovers
   * (their content is in the tree before they open). */
  ui_test_assert_all_named (GTK_WIDGET (window), "room list and room view", faults);
  view = mesh_window_get_room_view (window);
  /* The popovers' content, shown or not. */
  transfers = ui_test_find_widget (GTK_WIDGET (view), MESH_TYPE_TRANSFER_LIST, NULL, NULL);
  g_assert_nonnull (transfers);
  transfers = ui_test_find_widget (transfers, GTK_TYPE_MENU_BUTTON, NULL, NULL);
  ui_test_assert_all_named (gtk_popover_get_child (gtk_menu_button_get_popover (GTK_MENU_BUTTON (transfers))),
                    "transfers popover", faults);
  members = ui_test_find_widget (GTK_WIDGET (view), GTK_TYPE_MENU_BUTTON, has_tooltip,
                                 "Members");
  g_assert_nonnull (members);
  ui_test_assert_all_named (gtk_popover_get_child (gtk_menu_button_get_popover (GTK_MENU_BUTTON (members))),
                    "members popover", faults);

  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), "preferences"));
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  preferences = ui_test_wait_toplevel (MESH_TYPE_PREFERENCES_WINDOW, "the preferences");
  ui_test_wait_drawn (GTK_WIDGET (preferences));
  ui_test_assert_all_named (GTK_WIDGET (preferences), "preferences", faults);
  ui_test_destroy_window (preferences);

  terminal = mesh_shared_terminal_new (MESH_SHARED_TERMINAL_VIEWER, bob.room_id, "bob");
  terminal_window = mesh_terminal_window_new (GTK_APPLICATION (app), terminal);
  ui_test_present (GTK_WINDOW (terminal_window), 800, 600);
  ui_test_assert_all_named (GTK_WIDGET (terminal_window), "terminal window", faults);
  ui_test_destroy_window (GTK_WINDOW (terminal_window));

  ui_test_destroy_window (GTK_WINDOW (window));
  ui_test_peer_clear (&bob);

  if (faults->len > 0)
    g_error ("Interactive widgets a screen reader cannot name:\n%s", faults->str);
}

/* --- Server addresses --------------------------------------------------- */

static void
test_server_url_guess (void)
{
  static const struct {
    const char *typed;
    const char *url;
  } cases[] = {
    { "127.0.0.1:8080", "http://127.0.0.1:8080" },
    { " 127.0.0.1:8080/ ", "http://127.0.0.1:8080" },
    { "127.1.2.3", "http://127.1.2.3" },
    { "localhost:8080", "http://localhost:8080" },
    { "LocalHost", "http://LocalHost" },
    { "mesh.localhost:1", "http://mesh.localhost:1" },
    { "nas.local:8080", "http://nas.local:8080" },
    { "192.168.1.20:8080", "http://192.168.1.20:8080" },
    { "10.0.0.5", "http://10.0.0.5" },
    { "172.16.0.1:80", "http://172.16.0.1:80" },
    { "169.254.3.4:8080", "http://169.254.3.4:8080" },
    { "[::1]:8080", "http://[::1]:8080" },
    { "[fe80::1]:8080", "http://[fe80::1]:8080" },
    { "[fd12:3456::1]:8080", "http://[fd12:3456::1]:8080" },
    { "mesh.example.org", "https://mesh.example.org" },
    { "mesh.example.org:8443", "https://mesh.example.org:8443" },
    { "8.8.8.8:8080", "https://8.8.8.8:8080" },
    { "172.32.0.1", "https://172.32.0.1" },
    { "[2001:db8::1]:8080", "https://[2001:db8::1]:8080" },
    { "localhost.example.org", "https://localhost.example.org" },
    { "http://mesh.example.org", "http://mesh.example.org" },
    { "https://127.0.0.1:8080", "https://127.0.0.1:8080" },
  };
  static const char *bad[] = { "", "   ", "ftp://example.org", "http://", ":8080", "a b:c" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *url = mesh_signin_page_normalize_url (cases[i].typed, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (url, ==, cases[i].url);
  }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *url = mesh_signin_page_normalize_url (bad[i], &error);

    g_assert_null (url);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  }
}

static gboolean
page_idle (gpointer page)
{
  return !mesh_signin_page_get_busy (page);
}

/* A label in @widget showing exactly @text, shown. */
static gboolean
label_shown (GtkWidget  *widget,
             const char *text)
{
  GtkWidget *label = ui_test_find_label (widget, text);

  return label != NULL && gtk_widget_is_visible (label);
}

/* A port on 127.0.0.1 where nothing listens. */
static guint16
closed_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Clicks Sign In at once (ui_test_click_sign_in () clicks after the press
 * animation). */
static void
click_sign_in (MeshSigninPage *page)
{
  ui_test_click (ui_test_find_button_for_action (GTK_WIDGET (page), "signin.sign-in"));
}

/* Signs in to a port of 127.0.0.1 where nothing listens and waits until
 * the page has told so. */
static void
sign_in_refused (MeshWindow *window)
{
  MeshSigninPage *page = mesh_window_get_signin_page (window);
  g_autofree char *refused = g_strdup_printf ("127.0.0.1:%u", closed_port ());

  ui_test_fill_sign_in (window, refused, "alice", "alice-password");
  click_sign_in (page);
  ui_test_wait_until (page_idle, page, UI_TEST_WAIT_S, "the refused connection to be told");
}

static void
test_sign_in_without_scheme (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GSocket) silent = NULL;
  g_autoptr(GSocketAddress) silent_address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GError) error = NULL;
  g_autofree char *typed = NULL;
  g_autofree char *status = NULL;
  g_autofree char *saved = NULL;
  GSettings *settings = mesh_application_get_settings (app);
  const char *url;
  MeshWindow *window;
  MeshSigninPage *page;
  GtkWidget *cancel;

  ui_test_start_server (server, "alice", NULL);
  url = mesh_test_server_get_base_url (server);
  g_assert_true (g_str_has_prefix (url, "http://127.0.0.1:"));

  window = ui_test_window_new (app, 1280, 800);
  page = mesh_window_get_signin_page (window);

  /* Nothing listens: a sentence, soon, with the details folded away. */
  sign_in_refused (window);
  g_assert_true (label_shown (GTK_WIDGET (page),
                              "Nothing answers at that address. Check the server address and that the server is running."));
  g_assert_true (gtk_widget_is_visible (ui_test_find_widget (GTK_WIDGET (page), GTK_TYPE_EXPANDER,
                                                             NULL, NULL)));
  g_assert_true (gtk_widget_has_css_class (
                   ui_test_find_widget (GTK_WIDGET (page), ADW_TYPE_ENTRY_ROW, NULL, NULL), "error"));

  /* A server that takes the connection and never answers: Cancel stops
   * waiting at once and the page can be used again. */
  silent = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  silent_address = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (silent, silent_address, FALSE, &error));
  g_assert_true (g_socket_listen (silent, &error));
  g_clear_object (&silent_address);
  silent_address = g_socket_get_local_address (silent, &error);
  g_assert_no_error (error);
  typed = g_strdup_printf ("127.0.0.1:%u",
                           g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (silent_address)));
  ui_test_fill_sign_in (window, typed, "alice", "alice-password");
  click_sign_in (page);
  g_assert_true (mesh_signin_page_get_busy (page));
  status = g_strdup_printf ("Connecting to http://%s…", typed);
  g_assert_true (label_shown (GTK_WIDGET (page), status));
  cancel = ui_test_find_button_for_action (GTK_WIDGET (page), "signin.cancel");
  ui_test_click (cancel);
  g_assert_false (mesh_signin_page_get_busy (page));
  g_assert_false (gtk_widget_get_visible (cancel));
  g_assert_true (label_shown (GTK_WIDGET (page), "Cancelled."));
  g_assert_true (gtk_widget_is_sensitive (ui_test_find_widget (GTK_WIDGET (page),
                                                               ADW_TYPE_ENTRY_ROW, NULL, NULL)));
  g_free (ui_test_screenshot (GTK_WIDGET (window), "sign-in-cancelled"));

  /* The real server without a scheme: http, said, and signed in. */
  g_free (typed);
  typed = g_strdup (url + strlen ("http://"));
  ui_test_fill_sign_in (window, typed, "alice", "alice-password");
  click_sign_in (page);
  g_free (status);
  status = g_strdup_printf ("Connecting to %s…", url);
  g_assert_true (label_shown (GTK_WIDGET (page), status));
  ui_test_wait_page (window, "rooms");
  ui_test_wait_connected (window, "the session");
  saved = g_settings_get_string (settings, "server-url");
  g_assert_cmpstr (saved, ==, url);

  ui_test_destroy_window (GTK_WINDOW (window));
  g_settings_reset (settings, "server-url");
  g_settings_reset (settings, "username");
}

/* --- Errors in words, in French ----------------------------------------- */

/* LANGUAGE as the test's locale setup would set it; gettext caches what it
 * translated until the text domain is set again. */
static void
set_language (const char *language)
{
  if (language != NULL)
    g_setenv ("LANGUAGE", language, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  textdomain (GETTEXT_PACKAGE);
}

static void
test_error_in_french (void)
{
  g_autofree char *shot = NULL;
  MeshWindow *window;
  MeshSigninPage *page;
  GtkWidget *expander;

  /* What the test's locale setup gives LANGUAGE=fr: the translations
   * compiled in the build folder, bound as the app binds them. */
  set_language ("fr");
  window = ui_test_window_new (app, 1000, 760);
  page = mesh_window_get_signin_page (window);
  /* The page itself is French. */
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (page), "_Se connecter"));

  sign_in_refused (window);
  g_assert_true (label_shown (GTK_WIDGET (page),
                              "Rien ne répond à cette adresse. Vérifiez l’adresse du serveur et que le serveur fonctionne."));
  /* The library's English stays in the details, folded away. */
  expander = ui_test_find_widget (GTK_WIDGET (page), GTK_TYPE_EXPANDER, NULL, NULL);
  g_assert_true (gtk_widget_is_visible (expander));
  g_assert_false (gtk_expander_get_expanded (GTK_EXPANDER (expander)));
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (page), "_Détails"));
  gtk_expander_set_expanded (GTK_EXPANDER (expander), TRUE);
  shot = ui_test_screenshot (GTK_WIDGET (window), "error-in-french");
  g_test_message ("screenshot: %s", shot);

  ui_test_destroy_window (GTK_WINDOW (window));
  set_language (NULL);
}

typedef struct {
  GtkWidget  *widget;
  const char *text;
} LabelWait;

static gboolean
has_label (gpointer user_data)
{
  LabelWait *wait = user_data;

  return ui_test_find_label (wait->widget, wait->text) != NULL;
}

static void
wait_label (GtkWidget  *widget,
            const char *text)
{
  LabelWait wait = { widget, text };

  ui_test_wait_until (has_label, &wait, UI_TEST_WAIT_S, text);
}

/* The Gotify page's errors, in French: a refused address and a test that
 * cannot be delivered are told in sentences, never the server's English. */
static void
test_gotify_errors_in_french (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  GtkWindow *preferences;
  MeshWindow *window;
  GtkWidget *page, *url_row, *token_row;

  ui_test_start_server (server, "alice", NULL);
  set_language ("fr");
  window = ui_test_window_signed_in (app, 1000, 700, mesh_test_server_get_base_url (server),
                                     "alice", "alice-password");

  preferences = ui_test_open_gotify (app, &page, &url_row, &token_row);

  /* Not an address the server takes. */
  gtk_editable_set_text (GTK_EDITABLE (url_row), "ftp://gotify.example.org");
  gtk_editable_set_text (GTK_EDITABLE (token_row), "AbCdEf.123");
  ui_test_click_gotify (page, "_Enregistrer");
  g_assert_nonnull (ui_test_find_label (GTK_WIDGET (preferences),
                                        "L’adresse ou le jeton Gotify a été refusé. Saisissez l’adresse de votre serveur Gotify, comme https://gotify.example.org, et un jeton d’application."));

  /* The server does not post into its own network (unless its operator
   * allows it): the test cannot be delivered. */
  gtk_editable_set_text (GTK_EDITABLE (url_row), "http://127.0.0.1:9/");
  gtk_editable_set_text (GTK_EDITABLE (token_row), "AbCdEf.123");
  ui_test_click_gotify (page, "_Enregistrer");
  /* Toasts take turns: each shows when the one before has gone. */
  wait_label (GTK_WIDGET (preferences), "Réglages Gotify enregistrés");
  ui_test_click_gotify (page, "Envoyer un _test");
  wait_label (GTK_WIDGET (preferences),
              "Le serveur Mesh n’envoie pas vers des adresses d’un réseau privé, sauf si son administrateur l’autorise. Utilisez l’adresse publique de votre serveur Gotify.");
  g_free (ui_test_screenshot (GTK_WIDGET (preferences), "gotify-error-in-french"));

  gtk_window_destroy (preferences);
  ui_test_sign_out_and_close (window);
  set_language (NULL);
}

static void
test_build_translations (void)
{
  /* Run from the build folder (as this test is), the app reads the
   * translations meson compiled there, not the prefix's. */
  const char *dir = mesh_application_bind_text_domain ();
  g_autofree char *mo = g_build_filename (dir, "fr", "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);

  g_assert_true (g_str_has_suffix (dir, G_DIR_SEPARATOR_S "po"));
  g_assert_true (g_file_test (mo, G_FILE_TEST_IS_REGULAR));
  set_language ("fr");
  g_assert_cmpstr (_("Connecting to the server…"), ==, "Connexion au serveur…");
  set_language (NULL);
  g_assert_cmpstr (_("Connecting to the server…"), ==, "Connecting to the server…");
}

/* --- Sending files from the composer and the members -------------------- */

typedef struct {
  MeshWindow *window;
  const char *username;
  guint       n_devices;
} DeviceWait;

static MeshMemberRow *
member_row (MeshWindow *window,
            const char *username)
{
  GtkWidget *list = ui_test_find_widget (GTK_WIDGET (mesh_window_get_room_view (window)),
                                         GTK_TYPE_LIST_BOX, NULL, NULL);

  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    if (MESH_IS_MEMBER_ROW (row) &&
        g_strcmp0 (mesh_member_get_username (mesh_member_row_get_member (MESH_MEMBER_ROW (row))),
                   username) == 0)
      return MESH_MEMBER_ROW (row);
  return NULL;
}

static gboolean
member_has_devices (gpointer user_data)
{
  DeviceWait *wait = user_data;
  MeshMemberRow *row = member_row (wait->window, wait->username);

  return row != NULL &&
         g_strv_length ((GStrv) mesh_member_get_devices (mesh_member_row_get_member (row))) ==
           wait->n_devices;
}

static void
assert_not_ellipsized (GtkWidget *widget)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_is_visible (widget))
    g_assert_false (pango_layout_is_ellipsized (gtk_label_get_layout (GTK_LABEL (widget))));
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    assert_not_ellipsized (child);
}

static GtkWidget *
send_button_of (MeshMemberRow *row)
{
  return ui_test_find_button_for_action (GTK_WIDGET (row), "room.send-files");
}

/* Whether the agent state in folder @dir is the device @device_id. */
static gboolean
state_holds (const char *dir,
             const char *device_id)
{
  g_autoptr(GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_autofree char *text = NULL;

    if (g_file_get_contents (path, &text, NULL, NULL) && strstr (text, device_id) != NULL)
      return TRUE;
  }
  return FALSE;
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

/* Bob runs Mesh on two computers; alice sends him a file from the composer's
 * attach button and picks which computer gets it. */
/* A name long enough to be cut in a narrow popover. */
#define BOB "maximilian_vanderberg"

static void
test_send_from_composer (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new (NULL);
  g_autoptr(GError) error = NULL;
  GSubprocess *runs[2] = { NULL, NULL };
  g_autoptr(MeshClientRest) alice_rest = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("mesh-app-send-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (tmp, "plan.txt", NULL);
  g_autofree char *invite = NULL;
  char *received[2] = { NULL, NULL };
  char *states[2] = { NULL, NULL };
  char *downloads[2] = { NULL, NULL };
  g_autoptr(GFile) file = NULL;
  UiTestPeer bob = { NULL };
  GList files = { NULL };
  MeshWindow *window;
  MeshRoomView *view;
  MeshMemberRow *row;
  GtkWidget *attach, *members, *popover;
  AdwMessageDialog *dialog;
  const char * const *devices;
  guint picked;

  g_free (mesh_test_server_add_user (server, "alice", "alice-password"));
  g_free (mesh_test_server_add_user (server, BOB, "bob-password"));
  mesh_test_server_start (server);
  ui_test_peer_start (&bob, mesh_test_server_get_base_url (server), BOB, "bob-password");
  bob.room_id = ui_test_peer_create_room (&bob, "Lab", &invite);

  /* Bob's two computers, each with its agent. */
  for (guint i = 0; i < 2; i++) {
    states[i] = g_strdup_printf ("%s/bob-agent-%u", tmp, i);
    downloads[i] = g_strdup_printf ("%s/bob-downloads-%u", tmp, i);
    received[i] = g_build_filename (downloads[i], "plan.txt", NULL);
    ui_test_agent_login (mesh_test_server_get_base_url (server), states[i], BOB, "bob-password",
                         i == 0 ? "laptop" : "desktop");
    runs[i] = ui_test_agent_run (states[i], downloads[i], "alice");
  }

  alice_rest = ui_test_rest_login (mesh_test_server_get_base_url (server), NULL, "alice",
                                   "alice-password");
  ui_test_rest_accept_invite (alice_rest, invite);

  window = ui_test_window_new (app, 1000, 700);
  ui_test_sign_in_to_room (window, mesh_test_server_get_base_url (server), "alice",
                           "alice-password", bob.room_id);
  {
    DeviceWait bob_wait = { window, BOB, 2 };
    DeviceWait alice_wait = { window, "alice", 1 };

    ui_test_wait_until (member_has_devices, &bob_wait, UI_TEST_WAIT_S, "bob's two devices");
    ui_test_wait_until (member_has_devices, &alice_wait, UI_TEST_WAIT_S, "alice's device");
  }
  view = mesh_window_get_room_view (window);

  /* The composer offers files and folders. */
  attach = ui_test_find_widget (GTK_WIDGET (view), GTK_TYPE_MENU_BUTTON, has_tooltip,
                                "Send Files or a Folder");
  g_assert_nonnull (attach);
  g_assert_true (gtk_widget_is_visible (attach));
  g_assert_true (gtk_widget_is_sensitive (attach));
  gtk_menu_button_popup (GTK_MENU_BUTTON (attach));
  ui_test_wait_drawn (GTK_WIDGET (window));
  g_free (ui_test_screenshot (GTK_WIDGET (window), "composer-attach"));
  g_free (ui_test_screenshot (GTK_WIDGET (gtk_menu_button_get_popover (GTK_MENU_BUTTON (attach))),
                              "composer-attach-menu"));
  gtk_menu_button_popdown (GTK_MENU_BUTTON (attach));

  /* The members: never yourself as a recipient; names and presence whole. */
  row = member_row (window, "alice");
  g_assert_false (gtk_widget_get_visible (send_button_of (row)));
  row = member_row (window, BOB);
  g_assert_true (gtk_widget_get_visible (send_button_of (row)));
  members = ui_test_find_widget (GTK_WIDGET (view), GTK_TYPE_MENU_BUTTON, has_tooltip, "Members");
  gtk_menu_button_popup (GTK_MENU_BUTTON (members));
  popover = GTK_WIDGET (gtk_menu_button_get_popover (GTK_MENU_BUTTON (members)));
  ui_test_wait_drawn (popover);
  /* Every label of the row (name, presence and role) shows whole. */
  assert_not_ellipsized (GTK_WIDGET (row));
  g_free (ui_test_screenshot (popover, "members-popover"));
  gtk_menu_button_popdown (GTK_MENU_BUTTON (members));

  /* Sending asks which of bob's computers gets the file. */
  g_assert_true (g_file_set_contents (path, "the plan\n", -1, &error));
  file = g_file_new_for_path (path);
  files.data = file;
  mesh_room_view_send_files (view, &files);
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the device picker"));
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Send to Which Device?");
  g_free (ui_test_screenshot (GTK_WIDGET (dialog), "device-picker"));
  /* The devices by the names bob gave them. */
  {
    const char *first = adw_message_dialog_get_response_label (dialog, "0");
    const char *second = adw_message_dialog_get_response_label (dialog, "1");

    g_assert_true ((g_str_equal (first, "laptop") && g_str_equal (second, "desktop")) ||
                   (g_str_equal (first, "desktop") && g_str_equal (second, "laptop")));
  }
  devices = mesh_member_get_devices (mesh_member_row_get_member (member_row (window, BOB)));
  g_assert_nonnull (devices[1]);
  picked = state_holds (states[0], devices[1]) ? 0 : 1;
  g_assert_true (state_holds (states[picked], devices[1]));
  adw_message_dialog_response (dialog, "1");
  ui_test_wait_until (file_exists, received[picked], UI_TEST_WAIT_S, "the file on the picked device");
  g_assert_false (g_file_test (received[1 - picked], G_FILE_TEST_EXISTS));

  for (guint i = 0; i < 2; i++) {
    ui_test_stop_agent (runs[i]);
    g_object_unref (runs[i]);
    g_free (received[i]);
    g_free (downloads[i]);
    g_free (states[i]);
  }
  ui_test_destroy_window (GTK_WINDOW (window));
  ui_test_peer_clear (&bob);
  mesh_test_remove_tree (tmp);
}

int
main (int   argc,
      char *argv[])
{
  char *home;

  /* The accessibility tree is built only when accessibility is on; the test
   * backend keeps it in the process, with no accessibility bus to find. */
  g_setenv ("GTK_A11Y", "test", TRUE);

  home = ui_test_init_with_home (&argc, &argv, "mesh-app-test-XXXXXX");
  /* The app's locale setup (main.c): the tests that want French set
   * LANGUAGE. */
  mesh_application_bind_text_domain ();
  textdomain (GETTEXT_PACKAGE);
  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/app/accessible-names", test_accessible_names);
  g_test_add_func ("/mesh/app/server-url-guess", test_server_url_guess);
  g_test_add_func ("/mesh/app/sign-in-without-scheme", test_sign_in_without_scheme);
  g_test_add_func ("/mesh/app/send-from-composer", test_send_from_composer);
  g_test_add_func ("/mesh/app/build-translations", test_build_translations);
  g_test_add_func ("/mesh/app/error-in-french", test_error_in_french);
  g_test_add_func ("/mesh/app/gotify-errors-in-french", test_gotify_errors_in_french);
  return ui_test_run (&app, home);
}
