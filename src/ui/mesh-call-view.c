/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-call-view"

#include "config.h"

#include "mesh-call-view.h"

#include "mesh-call-tile.h"

#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_ACTIVE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshCallView {
  AdwBin              parent_instance;

  /* Template widgets */
  GtkGrid            *grid;
  GtkImage           *state_icon;
  GtkLabel           *duration_label;
  GtkToggleButton    *mute_button;
  GtkToggleButton    *camera_button;
  GtkButton          *share_button;
  GtkWidget          *hang_up_button;
  GtkLabel           *people_label;
  AdwBin             *pip;
  GtkRevealer        *muted_hint;

  /* Owned references */
  MeshCallController *controller;
  GListModel         *calls;       /* the engine's */
  char               *room_id;
  MeshCall           *call;
  GtkWidget          *self_tile;
  MeshVideoOutput    *self_output;  /* the self tile's, borrowed */
  GPtrArray          *tiles;       /* MeshCallTile of the peers */
  guint               tick_id;
  gboolean            active;
};

G_DEFINE_FINAL_TYPE (MeshCallView, mesh_call_view, ADW_TYPE_BIN)

static void
update_duration (MeshCallView *self)
{
  gint64 started = self->call != NULL ? mesh_call_get_started_at (self->call) : 0;
  g_autofree char *text = NULL;

  if (self->call == NULL)
    return;
  if (mesh_call_get_state (self->call) != MESH_CALL_STATE_ACTIVE || started == 0) {
    gtk_label_set_label (self->duration_label, _("Calling…"));
    return;
  }
  {
    gint64 seconds = MAX (0, (g_get_monotonic_time () - started) / G_USEC_PER_SEC);

    if (seconds >= 3600)
      text = g_strdup_printf ("%d:%02d:%02d", (int) (seconds / 3600), (int) (seconds / 60 % 60),
                              (int) (seconds % 60));
    else
      text = g_strdup_printf ("%02d:%02d", (int) (seconds / 60), (int) (seconds % 60));
  }
  gtk_label_set_label (self->duration_label, text);
}

static gboolean
tick_cb (gpointer user_data)
{
  update_duration (user_data);
  return G_SOURCE_CONTINUE;
}

static void
mute_toggled_cb (MeshCallView *self)
{
  if (self->call != NULL &&
      mesh_call_get_muted (self->call) != gtk_toggle_button_get_active (self->mute_button))
    mesh_call_set_muted (self->call, gtk_toggle_button_get_active (self->mute_button));
}

static void
camera_toggled_cb (MeshCallView *self)
{
  gboolean enabled = !gtk_toggle_button_get_active (self->camera_button);

  if (self->call != NULL && mesh_call_get_camera_enabled (self->call) != enabled)
    mesh_call_set_camera_enabled (self->call, enabled);
}

static void
clear_grid (MeshCallView *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->grid))) != NULL)
    gtk_grid_remove (self->grid, child);
  adw_bin_set_child (self->pip, NULL);
}

/* One other person: their tile fills the view and the user's own is small
 * in a corner; more: everyone in a grid of two columns. */
static void
layout_tiles (MeshCallView *self)
{
  guint n = self->tiles->len;
  gboolean own_in_grid = n == 0 || n >= 2;
  guint total = n + (own_in_grid ? 1 : 0);
  guint columns = total <= 1 ? 1 : 2;

  clear_grid (self);
  for (guint i = 0; i < n; i++)
    gtk_grid_attach (self->grid, self->tiles->pdata[i], i % columns, i / columns, 1, 1);
  if (self->self_tile == NULL)
    return;
  mesh_call_tile_set_compact (MESH_CALL_TILE (self->self_tile), !own_in_grid);
  if (own_in_grid)
    gtk_grid_attach (self->grid, self->self_tile, n % columns, n / columns, 1, 1);
  else
    adw_bin_set_child (self->pip, self->self_tile);
  gtk_widget_set_visible (GTK_WIDGET (self->pip), !own_in_grid);
}

static MeshVideoOutput *
engine_self_view (MeshCallView *self)
{
  MeshCallEngine *engine = self->controller != NULL
                           ? mesh_call_controller_get_engine (self->controller) : NULL;

  return engine != NULL ? mesh_call_engine_get_self_view (engine) : NULL;
}

/* The engine has a self view while a call sends the camera: the tile
 * follows it as the call starts and as the camera changes. */
static void
update_self_tile (MeshCallView *self)
{
  g_autofree char *own_name = NULL;
  MeshVideoOutput *own = engine_self_view (self);

  if (self->call == NULL || (self->self_tile != NULL && own == self->self_output))
    return;
  own_name = mesh_call_controller_get_own_name (self->controller);
  g_clear_object (&self->self_tile);
  self->self_output = own;
  self->self_tile = g_object_ref_sink (mesh_call_tile_new_self (self->call, own, own_name));
  layout_tiles (self);
}

static void
update_controls (MeshCallView *self)
{
  gboolean muted, camera_off, speaking_muted = FALSE;
  MeshCall *share;

  if (self->call == NULL || self->controller == NULL)
    return;
  muted = mesh_call_get_muted (self->call);
  camera_off = !mesh_call_get_camera_enabled (self->call);
  g_object_get (self->call, "speaking-while-muted", &speaking_muted, NULL);

  gtk_toggle_button_set_active (self->mute_button, muted);
  gtk_button_set_icon_name (GTK_BUTTON (self->mute_button),
                            muted ? "microphone-disabled-symbolic"
                                  : "audio-input-microphone-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->mute_button), muted ? _("Unmute") : _("Mute"));

  gtk_toggle_button_set_active (self->camera_button, camera_off);
  gtk_button_set_icon_name (GTK_BUTTON (self->camera_button),
                            camera_off ? "camera-disabled-symbolic" : "camera-web-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->camera_button),
                               camera_off ? _("Turn Camera On") : _("Turn Camera Off"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->camera_button), engine_self_view (self) != NULL);
  update_self_tile (self);

  share = mesh_call_controller_get_own_share (self->controller, self->room_id);
  /* The target first: the actions take one. */
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->share_button), "s", self->room_id);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->share_button),
                                  share != NULL ? "app.stop-sharing" : "app.share-screen");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->share_button),
                               share != NULL ? _("Stop Sharing") : _("Share Screen"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->share_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  share != NULL ? _("Stop Sharing") : _("Share Screen"), -1);
  if (share != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->share_button), "suggested-action");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->share_button), "suggested-action");

  gtk_revealer_set_reveal_child (self->muted_hint, muted && speaking_muted);
}

static void
update_people (MeshCallView *self)
{
  g_autoptr(GString) names = g_string_new (NULL);
  GListModel *peers = mesh_call_get_peers (self->call);
  guint n = g_list_model_get_n_items (peers);

  for (guint i = 0; i < n; i++) {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (peers, i);

    if (names->len > 0)
      /* Translators: between the names of the people in a call. */
      g_string_append (names, _(", "));
    g_string_append (names, mesh_call_peer_get_username (peer));
  }
  gtk_label_set_label (self->people_label, names->str);
}

static void
peers_changed_cb (MeshCallView *self)
{
  GListModel *peers = mesh_call_get_peers (self->call);
  g_autoptr(GPtrArray) tiles = g_ptr_array_new_with_free_func (g_object_unref);

  /* Tiles are kept for the peers that stay, so their video does not blink. */
  for (guint i = 0; i < g_list_model_get_n_items (peers); i++) {
    g_autoptr(MeshCallPeer) peer = g_list_model_get_item (peers, i);
    GtkWidget *tile = NULL;

    for (guint j = 0; j < self->tiles->len && tile == NULL; j++) {
      if (mesh_call_tile_get_peer (self->tiles->pdata[j]) == peer)
        tile = g_object_ref (self->tiles->pdata[j]);
    }
    if (tile == NULL)
      tile = g_object_ref_sink (mesh_call_tile_new (peer));
    g_ptr_array_add (tiles, tile);
  }
  clear_grid (self);
  g_ptr_array_unref (self->tiles);
  self->tiles = g_steal_pointer (&tiles);
  layout_tiles (self);
  update_people (self);
}

static void
set_active (MeshCallView *self,
            gboolean      active)
{
  gtk_widget_set_visible (GTK_WIDGET (self), active);
  if (self->active == active)
    return;
  self->active = active;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVE]);
}

static void
call_state_cb (MeshCallView *self)
{
  MeshCallState state = self->call != NULL ? mesh_call_get_state (self->call)
                                           : MESH_CALL_STATE_ENDED;

  if (state != MESH_CALL_STATE_ENDED)
    update_self_tile (self);

  set_active (self, state == MESH_CALL_STATE_CALLING || state == MESH_CALL_STATE_ACTIVE);
  update_duration (self);
}

static void
set_call (MeshCallView *self,
          MeshCall     *call)
{
  if (self->call == call)
    return;
  if (self->call != NULL)
    g_signal_handlers_disconnect_by_data (self->call, self);
  if (self->call != NULL)
    g_signal_handlers_disconnect_by_data (mesh_call_get_peers (self->call), self);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  clear_grid (self);
  g_ptr_array_set_size (self->tiles, 0);
  g_clear_object (&self->self_tile);
  self->self_output = NULL;
  g_set_object (&self->call, call);

  if (call == NULL) {
    set_active (self, FALSE);
    return;
  }
  g_signal_connect_object (call, "notify::state", G_CALLBACK (call_state_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (call, "notify::started-at", G_CALLBACK (update_duration), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (call, "notify::muted", G_CALLBACK (update_controls), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (call, "notify::camera-enabled", G_CALLBACK (update_controls), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (call, "notify::speaking-while-muted", G_CALLBACK (update_controls),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (mesh_call_get_peers (call), "items-changed",
                           G_CALLBACK (peers_changed_cb), self, G_CONNECT_SWAPPED);
  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);
  peers_changed_cb (self);
  update_controls (self);
  call_state_cb (self);
}

/* The room's call: the one calling or running (a ringing one is the
 * banner's). */
static void
calls_changed_cb (MeshCallView *self)
{
  MeshCall *call = NULL;

  if (self->controller != NULL && self->room_id != NULL) {
    call = mesh_call_controller_get_call (self->controller, self->room_id);
    if (call != NULL && mesh_call_get_state (call) == MESH_CALL_STATE_RINGING)
      call = NULL;
  }
  /* A ringing call that is answered becomes the view's. */
  set_call (self, call);
  update_controls (self);
}

static void
mesh_call_view_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MeshCallView *self = MESH_CALL_VIEW (object);

  switch (prop_id) {
  case PROP_ACTIVE:
    g_value_set_boolean (value, self->active);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_call_view_dispose (GObject *object)
{
  MeshCallView *self = MESH_CALL_VIEW (object);

  mesh_call_view_set_controller (self, NULL);
  g_clear_pointer (&self->tiles, g_ptr_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_CALL_VIEW);

  G_OBJECT_CLASS (mesh_call_view_parent_class)->dispose (object);
}

static void
mesh_call_view_finalize (GObject *object)
{
  MeshCallView *self = MESH_CALL_VIEW (object);

  g_free (self->room_id);

  G_OBJECT_CLASS (mesh_call_view_parent_class)->finalize (object);
}

static void
mesh_call_view_class_init (MeshCallViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_call_view_get_property;
  object_class->dispose = mesh_call_view_dispose;
  object_class->finalize = mesh_call_view_finalize;

  properties[PROP_ACTIVE] =
    g_param_spec_boolean ("active", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/mesh/Mesh/ui/mesh-call-view.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, grid);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, state_icon);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, duration_label);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, mute_button);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, camera_button);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, share_button);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, hang_up_button);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, people_label);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, pip);
  gtk_widget_class_bind_template_child (widget_class, MeshCallView, muted_hint);
  gtk_widget_class_bind_template_callback (widget_class, mute_toggled_cb);
  gtk_widget_class_bind_template_callback (widget_class, camera_toggled_cb);
}

static void
mesh_call_view_init (MeshCallView *self)
{
  g_type_ensure (MESH_TYPE_CALL_TILE);
  gtk_widget_init_template (GTK_WIDGET (self));
  self->tiles = g_ptr_array_new_with_free_func (g_object_unref);
}

GtkWidget *
mesh_call_view_new (void)
{
  return g_object_new (MESH_TYPE_CALL_VIEW, NULL);
}

void
mesh_call_view_set_controller (MeshCallView       *self,
                               MeshCallController *controller)
{
  g_return_if_fail (MESH_IS_CALL_VIEW (self));
  g_return_if_fail (controller == NULL || MESH_IS_CALL_CONTROLLER (controller));

  if (self->controller == controller)
    return;
  set_call (self, NULL);
  g_set_object (&self->controller, controller);
  mesh_call_controller_follow_calls (controller, &self->calls, self, G_CALLBACK (calls_changed_cb));
}

void
mesh_call_view_set_room_id (MeshCallView *self,
                            const char   *room_id)
{
  g_return_if_fail (MESH_IS_CALL_VIEW (self));

  if (g_strcmp0 (self->room_id, room_id) == 0)
    return;
  g_free (self->room_id);
  self->room_id = g_strdup (room_id);
  calls_changed_cb (self);
}

MeshCall *
mesh_call_view_get_call (MeshCallView *self)
{
  g_return_val_if_fail (MESH_IS_CALL_VIEW (self), NULL);

  return self->call;
}

gboolean
mesh_call_view_get_active (MeshCallView *self)
{
  g_return_val_if_fail (MESH_IS_CALL_VIEW (self), FALSE);

  return self->active;
}

GPtrArray *
mesh_call_view_dup_tiles (MeshCallView *self)
{
  GPtrArray *tiles;

  g_return_val_if_fail (MESH_IS_CALL_VIEW (self), NULL);

  tiles = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->tiles->len; i++)
    g_ptr_array_add (tiles, g_object_ref (self->tiles->pdata[i]));
  return tiles;
}

GtkWidget *
mesh_call_view_get_self_tile (MeshCallView *self)
{
  g_return_val_if_fail (MESH_IS_CALL_VIEW (self), NULL);

  return self->self_tile;
}

const char *
mesh_call_view_get_duration_text (MeshCallView *self)
{
  g_return_val_if_fail (MESH_IS_CALL_VIEW (self), NULL);

  return gtk_label_get_label (self->duration_label);
}
