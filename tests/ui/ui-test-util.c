/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ui"

#include "config.h"

#include "ui-test-util.h"

#include <glib/gstdio.h>

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ui_test_wait_until (UiTestCondition  condition,
                    gpointer         user_data,
                    guint            timeout_s,
                    const char      *what)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, set_flag_cb, &timed_out);

  while (!condition (user_data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (timed_out)
    g_error ("Gave up waiting for %s", what);
  g_source_remove (id);
}

static void
after_paint_cb (GdkFrameClock *clock,
                guint         *count)
{
  (*count)++;
}

static gboolean
painted (gpointer user_data)
{
  return *(guint *) user_data >= 1;
}

void
ui_test_wait_drawn (GtkWidget *window)
{
  GdkFrameClock *clock;
  guint count = 0;
  gulong id;

  ui_test_wait_until ((UiTestCondition) gtk_widget_get_mapped, window, 30, "the window to map");
  clock = gtk_widget_get_frame_clock (window);
  id = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &count);
  /* The second frame has what the first one's layout changed. */
  for (guint i = 0; i < 2; i++) {
    count = 0;
    gtk_widget_queue_resize (window);
    gtk_widget_queue_draw (window);
    ui_test_wait_until (painted, &count, 30, "the window to draw");
  }
  g_signal_handler_disconnect (clock, id);
}

GtkWidget *
ui_test_find_widget (GtkWidget      *widget,
                     GType           type,
                     gboolean      (*match) (GtkWidget *w, gconstpointer data),
                     gconstpointer   data)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type) && (match == NULL || match (widget, data)))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *found = ui_test_find_widget (child, type, match, data);

    if (found != NULL)
      return found;
  }
  return NULL;
}

static gboolean
label_matches (GtkWidget     *widget,
               gconstpointer  text)
{
  return g_strcmp0 (gtk_label_get_label (GTK_LABEL (widget)), text) == 0;
}

GtkWidget *
ui_test_find_label (GtkWidget  *widget,
                    const char *text)
{
  return ui_test_find_widget (widget, GTK_TYPE_LABEL, label_matches, text);
}

static gboolean
action_matches (GtkWidget     *widget,
                gconstpointer  action)
{
  return g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)), action) == 0;
}

GtkWidget *
ui_test_find_button_for_action (GtkWidget  *widget,
                                const char *action_name)
{
  return ui_test_find_widget (widget, GTK_TYPE_BUTTON, action_matches, action_name);
}

GtkWindow *
ui_test_find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  guint n = g_list_model_get_n_items (toplevels);

  for (guint i = n; i > 0; i--) {
    g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i - 1);

    if (G_TYPE_CHECK_INSTANCE_TYPE (window, type) && gtk_widget_get_visible (GTK_WIDGET (window)))
      return window;
  }
  return NULL;
}

char *
ui_test_screenshot (GtkWidget  *window,
                    const char *name)
{
  const char *dir = g_getenv ("MESH_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *file = g_strconcat (name, ".png", NULL);
  g_autofree char *path = NULL;
  GtkSnapshot *snapshot;
  int width, height;

  g_assert_nonnull (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  path = g_build_filename (dir, file, NULL);

  ui_test_wait_drawn (window);
  paintable = gtk_widget_paintable_new (window);
  width = gtk_widget_get_width (window);
  height = gtk_widget_get_height (window);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("Screenshot %s (%d×%d)", path, width, height);
  return g_steal_pointer (&path);
}
