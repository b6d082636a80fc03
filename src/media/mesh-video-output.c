/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-video-output.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

enum {
  PROP_0,
  PROP_FRAMES,
  PROP_WIDTH,
  PROP_HEIGHT,
  N_PROPS
};

enum {
  SIGNAL_FRAME,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* What the streaming thread shares with the object: it may outlive the
 * object (the bin can still be in a pipeline being torn down), so the
 * appsink callbacks hold this, never the object itself. */
typedef struct {
  gatomicrefcount  ref;
  GMutex           lock;
  GWeakRef         owner;
  GMainContext    *context;
  GstElement      *capsfilter;  /* borrowed: the bin owns it */
  GstSample       *sample;
  guint64          frames;
  int              hint_width;
  int              hint_height;
  int              in_width;
  int              in_height;
  int              in_par_n;
  int              in_par_d;
  gboolean         dispatch_pending;
} OutputShared;

struct _MeshVideoOutput {
  GObject       parent_instance;

  OutputShared *shared;
  GstElement   *bin;
  guint64       frames;   /* as last notified */
  int           width;
  int           height;
};

G_DEFINE_FINAL_TYPE (MeshVideoOutput, mesh_video_output, G_TYPE_OBJECT)

static OutputShared *
output_shared_ref (OutputShared *shared)
{
  g_atomic_ref_count_inc (&shared->ref);
  return shared;
}

static void
output_shared_unref (gpointer data)
{
  OutputShared *shared = data;

  if (!g_atomic_ref_count_dec (&shared->ref))
    return;
  g_weak_ref_clear (&shared->owner);
  g_clear_pointer (&shared->sample, gst_sample_unref);
  g_main_context_unref (shared->context);
  g_mutex_clear (&shared->lock);
  g_free (shared);
}

/* The largest size within the hint with the source's display aspect ratio;
 * never larger than the source.  Called with the lock held. */
static GstCaps *
output_shared_target_caps (OutputShared *shared)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw",
                                       "format", G_TYPE_STRING, "BGRA",
                                       "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1,
                                       NULL);
  double dw, dh, scale;
  int width, height;

  if (shared->in_width <= 0 || shared->in_height <= 0)
    return caps;

  dw = (double) shared->in_width * shared->in_par_n / MAX (shared->in_par_d, 1);
  dh = shared->in_height;
  scale = 1.0;
  if (shared->hint_width > 0 && shared->hint_height > 0)
    scale = MIN ((double) shared->hint_width / dw, (double) shared->hint_height / dh);
  /* Never enlarge: the paintable scales up on the GPU for free. */
  scale = MIN (scale, MIN (shared->in_width / dw, shared->in_height / dh));
  width = MAX (2, ((int) (dw * scale)) & ~1);
  height = MAX (2, ((int) (dh * scale)) & ~1);
  gst_caps_set_simple (caps, "width", G_TYPE_INT, width, "height", G_TYPE_INT, height, NULL);
  return caps;
}

static void
output_shared_update_caps (OutputShared *shared)
{
  g_autoptr(GstCaps) caps = NULL;

  g_mutex_lock (&shared->lock);
  caps = output_shared_target_caps (shared);
  g_mutex_unlock (&shared->lock);
  g_object_set (shared->capsfilter, "caps", caps, NULL);
}

/* Keeps the target size in step with the source's size. */
static GstPadProbeReturn
output_caps_probe (GstPad          *pad,
                   GstPadProbeInfo *info,
                   gpointer         data)
{
  OutputShared *shared = data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstVideoInfo vinfo;
  GstCaps *caps;
  gboolean changed;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  gst_event_parse_caps (event, &caps);
  if (!gst_video_info_from_caps (&vinfo, caps))
    return GST_PAD_PROBE_OK;

  g_mutex_lock (&shared->lock);
  changed = shared->in_width != GST_VIDEO_INFO_WIDTH (&vinfo) ||
            shared->in_height != GST_VIDEO_INFO_HEIGHT (&vinfo) ||
            shared->in_par_n != GST_VIDEO_INFO_PAR_N (&vinfo) ||
            shared->in_par_d != GST_VIDEO_INFO_PAR_D (&vinfo);
  shared->in_width = GST_VIDEO_INFO_WIDTH (&vinfo);
  shared->in_height = GST_VIDEO_INFO_HEIGHT (&vinfo);
  shared->in_par_n = MAX (GST_VIDEO_INFO_PAR_N (&vinfo), 1);
  shared->in_par_d = MAX (GST_VIDEO_INFO_PAR_D (&vinfo), 1);
  g_mutex_unlock (&shared->lock);

  if (changed)
    output_shared_update_caps (shared);
  return GST_PAD_PROBE_OK;
}

static gboolean
output_dispatch (gpointer data)
{
  OutputShared *shared = data;
  g_autoptr(MeshVideoOutput) self = g_weak_ref_get (&shared->owner);
  g_autoptr(GstSample) sample = NULL;
  guint64 frames;
  int width = 0, height = 0;

  g_mutex_lock (&shared->lock);
  shared->dispatch_pending = FALSE;
  frames = shared->frames;
  if (shared->sample != NULL)
    sample = gst_sample_ref (shared->sample);
  g_mutex_unlock (&shared->lock);

  if (self == NULL)
    return G_SOURCE_REMOVE;

  if (sample != NULL) {
    GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (sample), 0);

    gst_structure_get_int (s, "width", &width);
    gst_structure_get_int (s, "height", &height);
  }

  g_object_freeze_notify (G_OBJECT (self));
  if (frames != self->frames) {
    self->frames = frames;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FRAMES]);
  }
  if (width != self->width) {
    self->width = width;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WIDTH]);
  }
  if (height != self->height) {
    self->height = height;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HEIGHT]);
  }
  g_object_thaw_notify (G_OBJECT (self));
  g_signal_emit (self, signals[SIGNAL_FRAME], 0);
  return G_SOURCE_REMOVE;
}

static GstFlowReturn
output_new_sample (GstAppSink *sink,
                   gpointer    data)
{
  OutputShared *shared = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  gboolean dispatch;

  if (sample == NULL)
    return GST_FLOW_EOS;

  g_mutex_lock (&shared->lock);
  g_clear_pointer (&shared->sample, gst_sample_unref);
  shared->sample = sample;
  shared->frames++;
  dispatch = !shared->dispatch_pending;
  shared->dispatch_pending = TRUE;
  g_mutex_unlock (&shared->lock);

  if (dispatch) {
    GSource *source = g_idle_source_new ();

    g_source_set_priority (source, G_PRIORITY_DEFAULT);
    g_source_set_callback (source, output_dispatch, output_shared_ref (shared),
                           output_shared_unref);
    g_source_attach (source, shared->context);
    g_source_unref (source);
  }
  return GST_FLOW_OK;
}

static void
mesh_video_output_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MeshVideoOutput *self = MESH_VIDEO_OUTPUT (object);

  switch (prop_id) {
  case PROP_FRAMES:
    g_value_set_uint64 (value, mesh_video_output_get_frames (self));
    break;
  case PROP_WIDTH:
    g_value_set_int (value, self->width);
    break;
  case PROP_HEIGHT:
    g_value_set_int (value, self->height);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_video_output_dispose (GObject *object)
{
  MeshVideoOutput *self = MESH_VIDEO_OUTPUT (object);

  if (self->bin != NULL) {
    /* A bin still inside a pipeline is stopped by that pipeline. */
    if (GST_OBJECT_PARENT (self->bin) == NULL)
      gst_element_set_state (self->bin, GST_STATE_NULL);
    gst_clear_object (&self->bin);
  }
  G_OBJECT_CLASS (mesh_video_output_parent_class)->dispose (object);
}

static void
mesh_video_output_finalize (GObject *object)
{
  MeshVideoOutput *self = MESH_VIDEO_OUTPUT (object);

  g_weak_ref_set (&self->shared->owner, NULL);
  output_shared_unref (self->shared);
  G_OBJECT_CLASS (mesh_video_output_parent_class)->finalize (object);
}

static void
mesh_video_output_class_init (MeshVideoOutputClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mesh_video_output_get_property;
  object_class->dispose = mesh_video_output_dispose;
  object_class->finalize = mesh_video_output_finalize;

  properties[PROP_FRAMES] =
    g_param_spec_uint64 ("frames", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WIDTH] =
    g_param_spec_int ("width", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HEIGHT] =
    g_param_spec_int ("height", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_FRAME] =
    g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
mesh_video_output_init (MeshVideoOutput *self)
{
  GstAppSinkCallbacks callbacks = { .new_sample = output_new_sample };
  GstElement *queue, *scale, *convert, *capsfilter, *sink;
  g_autoptr(GstPad) pad = NULL;
  g_autoptr(GstCaps) caps = NULL;
  OutputShared *shared;

  if (!gst_is_initialized ())
    gst_init (NULL, NULL);

  shared = g_new0 (OutputShared, 1);
  g_atomic_ref_count_init (&shared->ref);
  g_mutex_init (&shared->lock);
  g_weak_ref_init (&shared->owner, self);
  shared->context = g_main_context_ref_thread_default ();
  self->shared = shared;

  self->bin = gst_object_ref_sink (gst_bin_new (NULL));
  /* A leaky queue: a slow main loop never holds back the decoder. */
  queue = gst_element_factory_make ("queue", NULL);
  g_object_set (queue, "leaky", 2, "max-size-buffers", 2, "max-size-time", (guint64) 0,
                "max-size-bytes", 0, NULL);
  scale = gst_element_factory_make ("videoscale", NULL);
  convert = gst_element_factory_make ("videoconvert", NULL);
  capsfilter = gst_element_factory_make ("capsfilter", NULL);
  sink = gst_element_factory_make ("appsink", NULL);
  g_assert (queue != NULL && scale != NULL && convert != NULL && capsfilter != NULL &&
            sink != NULL);
  shared->capsfilter = capsfilter;

  caps = output_shared_target_caps (shared);
  g_object_set (capsfilter, "caps", caps, NULL);
  /* async=false: the bin is added to running pipelines, where waiting for
   * a preroll would hold the whole call's state change. */
  g_object_set (sink, "max-buffers", 1, "drop", TRUE, "sync", TRUE, "async", FALSE,
                "enable-last-sample", FALSE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, output_shared_ref (shared),
                              output_shared_unref);

  gst_bin_add_many (GST_BIN (self->bin), queue, scale, convert, capsfilter, sink, NULL);
  if (!gst_element_link_many (queue, scale, convert, capsfilter, sink, NULL))
    g_critical ("Cannot link the video output's elements");

  pad = gst_element_get_static_pad (queue, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, output_caps_probe,
                     output_shared_ref (shared), output_shared_unref);
  gst_element_add_pad (self->bin, gst_ghost_pad_new ("sink", pad));
}

MeshVideoOutput *
mesh_video_output_new (void)
{
  return g_object_new (MESH_TYPE_VIDEO_OUTPUT, NULL);
}

GstElement *
mesh_video_output_get_element (MeshVideoOutput *self)
{
  g_return_val_if_fail (MESH_IS_VIDEO_OUTPUT (self), NULL);

  return self->bin;
}

void
mesh_video_output_set_size_hint (MeshVideoOutput *self,
                                 int              width,
                                 int              height)
{
  g_return_if_fail (MESH_IS_VIDEO_OUTPUT (self));

  g_mutex_lock (&self->shared->lock);
  self->shared->hint_width = MAX (width, 0);
  self->shared->hint_height = MAX (height, 0);
  g_mutex_unlock (&self->shared->lock);
  output_shared_update_caps (self->shared);
}

GstSample *
mesh_video_output_dup_sample (MeshVideoOutput *self)
{
  GstSample *sample = NULL;

  g_return_val_if_fail (MESH_IS_VIDEO_OUTPUT (self), NULL);

  g_mutex_lock (&self->shared->lock);
  if (self->shared->sample != NULL)
    sample = gst_sample_ref (self->shared->sample);
  g_mutex_unlock (&self->shared->lock);
  return sample;
}

guint64
mesh_video_output_get_frames (MeshVideoOutput *self)
{
  guint64 frames;

  g_return_val_if_fail (MESH_IS_VIDEO_OUTPUT (self), 0);

  g_mutex_lock (&self->shared->lock);
  frames = self->shared->frames;
  g_mutex_unlock (&self->shared->lock);
  return frames;
}

int
mesh_video_output_get_width (MeshVideoOutput *self)
{
  g_return_val_if_fail (MESH_IS_VIDEO_OUTPUT (self), 0);

  return self->width;
}

int
mesh_video_output_get_height (MeshVideoOutput *self)
{
  g_return_val_if_fail (MESH_IS_VIDEO_OUTPUT (self), 0);

  return self->height;
}
