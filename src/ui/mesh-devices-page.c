/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-devices-page"

#include "config.h"

#include "mesh-devices-page.h"

#include "mesh-ui-util.h"

#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshDevicesPage {
  AdwPreferencesPage    parent_instance;

  /* Owned widgets' parents: the group holds the rows. */
  AdwPreferencesGroup  *group;
  GPtrArray            *rows;            /* GtkWidget *, in the group */

  /* Owned references */
  MeshClientRest       *rest;
  GCancellable         *cancellable;
  char                 *own_device_id;

  gboolean              busy;
};

G_DEFINE_FINAL_TYPE (MeshDevicesPage, mesh_devices_page, ADW_TYPE_PREFERENCES_PAGE)

static void
set_busy (MeshDevicesPage *self,
          gboolean         busy)
{
  if (self->busy == busy)
    return;
  self->busy = busy;
  for (guint i = 0; i < self->rows->len; i++)
    gtk_widget_set_sensitive (g_ptr_array_index (self->rows, i), !busy);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
clear_rows (MeshDevicesPage *self)
{
  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (self->group, g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);
}

static void
add_placeholder (MeshDevicesPage *self,
                 const char      *title)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_group_add (self->group, row);
  g_ptr_array_add (self->rows, row);
}

static void
delete_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MeshDevicesPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!mesh_client_rest_delete_device_finish (MESH_CLIENT_REST (source), result, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    g_warning ("Removing a device failed: %s", error->message);
    set_busy (self, FALSE);
    mesh_ui_toast (GTK_WIDGET (self), _("The device could not be removed. Check the connection to the server and try again."));
    return;
  }
  set_busy (self, FALSE);
  mesh_ui_toast (GTK_WIDGET (self), _("The device was removed and signed out."));
  mesh_devices_page_reload (self);
}

static void
remove_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    MeshDevicesPage  *self)
{
  const char *device_id = g_object_get_data (G_OBJECT (dialog), "mesh-device-id");

  if (g_strcmp0 (response, "remove") != 0 || self->rest == NULL || device_id == NULL)
    return;
  set_busy (self, TRUE);
  mesh_client_rest_delete_device_async (self->rest, device_id, self->cancellable, delete_cb,
                                        g_object_ref (self));
}

static void
remove_clicked_cb (GtkButton       *button,
                   MeshDevicesPage *self)
{
  const char *device_id = g_object_get_data (G_OBJECT (button), "mesh-device-id");
  const char *name = g_object_get_data (G_OBJECT (button), "mesh-device-name");
  gboolean own = g_strcmp0 (device_id, self->own_device_id) == 0;
  GtkWidget *window = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_WINDOW);
  AdwMessageDialog *dialog;

  dialog = mesh_ui_question_new (GTK_WINDOW (window), NULL,
                                 own ? _("This computer will be signed out of file transfers and "
                                         "terminal sharing until you sign in again.")
                                     : _("It is signed out at once and can no longer send or "
                                         "receive files as you. Sign in on it again to use it."),
                                 "remove", _("_Remove"), ADW_RESPONSE_DESTRUCTIVE, "cancel");
  adw_message_dialog_format_heading (dialog, _("Remove “%s”?"), name);
  g_object_set_data_full (G_OBJECT (dialog), "mesh-device-id", g_strdup (device_id), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (remove_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
add_device_row (MeshDevicesPage        *self,
                const MeshClientDevice *device)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *button = gtk_button_new_with_mnemonic (_("_Remove"));
  gboolean own = g_strcmp0 (device->device_id, self->own_device_id) == 0;
  g_autofree char *fingerprint = NULL;
  g_autofree char *subtitle = NULL;
  g_autofree char *button_name = NULL;

  /* A device name is the user's own text: never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), device->name);
  fingerprint = g_utf8_substring (device->fingerprint ? device->fingerprint : "", 0, 23);
  subtitle = own ? g_strdup_printf (_("This computer · %s…"), fingerprint)
                 : g_strdup_printf ("%s…", fingerprint);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  button_name = g_strdup_printf (_("Remove %s"), device->name);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, button_name,
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  _("Signs this device out and revokes its access"),
                                  -1);
  g_object_set_data_full (G_OBJECT (button), "mesh-device-id", g_strdup (device->device_id),
                          g_free);
  g_object_set_data_full (G_OBJECT (button), "mesh-device-name", g_strdup (device->name), g_free);
  g_signal_connect_object (button, "clicked", G_CALLBACK (remove_clicked_cb), self, 0);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);

  adw_preferences_group_add (self->group, row);
  g_ptr_array_add (self->rows, row);
}

static void
list_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(MeshDevicesPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;

  devices = mesh_client_rest_list_devices_finish (MESH_CLIENT_REST (source), result, &error);
  if (devices == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  clear_rows (self);
  set_busy (self, FALSE);
  if (devices == NULL) {
    g_warning ("Listing devices failed: %s", error->message);
    add_placeholder (self, _("The list of devices could not be loaded. Check the connection to the server."));
    return;
  }
  if (devices->len == 0)
    add_placeholder (self, _("No device is signed in for file transfers yet."));
  for (guint i = 0; i < devices->len; i++)
    add_device_row (self, g_ptr_array_index (devices, i));
}

static void
mesh_devices_page_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MeshDevicesPage *self = MESH_DEVICES_PAGE (object);

  switch (prop_id) {
  case PROP_BUSY:
    g_value_set_boolean (value, self->busy);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_devices_page_dispose (GObject *object)
{
  MeshDevicesPage *self = MESH_DEVICES_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->rest);
  g_clear_pointer (&self->own_device_id, g_free);
  g_clear_pointer (&self->rows, g_ptr_array_unref);

  G_OBJECT_CLASS (mesh_devices_page_parent_class)->dispose (object);
}

static void
mesh_devices_page_class_init (MeshDevicesPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_devices_page_get_property;
  object_class->dispose = mesh_devices_page_dispose;

  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_devices_page_init (MeshDevicesPage *self)
{
  self->cancellable = g_cancellable_new ();
  self->rows = g_ptr_array_new ();
  adw_preferences_page_set_title (ADW_PREFERENCES_PAGE (self), _("Devices"));
  adw_preferences_page_set_icon_name (ADW_PREFERENCES_PAGE (self), "computer-symbolic");
  self->group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  adw_preferences_group_set_title (self->group, _("Your Devices"));
  adw_preferences_group_set_description (self->group,
                                         _("Computers that send and receive files as you. Remove "
                                           "one you no longer use or that was lost: it is signed "
                                           "out at once."));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (self), self->group);
}

GtkWidget *
mesh_devices_page_new (MeshClientRest *rest,
                       const char     *own_device_id)
{
  MeshDevicesPage *self;

  g_return_val_if_fail (MESH_IS_CLIENT_REST (rest), NULL);

  self = g_object_new (MESH_TYPE_DEVICES_PAGE, NULL);
  self->rest = g_object_ref (rest);
  self->own_device_id = g_strdup (own_device_id);
  mesh_devices_page_reload (self);
  return GTK_WIDGET (self);
}

gboolean
mesh_devices_page_get_busy (MeshDevicesPage *self)
{
  g_return_val_if_fail (MESH_IS_DEVICES_PAGE (self), FALSE);

  return self->busy;
}

void
mesh_devices_page_reload (MeshDevicesPage *self)
{
  g_return_if_fail (MESH_IS_DEVICES_PAGE (self));

  set_busy (self, TRUE);
  mesh_client_rest_list_devices_async (self->rest, self->cancellable, list_cb,
                                       g_object_ref (self));
}
