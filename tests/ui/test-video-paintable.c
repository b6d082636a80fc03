/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gtk/gtk.h>

#include "mesh-video-output.h"
#include "mesh-video-paintable.h"

/* A MeshVideoOutput fed by videotestsrc (one solid colour), shown through
 * MeshVideoPaintable: its size follows the frames, its snapshot is the frame
 * fitted into the area, and the pixels GTK renders are the frame's colour. */

#define RED   0x20
#define GREEN 0x80
#define BLUE  0xe0

typedef struct {
  GstElement         *pipeline;
  GstElement         *caps;
  MeshVideoOutput    *output;
  MeshVideoPaintable *paintable;
  int                 n_size;
  int                 n_contents;
} Fixture;

static void
set_source_size (Fixture *fixture,
                 int      width,
                 int      height)
{
  g_autoptr(GstCaps) caps = gst_caps_new_simple ("video/x-raw",
                                                 "width", G_TYPE_INT, width,
                                                 "height", G_TYPE_INT, height,
                                                 "framerate", GST_TYPE_FRACTION, 30, 1,
                                                 NULL);

  g_object_set (fixture->caps, "caps", caps, NULL);
}

static void
on_invalidate_size (GdkPaintable *paintable,
                    Fixture      *fixture)
{
  fixture->n_size++;
}

static void
on_invalidate_contents (GdkPaintable *paintable,
                        Fixture      *fixture)
{
  fixture->n_contents++;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  GstElement *source = gst_element_factory_make ("videotestsrc", NULL);

  fixture->pipeline = gst_pipeline_new (NULL);
  fixture->caps = gst_element_factory_make ("capsfilter", NULL);
  fixture->output = mesh_video_output_new ();
  g_object_set (source, "is-live", TRUE, "foreground-color", 0xff000000 | RED << 16 | GREEN << 8 | BLUE,
                NULL);
  gst_util_set_object_arg (G_OBJECT (source), "pattern", "solid-color");
  set_source_size (fixture, 320, 240);
  gst_bin_add_many (GST_BIN (fixture->pipeline), source, fixture->caps,
                    gst_object_ref (mesh_video_output_get_element (fixture->output)), NULL);
  g_assert_true (gst_element_link_many (source, fixture->caps,
                                        mesh_video_output_get_element (fixture->output), NULL));

  fixture->paintable = mesh_video_paintable_new (fixture->output);
  g_signal_connect (fixture->paintable, "invalidate-size", G_CALLBACK (on_invalidate_size), fixture);
  g_signal_connect (fixture->paintable, "invalidate-contents",
                    G_CALLBACK (on_invalidate_contents), fixture);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  gst_element_set_state (fixture->pipeline, GST_STATE_NULL);
  g_clear_object (&fixture->pipeline);
  g_clear_object (&fixture->paintable);
  g_clear_object (&fixture->output);
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Until the paintable has this size (a safety timeout, not a requirement). */
static void
wait_for_size (Fixture *fixture,
               int      width,
               int      height)
{
  GdkPaintable *paintable = GDK_PAINTABLE (fixture->paintable);
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (20, on_timeout, &timed_out);

  while ((gdk_paintable_get_intrinsic_width (paintable) != width ||
          gdk_paintable_get_intrinsic_height (paintable) != height) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (paintable), ==, width);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (paintable), ==, height);
}

static GskRenderNode *
find_node (GskRenderNode  *node,
           GskRenderNodeType type)
{
  if (gsk_render_node_get_node_type (node) == type)
    return node;
  if (gsk_render_node_get_node_type (node) == GSK_CONTAINER_NODE) {
    for (guint i = 0; i < gsk_container_node_get_n_children (node); i++) {
      GskRenderNode *found = find_node (gsk_container_node_get_child (node, i), type);

      if (found != NULL)
        return found;
    }
  }
  return NULL;
}

static GskRenderNode *
snapshot (GdkPaintable *paintable,
          double        width,
          double        height)
{
  GtkSnapshot *snapshot = gtk_snapshot_new ();

  gdk_paintable_snapshot (paintable, snapshot, width, height);
  return gtk_snapshot_free_to_node (snapshot);
}

static void
assert_pixel (const guchar *data,
              gsize         stride,
              int           x,
              int           y,
              int           red,
              int           green,
              int           blue)
{
  /* gdk_texture_download(): cairo's ARGB32, B G R A in memory here. */
  const guchar *pixel = data + y * stride + x * 4;

  g_assert_cmpint (ABS (pixel[2] - red), <=, 12);
  g_assert_cmpint (ABS (pixel[1] - green), <=, 12);
  g_assert_cmpint (ABS (pixel[0] - blue), <=, 12);
}

static void
test_frames (Fixture       *fixture,
             gconstpointer  data)
{
  GdkPaintable *paintable = GDK_PAINTABLE (fixture->paintable);
  g_autoptr(GskRenderNode) node = NULL;
  GskRenderNode *texture_node, *color_node;
  graphene_rect_t bounds;
  GdkTexture *texture;
  GtkWidget *window, *picture;
  g_autoptr(GdkTexture) rendered = NULL;
  g_autofree guchar *pixels = NULL;
  int n_contents;
  gboolean timed_out = FALSE;
  guint timeout;

  /* Before the first frame: no size, nothing drawn. */
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (paintable), ==, 0);
  g_assert_null (mesh_video_paintable_get_texture (fixture->paintable));
  node = snapshot (paintable, 400, 400);
  g_assert_null (node);

  g_assert_cmpint (gst_element_set_state (fixture->pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  wait_for_size (fixture, 320, 240);
  g_assert_cmpfloat_with_epsilon (gdk_paintable_get_intrinsic_aspect_ratio (paintable),
                                  4.0 / 3.0, 0.001);
  g_assert_cmpint (fixture->n_size, ==, 1);

  /* Every frame is new contents. */
  n_contents = fixture->n_contents;
  timeout = g_timeout_add_seconds (20, on_timeout, &timed_out);
  while (fixture->n_contents < n_contents + 5 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout);
  g_assert_cmpint (fixture->n_contents, >=, n_contents + 5);
  g_assert_cmpint (fixture->n_size, ==, 1);

  /* A square area: the 4:3 frame fills its width, black bars above and below. */
  node = snapshot (paintable, 400, 400);
  g_assert_nonnull (node);
  texture_node = find_node (node, GSK_TEXTURE_NODE);
  g_assert_nonnull (texture_node);
  texture = gsk_texture_node_get_texture (texture_node);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, 320);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, 240);
  gsk_render_node_get_bounds (texture_node, &bounds);
  g_assert_cmpfloat_with_epsilon (bounds.origin.x, 0, 0.01);
  g_assert_cmpfloat_with_epsilon (bounds.origin.y, 50, 0.01);
  g_assert_cmpfloat_with_epsilon (bounds.size.width, 400, 0.01);
  g_assert_cmpfloat_with_epsilon (bounds.size.height, 300, 0.01);
  color_node = find_node (node, GSK_COLOR_NODE);
  g_assert_nonnull (color_node);

  /* What GTK draws of it: the frame's colour in the middle, black above. */
  window = gtk_window_new ();
  picture = gtk_picture_new_for_paintable (paintable);
  gtk_window_set_child (GTK_WINDOW (window), picture);
  gtk_window_set_default_size (GTK_WINDOW (window), 400, 400);
  gtk_window_present (GTK_WINDOW (window));
  rendered = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node,
                                          &GRAPHENE_RECT_INIT (0, 0, 400, 400));
  pixels = g_malloc (400 * 4 * 400);
  gdk_texture_download (rendered, pixels, 400 * 4);
  assert_pixel (pixels, 400 * 4, 200, 200, RED, GREEN, BLUE);
  assert_pixel (pixels, 400 * 4, 10, 60, RED, GREEN, BLUE);
  assert_pixel (pixels, 400 * 4, 200, 20, 0, 0, 0);
  assert_pixel (pixels, 400 * 4, 200, 380, 0, 0, 0);

  /* The sender changes size (a window shared, a camera switched): the
   * paintable's size follows, once. */
  set_source_size (fixture, 640, 360);
  wait_for_size (fixture, 640, 360);
  g_assert_cmpint (fixture->n_size, ==, 2);
  g_assert_cmpfloat_with_epsilon (gdk_paintable_get_intrinsic_aspect_ratio (paintable),
                                  16.0 / 9.0, 0.001);
  g_clear_pointer (&node, gsk_render_node_unref);
  node = snapshot (paintable, 320, 180);
  g_assert_nonnull (node);
  /* Exactly its shape: no bars. */
  g_assert_null (find_node (node, GSK_COLOR_NODE));
  texture_node = find_node (node, GSK_TEXTURE_NODE);
  g_assert_cmpint (gdk_texture_get_width (gsk_texture_node_get_texture (texture_node)), ==, 640);

  gtk_window_destroy (GTK_WINDOW (window));
}

/* A paintable made mid-call shows the frame that is already there. */
static void
test_late_paintable (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(MeshVideoPaintable) late = NULL;

  g_assert_cmpint (gst_element_set_state (fixture->pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  wait_for_size (fixture, 320, 240);
  late = mesh_video_paintable_new (fixture->output);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (GDK_PAINTABLE (late)), ==, 320);
  g_assert_nonnull (mesh_video_paintable_get_texture (late));
}

int
main (int   argc,
      char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ()) {
    /* .ci/run gives one (xvfb-run); by hand, there may be none. */
    g_print ("1..0 # SKIP no display: run under xvfb-run\n");
    return 0;
  }

#define ADD(path, func) \
  g_test_add ("/mesh/ui/video-paintable/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("frames", test_frames);
  ADD ("late-paintable", test_late_paintable);
#undef ADD

  return g_test_run ();
}
