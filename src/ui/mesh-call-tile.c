/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-call-tile"

#include "config.h"

#include "mesh-call-tile.h"

#include "mesh-video-paintable.h"

#include <glib/gi18n.h>

struct _MeshCallTile {
  AdwBin             parent_instance;

  /* Template widgets */
  GtkStack          *stack;
  AdwAvatar         *avatar;
  GtkPicture        *picture;
  GtkWidget         *status_box;
  GtkImage          *status_icon;
  GtkLabel          *status_label;
  GtkImage          *muted_icon;
  GtkLabel          *name_label;

  /* Owned references */
  MeshCallPeer      *peer;       /* NULL for the self view */
  MeshCall          *call;       /* the self view's call */
  MeshVideoOutput   *output;
  GdkPaintable      *paintable;
  int                hint_width;
  int                hint_height;
  gboolean           compact;
};

G_DEFINE_FINAL_TYPE (MeshCallTile, mesh_call_tile, ADW_TYPE_BIN)

static void
set_status (MeshCallTile *self,
            const char   *icon_name,
            const char   *text)
{
  gtk_widget_set_visible (self->status_box, text != NULL);
  gtk_label_set_label (self->status_label, text != NULL ? text : "");
  gtk_image_set_from_icon_name (self->status_icon, icon_name);
  gtk_widget_set_visible (GTK_WIDGET (self->status_icon), icon_name != NULL);
  /* A screen reader reads the tile as its person and their state. */
  if (text != NULL) {
    g_autofree char *description = g_strdup_printf ("%s, %s",
                                                    gtk_label_get_label (self->name_label), text);
    gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                    description, -1);
  } else {
    gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                    gtk_label_get_label (self->name_label), -1);
  }
}

static void
update (MeshCallTile *self)
{
  gboolean has_frames = self->output != NULL && mesh_video_output_get_frames (self->output) > 0;
  gboolean camera_off = FALSE;
  gboolean video;

  if (self->peer != NULL) {
    MeshCallPeerState state = mesh_call_peer_get_state (self->peer);
    gboolean poor = FALSE;

    g_object_get (self->peer, "camera-off", &camera_off, "poor-connection", &poor, NULL);
    if (state == MESH_CALL_PEER_STATE_CONNECTING)
      set_status (self, NULL, _("Connecting…"));
    else if (state == MESH_CALL_PEER_STATE_RECONNECTING)
      set_status (self, "network-wireless-acquiring-symbolic", _("Reconnecting…"));
    else if (state == MESH_CALL_PEER_STATE_ENDED)
      set_status (self, "call-stop-symbolic", _("Left the call"));
    else if (poor)
      set_status (self, "network-wireless-signal-weak-symbolic", _("Poor connection"));
    else if (camera_off && has_frames)
      set_status (self, "camera-disabled-symbolic", _("Camera off"));
    else
      set_status (self, NULL, NULL);
    video = has_frames && !camera_off && state == MESH_CALL_PEER_STATE_CONNECTED;
  } else {
    gboolean muted = self->call != NULL && mesh_call_get_muted (self->call);
    gboolean enabled = self->call == NULL || mesh_call_get_camera_enabled (self->call);

    gtk_widget_set_visible (GTK_WIDGET (self->muted_icon), muted);
    if (self->output == NULL)
      set_status (self, "camera-disabled-symbolic", _("No camera"));
    else if (!enabled)
      set_status (self, "camera-disabled-symbolic", _("Camera off"));
    else
      set_status (self, NULL, NULL);
    video = has_frames && enabled;
  }
  gtk_stack_set_visible_child_name (self->stack, video ? "video" : "avatar");
}

/* A tile asks for the same size whatever its video's resolution: the call
 * view lays the tiles out, and the video is scaled to them. */
static void
mesh_call_tile_measure (GtkWidget      *widget,
                        GtkOrientation  orientation,
                        int             for_size,
                        int            *minimum,
                        int            *natural,
                        int            *minimum_baseline,
                        int            *natural_baseline)
{
  MeshCallTile *self = MESH_CALL_TILE (widget);
  int size = orientation == GTK_ORIENTATION_HORIZONTAL ? (self->compact ? 224 : 320)
                                                       : (self->compact ? 126 : 180);

  gtk_widget_measure (adw_bin_get_child (ADW_BIN (self)), orientation, for_size, minimum, natural,
                      NULL, NULL);
  *natural = MAX (*minimum, size);
  *minimum_baseline = *natural_baseline = -1;
}

/* Frames scaled to the tile, in device pixels, before they are converted. */
static void
mesh_call_tile_size_allocate (GtkWidget *widget,
                              int        width,
                              int        height,
                              int        baseline)
{
  MeshCallTile *self = MESH_CALL_TILE (widget);
  int scale = gtk_widget_get_scale_factor (widget);

  gtk_widget_allocate (adw_bin_get_child (ADW_BIN (self)), width, height, baseline, NULL);
  if (self->output != NULL && width > 0 && height > 0 &&
      (width * scale != self->hint_width || height * scale != self->hint_height)) {
    self->hint_width = width * scale;
    self->hint_height = height * scale;
    mesh_video_output_set_size_hint (self->output, self->hint_width, self->hint_height);
  }
}

static void
set_output (MeshCallTile    *self,
            MeshVideoOutput *output)
{
  if (output == NULL)
    return;
  self->output = g_object_ref (output);
  self->paintable = GDK_PAINTABLE (mesh_video_paintable_new (output));
  gtk_picture_set_paintable (self->picture, self->paintable);
  g_signal_connect_object (output, "notify::frames", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
}

static void
mesh_call_tile_dispose (GObject *object)
{
  MeshCallTile *self = MESH_CALL_TILE (object);

  g_clear_object (&self->paintable);
  g_clear_object (&self->output);
  g_clear_object (&self->peer);
  g_clear_object (&self->call);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_CALL_TILE);

  G_OBJECT_CLASS (mesh_call_tile_parent_class)->dispose (object);
}

static void
mesh_call_tile_class_init (MeshCallTileClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_call_tile_dispose;
  widget_class->measure = mesh_call_tile_measure;
  widget_class->size_allocate = mesh_call_tile_size_allocate;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/mesh/Mesh/ui/mesh-call-tile.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, stack);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, avatar);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, picture);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, status_box);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, status_icon);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, status_label);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, muted_icon);
  gtk_widget_class_bind_template_child (widget_class, MeshCallTile, name_label);
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
mesh_call_tile_init (MeshCallTile *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  /* Measured and allocated here (a layout manager would bypass both). */
  gtk_widget_set_layout_manager (GTK_WIDGET (self), NULL);
}

GtkWidget *
mesh_call_tile_new (MeshCallPeer *peer)
{
  MeshCallTile *self;
  const char *name;

  g_return_val_if_fail (MESH_IS_CALL_PEER (peer), NULL);

  self = g_object_new (MESH_TYPE_CALL_TILE, NULL);
  self->peer = g_object_ref (peer);
  name = mesh_call_peer_get_username (peer);
  gtk_label_set_label (self->name_label, name != NULL ? name : _("Someone"));
  adw_avatar_set_text (self->avatar, name);
  set_output (self, mesh_call_peer_get_video (peer));
  g_signal_connect_object (peer, "notify::state", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (peer, "notify::camera-off", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (peer, "notify::poor-connection", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}

GtkWidget *
mesh_call_tile_new_self (MeshCall        *call,
                         MeshVideoOutput *output,
                         const char      *own_name)
{
  MeshCallTile *self;

  g_return_val_if_fail (MESH_IS_CALL (call), NULL);
  g_return_val_if_fail (output == NULL || MESH_IS_VIDEO_OUTPUT (output), NULL);

  self = g_object_new (MESH_TYPE_CALL_TILE, NULL);
  self->call = g_object_ref (call);
  gtk_label_set_label (self->name_label, _("You"));
  adw_avatar_set_text (self->avatar, own_name);
  gtk_widget_add_css_class (GTK_WIDGET (self), "self-view");
  set_output (self, output);
  g_signal_connect_object (call, "notify::muted", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (call, "notify::camera-enabled", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}

MeshCallPeer *
mesh_call_tile_get_peer (MeshCallTile *self)
{
  g_return_val_if_fail (MESH_IS_CALL_TILE (self), NULL);

  return self->peer;
}

GdkPaintable *
mesh_call_tile_get_paintable (MeshCallTile *self)
{
  g_return_val_if_fail (MESH_IS_CALL_TILE (self), NULL);

  return self->paintable;
}

gboolean
mesh_call_tile_get_showing_video (MeshCallTile *self)
{
  g_return_val_if_fail (MESH_IS_CALL_TILE (self), FALSE);

  return g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "video") == 0;
}

const char *
mesh_call_tile_get_status (MeshCallTile *self)
{
  g_return_val_if_fail (MESH_IS_CALL_TILE (self), NULL);

  return gtk_widget_get_visible (self->status_box) ? gtk_label_get_label (self->status_label) : "";
}

void
mesh_call_tile_set_compact (MeshCallTile *self,
                            gboolean      compact)
{
  g_return_if_fail (MESH_IS_CALL_TILE (self));

  self->compact = compact;
  adw_avatar_set_size (self->avatar, compact ? 48 : 96);
  gtk_widget_queue_resize (GTK_WIDGET (self));
  if (compact)
    gtk_widget_add_css_class (GTK_WIDGET (self), "compact");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "compact");
}
