/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-screen-source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The screen as a live raw-video bin:
 *
 *   pipewiresrc | ximagesrc | videotestsrc [! framerate] ! videoscale ! videoconvert
 *     ! videorate ! capsfilter (scaled size, MESH_SCREEN_SOURCE_FPS)
 *
 * The capsfilter's size is set from the source's caps as they pass (a probe
 * on the source pad), so a window that is resized keeps its aspect ratio too.
 * PipeWire only sends frames when something changes: its keepalive resends
 * the last frame and videorate fills in, so the rate never falls under
 * MESH_SCREEN_SOURCE_MIN_FPS. */

/* The bin tells its MeshScreenSource when one of its elements fails (the X
 * display went away, PipeWire stopped): the error still goes up to whoever
 * runs the pipeline. */
#define MESH_TYPE_SCREEN_BIN (mesh_screen_bin_get_type ())
G_DECLARE_FINAL_TYPE (MeshScreenBin, mesh_screen_bin, MESH, SCREEN_BIN, GstBin)

struct _MeshScreenBin {
  GstBin        parent_instance;
  GWeakRef      owner;
  GMainContext *context;
  int           failed;
};

G_DEFINE_FINAL_TYPE (MeshScreenBin, mesh_screen_bin, GST_TYPE_BIN)

struct _MeshScreenSource {
  GObject       parent_instance;

  GMainContext *context;
  GstElement   *bin;
  GstElement   *size_filter;   /* borrowed: in bin */
  const char   *backend;
  XdpPortal    *portal;
  XdpSession   *session;
  gulong        session_closed_id;
  gboolean      closed;
};

G_DEFINE_FINAL_TYPE (MeshScreenSource, mesh_screen_source, G_TYPE_OBJECT)

enum {
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
stopped (MeshScreenSource *self)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

static gboolean
source_failed_cb (gpointer user_data)
{
  stopped (MESH_SCREEN_SOURCE (user_data));
  return G_SOURCE_REMOVE;
}

static void
mesh_screen_bin_handle_message (GstBin     *bin,
                                GstMessage *message)
{
  MeshScreenBin *self = MESH_SCREEN_BIN (bin);

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR &&
      g_atomic_int_compare_and_exchange (&self->failed, FALSE, TRUE)) {
    MeshScreenSource *owner = g_weak_ref_get (&self->owner);

    /* From a streaming thread: "closed" is emitted on the owner's context. */
    if (owner != NULL)
      g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, source_failed_cb,
                                  owner, g_object_unref);
  }
  GST_BIN_CLASS (mesh_screen_bin_parent_class)->handle_message (bin, message);
}

static void
mesh_screen_bin_finalize (GObject *object)
{
  MeshScreenBin *self = MESH_SCREEN_BIN (object);

  g_weak_ref_clear (&self->owner);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (mesh_screen_bin_parent_class)->finalize (object);
}

static void
mesh_screen_bin_class_init (MeshScreenBinClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mesh_screen_bin_finalize;
  GST_BIN_CLASS (klass)->handle_message = mesh_screen_bin_handle_message;
}

static void
mesh_screen_bin_init (MeshScreenBin *self)
{
  g_weak_ref_init (&self->owner, NULL);
}

void
mesh_screen_source_scaled_size (int  width,
                                int  height,
                                int *out_width,
                                int *out_height)
{
  int scaled_width;

  g_return_if_fail (width > 0 && height > 0);

  if (width <= MESH_SCREEN_SOURCE_MAX_WIDTH) {
    *out_width = width;
    *out_height = height;
    return;
  }
  /* Text on a very wide screen stays readable: at most halved. */
  scaled_width = MAX (MESH_SCREEN_SOURCE_MAX_WIDTH, (width + 1) / 2);
  /* Even sizes, as encoders of 4:2:0 video want. */
  *out_width = scaled_width & ~1;
  *out_height = MAX (2, (int) (((gint64) height * scaled_width + width / 2) / width) & ~1);
}

static GstCaps *
output_caps (int width,
             int height,
             int par_n,
             int par_d)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw",
                                       "framerate", GST_TYPE_FRACTION, MESH_SCREEN_SOURCE_FPS, 1,
                                       NULL);

  if (width > 0)
    gst_caps_set_simple (caps,
                         "width", G_TYPE_INT, width,
                         "height", G_TYPE_INT, height,
                         "pixel-aspect-ratio", GST_TYPE_FRACTION, par_n, par_d,
                         NULL);
  return caps;
}

static GstPadProbeReturn
on_source_caps (GstPad          *pad,
                GstPadProbeInfo *info,
                gpointer         user_data)
{
  GstElement *size_filter = GST_ELEMENT (user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstCaps *caps;
  GstStructure *s;
  int width, height, par_n = 1, par_d = 1, out_width, out_height;
  g_autoptr(GstCaps) filter = NULL;
  g_autoptr(GstCaps) current = NULL;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;

  gst_event_parse_caps (event, &caps);
  s = gst_caps_get_structure (caps, 0);
  if (!gst_structure_get_int (s, "width", &width) || !gst_structure_get_int (s, "height", &height) ||
      width <= 0 || height <= 0)
    return GST_PAD_PROBE_OK;
  gst_structure_get_fraction (s, "pixel-aspect-ratio", &par_n, &par_d);

  /* Before the caps go downstream, so they negotiate the scaled size. */
  mesh_screen_source_scaled_size (width, height, &out_width, &out_height);
  filter = output_caps (out_width, out_height, par_n, par_d);
  g_object_get (size_filter, "caps", &current, NULL);
  if (current == NULL || !gst_caps_is_equal (current, filter)) {
    GST_INFO_OBJECT (size_filter, "screen %dx%d sent as %dx%d", width, height, out_width, out_height);
    g_object_set (size_filter, "caps", filter, NULL);
  }
  return GST_PAD_PROBE_OK;
}

static GstElement *
make (const char *factory)
{
  /* have_elements() was asked first. */
  return gst_element_factory_make (factory, NULL);
}

/* A machine without a GStreamer plugin package gets an error, not a crash. */
static gboolean
have_elements (const char  *source,
               GError     **error)
{
  const char * const names[] = { source, "capsfilter", "videoscale", "videoconvert", "videorate" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autoptr(GstElementFactory) factory = gst_element_factory_find (names[i]);

    if (factory == NULL) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "the GStreamer element %s is not installed", names[i]);
      return FALSE;
    }
  }
  return TRUE;
}

static void
build_bin (MeshScreenSource *self,
           GstElement       *source,
           GstCaps          *source_caps)
{
  MeshScreenBin *bin = g_object_new (MESH_TYPE_SCREEN_BIN, "name", "screen-source", NULL);
  GstElement *scale = make ("videoscale");
  GstElement *convert = make ("videoconvert");
  GstElement *rate = make ("videorate");
  GstElement *last = source;
  g_autoptr(GstPad) source_pad = gst_element_get_static_pad (source, "src");
  g_autoptr(GstPad) filter_pad = NULL;
  g_autoptr(GstCaps) initial = output_caps (0, 0, 1, 1);

  g_weak_ref_set (&bin->owner, self);
  bin->context = g_main_context_ref (self->context);
  self->bin = gst_object_ref_sink (GST_ELEMENT (bin));
  self->size_filter = make ("capsfilter");
  g_object_set (self->size_filter, "caps", initial, NULL);

  gst_bin_add_many (GST_BIN (bin), source, scale, convert, rate, self->size_filter, NULL);
  if (source_caps != NULL) {
    GstElement *source_filter = make ("capsfilter");

    g_object_set (source_filter, "caps", source_caps, NULL);
    gst_bin_add (GST_BIN (bin), source_filter);
    gst_element_link (source, source_filter);
    last = source_filter;
  }
  if (!gst_element_link_many (last, scale, convert, rate, self->size_filter, NULL))
    g_critical ("Could not link the screen source's elements");

  gst_pad_add_probe (source_pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_source_caps,
                     gst_object_ref (self->size_filter), gst_object_unref);

  filter_pad = gst_element_get_static_pad (self->size_filter, "src");
  gst_element_add_pad (GST_ELEMENT (bin), gst_ghost_pad_new ("src", filter_pad));
}

static MeshScreenSource *
source_new (const char *backend)
{
  MeshScreenSource *self = g_object_new (MESH_TYPE_SCREEN_SOURCE, NULL);

  self->backend = backend;
  return self;
}

static gboolean
x_screen_size (int     *width,
               int     *height,
               GError **error)
{
  const char *display = g_getenv ("DISPLAY");
  g_autoptr(GstElement) probe = NULL;
  g_autoptr(GstPad) pad = NULL;
  g_autoptr(GstCaps) caps = NULL;
  GstStructure *s;

  if (display == NULL || *display == '\0') {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "no X display");
    return FALSE;
  }
  if (!have_elements ("ximagesrc", error))
    return FALSE;

  /* ximagesrc opens the display when it starts; once started its caps are
   * the screen's size. */
  probe = gst_object_ref_sink (make ("ximagesrc"));
  if (gst_element_set_state (probe, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
    gst_element_set_state (probe, GST_STATE_NULL);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "cannot open X display %s", display);
    return FALSE;
  }
  pad = gst_element_get_static_pad (probe, "src");
  caps = gst_pad_query_caps (pad, NULL);
  gst_element_set_state (probe, GST_STATE_NULL);

  s = gst_caps_is_empty (caps) ? NULL : gst_caps_get_structure (caps, 0);
  if (s == NULL || !gst_structure_get_int (s, "width", width) ||
      !gst_structure_get_int (s, "height", height)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "X display %s has no screen size",
                 display);
    return FALSE;
  }
  return TRUE;
}

static MeshScreenSource *
x11_source_new (GError **error)
{
  MeshScreenSource *self;
  GstElement *source;
  g_autoptr(GstCaps) rate = NULL;
  int width, height;

  if (!x_screen_size (&width, &height, error))
    return NULL;

  self = source_new ("x11");
  source = make ("ximagesrc");
  /* Damage-driven capture misses frames under Xvfb and on some drivers. */
  g_object_set (source, "use-damage", FALSE, "show-pointer", TRUE, NULL);
  /* Grab no more often than we send. */
  rate = gst_caps_new_simple ("video/x-raw",
                              "framerate", GST_TYPE_FRACTION, MESH_SCREEN_SOURCE_FPS, 1,
                              NULL);
  build_bin (self, source, rate);
  g_debug ("Sharing the X screen %s (%dx%d)", g_getenv ("DISPLAY"), width, height);
  return self;
}

static MeshScreenSource *
test_source_new (const char *spec,
                 GError    **error)
{
  MeshScreenSource *self;
  GstElement *source;
  g_autoptr(GstCaps) caps = NULL;
  int width = 1280, height = 800;

  if (spec != NULL && sscanf (spec, "%dx%d", &width, &height) != 2) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "MESH_SCREEN_SOURCE=test:%s: expected test:WIDTHxHEIGHT", spec);
    return NULL;
  }
  if (width < 16 || height < 16 || width > 16384 || height > 16384) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "MESH_SCREEN_SOURCE=test: %dx%d is not a screen size", width, height);
    return NULL;
  }

  if (!have_elements ("videotestsrc", error))
    return NULL;
  self = source_new ("test");
  source = make ("videotestsrc");
  g_object_set (source, "is-live", TRUE, NULL);
  gst_util_set_object_arg (G_OBJECT (source), "pattern", "ball");
  /* What a screen gives (ximagesrc, PipeWire): 32-bit RGB. */
  caps = gst_caps_new_simple ("video/x-raw",
                              "format", G_TYPE_STRING, "BGRx",
                              "width", G_TYPE_INT, width,
                              "height", G_TYPE_INT, height,
                              "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1,
                              "framerate", GST_TYPE_FRACTION, MESH_SCREEN_SOURCE_FPS, 1,
                              NULL);
  build_bin (self, source, caps);
  return self;
}

static void
close_fd (gpointer  data,
          GObject  *where_the_object_was)
{
  close (GPOINTER_TO_INT (data));
}

static void
on_session_closed (XdpSession       *session,
                   MeshScreenSource *self)
{
  g_debug ("The screen-cast portal closed the session");
  stopped (self);
}

typedef struct {
  XdpParent    *parent;
  XdpPortal    *portal;
  XdpSession   *session;
  GCancellable *cancellable;
  gulong        cancelled_id;
  gboolean      returned;
} NewData;

static void
new_data_free (NewData *data)
{
  if (data->cancellable != NULL) {
    g_cancellable_disconnect (data->cancellable, data->cancelled_id);
    g_object_unref (data->cancellable);
  }
  g_clear_pointer (&data->parent, xdp_parent_free);
  g_clear_object (&data->session);
  g_clear_object (&data->portal);
  g_free (data);
}

/* The task is answered once: a cancelled one at once, whatever libportal
 * does later. */
static gboolean
task_answered (GTask *task)
{
  NewData *data = g_task_get_task_data (task);

  return data->returned;
}

static void
task_return_error (GTask  *task,
                   GError *error)
{
  NewData *data = g_task_get_task_data (task);

  data->returned = TRUE;
  g_task_return_error (task, error);
}

static void
task_return_source (GTask            *task,
                    MeshScreenSource *self)
{
  NewData *data = g_task_get_task_data (task);

  data->returned = TRUE;
  g_task_return_pointer (task, self, g_object_unref);
}

static void
on_cancelled (GCancellable *cancellable,
              GTask        *task)
{
  /* libportal 0.6 closes the request on cancel, and the portal then never
   * answers: without this the caller would wait forever. */
  if (!task_answered (task))
    task_return_error (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                  "Screen sharing was cancelled"));
}

static void
return_x11_source (GTask  *task,
                   GError *portal_error)
{
  g_autoptr(GError) error = NULL;
  MeshScreenSource *self = x11_source_new (&error);

  if (self == NULL) {
    task_return_error (task, g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                          "No screen to share: no screen-cast portal (%s) and %s",
                                          portal_error != NULL ? portal_error->message : "none",
                                          error->message));
    return;
  }
  task_return_source (task, self);
}

static void
portal_failed (GTask  *task,
               GError *error)
{
  if (task_answered (task)) {
    g_error_free (error);
    return;
  }
  /* The user said no: nothing else is shared, nothing is said. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    task_return_error (task, error);
    return;
  }
  g_debug ("No screen-cast portal (%s): sharing the X screen", error->message);
  return_x11_source (task, error);
  g_error_free (error);
}

static void
on_session_started (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  NewData *data = g_task_get_task_data (task);
  XdpSession *session = XDP_SESSION (object);
  g_autoptr(MeshScreenSource) self = NULL;
  GError *error = NULL;
  GVariant *streams;
  g_autoptr(GVariant) properties = NULL;
  g_autofree char *path = NULL;
  GstElement *source;
  guint32 node_id;
  int fd;

  if (!xdp_session_start_finish (session, result, &error)) {
    portal_failed (task, error);
    return;
  }
  if (task_answered (task)) {
    /* Picked after the caller gave up: share nothing. */
    xdp_session_close (session);
    return;
  }

  /* From here on the user chose what to share: never the X screen instead. */
  streams = xdp_session_get_streams (session);
  if (streams == NULL || g_variant_n_children (streams) == 0) {
    xdp_session_close (session);
    task_return_error (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                                  "The screen-cast portal gave no stream"));
    return;
  }
  g_variant_get_child (streams, 0, "(u@a{sv})", &node_id, &properties);
  if (!have_elements ("pipewiresrc", &error)) {
    xdp_session_close (session);
    task_return_error (task, error);
    return;
  }
  fd = xdp_session_open_pipewire_remote (session);
  if (fd < 0) {
    xdp_session_close (session);
    task_return_error (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                                  "Could not open the PipeWire stream of the screen cast"));
    return;
  }

  self = source_new ("portal");
  self->portal = g_steal_pointer (&data->portal);
  self->session = g_steal_pointer (&data->session);
  self->session_closed_id = g_signal_connect (self->session, "closed",
                                              G_CALLBACK (on_session_closed), self);

  path = g_strdup_printf ("%u", node_id);
  source = make ("pipewiresrc");
  g_object_set (source,
                "fd", fd,
                "path", path,
                "do-timestamp", TRUE,
                "keepalive-time", 1000 / MESH_SCREEN_SOURCE_MIN_FPS,
                NULL);
  /* pipewiresrc uses a copy of the fd; ours lives as long as the element. */
  g_object_weak_ref (G_OBJECT (source), close_fd, GINT_TO_POINTER (fd));
  build_bin (self, source, NULL);
  g_debug ("Sharing PipeWire node %u of the screen-cast portal", node_id);
  task_return_source (task, g_steal_pointer (&self));
}

static void
on_session_created (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  GTask *task = G_TASK (user_data);
  NewData *data = g_task_get_task_data (task);
  GError *error = NULL;

  data->session = xdp_portal_create_screencast_session_finish (XDP_PORTAL (object), result, &error);
  if (data->session == NULL) {
    portal_failed (task, error);
    g_object_unref (task);
    return;
  }
  /* libportal before 0.9 (Debian 12 has 0.6) returns the session with one
   * reference too many; nothing else holds it at this point. */
  if (g_atomic_int_get (&G_OBJECT (data->session)->ref_count) > 1)
    g_object_unref (data->session);
  if (task_answered (task)) {
    g_object_unref (task);
    return;
  }
  xdp_session_start (data->session, data->parent, g_task_get_cancellable (task),
                     on_session_started, task);
}

static void
on_bus (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  GTask *task = G_TASK (user_data);
  NewData *data = g_task_get_task_data (task);
  g_autoptr(GDBusConnection) bus = NULL;
  GError *error = NULL;

  /* libportal 0.6 takes the session bus synchronously and crashes without
   * one: it is only made once the bus is there. */
  bus = g_bus_get_finish (result, &error);
  if (bus == NULL || task_answered (task)) {
    if (bus == NULL)
      portal_failed (task, error);
    g_object_unref (task);
    return;
  }
  data->portal = xdp_portal_new ();
  xdp_portal_create_screencast_session (data->portal,
                                        XDP_OUTPUT_MONITOR | XDP_OUTPUT_WINDOW,
                                        XDP_SCREENCAST_FLAG_NONE,
                                        XDP_CURSOR_MODE_EMBEDDED,
                                        XDP_PERSIST_MODE_NONE,
                                        NULL,
                                        g_task_get_cancellable (task),
                                        on_session_created,
                                        task);
}

static void
mesh_screen_source_dispose (GObject *object)
{
  MeshScreenSource *self = MESH_SCREEN_SOURCE (object);

  mesh_screen_source_close (self);
  g_clear_object (&self->session);
  g_clear_object (&self->portal);
  gst_clear_object (&self->bin);
  self->size_filter = NULL;

  G_OBJECT_CLASS (mesh_screen_source_parent_class)->dispose (object);
}

static void
mesh_screen_source_finalize (GObject *object)
{
  MeshScreenSource *self = MESH_SCREEN_SOURCE (object);

  g_main_context_unref (self->context);
  G_OBJECT_CLASS (mesh_screen_source_parent_class)->finalize (object);
}

static void
mesh_screen_source_class_init (MeshScreenSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_screen_source_dispose;
  object_class->finalize = mesh_screen_source_finalize;

  /**
   * MeshScreenSource::closed:
   *
   * The share ended without us: the user stopped it from the portal's
   * indicator, or the source failed.  Emitted on the main context the source
   * was made on.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
mesh_screen_source_init (MeshScreenSource *self)
{
  self->context = g_main_context_ref_thread_default ();
}

/**
 * mesh_screen_source_new_async:
 * @parent: (nullable): the window the portal's dialog is modal to
 * @cancellable: (nullable): a #GCancellable
 *
 * Asks the user what to share (portal), or takes the X screen when there is
 * no portal.  The result is on the caller's thread-default main context.
 */
void
mesh_screen_source_new_async (XdpParent           *parent,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  NewData *data;
  const char *forced = g_getenv ("MESH_SCREEN_SOURCE");
  GError *error = NULL;

  if (!gst_is_initialized ())
    gst_init (NULL, NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mesh_screen_source_new_async);
  data = g_new0 (NewData, 1);
  data->parent = parent != NULL ? xdp_parent_copy (parent) : NULL;
  g_task_set_task_data (task, data, (GDestroyNotify) new_data_free);

  if (forced != NULL && *forced != '\0') {
    MeshScreenSource *self = NULL;

    if (g_str_equal (forced, "x11"))
      self = x11_source_new (&error);
    else if (g_str_equal (forced, "test"))
      self = test_source_new (NULL, &error);
    else if (g_str_has_prefix (forced, "test:"))
      self = test_source_new (forced + strlen ("test:"), &error);
    else
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "MESH_SCREEN_SOURCE=%s: expected x11 or test", forced);

    if (self != NULL)
      g_task_return_pointer (task, self, g_object_unref);
    else
      g_task_return_error (task, error);
    return;
  }

  if (cancellable != NULL) {
    data->cancellable = g_object_ref (cancellable);
    data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled), task, NULL);
  }
  g_bus_get (G_BUS_TYPE_SESSION, cancellable, on_bus, g_steal_pointer (&task));
}

/**
 * mesh_screen_source_new_finish:
 *
 * Returns: (transfer full): the screen source, or %NULL with
 *   %G_IO_ERROR_CANCELLED when the user cancelled the portal's dialog (say
 *   nothing then), or another error when there is nothing to share
 */
MeshScreenSource *
mesh_screen_source_new_finish (GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mesh_screen_source_new_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mesh_screen_source_get_element:
 *
 * Returns: (transfer none): the source bin, with a "src" ghost pad
 */
GstElement *
mesh_screen_source_get_element (MeshScreenSource *self)
{
  g_return_val_if_fail (MESH_IS_SCREEN_SOURCE (self), NULL);

  return self->bin;
}

const char *
mesh_screen_source_get_backend (MeshScreenSource *self)
{
  g_return_val_if_fail (MESH_IS_SCREEN_SOURCE (self), NULL);

  return self->backend;
}

gboolean
mesh_screen_source_is_closed (MeshScreenSource *self)
{
  g_return_val_if_fail (MESH_IS_SCREEN_SOURCE (self), TRUE);

  return self->closed;
}

void
mesh_screen_source_close (MeshScreenSource *self)
{
  g_return_if_fail (MESH_IS_SCREEN_SOURCE (self));

  self->closed = TRUE;
  if (self->session != NULL) {
    /* Closing emits the session's "closed": it is not the user's doing. */
    g_clear_signal_handler (&self->session_closed_id, self->session);
    if (xdp_session_get_session_state (self->session) == XDP_SESSION_ACTIVE)
      xdp_session_close (self->session);
  }
}
