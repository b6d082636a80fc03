/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-transfer-row"

#include "config.h"

#include "mesh-transfer-row.h"
#include "mesh-ui-util.h"

#include <glib/gi18n.h>

/* Progress comes with every chunk; the words under the name change at most
 * this often so that a fast transfer does not re-layout the list all the time. */
#define UPDATE_INTERVAL_US (G_USEC_PER_SEC / 4)

enum {
  PROP_0,
  PROP_TRANSFER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshTransferRow {
  GtkListBoxRow   parent_instance;

  /* Template widgets */
  GtkImage       *icon;
  GtkLabel       *direction_badge;
  GtkLabel       *name_label;
  GtkLabel       *status_label;
  GtkProgressBar *progress_bar;
  GtkWidget      *offer_box;
  GtkWidget      *decline_button;
  GtkWidget      *accept_button;
  GtkWidget      *open_button;
  GtkWidget      *show_button;
  GtkWidget      *cancel_button;
  GtkWidget      *retry_button;

  /* Owned references */
  MeshTransfer   *transfer;
  GCancellable   *cancellable;   /* launching and D-Bus calls; cancelled on dispose */

  gint64          last_update;
  guint           update_id;
};

G_DEFINE_FINAL_TYPE (MeshTransferRow, mesh_transfer_row, GTK_TYPE_LIST_BOX_ROW)

static char *
format_time_left (guint64 seconds)
{
  if (seconds < 60)
    /* Translators: time left, in seconds. */
    return g_strdup_printf (_("%u\u00a0s left"), (guint) seconds);
  if (seconds < 60 * 60)
    /* Translators: time left, in minutes. */
    return g_strdup_printf (_("%u\u00a0min left"), (guint) ((seconds + 30) / 60));
  /* Translators: time left, in hours and minutes. */
  return g_strdup_printf (_("%u\u00a0h %u\u00a0min left"), (guint) MIN (seconds / 3600, G_MAXUINT),
                          (guint) (seconds % 3600 / 60));
}

/* What is going on, in words: "To bob · 12.3 MB of 1.0 GB · 45.6 MB/s · 20 s left". */
static char *
describe (MeshTransfer *transfer)
{
  gboolean outgoing = mesh_transfer_get_direction (transfer) == MESH_TRANSFER_OUTGOING;
  const char *peer = mesh_transfer_get_peer_name (transfer);
  const char *error = mesh_transfer_get_error (transfer);
  guint64 size = mesh_transfer_get_size (transfer);
  guint64 done = mesh_transfer_get_done (transfer);
  guint64 rate = mesh_transfer_get_rate (transfer);
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);

  if (peer == NULL || *peer == '\0')
    peer = _("someone");
  /* Translators: the person a file goes to, or comes from. */
  g_ptr_array_add (parts, g_strdup_printf (outgoing ? _("To %s") : _("From %s"), peer));

  switch (mesh_transfer_get_state (transfer)) {
  case MESH_TRANSFER_OFFERED:
    g_ptr_array_add (parts, g_format_size (size));
    break;
  case MESH_TRANSFER_WAITING:
    if (outgoing)
      g_ptr_array_add (parts, g_strdup_printf (_("Waiting for %s to accept"), peer));
    else
      g_ptr_array_add (parts, g_strdup (_("Connecting…")));
    break;
  case MESH_TRANSFER_RUNNING:
    if (size > 0) {
      g_autofree char *done_text = g_format_size (done);
      g_autofree char *size_text = g_format_size (size);

      /* Translators: bytes so far, of the whole size: "12.3 MB of 1.0 GB". */
      g_ptr_array_add (parts, g_strdup_printf (_("%s of %s"), done_text, size_text));
    } else {
      g_ptr_array_add (parts, g_format_size (done));
    }
    if (rate > 0) {
      g_autofree char *rate_text = g_format_size (rate);

      /* Translators: a transfer rate: "45.6 MB/s"; the word joiner after
       * the slash keeps the unit on one line. */
      g_ptr_array_add (parts, g_strdup_printf (_("%s/\u2060s"), rate_text));
      if (size > done)
        g_ptr_array_add (parts, format_time_left ((size - done + rate - 1) / rate));
    }
    break;
  case MESH_TRANSFER_DONE:
    g_ptr_array_add (parts, g_strdup (outgoing ? _("Sent") : _("Received")));
    g_ptr_array_add (parts, g_format_size (size));
    break;
  case MESH_TRANSFER_FAILED:
    /* The error is a sentence already (the raw one is in the tooltip). */
    g_ptr_array_add (parts, g_strdup (error != NULL ? error : _("Failed")));
    break;
  case MESH_TRANSFER_CANCELLED:
    if (mesh_transfer_get_cancelled_by (transfer) != NULL)
      /* Translators: %s is the person who cancelled the transfer. */
      g_ptr_array_add (parts, g_strdup_printf (_("Cancelled by %s"),
                                               mesh_transfer_get_cancelled_by (transfer)));
    else
      g_ptr_array_add (parts, g_strdup (_("Cancelled")));
    break;
  case MESH_TRANSFER_DECLINED:
  default:
    if (error != NULL)
      g_ptr_array_add (parts, g_strdup (error));
    else if (outgoing)
      g_ptr_array_add (parts, g_strdup_printf (_("Declined by %s"), peer));
    else
      g_ptr_array_add (parts, g_strdup (_("Declined")));
    break;
  }

  g_ptr_array_add (parts, NULL);
  /* A line may break after a dot, never before one. */
  return g_strjoinv ("\u00a0· ", (char **) parts->pdata);
}

static void
set_action_shown (MeshTransferRow *self,
                  GtkWidget       *button,
                  const char      *action,
                  gboolean         shown)
{
  gtk_widget_set_visible (button, shown);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), action, shown);
}

static void
update (MeshTransferRow *self)
{
  MeshTransferState state = mesh_transfer_get_state (self->transfer);
  gboolean incoming = mesh_transfer_get_direction (self->transfer) == MESH_TRANSFER_INCOMING;
  gboolean openable = state == MESH_TRANSFER_DONE && incoming &&
                      mesh_transfer_get_file (self->transfer) != NULL;
  g_autofree char *status = describe (self->transfer);

  g_clear_handle_id (&self->update_id, g_source_remove);
  self->last_update = g_get_monotonic_time ();

  gtk_label_set_label (self->status_label, status);
  /* Details: what the agent said, for whoever wants to know more. */
  if (mesh_transfer_get_details (self->transfer) != NULL &&
      state != MESH_TRANSFER_CANCELLED) {
    /* Translators: a sentence, then the technical error below it. */
    g_autofree char *tooltip = g_strdup_printf (_("%s\nDetails: %s"), status,
                                                mesh_transfer_get_details (self->transfer));

    gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), tooltip);
  } else {
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), status);
  }
  if (state == MESH_TRANSFER_FAILED)
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "error");

  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), state == MESH_TRANSFER_RUNNING);
  if (state == MESH_TRANSFER_RUNNING) {
    if (mesh_transfer_get_size (self->transfer) > 0)
      gtk_progress_bar_set_fraction (self->progress_bar,
                                     mesh_transfer_get_fraction (self->transfer));
    else
      gtk_progress_bar_pulse (self->progress_bar);
  }

  gtk_widget_set_visible (self->offer_box, state == MESH_TRANSFER_OFFERED);
  set_action_shown (self, self->accept_button, "transfer.accept", state == MESH_TRANSFER_OFFERED);
  set_action_shown (self, self->decline_button, "transfer.decline", state == MESH_TRANSFER_OFFERED);
  set_action_shown (self, self->cancel_button, "transfer.cancel",
                    state != MESH_TRANSFER_OFFERED && !mesh_transfer_is_finished (self->transfer));
  set_action_shown (self, self->retry_button, "transfer.retry",
                    state == MESH_TRANSFER_FAILED && mesh_transfer_get_retryable (self->transfer));
  set_action_shown (self, self->open_button, "transfer.open", openable);
  set_action_shown (self, self->show_button, "transfer.show-in-folder", openable);
}

static void
update_timeout_cb (gpointer user_data)
{
  MeshTransferRow *self = user_data;

  self->update_id = 0;
  update (self);
}

static void
transfer_notify_cb (MeshTransferRow *self,
                    GParamSpec      *pspec)
{
  const char *name = g_param_spec_get_name (pspec);
  gint64 wait;

  /* A change of state shows at once; progress waits for its turn. */
  if (g_strcmp0 (name, "done") != 0 && g_strcmp0 (name, "rate") != 0 &&
      g_strcmp0 (name, "size") != 0) {
    update (self);
    return;
  }
  if (self->update_id != 0)
    return;
  wait = self->last_update + UPDATE_INTERVAL_US - g_get_monotonic_time ();
  if (wait <= 0)
    update (self);
  else
    self->update_id = g_timeout_add_once ((guint) (wait / 1000) + 1, update_timeout_cb, self);
}

static void
launch_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(MeshTransferRow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;

  if (g_app_info_launch_default_for_uri_finish (result, &error))
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  /* Translators: a file's name, then why no application could open it. */
  message = g_strdup_printf (_("Could not open %s: %s"), mesh_transfer_get_name (self->transfer),
                             error->message);
  mesh_ui_toast (GTK_WIDGET (self), message);
}

static void
launch_uri (MeshTransferRow *self,
            const char      *uri)
{
  g_autoptr(GdkAppLaunchContext) context =
    gdk_display_get_app_launch_context (gtk_widget_get_display (GTK_WIDGET (self)));

  g_app_info_launch_default_for_uri_async (uri, G_APP_LAUNCH_CONTEXT (context), self->cancellable,
                                           launch_cb, g_object_ref (self));
}

static void
open_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (widget);
  GFile *file = mesh_transfer_get_file (self->transfer);
  g_autofree char *uri = NULL;

  if (file == NULL)
    return;
  uri = g_file_get_uri (file);
  launch_uri (self, uri);
}

static void
show_items_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(MeshTransferRow) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) parent = NULL;
  g_autofree char *uri = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply != NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  /* No file manager that can select the item: open the folder it is in. */
  g_debug ("ShowItems failed: %s", error->message);
  parent = g_file_get_parent (mesh_transfer_get_file (self->transfer));
  if (parent == NULL)
    return;
  uri = g_file_get_uri (parent);
  launch_uri (self, uri);
}

static void
bus_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(MeshTransferRow) self = user_data;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_file_get_uri (mesh_transfer_get_file (self->transfer));
  const char *uris[] = { uri, NULL };

  bus = g_bus_get_finish (result, &error);
  if (bus == NULL) {
    g_autoptr(GFile) parent = NULL;
    g_autofree char *parent_uri = NULL;

    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    parent = g_file_get_parent (mesh_transfer_get_file (self->transfer));
    if (parent == NULL)
      return;
    parent_uri = g_file_get_uri (parent);
    launch_uri (self, parent_uri);
    return;
  }
  g_dbus_connection_call (bus, "org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                          "org.freedesktop.FileManager1", "ShowItems",
                          g_variant_new ("(^ass)", uris, ""), NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                          self->cancellable, show_items_cb, g_object_ref (self));
}

static void
show_in_folder_activated (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *parameter)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (widget);

  if (mesh_transfer_get_file (self->transfer) == NULL)
    return;
  g_bus_get (G_BUS_TYPE_SESSION, self->cancellable, bus_cb, g_object_ref (self));
}

static void
accept_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  mesh_transfer_accept (MESH_TRANSFER_ROW (widget)->transfer, NULL);
}

static void
decline_activated (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  mesh_transfer_decline (MESH_TRANSFER_ROW (widget)->transfer);
}

static void
retry_activated (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  mesh_transfer_retry (MESH_TRANSFER_ROW (widget)->transfer);
}

static void
cancel_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  mesh_transfer_cancel (MESH_TRANSFER_ROW (widget)->transfer);
}

static void
mesh_transfer_row_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (object);

  switch (prop_id) {
  case PROP_TRANSFER:
    g_value_set_object (value, self->transfer);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_transfer_row_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (object);

  switch (prop_id) {
  case PROP_TRANSFER:
    self->transfer = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_transfer_row_constructed (GObject *object)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (object);
  const char *name = mesh_transfer_get_name (self->transfer);
  gboolean incoming = mesh_transfer_get_direction (self->transfer) == MESH_TRANSFER_INCOMING;

  G_OBJECT_CLASS (mesh_transfer_row_parent_class)->constructed (object);

  gtk_label_set_label (self->name_label, name);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->name_label), name);
  if (mesh_transfer_get_is_folder (self->transfer)) {
    gtk_image_set_from_icon_name (self->icon, "folder-symbolic");
  } else {
    g_autofree char *type = g_content_type_guess (name, NULL, 0, NULL);
    g_autoptr(GIcon) icon = g_content_type_get_symbolic_icon (type);

    gtk_image_set_from_gicon (self->icon, icon);
  }
  /* Adwaita has no plain arrow icons: its go-up/down are chevrons. */
  gtk_label_set_label (self->direction_badge, incoming ? "↓" : "↑");
  gtk_widget_add_css_class (GTK_WIDGET (self->direction_badge), incoming ? "incoming" : "outgoing");

  g_signal_connect_object (self->transfer, "notify", G_CALLBACK (transfer_notify_cb), self,
                           G_CONNECT_SWAPPED);
  update (self);
}

static void
mesh_transfer_row_dispose (GObject *object)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->update_id, g_source_remove);
  /* The transfer itself stays until finalize: launches still under way read it. */
  g_signal_handlers_disconnect_by_data (self->transfer, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_TRANSFER_ROW);

  G_OBJECT_CLASS (mesh_transfer_row_parent_class)->dispose (object);
}

static void
mesh_transfer_row_finalize (GObject *object)
{
  MeshTransferRow *self = MESH_TRANSFER_ROW (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->transfer);

  G_OBJECT_CLASS (mesh_transfer_row_parent_class)->finalize (object);
}

static void
mesh_transfer_row_class_init (MeshTransferRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_transfer_row_get_property;
  object_class->set_property = mesh_transfer_row_set_property;
  object_class->constructed = mesh_transfer_row_constructed;
  object_class->dispose = mesh_transfer_row_dispose;
  object_class->finalize = mesh_transfer_row_finalize;

  properties[PROP_TRANSFER] =
    g_param_spec_object ("transfer", NULL, NULL, MESH_TYPE_TRANSFER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-transfer-row.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, icon);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, direction_badge);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, status_label);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, offer_box);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, decline_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, accept_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, open_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, show_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, MeshTransferRow, retry_button);

  gtk_widget_class_install_action (widget_class, "transfer.accept", NULL, accept_activated);
  gtk_widget_class_install_action (widget_class, "transfer.decline", NULL, decline_activated);
  gtk_widget_class_install_action (widget_class, "transfer.cancel", NULL, cancel_activated);
  gtk_widget_class_install_action (widget_class, "transfer.retry", NULL, retry_activated);
  gtk_widget_class_install_action (widget_class, "transfer.open", NULL, open_activated);
  gtk_widget_class_install_action (widget_class, "transfer.show-in-folder", NULL,
                                   show_in_folder_activated);
}

static void
mesh_transfer_row_init (MeshTransferRow *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
mesh_transfer_row_new (MeshTransfer *transfer)
{
  g_return_val_if_fail (MESH_IS_TRANSFER (transfer), NULL);

  return g_object_new (MESH_TYPE_TRANSFER_ROW, "transfer", transfer, NULL);
}

MeshTransfer *
mesh_transfer_row_get_transfer (MeshTransferRow *self)
{
  g_return_val_if_fail (MESH_IS_TRANSFER_ROW (self), NULL);

  return self->transfer;
}
