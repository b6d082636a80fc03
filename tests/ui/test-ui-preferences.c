/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "test-ui-private.h"

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

/* The preferences window: style, notifications, Gotify, devices. */
void
test_ui_add_preferences_tests (void)
{
  g_test_add_func ("/mesh/ui/preferences", test_preferences);
  g_test_add_func ("/mesh/ui/gotify", test_gotify);
  g_test_add_func ("/mesh/ui/devices", test_devices);
  g_test_add_func ("/mesh/ui/gotify-failed-test", test_gotify_failed_test);
}
