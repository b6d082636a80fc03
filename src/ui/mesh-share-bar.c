/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-share-bar"

#include "config.h"

#include "mesh-share-bar.h"

#include <glib/gi18n.h>

enum {
  SIGNAL_WATCH,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct {
  char *room_id;
  char *share_id;
  char *username;
  char *device_id;
} Share;

struct _MeshShareBar {
  AdwBin             parent_instance;

  GtkBox            *box;

  MeshClientSession *session;
  char              *own_device;
  char              *room_id;
  GPtrArray         *shares;  /* Share, oldest first */
  guint              n_shown;
};

G_DEFINE_FINAL_TYPE (MeshShareBar, mesh_share_bar, ADW_TYPE_BIN)

static void
share_free (Share *share)
{
  g_free (share->room_id);
  g_free (share->share_id);
  g_free (share->username);
  g_free (share->device_id);
  g_free (share);
}

static void
watch_clicked_cb (GtkButton    *button,
                  MeshShareBar *self)
{
  const char *share_id = g_object_get_data (G_OBJECT (button), "share-id");

  for (guint i = 0; i < self->shares->len; i++) {
    Share *share = self->shares->pdata[i];

    if (g_str_equal (share->share_id, share_id)) {
      g_signal_emit (self, signals[SIGNAL_WATCH], 0, share->room_id, share->share_id,
                     share->username, share->device_id);
      return;
    }
  }
}

static GtkWidget *
create_row (MeshShareBar *self,
            Share        *share)
{
  gboolean own = share->device_id != NULL && g_strcmp0 (share->device_id, self->own_device) == 0;
  g_autofree char *text = NULL;
  GtkWidget *row, *icon, *label, *button;

  row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_add_css_class (row, "share-bar-row");
  icon = gtk_image_new_from_icon_name ("utilities-terminal-symbolic");
  gtk_box_append (GTK_BOX (row), icon);
  if (own)
    text = g_strdup (_("You are sharing a terminal"));
  else
    /* Translators: a member's name. */
    text = g_strdup_printf (_("%s is sharing a terminal"),
                            share->username != NULL ? share->username : _("Someone"));
  label = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0f);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_box_append (GTK_BOX (row), label);
  button = gtk_button_new_with_mnemonic (own ? _("_Show") : _("_Watch"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "pill");
  if (!own)
    gtk_widget_add_css_class (button, "suggested-action");
  g_object_set_data_full (G_OBJECT (button), "share-id", g_strdup (share->share_id), g_free);
  g_signal_connect_object (button, "clicked", G_CALLBACK (watch_clicked_cb), self, 0);
  gtk_box_append (GTK_BOX (row), button);
  return row;
}

static void
update (MeshShareBar *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->box))) != NULL)
    gtk_box_remove (self->box, child);
  self->n_shown = 0;
  for (guint i = 0; i < self->shares->len; i++) {
    Share *share = self->shares->pdata[i];

    if (g_strcmp0 (share->room_id, self->room_id) != 0)
      continue;
    gtk_box_append (self->box, create_row (self, share));
    self->n_shown++;
  }
  /* The revealer is the bin's child, not a template child: disposing the
   * template would unparent it under AdwBin's feet. */
  gtk_revealer_set_reveal_child (GTK_REVEALER (adw_bin_get_child (ADW_BIN (self))),
                                 self->n_shown > 0);
}

static void
share_started_cb (MeshShareBar *self,
                  const char   *room_id,
                  const char   *share_id,
                  const char   *host_device_id,
                  const char   *host_peer_id,
                  const char   *user_id,
                  const char   *username)
{
  Share *share;

  for (guint i = 0; i < self->shares->len; i++) {
    if (g_str_equal (((Share *) self->shares->pdata[i])->share_id, share_id))
      return;
  }
  share = g_new0 (Share, 1);
  share->room_id = g_strdup (room_id);
  share->share_id = g_strdup (share_id);
  share->username = g_strdup (username);
  share->device_id = g_strdup (host_device_id);
  g_ptr_array_add (self->shares, share);
  update (self);
}

static void
share_stopped_cb (MeshShareBar *self,
                  const char   *room_id,
                  const char   *share_id)
{
  for (guint i = 0; i < self->shares->len; i++) {
    if (g_str_equal (((Share *) self->shares->pdata[i])->share_id, share_id)) {
      g_ptr_array_remove_index (self->shares, i);
      update (self);
      return;
    }
  }
}

/* The server ends the shares of a host that went away; after a reconnect
 * the ones still running are announced again. */
static void
session_state_cb (MeshShareBar *self)
{
  if (mesh_client_session_get_state (self->session) == MESH_CLIENT_SESSION_CONNECTED)
    return;
  g_ptr_array_set_size (self->shares, 0);
  update (self);
}

static void
mesh_share_bar_dispose (GObject *object)
{
  MeshShareBar *self = MESH_SHARE_BAR (object);

  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_SHARE_BAR);

  G_OBJECT_CLASS (mesh_share_bar_parent_class)->dispose (object);
}

static void
mesh_share_bar_finalize (GObject *object)
{
  MeshShareBar *self = MESH_SHARE_BAR (object);

  g_ptr_array_unref (self->shares);
  g_free (self->own_device);
  g_free (self->room_id);

  G_OBJECT_CLASS (mesh_share_bar_parent_class)->finalize (object);
}

static void
mesh_share_bar_class_init (MeshShareBarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_share_bar_dispose;
  object_class->finalize = mesh_share_bar_finalize;

  signals[SIGNAL_WATCH] =
    g_signal_new ("watch", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/mesh/Mesh/ui/mesh-share-bar.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshShareBar, box);
}

static void
mesh_share_bar_init (MeshShareBar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->shares = g_ptr_array_new_with_free_func ((GDestroyNotify) share_free);
}

GtkWidget *
mesh_share_bar_new (void)
{
  return g_object_new (MESH_TYPE_SHARE_BAR, NULL);
}

void
mesh_share_bar_set_session (MeshShareBar      *self,
                            MeshClientSession *session)
{
  g_return_if_fail (MESH_IS_SHARE_BAR (self));
  g_return_if_fail (session == NULL || MESH_IS_CLIENT_SESSION (session));

  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_set_object (&self->session, session);
  g_ptr_array_set_size (self->shares, 0);
  update (self);
  if (session == NULL)
    return;
  g_signal_connect_object (session, "terminal-share-started", G_CALLBACK (share_started_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "terminal-share-running", G_CALLBACK (share_started_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "terminal-share-stopped", G_CALLBACK (share_stopped_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::state", G_CALLBACK (session_state_cb), self,
                           G_CONNECT_SWAPPED);
}

void
mesh_share_bar_set_own_device (MeshShareBar *self,
                               const char   *device_id)
{
  g_return_if_fail (MESH_IS_SHARE_BAR (self));

  g_free (self->own_device);
  self->own_device = g_strdup (device_id);
  update (self);
}

void
mesh_share_bar_set_room_id (MeshShareBar *self,
                            const char   *room_id)
{
  g_return_if_fail (MESH_IS_SHARE_BAR (self));

  if (g_strcmp0 (self->room_id, room_id) == 0)
    return;
  g_free (self->room_id);
  self->room_id = g_strdup (room_id);
  update (self);
}

guint
mesh_share_bar_get_n_shares (MeshShareBar *self)
{
  g_return_val_if_fail (MESH_IS_SHARE_BAR (self), 0);

  return self->n_shown;
}
