/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-transfer-list"

#include "config.h"

#include "mesh-transfer-list.h"
#include "mesh-transfer-row.h"
#include "mesh-transfer.h"

#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_MODEL,
  PROP_N_ACTIVE,
  N_PROPS
};

enum {
  SIGNAL_CLEAR_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

struct _MeshTransferList {
  AdwBin          parent_instance;

  /* Template widgets */
  /* The menu button is the bin's child, not a template child: disposing the
   * template would unparent it under AdwBin's feet. */
  GtkStack       *icon_stack;
  GtkDrawingArea *pie;
  GtkStack       *stack;
  GtkListBox     *list_box;

  /* Owned references */
  GListModel     *model;

  guint           n_active;
  /* Of the unfinished transfers with a known size, as the pie shows it. */
  double          fraction;
};

G_DEFINE_FINAL_TYPE (MeshTransferList, mesh_transfer_list, ADW_TYPE_BIN)

static void
draw_pie (GtkDrawingArea *area,
          cairo_t        *cr,
          int             width,
          int             height,
          gpointer        user_data)
{
  MeshTransferList *self = user_data;
  double cx = width / 2.0, cy = height / 2.0;
  double radius = MIN (width, height) / 2.0 - 1.0;
  GdkRGBA color;

  gtk_style_context_get_color (gtk_widget_get_style_context (GTK_WIDGET (area)), &color);

  cairo_set_source_rgba (cr, color.red, color.green, color.blue, color.alpha * 0.25);
  cairo_arc (cr, cx, cy, radius, 0, 2 * G_PI);
  cairo_fill (cr);

  if (self->fraction <= 0.0)
    return;
  gdk_cairo_set_source_rgba (cr, &color);
  cairo_move_to (cr, cx, cy);
  cairo_arc (cr, cx, cy, radius, -G_PI / 2, -G_PI / 2 + 2 * G_PI * self->fraction);
  cairo_close_path (cr);
  cairo_fill (cr);
}

static void
update_summary (MeshTransferList *self)
{
  guint n = self->model != NULL ? g_list_model_get_n_items (self->model) : 0;
  guint n_active = 0, n_finished = 0;
  guint64 done = 0, size = 0;
  double fraction;

  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshTransfer) transfer = g_list_model_get_item (self->model, i);

    if (mesh_transfer_is_finished (transfer)) {
      n_finished++;
      continue;
    }
    n_active++;
    if (mesh_transfer_get_state (transfer) != MESH_TRANSFER_OFFERED) {
      done += mesh_transfer_get_done (transfer);
      size += mesh_transfer_get_size (transfer);
    }
  }

  gtk_stack_set_visible_child_name (self->stack, n > 0 ? "list" : "empty");
  gtk_stack_set_visible_child_name (self->icon_stack, n_active > 0 ? "active" : "idle");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "transfers.clear-finished", n_finished > 0);

  /* A redraw per visible step of the pie, not per chunk. */
  fraction = size > 0 ? MIN (1.0, (double) done / (double) size) : 0.0;
  if (ABS (fraction - self->fraction) >= 0.01 || (fraction == 0.0) != (self->fraction == 0.0)) {
    self->fraction = fraction;
    gtk_widget_queue_draw (GTK_WIDGET (self->pie));
  }

  if (n_active != self->n_active) {
    g_autofree char *tooltip = NULL;

    self->n_active = n_active;
    if (n_active > 0)
      tooltip = g_strdup_printf (ngettext ("%u Active Transfer", "%u Active Transfers", n_active),
                                 n_active);
    gtk_widget_set_tooltip_text (adw_bin_get_child (ADW_BIN (self)),
                                 tooltip != NULL ? tooltip : _("Transfers"));
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ACTIVE]);
  }
}

static void
transfer_notify_cb (MeshTransferList *self,
                    GParamSpec       *pspec)
{
  const char *name = g_param_spec_get_name (pspec);

  if (g_strcmp0 (name, "state") == 0 || g_strcmp0 (name, "done") == 0 ||
      g_strcmp0 (name, "size") == 0)
    update_summary (self);
}

static void
remove_row_at (MeshTransferList *self,
               int               index)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->list_box, index);
  MeshTransfer *transfer = mesh_transfer_row_get_transfer (MESH_TRANSFER_ROW (row));

  g_signal_handlers_disconnect_by_func (transfer, transfer_notify_cb, self);
  gtk_list_box_remove (self->list_box, GTK_WIDGET (row));
}

/* The rows mirror the model in reverse: the model has the oldest first,
 * the list the newest on top. */
static void
items_changed_cb (MeshTransferList *self,
                  guint             position,
                  guint             removed,
                  guint             added,
                  GListModel       *model)
{
  guint n_new = g_list_model_get_n_items (model);
  guint n_old = n_new - added + removed;

  for (guint i = 0; i < removed; i++)
    remove_row_at (self, (int) (n_old - position - removed));

  for (guint p = position + added; p > position; p--) {
    g_autoptr(MeshTransfer) transfer = g_list_model_get_item (model, p - 1);

    gtk_list_box_insert (self->list_box, mesh_transfer_row_new (transfer), (int) (n_new - p));
    g_signal_connect_object (transfer, "notify", G_CALLBACK (transfer_notify_cb), self,
                             G_CONNECT_SWAPPED);
  }

  update_summary (self);
}

static void
clear_finished_activated (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *parameter)
{
  MeshTransferList *self = MESH_TRANSFER_LIST (widget);
  gboolean handled = FALSE;

  g_signal_emit (self, signals[SIGNAL_CLEAR_FINISHED], 0, &handled);
  if (handled || !G_IS_LIST_STORE (self->model))
    return;
  for (guint i = g_list_model_get_n_items (self->model); i > 0; i--) {
    g_autoptr(MeshTransfer) transfer = g_list_model_get_item (self->model, i - 1);

    if (mesh_transfer_is_finished (transfer))
      g_list_store_remove (G_LIST_STORE (self->model), i - 1);
  }
}

static void
mesh_transfer_list_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  MeshTransferList *self = MESH_TRANSFER_LIST (object);

  switch (prop_id) {
  case PROP_MODEL:
    g_value_set_object (value, self->model);
    break;
  case PROP_N_ACTIVE:
    g_value_set_uint (value, self->n_active);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_transfer_list_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  MeshTransferList *self = MESH_TRANSFER_LIST (object);

  switch (prop_id) {
  case PROP_MODEL:
    mesh_transfer_list_set_model (self, g_value_get_object (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_transfer_list_dispose (GObject *object)
{
  MeshTransferList *self = MESH_TRANSFER_LIST (object);

  if (self->model != NULL) {
    g_signal_handlers_disconnect_by_data (self->model, self);
    while (gtk_list_box_get_row_at_index (self->list_box, 0) != NULL)
      remove_row_at (self, 0);
    g_clear_object (&self->model);
  }
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_TRANSFER_LIST);

  G_OBJECT_CLASS (mesh_transfer_list_parent_class)->dispose (object);
}

static void
mesh_transfer_list_class_init (MeshTransferListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_transfer_list_get_property;
  object_class->set_property = mesh_transfer_list_set_property;
  object_class->dispose = mesh_transfer_list_dispose;

  properties[PROP_MODEL] =
    g_param_spec_object ("model", NULL, NULL, G_TYPE_LIST_MODEL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_ACTIVE] =
    g_param_spec_uint ("n-active", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* () → handled: the finished transfers were removed from the model. */
  signals[SIGNAL_CLEAR_FINISHED] =
    g_signal_new ("clear-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  g_signal_accumulator_true_handled, NULL, NULL, G_TYPE_BOOLEAN, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-transfer-list.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshTransferList, icon_stack);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferList, pie);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferList, stack);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferList, list_box);

  gtk_widget_class_install_action (widget_class, "transfers.clear-finished", NULL,
                                   clear_finished_activated);
}

static void
mesh_transfer_list_init (MeshTransferList *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_drawing_area_set_draw_func (self->pie, draw_pie, self, NULL);
  update_summary (self);
}

GtkWidget *
mesh_transfer_list_new (void)
{
  return g_object_new (MESH_TYPE_TRANSFER_LIST, NULL);
}

GListModel *
mesh_transfer_list_get_model (MeshTransferList *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER_LIST (self), NULL);

  return self->model;
}

void
mesh_transfer_list_set_model (MeshTransferList *self,
                              GListModel       *model)
{
  g_return_if_fail (MESH_IS_TRANSFER_LIST (self));
  g_return_if_fail (model == NULL || G_IS_LIST_MODEL (model));

  if (self->model == model)
    return;

  if (self->model != NULL) {
    g_signal_handlers_disconnect_by_data (self->model, self);
    while (gtk_list_box_get_row_at_index (self->list_box, 0) != NULL)
      remove_row_at (self, 0);
    g_clear_object (&self->model);
  }
  if (model != NULL) {
    self->model = g_object_ref (model);
    g_signal_connect_object (model, "items-changed", G_CALLBACK (items_changed_cb), self,
                             G_CONNECT_SWAPPED);
    items_changed_cb (self, 0, 0, g_list_model_get_n_items (model), model);
  } else {
    update_summary (self);
  }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
}

guint
mesh_transfer_list_get_n_active (MeshTransferList *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER_LIST (self), 0);

  return self->n_active;
}

void
mesh_transfer_list_popup (MeshTransferList *self)
{
  g_return_if_fail (MESH_IS_TRANSFER_LIST (self));

  gtk_menu_button_popup (GTK_MENU_BUTTON (adw_bin_get_child (ADW_BIN (self))));
}
