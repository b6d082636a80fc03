/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-screen-viewer"

#include "config.h"

#include "mesh-screen-viewer.h"

#include "mesh-call-peer.h"
#include "mesh-escape.h"
#include "mesh-video-paintable.h"

#include <glib/gi18n.h>

struct _MeshScreenViewer {
  AdwApplicationWindow  parent_instance;

  /* Template widgets */
  GtkRevealer          *header_revealer;
  AdwWindowTitle       *title;
  GtkWidget            *fullscreen_button;
  GtkStack             *stack;
  AdwStatusPage        *waiting_page;
  GtkPicture           *picture;
  GtkRevealer          *leave_revealer;

  /* Owned references */
  MeshCall             *call;
  MeshVideoOutput      *output;
  GdkPaintable         *paintable;
};

G_DEFINE_FINAL_TYPE (MeshScreenViewer, mesh_screen_viewer, ADW_TYPE_APPLICATION_WINDOW)

/* The frames are scaled to the window (the screen in full screen), in
 * device pixels, before they are converted. */
static void
update_size_hint (MeshScreenViewer *self)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int height = gtk_widget_get_height (GTK_WIDGET (self));
  int scale = gtk_widget_get_scale_factor (GTK_WIDGET (self));

  if (self->output == NULL)
    return;
  if (width <= 0 || height <= 0)
    gtk_window_get_default_size (GTK_WINDOW (self), &width, &height);
  if (width > 0 && height > 0)
    mesh_video_output_set_size_hint (self->output, width * scale, height * scale);
}

static void
frames_cb (MeshScreenViewer *self)
{
  if (self->output != NULL && mesh_video_output_get_frames (self->output) > 0)
    gtk_stack_set_visible_child_name (self->stack, "screen");
}

static void
peers_changed_cb (MeshScreenViewer *self)
{
  g_autoptr(MeshCallPeer) peer = NULL;

  if (self->output != NULL)
    return;
  peer = g_list_model_get_item (mesh_call_get_peers (self->call), 0);
  if (peer == NULL || mesh_call_peer_get_video (peer) == NULL)
    return;
  self->output = g_object_ref (mesh_call_peer_get_video (peer));
  self->paintable = GDK_PAINTABLE (mesh_video_paintable_new (self->output));
  gtk_picture_set_paintable (self->picture, self->paintable);
  g_signal_connect_object (self->output, "notify::frames", G_CALLBACK (frames_cb), self,
                           G_CONNECT_SWAPPED);
  update_size_hint (self);
  frames_cb (self);
}

static void
call_state_cb (MeshScreenViewer *self)
{
  /* Stopped by whoever shares it, or ended here. */
  if (mesh_call_get_state (self->call) == MESH_CALL_STATE_ENDED)
    gtk_window_destroy (GTK_WINDOW (self));
}

static void
fullscreened_cb (MeshScreenViewer *self)
{
  gboolean full = gtk_window_is_fullscreen (GTK_WINDOW (self));

  gtk_revealer_set_reveal_child (self->header_revealer, !full);
  gtk_revealer_set_reveal_child (self->leave_revealer, full);
  update_size_hint (self);
}

static void
fullscreen_activated (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  GtkWindow *window = GTK_WINDOW (widget);

  if (gtk_window_is_fullscreen (window))
    gtk_window_unfullscreen (window);
  else
    gtk_window_fullscreen (window);
}

static void
leave_fullscreen_activated (GtkWidget  *widget,
                            const char *action_name,
                            GVariant   *parameter)
{
  gtk_window_unfullscreen (GTK_WINDOW (widget));
}

static gboolean
mesh_screen_viewer_close_request (GtkWindow *window)
{
  MeshScreenViewer *self = MESH_SCREEN_VIEWER (window);

  /* Not watching any more: the sharer stops sending to us. */
  if (self->call != NULL && mesh_call_get_state (self->call) != MESH_CALL_STATE_ENDED) {
    g_signal_handlers_disconnect_by_data (self->call, self);
    mesh_call_hang_up (self->call);
  }
  return GTK_WINDOW_CLASS (mesh_screen_viewer_parent_class)->close_request (window);
}

static void
mesh_screen_viewer_dispose (GObject *object)
{
  MeshScreenViewer *self = MESH_SCREEN_VIEWER (object);

  if (self->call != NULL) {
    g_signal_handlers_disconnect_by_data (self->call, self);
    g_signal_handlers_disconnect_by_data (mesh_call_get_peers (self->call), self);
    if (mesh_call_get_state (self->call) != MESH_CALL_STATE_ENDED)
      mesh_call_hang_up (self->call);
  }
  g_clear_object (&self->paintable);
  g_clear_object (&self->output);
  g_clear_object (&self->call);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_SCREEN_VIEWER);

  G_OBJECT_CLASS (mesh_screen_viewer_parent_class)->dispose (object);
}

static void
mesh_screen_viewer_class_init (MeshScreenViewerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = mesh_screen_viewer_dispose;
  window_class->close_request = mesh_screen_viewer_close_request;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-screen-viewer.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, header_revealer);
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, title);
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, fullscreen_button);
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, stack);
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, waiting_page);
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, picture);
  gtk_widget_class_bind_template_child (widget_class, MeshScreenViewer, leave_revealer);

  gtk_widget_class_install_action (widget_class, "viewer.fullscreen", NULL, fullscreen_activated);
  gtk_widget_class_install_action (widget_class, "viewer.leave-fullscreen", NULL,
                                   leave_fullscreen_activated);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F11, 0, "viewer.fullscreen", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0,
                                       "viewer.leave-fullscreen", NULL);
}

static void
mesh_screen_viewer_init (MeshScreenViewer *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect (self, "notify::fullscreened", G_CALLBACK (fullscreened_cb), NULL);
  g_signal_connect (self, "notify::default-width", G_CALLBACK (update_size_hint), NULL);
  g_signal_connect (self, "notify::default-height", G_CALLBACK (update_size_hint), NULL);
  g_signal_connect (self, "notify::maximized", G_CALLBACK (update_size_hint), NULL);
}

MeshScreenViewer *
mesh_screen_viewer_new (GtkApplication *application,
                        MeshCall       *share)
{
  MeshScreenViewer *self;
  g_autofree char *name = NULL;
  g_autofree char *title = NULL;

  g_return_val_if_fail (GTK_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (MESH_IS_CALL (share), NULL);

  self = g_object_new (MESH_TYPE_SCREEN_VIEWER, "application", application, NULL);
  self->call = g_object_ref (share);
  name = mesh_escape_for_display (mesh_call_get_caller_name (share) != NULL
                                  ? mesh_call_get_caller_name (share) : _("Someone"), -1);
  /* Translators: the title of the window showing a member's shared screen. */
  title = g_strdup_printf (_("%s’s Screen"), name);
  gtk_window_set_title (GTK_WINDOW (self), title);
  adw_window_title_set_title (self->title, title);
  adw_window_title_set_subtitle (self->title, _("Press F11 for full screen"));
  g_signal_connect_object (share, "notify::state", G_CALLBACK (call_state_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (mesh_call_get_peers (share), "items-changed",
                           G_CALLBACK (peers_changed_cb), self, G_CONNECT_SWAPPED);
  peers_changed_cb (self);
  return self;
}

MeshCall *
mesh_screen_viewer_get_call (MeshScreenViewer *self)
{
  g_return_val_if_fail (MESH_IS_SCREEN_VIEWER (self), NULL);

  return self->call;
}

GdkPaintable *
mesh_screen_viewer_get_paintable (MeshScreenViewer *self)
{
  g_return_val_if_fail (MESH_IS_SCREEN_VIEWER (self), NULL);

  return self->paintable;
}
