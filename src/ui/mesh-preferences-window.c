/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-preferences-window"

#include "config.h"

#include "mesh-preferences-window.h"

#include "mesh-calls-page.h"
#include "mesh-devices-page.h"
#include "mesh-embedded-agent.h"
#include "mesh-gotify-page.h"
#include "mesh-window.h"

#include <glib/gi18n.h>

struct _MeshPreferencesWindow {
  AdwPreferencesWindow  parent_instance;

  /* Template widgets */
  AdwComboRow          *style_row;
  GtkSwitch            *notify_chat_switch;
  GtkSwitch            *notify_terminal_switch;
  GtkSwitch            *notify_calls_switch;
  GtkSwitch            *notify_files_switch;
  GtkSwitch            *notify_agents_switch;
  AdwActionRow         *download_row;
  GtkSwitch            *auto_accept_switch;
  GtkSwitch            *background_switch;
  AdwActionRow         *server_row;
  AdwActionRow         *username_row;

  /* Owned references */
  GSettings            *settings;
  GtkNativeDialog      *chooser;
  MeshClientRest       *rest;
  GtkWidget            *gotify_page;
  GtkWidget            *devices_page;
  GtkWidget            *calls_page;
  char                 *own_device_id;
};

G_DEFINE_FINAL_TYPE (MeshPreferencesWindow, mesh_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static const char *style_names[] = { "system", "light", "dark" };

static gboolean
style_get_mapping (GValue   *value,
                   GVariant *variant,
                   gpointer  user_data)
{
  const char *name = g_variant_get_string (variant, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (style_names); i++) {
    if (g_strcmp0 (name, style_names[i]) == 0) {
      g_value_set_uint (value, i);
      return TRUE;
    }
  }
  g_value_set_uint (value, 0);
  return TRUE;
}

static GVariant *
style_set_mapping (const GValue       *value,
                   const GVariantType *expected_type,
                   gpointer            user_data)
{
  guint i = g_value_get_uint (value);

  return g_variant_new_string (style_names[i < G_N_ELEMENTS (style_names) ? i : 0]);
}

static void
update_download_row (MeshPreferencesWindow *self)
{
  g_autofree char *folder = g_settings_get_string (self->settings, "download-folder");
  const char *shown = *folder != '\0' ? folder
                                      : g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);
  g_autofree char *display = NULL;

  if (shown == NULL)
    shown = g_get_home_dir ();
  display = g_filename_display_name (shown);
  adw_action_row_set_subtitle (self->download_row, display);
}

static void
chooser_response_cb (GtkNativeDialog       *chooser,
                     int                    response,
                     MeshPreferencesWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
    g_autofree char *path = folder ? g_file_get_path (folder) : NULL;

    if (path != NULL)
      g_settings_set_string (self->settings, "download-folder", path);
  }
  g_clear_object (&self->chooser);
}

static void
download_row_activated_cb (MeshPreferencesWindow *self)
{
  GtkFileChooserNative *chooser;

  if (self->chooser != NULL)
    return;
  chooser = gtk_file_chooser_native_new (_("Download Folder"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"),
                                         _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect_object (chooser, "response", G_CALLBACK (chooser_response_cb), self, 0);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  gtk_native_dialog_show (self->chooser);
}

/* The application makes the window transient for the active main window:
 * its signed-in session is the account whose server settings are shown. */
static void
transient_for_changed_cb (MeshPreferencesWindow *self)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  MeshClientSession *session = MESH_IS_WINDOW (parent) ? mesh_window_get_session (MESH_WINDOW (parent))
                                                       : NULL;
  MeshEmbeddedAgent *agent = MESH_IS_WINDOW (parent) ? mesh_window_get_agent (MESH_WINDOW (parent))
                                                     : NULL;

  MeshCallController *calls = MESH_IS_WINDOW (parent)
                               ? mesh_window_get_call_controller (MESH_WINDOW (parent)) : NULL;

  g_free (self->own_device_id);
  self->own_device_id = agent ? g_strdup (mesh_embedded_agent_get_device_id (agent)) : NULL;
  mesh_preferences_window_set_rest (self, session ? mesh_client_session_get_rest (session) : NULL);
  /* The devices the calls use; signed out, a list of our own. */
  if (self->calls_page == NULL && parent != NULL && self->settings != NULL) {
    g_autoptr(MeshMediaDevices) devices = NULL;

    if (calls != NULL)
      devices = g_object_ref (mesh_call_controller_get_devices (calls));
    else {
      gst_init (NULL, NULL);
      devices = mesh_media_devices_new ();
    }
    self->calls_page = mesh_calls_page_new (self->settings, devices);
    adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self),
                                ADW_PREFERENCES_PAGE (self->calls_page));
  }
}

static void
mesh_preferences_window_dispose (GObject *object)
{
  MeshPreferencesWindow *self = MESH_PREFERENCES_WINDOW (object);

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->settings);
  g_clear_object (&self->rest);
  g_clear_pointer (&self->own_device_id, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_PREFERENCES_WINDOW);

  G_OBJECT_CLASS (mesh_preferences_window_parent_class)->dispose (object);
}

static void
mesh_preferences_window_class_init (MeshPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_preferences_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, style_row);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, notify_chat_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow,
                                        notify_terminal_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, notify_calls_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, notify_files_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, notify_agents_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, download_row);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, auto_accept_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, background_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, server_row);
  gtk_widget_class_bind_template_child (widget_class, MeshPreferencesWindow, username_row);
  gtk_widget_class_bind_template_callback (widget_class, download_row_activated_cb);
}

static void
mesh_preferences_window_init (MeshPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect (self, "notify::transient-for", G_CALLBACK (transient_for_changed_cb), NULL);
}

GtkWindow *
mesh_preferences_window_new (GSettings *settings)
{
  MeshPreferencesWindow *self;
  g_autofree char *server = NULL;
  g_autofree char *username = NULL;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (MESH_TYPE_PREFERENCES_WINDOW, NULL);
  self->settings = g_object_ref (settings);

  g_settings_bind_with_mapping (settings, "style-variant", self->style_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, style_get_mapping, style_set_mapping,
                                NULL, NULL);
  g_settings_bind (settings, "notify-chat", self->notify_chat_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify-terminal", self->notify_terminal_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify-calls", self->notify_calls_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify-files", self->notify_files_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify-agents", self->notify_agents_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "auto-accept-own-devices", self->auto_accept_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "run-in-background", self->background_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (settings, "changed::download-folder", G_CALLBACK (update_download_row),
                           self, G_CONNECT_SWAPPED);
  update_download_row (self);

  server = g_settings_get_string (settings, "server-url");
  username = g_settings_get_string (settings, "username");
  adw_action_row_set_subtitle (self->server_row, *server ? server : _("Not signed in"));
  adw_action_row_set_subtitle (self->username_row, *username ? username : _("Not signed in"));
  return GTK_WINDOW (self);
}

void
mesh_preferences_window_set_rest (MeshPreferencesWindow *self,
                                  MeshClientRest        *rest)
{
  g_return_if_fail (MESH_IS_PREFERENCES_WINDOW (self));
  g_return_if_fail (rest == NULL || MESH_IS_CLIENT_REST (rest));

  if (self->rest == rest)
    return;
  if (self->gotify_page != NULL) {
    adw_preferences_window_remove (ADW_PREFERENCES_WINDOW (self),
                                   ADW_PREFERENCES_PAGE (self->gotify_page));
    self->gotify_page = NULL;
  }
  if (self->devices_page != NULL) {
    adw_preferences_window_remove (ADW_PREFERENCES_WINDOW (self),
                                   ADW_PREFERENCES_PAGE (self->devices_page));
    self->devices_page = NULL;
  }
  g_set_object (&self->rest, rest);
  if (rest != NULL) {
    self->gotify_page = mesh_gotify_page_new (rest);
    adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self),
                                ADW_PREFERENCES_PAGE (self->gotify_page));
    self->devices_page = mesh_devices_page_new (rest, self->own_device_id);
    adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self),
                                ADW_PREFERENCES_PAGE (self->devices_page));
  }
}

GtkWidget *
mesh_preferences_window_get_gotify_page (MeshPreferencesWindow *self)
{
  g_return_val_if_fail (MESH_IS_PREFERENCES_WINDOW (self), NULL);

  return self->gotify_page;
}

GtkWidget *
mesh_preferences_window_get_calls_page (MeshPreferencesWindow *self)
{
  g_return_val_if_fail (MESH_IS_PREFERENCES_WINDOW (self), NULL);

  return self->calls_page;
}

GtkWidget *
mesh_preferences_window_get_devices_page (MeshPreferencesWindow *self)
{
  g_return_val_if_fail (MESH_IS_PREFERENCES_WINDOW (self), NULL);

  return self->devices_page;
}
