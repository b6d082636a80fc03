/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-connection-banner"

#include "config.h"

#include "mesh-connection-banner.h"

#include <glib/gi18n.h>

struct _MeshConnectionBanner {
  AdwBin             parent_instance;

  /* Template widgets */
  GtkLabel          *label;
  GtkButton         *retry_button;

  /* Owned references */
  MeshClientSession *session;
};

G_DEFINE_FINAL_TYPE (MeshConnectionBanner, mesh_connection_banner, ADW_TYPE_BIN)

static void
update (MeshConnectionBanner *self)
{
  MeshClientSessionState state = MESH_CLIENT_SESSION_DISCONNECTED;
  const char *text = NULL;

  if (self->session != NULL)
    state = mesh_client_session_get_state (self->session);

  switch (state) {
  case MESH_CLIENT_SESSION_CONNECTING:
    text = _("Connecting to the server…");
    break;
  case MESH_CLIENT_SESSION_RECONNECTING:
    text = _("The connection was lost. Reconnecting… Messages you send will wait.");
    break;
  case MESH_CLIENT_SESSION_DISCONNECTED:
    text = _("Offline");
    break;
  case MESH_CLIENT_SESSION_CONNECTED:
  default:
    break;
  }

  if (text != NULL)
    gtk_label_set_label (self->label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->retry_button),
                          state == MESH_CLIENT_SESSION_RECONNECTING);
  /* The revealer is the bin's child: gtk_widget_dispose_template() would
   * unparent it under AdwBin's feet if it were a template child. */
  gtk_revealer_set_reveal_child (GTK_REVEALER (adw_bin_get_child (ADW_BIN (self))),
                                 self->session != NULL && state != MESH_CLIENT_SESSION_CONNECTED);
}

static void
retry_clicked_cb (MeshConnectionBanner *self)
{
  if (self->session != NULL)
    mesh_client_session_reconnect_now (self->session);
}

static void
mesh_connection_banner_dispose (GObject *object)
{
  MeshConnectionBanner *self = MESH_CONNECTION_BANNER (object);

  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_CONNECTION_BANNER);

  G_OBJECT_CLASS (mesh_connection_banner_parent_class)->dispose (object);
}

static void
mesh_connection_banner_class_init (MeshConnectionBannerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_connection_banner_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-connection-banner.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshConnectionBanner, label);
  gtk_widget_class_bind_template_child (widget_class, MeshConnectionBanner, retry_button);
  gtk_widget_class_bind_template_callback (widget_class, retry_clicked_cb);
}

static void
mesh_connection_banner_init (MeshConnectionBanner *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
mesh_connection_banner_new (void)
{
  return g_object_new (MESH_TYPE_CONNECTION_BANNER, NULL);
}

void
mesh_connection_banner_set_session (MeshConnectionBanner *self,
                                    MeshClientSession    *session)
{
  g_return_if_fail (MESH_IS_CONNECTION_BANNER (self));
  g_return_if_fail (session == NULL || MESH_IS_CLIENT_SESSION (session));

  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_set_object (&self->session, session);
  if (session != NULL)
    g_signal_connect_object (session, "notify::state", G_CALLBACK (update), self,
                             G_CONNECT_SWAPPED);
  update (self);
}
