/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-calls-page"

#include "config.h"

#include "mesh-calls-page.h"

#include <glib/gi18n.h>

/* One device kind: its row, its setting, and the device ids of the row's
 * items ("" for Default first). */
typedef struct {
  MeshCallsPage *page;
  const char    *key;
  const char    *klass;
  AdwComboRow   *row;
  GPtrArray     *ids;
  gboolean       updating;
} Slot;

enum {
  SLOT_CAMERA,
  SLOT_MICROPHONE,
  SLOT_SPEAKER,
  N_SLOTS
};

struct _MeshCallsPage {
  AdwPreferencesPage  parent_instance;

  /* Template widgets */
  AdwComboRow        *camera_row;
  AdwComboRow        *microphone_row;
  AdwComboRow        *speaker_row;

  /* Owned references */
  GSettings          *settings;
  MeshMediaDevices   *devices;
  Slot                slots[N_SLOTS];
};

G_DEFINE_FINAL_TYPE (MeshCallsPage, mesh_calls_page, ADW_TYPE_PREFERENCES_PAGE)

/* The row lists Default and the devices there now, and shows the saved one. */
static void
slot_update (Slot *slot)
{
  GListModel *model = mesh_media_devices_get_model (slot->page->devices, slot->klass);
  g_autoptr(GtkStringList) names = gtk_string_list_new (NULL);
  g_autofree char *saved = g_settings_get_string (slot->page->settings, slot->key);
  guint selected = 0;

  g_ptr_array_set_size (slot->ids, 0);
  gtk_string_list_append (names, _("Default"));
  g_ptr_array_add (slot->ids, g_strdup (""));
  for (guint i = 0; model != NULL && i < g_list_model_get_n_items (model); i++) {
    g_autoptr(GstDevice) device = g_list_model_get_item (model, i);
    g_autofree char *name = gst_device_get_display_name (device);
    const char *id = mesh_media_device_get_id (device);

    if (g_strcmp0 (id, saved) == 0)
      selected = slot->ids->len;
    gtk_string_list_append (names, name != NULL ? name : id);
    g_ptr_array_add (slot->ids, g_strdup (id));
  }
  slot->updating = TRUE;
  adw_combo_row_set_model (slot->row, G_LIST_MODEL (names));
  adw_combo_row_set_selected (slot->row, selected);
  slot->updating = FALSE;
}

static void
selected_cb (AdwComboRow *row,
             GParamSpec  *pspec,
             Slot        *slot)
{
  guint selected = adw_combo_row_get_selected (row);

  if (slot->updating || selected >= slot->ids->len)
    return;
  /* The row shows it already: no rebuilding it from inside its selection. */
  slot->updating = TRUE;
  g_settings_set_string (slot->page->settings, slot->key, slot->ids->pdata[selected]);
  slot->updating = FALSE;
}

static void
devices_changed_cb (GListModel *model,
                    guint       position,
                    guint       removed,
                    guint       added,
                    Slot       *slot)
{
  slot_update (slot);
}

static void
settings_changed_cb (MeshCallsPage *self,
                     const char    *key)
{
  for (guint i = 0; i < N_SLOTS; i++) {
    if (g_strcmp0 (key, self->slots[i].key) == 0 && !self->slots[i].updating)
      slot_update (&self->slots[i]);
  }
}

static void
mesh_calls_page_dispose (GObject *object)
{
  MeshCallsPage *self = MESH_CALLS_PAGE (object);

  for (guint i = 0; i < N_SLOTS && self->devices != NULL; i++) {
    GListModel *model = mesh_media_devices_get_model (self->devices, self->slots[i].klass);

    if (model != NULL)
      g_signal_handlers_disconnect_by_data (model, &self->slots[i]);
  }
  g_clear_object (&self->devices);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_CALLS_PAGE);

  G_OBJECT_CLASS (mesh_calls_page_parent_class)->dispose (object);
}

static void
mesh_calls_page_finalize (GObject *object)
{
  MeshCallsPage *self = MESH_CALLS_PAGE (object);

  for (guint i = 0; i < N_SLOTS; i++)
    g_ptr_array_unref (self->slots[i].ids);

  G_OBJECT_CLASS (mesh_calls_page_parent_class)->finalize (object);
}

static void
mesh_calls_page_class_init (MeshCallsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_calls_page_dispose;
  object_class->finalize = mesh_calls_page_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-calls-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshCallsPage, camera_row);
  gtk_widget_class_bind_template_child (widget_class, MeshCallsPage, microphone_row);
  gtk_widget_class_bind_template_child (widget_class, MeshCallsPage, speaker_row);
}

static void
mesh_calls_page_init (MeshCallsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->slots[SLOT_CAMERA] = (Slot) { self, "camera", MESH_MEDIA_CLASS_CAMERA,
                                      self->camera_row, NULL, FALSE };
  self->slots[SLOT_MICROPHONE] = (Slot) { self, "microphone", MESH_MEDIA_CLASS_MICROPHONE,
                                          self->microphone_row, NULL, FALSE };
  self->slots[SLOT_SPEAKER] = (Slot) { self, "speaker", MESH_MEDIA_CLASS_SPEAKER,
                                       self->speaker_row, NULL, FALSE };
  for (guint i = 0; i < N_SLOTS; i++)
    self->slots[i].ids = g_ptr_array_new_with_free_func (g_free);
}

GtkWidget *
mesh_calls_page_new (GSettings        *settings,
                     MeshMediaDevices *devices)
{
  MeshCallsPage *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (MESH_IS_MEDIA_DEVICES (devices), NULL);

  self = g_object_new (MESH_TYPE_CALLS_PAGE, NULL);
  self->settings = g_object_ref (settings);
  self->devices = g_object_ref (devices);
  for (guint i = 0; i < N_SLOTS; i++) {
    Slot *slot = &self->slots[i];
    GListModel *model = mesh_media_devices_get_model (devices, slot->klass);

    slot_update (slot);
    g_signal_connect (slot->row, "notify::selected", G_CALLBACK (selected_cb), slot);
    if (model != NULL)
      g_signal_connect (model, "items-changed", G_CALLBACK (devices_changed_cb), slot);
  }
  g_signal_connect_object (settings, "changed", G_CALLBACK (settings_changed_cb), self,
                           G_CONNECT_SWAPPED);
  return GTK_WIDGET (self);
}

AdwComboRow *
mesh_calls_page_get_row (MeshCallsPage *self,
                         const char    *key)
{
  g_return_val_if_fail (MESH_IS_CALLS_PAGE (self), NULL);

  for (guint i = 0; i < N_SLOTS; i++) {
    if (g_strcmp0 (key, self->slots[i].key) == 0)
      return self->slots[i].row;
  }
  return NULL;
}
