/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-window"

#include "config.h"

#include "mesh-call-controller.h"
#include "mesh-error-text.h"
#include "mesh-offer-dialog.h"
#include "mesh-saved-session.h"
#include "mesh-screen-viewer.h"
#include "mesh-ui-util.h"
#include "mesh-window.h"
#include "mesh-escape.h"

#include "mesh-error.h"

#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_PAGE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshWindow {
  AdwApplicationWindow  parent_instance;

  /* Template widgets */
  AdwToastOverlay      *toast_overlay;
  GtkStack             *main_stack;
  MeshSigninPage       *signin_page;
  AdwLeaflet           *leaflet;
  MeshRoomSidebar      *sidebar;
  MeshRoomView         *room_view;

  /* Owned references */
  GSettings            *settings;
  char                 *profile;
  MeshClientSession    *session;
  MeshRoomList         *room_list;
  MeshNotifier         *notifier;
  MeshEmbeddedAgent    *agent;
  MeshCallController   *calls;
  GCancellable         *cancellable;  /* the signed-in session's requests */
};

G_DEFINE_FINAL_TYPE (MeshWindow, mesh_window, ADW_TYPE_APPLICATION_WINDOW)

static void
set_page (MeshWindow *self,
          const char *page)
{
  gtk_stack_set_visible_child_name (self->main_stack, page);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAGE]);
}

/* The room the user is looking at right now, for notifications and the
 * unread count; NULL when the window is in the background. */
static void
focus_changed_cb (MeshWindow *self)
{
  MeshRoom *room = mesh_room_view_get_room (self->room_view);
  gboolean visible = room != NULL && gtk_window_is_active (GTK_WINDOW (self)) &&
                     g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "rooms") == 0 &&
                     (!adw_leaflet_get_folded (self->leaflet) ||
                      adw_leaflet_get_visible_child (self->leaflet) == GTK_WIDGET (self->room_view));

  if (self->notifier != NULL)
    mesh_notifier_set_focused_room_id (self->notifier,
                                       visible ? mesh_room_get_room_id (room) : NULL);
  if (visible)
    mesh_room_view_mark_read (self->room_view);
}

static void
room_activated_cb (MeshWindow *self,
                   MeshRoom   *room)
{
  mesh_room_view_set_room (self->room_view, room);
  adw_leaflet_set_visible_child (self->leaflet, GTK_WIDGET (self->room_view));
  mesh_room_view_focus_entry (self->room_view);
  focus_changed_cb (self);
}

/* A failed call to the server: an expired sign-in signs out; when cancelled,
 * the window may be gone. */
static void
report_server_error (MeshWindow   *self,
                     const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED)) {
    mesh_window_sign_out (self);
    mesh_ui_toast (GTK_WIDGET (self), _("Your sign-in has expired; sign in again"));
    return;
  }
  mesh_ui_toast_error (GTK_WIDGET (self), error);
}

static void
refresh_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshRoom) first = NULL;
  MeshWindow *self = user_data;

  if (!mesh_room_list_refresh_finish (MESH_ROOM_LIST (source), result, &error)) {
    report_server_error (self, error);
    return;
  }

  /* Side by side, an empty room view would waste half the window. */
  first = g_list_model_get_item (G_LIST_MODEL (self->room_list), 0);
  if (first != NULL && mesh_room_view_get_room (self->room_view) == NULL &&
      !adw_leaflet_get_folded (self->leaflet))
    mesh_room_sidebar_select_room (self->sidebar, mesh_room_get_room_id (first));
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* Transient failures are retried by the session; the banner says so. */
  if (!mesh_client_session_connect_finish (MESH_CLIENT_SESSION (source), result, &error))
    report_server_error (user_data, error);
}

static void
agent_failed_cb (MeshWindow *self,
                 const char *message)
{
  g_autofree char *text = g_strdup_printf (_("This computer cannot send or receive files: %s"),
                                           message);

  mesh_ui_toast (GTK_WIDGET (self), text);
}

/* The agent joined the rooms of its start; rooms created or joined since
 * are handed to it here. */
static void
rooms_changed_cb (MeshWindow *self,
                  guint       position,
                  guint       removed,
                  guint       added)
{
  for (guint i = position; i < position + added && self->agent != NULL; i++) {
    g_autoptr(MeshRoom) room = g_list_model_get_item (G_LIST_MODEL (self->room_list), i);

    mesh_embedded_agent_join_room (self->agent, mesh_room_get_room_id (room));
  }
}

/* A room deleted or left (here, on another device, or by its owner): the
 * room view lets go of it, and a deletion by someone else is said. */
static void
room_removed_cb (MeshWindow *self,
                 MeshRoom   *room,
                 const char *why,
                 const char *by_user_id)
{
  const char *own = mesh_client_rest_get_user_id (mesh_client_session_get_rest (self->session));

  if (mesh_room_view_get_room (self->room_view) == room) {
    mesh_room_view_set_room (self->room_view, NULL);
    adw_leaflet_set_visible_child (self->leaflet, GTK_WIDGET (self->sidebar));
  }
  if (g_strcmp0 (why, "deleted") == 0 && g_strcmp0 (by_user_id, own) != 0) {
    g_autofree char *name = mesh_escape_for_display (mesh_room_get_name (room), -1);
    g_autofree char *text = g_strdup_printf (_("“%s” was deleted by its owner"), name);

    mesh_ui_toast (GTK_WIDGET (self), text);
  }
}

static void
agent_offer_cb (MeshWindow   *self,
                MeshTransfer *transfer)
{
  GtkWidget *dialog = mesh_offer_dialog_new (GTK_WINDOW (self), transfer);

  gtk_window_present (GTK_WINDOW (dialog));
}

static void
agent_received_cb (MeshWindow   *self,
                   MeshTransfer *transfer)
{
  mesh_notifier_notify_received (self->notifier, mesh_transfer_get_room_id (transfer),
                                 mesh_transfer_get_peer_name (transfer),
                                 mesh_transfer_get_name (transfer),
                                 mesh_transfer_get_size (transfer),
                                 mesh_transfer_get_is_folder (transfer),
                                 mesh_transfer_get_file (transfer));
}

/* Each transfer of the agent, once it ends, gets a line in its room's conversation. */
static void
transfers_changed_cb (MeshWindow *self,
                      guint       position,
                      guint       removed,
                      guint       added,
                      GListModel *transfers)
{
  for (guint i = position; i < position + added; i++) {
    g_autoptr(MeshTransfer) transfer = g_list_model_get_item (transfers, i);

    mesh_room_view_watch_transfer (self->room_view, transfer);
  }
}

/* A screen share this window accepted to watch gets a window of its own. */
static void
screen_watched_cb (MeshWindow *self,
                   MeshCall   *call)
{
  gtk_window_present (GTK_WINDOW (mesh_screen_viewer_new (GTK_APPLICATION (
    gtk_window_get_application (GTK_WINDOW (self))), call)));
}

static void
start_session (MeshWindow     *self,
               MeshClientRest *rest,
               const char     *username)
{
  self->cancellable = g_cancellable_new ();
  self->session = mesh_client_session_new (rest);
  self->room_list = mesh_room_list_new (rest, self->session);
  self->notifier = mesh_notifier_new (self->settings, self->session, self->room_list);
  g_signal_connect_object (self->notifier, "activate-room", G_CALLBACK (mesh_window_open_room),
                           self, G_CONNECT_SWAPPED);

  mesh_room_sidebar_set_room_list (self->sidebar, self->room_list, self->session, username);
  mesh_room_view_set_session (self->room_view, self->session);
  self->calls = mesh_call_controller_new (self->settings, self->session, self->room_list,
                                         self->notifier);
  g_signal_connect_object (self->calls, "screen-watched", G_CALLBACK (screen_watched_cb), self,
                           G_CONNECT_SWAPPED);
  mesh_room_view_set_call_controller (self->room_view, self->calls);

  self->agent = mesh_embedded_agent_new (self->profile, mesh_client_rest_get_base_url (rest),
                                         mesh_client_rest_get_user_id (rest), username,
                                         mesh_client_rest_get_access_token (rest), self->settings);
  g_signal_connect_object (self->agent, "failed", G_CALLBACK (agent_failed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->agent, "offer", G_CALLBACK (agent_offer_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->agent, "received", G_CALLBACK (agent_received_cb), self,
                           G_CONNECT_SWAPPED);
  /* The app's own agent going away is the user's doing, not news. */
  g_signal_connect_object (self->agent, "ready", G_CALLBACK (mesh_notifier_set_own_device_id),
                           self->notifier, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->room_list, "items-changed", G_CALLBACK (rooms_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->room_list, "room-removed", G_CALLBACK (room_removed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (mesh_embedded_agent_get_transfers (self->agent), "items-changed",
                           G_CALLBACK (transfers_changed_cb), self, G_CONNECT_SWAPPED);
  mesh_embedded_agent_start (self->agent);
  mesh_room_view_set_agent (self->room_view, self->agent);
  adw_leaflet_set_visible_child (self->leaflet, GTK_WIDGET (self->sidebar));
  set_page (self, "rooms");

  mesh_client_session_connect_async (self->session, self->cancellable, connect_cb, self);
  mesh_room_list_refresh_async (self->room_list, self->cancellable, refresh_cb, self);
}

static void
signed_in_cb (MeshWindow     *self,
              MeshClientRest *rest,
              const char     *username)
{
  g_autoptr(GError) error = NULL;
  MeshSavedSession saved = {
    .server_url = (char *) mesh_client_rest_get_base_url (rest),
    .user_id = (char *) mesh_client_rest_get_user_id (rest),
    .username = (char *) username,
    .access_token = (char *) mesh_client_rest_get_access_token (rest),
  };

  if (!mesh_saved_session_save (&saved, self->profile, &error)) {
    g_autofree char *message = g_strdup_printf (_("You will have to sign in again next time: %s"),
                                                error->message);
    mesh_ui_toast (GTK_WIDGET (self), message);
  }
  start_session (self, rest, username);
}

static gboolean
restore_session (MeshWindow *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshSavedSession) saved = NULL;
  g_autoptr(MeshClientRest) rest = NULL;
  g_autofree char *server = g_settings_get_string (self->settings, "server-url");
  g_autofree char *pinned = g_settings_get_string (self->settings, "pinned-fingerprint");

  saved = mesh_saved_session_load (self->profile, &error);
  if (saved == NULL) {
    if (error != NULL)
      mesh_ui_toast_error (GTK_WIDGET (self), error);
    return FALSE;
  }
  /* The settings say which server the certificate pin is for. */
  if (g_strcmp0 (saved->server_url, server) != 0)
    return FALSE;

  rest = mesh_client_rest_new (saved->server_url);
  mesh_client_rest_set_access_token (rest, saved->access_token);
  mesh_client_rest_set_user_id (rest, saved->user_id);
  if (*pinned != '\0')
    mesh_client_rest_set_pinned_fingerprint (rest, pinned);
  start_session (self, rest, saved->username);
  return TRUE;
}

static void
toast_activated (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  MeshWindow *self = MESH_WINDOW (widget);
  AdwToast *toast = mesh_error_text_toast_new (g_variant_get_string (parameter, NULL));

  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
sign_out_activated (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  mesh_window_sign_out (MESH_WINDOW (widget));
}

/* win.new-room and win.join-room, once signed in. */
static void
new_or_join_room_activated (GtkWidget  *widget,
                            const char *action_name,
                            GVariant   *parameter)
{
  MeshWindow *self = MESH_WINDOW (widget);

  if (self->room_list == NULL)
    return;
  if (g_str_equal (action_name, "win.join-room"))
    mesh_room_sidebar_join_room (self->sidebar);
  else
    mesh_room_sidebar_create_room (self->sidebar);
}

static void
focus_rooms_activated (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  MeshWindow *self = MESH_WINDOW (widget);

  if (self->room_list == NULL)
    return;
  adw_leaflet_set_visible_child (self->leaflet, GTK_WIDGET (self->sidebar));
  mesh_room_sidebar_focus_rooms (self->sidebar);
}

static void
show_rooms_activated (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  MeshWindow *self = MESH_WINDOW (widget);

  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
open_room_activated (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  mesh_window_open_room (MESH_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
mesh_window_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  MeshWindow *self = MESH_WINDOW (object);

  switch (prop_id) {
  case PROP_PAGE:
    g_value_set_string (value, mesh_window_get_page (self));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

/* Not in constructed(): GtkWindow:application is set after it. */
static void
setup (MeshWindow      *self,
       MeshApplication *app)
{
  g_autofree char *password = NULL;
  const char *server, *username;

  self->settings = g_object_ref (mesh_application_get_settings (app));
  self->profile = g_strdup (mesh_application_get_profile (app));

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  mesh_signin_page_set_settings (self->signin_page, self->settings);

  /* A sign-in given on the command line replaces any saved one. */
  server = mesh_application_get_initial_server (app);
  username = mesh_application_get_initial_username (app);
  password = mesh_application_steal_initial_password (app);
  if (server != NULL && username != NULL && password != NULL) {
    mesh_saved_session_forget (self->profile);
    mesh_signin_page_sign_in (self->signin_page, server, username, password);
    return;
  }
  if (server != NULL || username != NULL) {
    g_autoptr(MeshSavedSession) saved = mesh_saved_session_load (self->profile, NULL);

    if (saved == NULL || g_strcmp0 (saved->username, username) != 0 ||
        g_strcmp0 (saved->server_url, server) != 0) {
      if (server != NULL)
        g_settings_set_string (self->settings, "server-url", server);
      if (username != NULL)
        g_settings_set_string (self->settings, "username", username);
      mesh_signin_page_set_settings (self->signin_page, self->settings);
      return;
    }
  }
  restore_session (self);
}

/* In a sandbox the background portal decides whether an app with no
 * window may keep running; elsewhere nothing stops it.  Asked once. */
static void
request_background (MeshWindow *self)
{
  static gboolean asked;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GVariantBuilder) options = NULL;

  if (asked)
    return;
  asked = TRUE;
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  if (bus == NULL)
    return;
  options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (options, "{sv}", "reason",
                         g_variant_new_string (_("Receive messages and files while the window "
                                                 "is closed")));
  g_variant_builder_add (options, "{sv}", "autostart", g_variant_new_boolean (FALSE));
  /* No portal (not installed, not sandboxed): the call fails, which is fine. */
  g_dbus_connection_call (bus, "org.freedesktop.portal.Desktop",
                          "/org/freedesktop/portal/desktop",
                          "org.freedesktop.portal.Background", "RequestBackground",
                          g_variant_new ("(sa{sv})", "", options), NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL, NULL);
}

static gboolean
mesh_window_close_request (GtkWindow *window)
{
  MeshWindow *self = MESH_WINDOW (window);
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  if (!gtk_window_is_maximized (window) && width > 0 && height > 0) {
    g_settings_set_int (self->settings, "window-width", width);
    g_settings_set_int (self->settings, "window-height", height);
  }

  /* Signed in and asked to: hidden, not closed, so the user stays online
   * and receives files; the app says so (opening it again shows the window). */
  if (self->session != NULL && g_settings_get_boolean (self->settings, "run-in-background")) {
    if (self->notifier != NULL)
      mesh_notifier_notify_background (self->notifier);
    request_background (self);
    gtk_widget_set_visible (GTK_WIDGET (window), FALSE);
    return TRUE;
  }

  return GTK_WINDOW_CLASS (mesh_window_parent_class)->close_request (window);
}

static void
clear_session (MeshWindow *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  /* Hung up while the session can still say so. */
  if (self->calls != NULL)
    mesh_call_controller_shutdown (self->calls);
  g_clear_object (&self->calls);
  if (self->agent != NULL)
    mesh_embedded_agent_stop (self->agent);
  g_clear_object (&self->agent);
  if (self->session != NULL)
    mesh_client_session_disconnect (self->session);
  g_clear_object (&self->notifier);
  g_clear_object (&self->room_list);
  g_clear_object (&self->session);
}

static void
mesh_window_dispose (GObject *object)
{
  MeshWindow *self = MESH_WINDOW (object);

  clear_session (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_WINDOW);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (mesh_window_parent_class)->dispose (object);
}

static void
mesh_window_finalize (GObject *object)
{
  MeshWindow *self = MESH_WINDOW (object);

  g_free (self->profile);

  G_OBJECT_CLASS (mesh_window_parent_class)->finalize (object);
}

static void
mesh_window_class_init (MeshWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->get_property = mesh_window_get_property;
  object_class->dispose = mesh_window_dispose;
  object_class->finalize = mesh_window_finalize;
  window_class->close_request = mesh_window_close_request;

  properties[PROP_PAGE] =
    g_param_spec_string ("page", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (MESH_TYPE_SIGNIN_PAGE);
  g_type_ensure (MESH_TYPE_ROOM_SIDEBAR);
  g_type_ensure (MESH_TYPE_ROOM_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/mesh/Mesh/ui/mesh-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, MeshWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, MeshWindow, signin_page);
  gtk_widget_class_bind_template_child (widget_class, MeshWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, MeshWindow, sidebar);
  gtk_widget_class_bind_template_child (widget_class, MeshWindow, room_view);
  gtk_widget_class_bind_template_callback (widget_class, signed_in_cb);
  gtk_widget_class_bind_template_callback (widget_class, room_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, focus_changed_cb);

  gtk_widget_class_install_action (widget_class, "win.toast", "s", toast_activated);
  gtk_widget_class_install_action (widget_class, "win.sign-out", NULL, sign_out_activated);
  gtk_widget_class_install_action (widget_class, "win.new-room", NULL,
                                   new_or_join_room_activated);
  gtk_widget_class_install_action (widget_class, "win.join-room", NULL,
                                   new_or_join_room_activated);
  gtk_widget_class_install_action (widget_class, "win.focus-rooms", NULL, focus_rooms_activated);
  gtk_widget_class_install_action (widget_class, "win.show-rooms", NULL, show_rooms_activated);
  gtk_widget_class_install_action (widget_class, "win.open-room", "s", open_room_activated);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-room", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_j, GDK_CONTROL_MASK,
                                       "win.join-room", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_k, GDK_CONTROL_MASK,
                                       "win.focus-rooms", NULL);
}

static void
mesh_window_init (MeshWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect_swapped (self, "notify::is-active", G_CALLBACK (focus_changed_cb), self);
}

MeshWindow *
mesh_window_new (MeshApplication *application)
{
  MeshWindow *self;

  g_return_val_if_fail (MESH_IS_APPLICATION (application), NULL);

  self = g_object_new (MESH_TYPE_WINDOW, "application", application, NULL);
  setup (self, application);
  return self;
}

const char *
mesh_window_get_page (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return gtk_stack_get_visible_child_name (self->main_stack);
}

MeshClientSession *
mesh_window_get_session (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->session;
}

MeshRoomList *
mesh_window_get_room_list (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->room_list;
}

MeshNotifier *
mesh_window_get_notifier (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->notifier;
}

MeshEmbeddedAgent *
mesh_window_get_agent (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->agent;
}

MeshCallController *
mesh_window_get_call_controller (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->calls;
}

MeshSigninPage *
mesh_window_get_signin_page (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->signin_page;
}

MeshRoomSidebar *
mesh_window_get_sidebar (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->sidebar;
}

MeshRoomView *
mesh_window_get_room_view (MeshWindow *self)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), NULL);

  return self->room_view;
}

gboolean
mesh_window_open_room (MeshWindow *self,
                       const char *room_id)
{
  g_return_val_if_fail (MESH_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  if (!mesh_room_sidebar_select_room (self->sidebar, room_id))
    return FALSE;
  gtk_window_present (GTK_WINDOW (self));
  return TRUE;
}

void
mesh_window_sign_out (MeshWindow *self)
{
  g_return_if_fail (MESH_IS_WINDOW (self));

  mesh_saved_session_forget (self->profile);
  mesh_room_view_set_session (self->room_view, NULL);
  mesh_room_view_set_agent (self->room_view, NULL);
  mesh_room_view_set_call_controller (self->room_view, NULL);
  mesh_room_sidebar_set_room_list (self->sidebar, NULL, NULL, NULL);
  clear_session (self);
  mesh_signin_page_set_settings (self->signin_page, self->settings);
  set_page (self, "signin");
}
