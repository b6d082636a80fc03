/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ui"

#include "config.h"

#include "mesh-video-paintable.h"

#include <gst/video/video.h>

/* Each frame the output signals becomes a GdkMemoryTexture over the
 * buffer's own memory: the GBytes keeps the buffer mapped (and referenced)
 * until GTK has uploaded and dropped the texture, so nothing is copied on
 * our side.  The output already scaled and converted the frame (BGRA, square
 * pixels) on its streaming thread; here only the texture is made, on the
 * main thread, when "frame" is emitted. */

struct _MeshVideoPaintable {
  GObject          parent_instance;

  MeshVideoOutput *output;
  GdkTexture      *texture;
  int              width;
  int              height;
};

static void mesh_video_paintable_iface_init (GdkPaintableInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshVideoPaintable, mesh_video_paintable, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GDK_TYPE_PAINTABLE,
                                                      mesh_video_paintable_iface_init))

enum {
  PROP_0,
  PROP_OUTPUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static gboolean
memory_format (GstVideoFormat   format,
               GdkMemoryFormat *out)
{
  /* Opaque video: premultiplied or not is the same, and premultiplied BGRA
   * is what GTK uploads without converting. */
  switch (format) {
  case GST_VIDEO_FORMAT_BGRA:
    *out = GDK_MEMORY_B8G8R8A8_PREMULTIPLIED;
    return TRUE;
  case GST_VIDEO_FORMAT_RGBA:
    *out = GDK_MEMORY_R8G8B8A8_PREMULTIPLIED;
    return TRUE;
  case GST_VIDEO_FORMAT_ARGB:
    *out = GDK_MEMORY_A8R8G8B8_PREMULTIPLIED;
    return TRUE;
  case GST_VIDEO_FORMAT_RGB:
    *out = GDK_MEMORY_R8G8B8;
    return TRUE;
  case GST_VIDEO_FORMAT_BGR:
    *out = GDK_MEMORY_B8G8R8;
    return TRUE;
  default:
    return FALSE;
  }
}

static void
video_frame_free (gpointer data)
{
  GstVideoFrame *frame = data;

  gst_video_frame_unmap (frame);
  g_free (frame);
}

static GdkTexture *
texture_from_sample (GstSample *sample,
                     int       *width,
                     int       *height)
{
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  GstVideoInfo info;
  GstVideoFrame *frame;
  GdkMemoryFormat format;
  g_autoptr(GBytes) bytes = NULL;
  GdkTexture *texture;
  gsize stride;

  if (buffer == NULL || caps == NULL || !gst_video_info_from_caps (&info, caps))
    return NULL;
  if (!memory_format (GST_VIDEO_INFO_FORMAT (&info), &format)) {
    g_debug ("Video frames in %s cannot be shown",
             gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&info)));
    return NULL;
  }

  /* The frame keeps its own reference to the buffer while mapped. */
  frame = g_new0 (GstVideoFrame, 1);
  if (!gst_video_frame_map (frame, &info, buffer, GST_MAP_READ)) {
    g_free (frame);
    return NULL;
  }
  stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  bytes = g_bytes_new_with_free_func (GST_VIDEO_FRAME_PLANE_DATA (frame, 0),
                                      stride * GST_VIDEO_FRAME_HEIGHT (frame),
                                      video_frame_free, frame);
  texture = gdk_memory_texture_new (GST_VIDEO_FRAME_WIDTH (frame), GST_VIDEO_FRAME_HEIGHT (frame),
                                    format, bytes, stride);

  /* The intrinsic size is the frame's shape on screen. */
  *width = GST_VIDEO_INFO_WIDTH (&info);
  *height = GST_VIDEO_INFO_HEIGHT (&info);
  if (GST_VIDEO_INFO_PAR_N (&info) > 0 && GST_VIDEO_INFO_PAR_D (&info) > 0 &&
      GST_VIDEO_INFO_PAR_N (&info) != GST_VIDEO_INFO_PAR_D (&info))
    *width = (int) gst_util_uint64_scale_int_round (*width, GST_VIDEO_INFO_PAR_N (&info),
                                                    GST_VIDEO_INFO_PAR_D (&info));
  return texture;
}

static void
on_frame (MeshVideoOutput    *output,
          MeshVideoPaintable *self)
{
  g_autoptr(GstSample) sample = mesh_video_output_dup_sample (output);
  GdkTexture *texture;
  int width = 0, height = 0;
  gboolean size_changed;

  if (sample == NULL)
    return;
  texture = texture_from_sample (sample, &width, &height);
  if (texture == NULL)
    return;

  g_set_object (&self->texture, texture);
  g_object_unref (texture);
  size_changed = width != self->width || height != self->height;
  self->width = width;
  self->height = height;

  if (size_changed)
    gdk_paintable_invalidate_size (GDK_PAINTABLE (self));
  gdk_paintable_invalidate_contents (GDK_PAINTABLE (self));
}

static void
mesh_video_paintable_snapshot (GdkPaintable *paintable,
                               GdkSnapshot  *snapshot,
                               double        width,
                               double        height)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (paintable);
  double scale, w, h;

  if (self->texture == NULL || self->width <= 0 || self->height <= 0 || width <= 0 || height <= 0)
    return;

  /* Scaled to fit, centred, with black bars. */
  scale = MIN (width / self->width, height / self->height);
  w = self->width * scale;
  h = self->height * scale;
  if (w < width || h < height)
    gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0, 0, 0, 1 },
                               &GRAPHENE_RECT_INIT (0, 0, width, height));
  gtk_snapshot_append_texture (snapshot, self->texture,
                               &GRAPHENE_RECT_INIT ((width - w) / 2, (height - h) / 2, w, h));
}

static GdkPaintable *
mesh_video_paintable_get_current_image (GdkPaintable *paintable)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (paintable);

  if (self->texture != NULL)
    return GDK_PAINTABLE (g_object_ref (self->texture));
  return gdk_paintable_new_empty (self->width, self->height);
}

static int
mesh_video_paintable_get_intrinsic_width (GdkPaintable *paintable)
{
  return MESH_VIDEO_PAINTABLE (paintable)->width;
}

static int
mesh_video_paintable_get_intrinsic_height (GdkPaintable *paintable)
{
  return MESH_VIDEO_PAINTABLE (paintable)->height;
}

static double
mesh_video_paintable_get_intrinsic_aspect_ratio (GdkPaintable *paintable)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (paintable);

  return self->height > 0 ? (double) self->width / self->height : 0.0;
}

static void
mesh_video_paintable_iface_init (GdkPaintableInterface *iface)
{
  iface->snapshot = mesh_video_paintable_snapshot;
  iface->get_current_image = mesh_video_paintable_get_current_image;
  iface->get_intrinsic_width = mesh_video_paintable_get_intrinsic_width;
  iface->get_intrinsic_height = mesh_video_paintable_get_intrinsic_height;
  iface->get_intrinsic_aspect_ratio = mesh_video_paintable_get_intrinsic_aspect_ratio;
}

static void
mesh_video_paintable_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (object);

  switch (prop_id) {
  case PROP_OUTPUT:
    self->output = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_video_paintable_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (object);

  switch (prop_id) {
  case PROP_OUTPUT:
    g_value_set_object (value, self->output);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_video_paintable_constructed (GObject *object)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (object);

  G_OBJECT_CLASS (mesh_video_paintable_parent_class)->constructed (object);

  g_signal_connect_object (self->output, "frame", G_CALLBACK (on_frame), self, 0);
  /* A frame that is already there shows at once (a tile made mid-call). */
  on_frame (self->output, self);
}

static void
mesh_video_paintable_dispose (GObject *object)
{
  MeshVideoPaintable *self = MESH_VIDEO_PAINTABLE (object);

  g_clear_object (&self->texture);
  g_clear_object (&self->output);

  G_OBJECT_CLASS (mesh_video_paintable_parent_class)->dispose (object);
}

static void
mesh_video_paintable_class_init (MeshVideoPaintableClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->set_property = mesh_video_paintable_set_property;
  object_class->get_property = mesh_video_paintable_get_property;
  object_class->constructed = mesh_video_paintable_constructed;
  object_class->dispose = mesh_video_paintable_dispose;

  properties[PROP_OUTPUT] =
    g_param_spec_object ("output", NULL, NULL, MESH_TYPE_VIDEO_OUTPUT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_video_paintable_init (MeshVideoPaintable *self)
{
}

MeshVideoPaintable *
mesh_video_paintable_new (MeshVideoOutput *output)
{
  g_return_val_if_fail (MESH_IS_VIDEO_OUTPUT (output), NULL);

  return g_object_new (MESH_TYPE_VIDEO_PAINTABLE, "output", output, NULL);
}

MeshVideoOutput *
mesh_video_paintable_get_output (MeshVideoPaintable *self)
{
  g_return_val_if_fail (MESH_IS_VIDEO_PAINTABLE (self), NULL);

  return self->output;
}

GdkTexture *
mesh_video_paintable_get_texture (MeshVideoPaintable *self)
{
  g_return_val_if_fail (MESH_IS_VIDEO_PAINTABLE (self), NULL);

  return self->texture;
}
