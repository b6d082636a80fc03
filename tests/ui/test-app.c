/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app"

/* The app as a new user meets it: what a screen reader can name, signing in
 * to an address typed without a scheme, errors in words (and in French), and
 * sending files from the composer.  Window tests against a real mesh-server
 * under Xvfb. */

#include "config.h"

#include "client-test-server.h"
#include "mesh-application.h"
#include "mesh-preferences-window.h"
#include "mesh-room-view.h"
#include "mesh-shared-terminal.h"
#include "mesh-terminal-window.h"
#include "mesh-transfer-list.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

static MeshApplication *app;

static MeshWindow *
new_window (int width,
            int height)
{
  MeshWindow *window = mesh_window_new (app);

  ui_test_present (GTK_WINDOW (window), width, height);
  return window;
}

/* --- Accessibility ------------------------------------------------------ */

/* Whether a person operates @widget: what a screen reader must name. */
static gboolean
is_interactive (GtkWidget *widget)
{
  GtkWidget *parent = gtk_widget_get_parent (widget);

  /* A menu model's items are GTK's own (GtkModelButton), named by GTK from
   * the menu's labels. */
  if (g_str_equal (G_OBJECT_TYPE_NAME (widget), "GtkModelButton"))
    return FALSE;
  /* The text inside an entry is the entry's: the entry is named. */
  if (GTK_IS_TEXT (widget) && parent != NULL && GTK_IS_EDITABLE (parent))
    return FALSE;
  if (GTK_IS_TEXT (widget) && gtk_widget_get_ancestor (widget, ADW_TYPE_ENTRY_ROW) != NULL)
    return FALSE;
  /* A menu button's inner toggle is the menu button's. */
  if (GTK_IS_TOGGLE_BUTTON (widget) && parent != NULL && GTK_IS_MENU_BUTTON (parent))
    return FALSE;
  /* An entry's icons (the password reveal is a button of the row's own). */
  if (GTK_IS_LIST_BOX_ROW (widget))
    return gtk_list_box_row_get_activatable (GTK_LIST_BOX_ROW (widget)) &&
           gtk_widget_get_sensitive (widget);
  return GTK_IS_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget) ||
         GTK_IS_CHECK_BUTTON (widget) || GTK_IS_SWITCH (widget) ||
         GTK_IS_ENTRY (widget) || GTK_IS_TEXT (widget) || GTK_IS_PASSWORD_ENTRY (widget) ||
         GTK_IS_SEARCH_ENTRY (widget) || GTK_IS_SPIN_BUTTON (widget) ||
         GTK_IS_TEXT_VIEW (widget) || GTK_IS_DROP_DOWN (widget) || GTK_IS_SCALE (widget) ||
         ADW_IS_ENTRY_ROW (widget) || ADW_IS_COMBO_ROW (widget);
}

/* The labels under @root, to resolve a labelled-by relation against. */
static void
collect_labels (GtkWidget *root,
                GPtrArray *labels)
{
  if (GTK_IS_LABEL (root))
    g_ptr_array_add (labels, root);
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_labels (child, labels);
}

/* What a screen reader reads as @widget's name: its label property, or the
 * text of the label it is labelled by; NULL when it has neither. */
static char *
accessible_name (GtkWidget *widget,
                 GPtrArray *labels)
{
  GtkAccessible *accessible = GTK_ACCESSIBLE (widget);

  if (gtk_test_accessible_has_property (accessible, GTK_ACCESSIBLE_PROPERTY_LABEL)) {
    /* The check answers the real value when it is not the one asked for. */
    g_autofree char *value = gtk_test_accessible_check_property (
      accessible, GTK_ACCESSIBLE_PROPERTY_LABEL, "\x01");

    if (value != NULL && *value != '\0')
      return g_steal_pointer (&value);
  }
  if (gtk_test_accessible_has_relation (accessible, GTK_ACCESSIBLE_RELATION_LABELLED_BY)) {
    /* Asked for an impossible value, the check answers the real one:
     * "GtkLabel<0x…> GtkImage<0x…>".  Only labels give a name. */
    g_autofree char *related = gtk_test_accessible_check_relation (
      accessible, GTK_ACCESSIBLE_RELATION_LABELLED_BY, NULL);
    g_autoptr(GString) name = g_string_new (NULL);

    for (guint i = 0; related != NULL && i < labels->len; i++) {
      g_autofree char *ref = g_strdup_printf ("%s<%p>", G_OBJECT_TYPE_NAME (labels->pdata[i]),
                                              labels->pdata[i]);

      if (strstr (related, ref) != NULL)
        g_string_append (name, gtk_label_get_text (labels->pdata[i]));
    }
    if (name->len > 0)
      return g_string_free (g_steal_pointer (&name), FALSE);
  }
  return NULL;
}

static void
check_names (GtkWidget *widget,
             GPtrArray *labels,
             GString   *faults)
{
  if (!gtk_widget_get_visible (widget))
    return;
  if (is_interactive (widget)) {
    g_autofree char *name = accessible_name (widget, labels);

    if (name == NULL || *name == '\0')
      g_string_append_printf (faults, "  %s in %s (tooltip “%s”%s%s): no name\n",
                              G_OBJECT_TYPE_NAME (widget),
                              G_OBJECT_TYPE_NAME (gtk_widget_get_parent (widget)),
                              gtk_widget_get_tooltip_text (widget),
                              GTK_IS_BUTTON (widget) ? ", icon " : "",
                              GTK_IS_BUTTON (widget)
                                ? gtk_button_get_icon_name (GTK_BUTTON (widget)) : "");
    else if (g_type_from_name (name) != 0)
      g_string_append_printf (faults, "  %s: named by a type, “%s”\n",
                              G_OBJECT_TYPE_NAME (widget), name);
    else if (strchr (name, '_') != NULL)
      g_string_append_printf (faults, "  %s: mnemonic underscore in “%s”\n",
                              G_OBJECT_TYPE_NAME (widget), name);
    else
      g_test_message ("%s: “%s”", G_OBJECT_TYPE_NAME (widget), name);
  }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    check_names (child, labels, faults);
}

/* Every interactive widget under @root has a name a screen reader can read:
 * not empty, not a type's name, without a mnemonic's underscore. */
static void
assert_all_named (GtkWidget  *root,
                  const char *page,
                  GString    *faults)
{
  g_autoptr(GPtrArray) labels = g_ptr_array_new ();
  gsize before = faults->len;

  collect_labels (root, labels);
  g_string_append_printf (faults, "%s:\n", page);
  check_names (root, labels, faults);
  if (faults->len == before + strlen (page) + 2)
    g_string_truncate (faults, before);
}

static gboolean
has_tooltip (GtkWidget     *widget,
             gconstpointer  tooltip)
{
  return g_strcmp0 (gtk_widget_get_tooltip_text (widget), tooltip) == 0;
}

static void
test_accessible_names (void)
{
  g_autoptr(ClientTestServer) server = client_test_server_new ();
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

  g_free (client_test_server_add_user (server, "alice", "alice-password"));
  g_free (client_test_server_add_user (server, "bob", "bob-password"));
  client_test_server_start (server);
  ui_test_peer_start (&bob, client_test_server_get_url (server), "bob", "bob-password");
  bob.room_id = ui_test_peer_create_room (&bob, "Kitchen", &invite);

  window = new_window (1280, 800);
  assert_all_named (GTK_WIDGET (window), "sign-in page", faults);

  ui_test_sign_in (window, client_test_server_get_url (server), "alice", "alice-password");
  /* Joined through the dialog, which opens the room. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.join-room", NULL));
  dialog = ADW_MESSAGE_DIALOG (ui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, "the join dialog"));
  assert_all_named (GTK_WIDGET (dialog), "join dialog", faults);
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), invite);
  adw_message_dialog_response (dialog, "ok");
  ui_test_wait_room_open (window, bob.room_id, "the joined room to open");
  ui_test_wait_drawn (GTK_WIDGET (window));
  /* The room list, the room view with its members and transfers popovers
   * (their content is in the tree before they open). */
  assert_all_named (GTK_WIDGET (window), "room list and room view", faults);
  view = mesh_window_get_room_view (window);
  /* The popovers' content, shown or not. */
  transfers = ui_test_find_widget (GTK_WIDGET (view), MESH_TYPE_TRANSFER_LIST, NULL, NULL);
  g_assert_nonnull (transfers);
  transfers = ui_test_find_widget (transfers, GTK_TYPE_MENU_BUTTON, NULL, NULL);
  assert_all_named (gtk_popover_get_child (gtk_menu_button_get_popover (GTK_MENU_BUTTON (transfers))),
                    "transfers popover", faults);
  members = ui_test_find_widget (GTK_WIDGET (view), GTK_TYPE_MENU_BUTTON, has_tooltip,
                                 "Members");
  g_assert_nonnull (members);
  assert_all_named (gtk_popover_get_child (gtk_menu_button_get_popover (GTK_MENU_BUTTON (members))),
                    "members popover", faults);

  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), "preferences"));
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  preferences = ui_test_wait_toplevel (MESH_TYPE_PREFERENCES_WINDOW, "the preferences");
  ui_test_wait_drawn (GTK_WIDGET (preferences));
  assert_all_named (GTK_WIDGET (preferences), "preferences", faults);
  ui_test_destroy_window (preferences);

  terminal = mesh_shared_terminal_new (MESH_SHARED_TERMINAL_VIEWER, bob.room_id, "bob");
  terminal_window = mesh_terminal_window_new (GTK_APPLICATION (app), terminal);
  ui_test_present (GTK_WINDOW (terminal_window), 800, 600);
  assert_all_named (GTK_WIDGET (terminal_window), "terminal window", faults);
  ui_test_destroy_window (GTK_WINDOW (terminal_window));

  ui_test_destroy_window (GTK_WINDOW (window));
  ui_test_peer_clear (&bob);

  if (faults->len > 0)
    g_error ("Interactive widgets a screen reader cannot name:\n%s", faults->str);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *config = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  /* The saved sign-in and the embedded agent's state go to a throwaway
   * folder, not the user's. */
  config = g_dir_make_tmp ("mesh-app-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);
  g_setenv ("XDG_STATE_HOME", config, TRUE);
  /* The accessibility tree is built only when accessibility is on; the test
   * backend keeps it in the process, with no accessibility bus to find. */
  g_setenv ("GTK_A11Y", "test", TRUE);

  ui_test_init (&argc, &argv);
  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/app/accessible-names", test_accessible_names);
  ret = g_test_run ();

  g_application_release (G_APPLICATION (app));
  g_clear_object (&app);
  return ret;
}
