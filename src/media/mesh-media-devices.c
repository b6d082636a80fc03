/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-media"

#include "config.h"

#include "mesh-media-devices.h"

#include <string.h>

/* Cameras, microphones and speakers as three GListModels of GstDevice that
 * follow hot-plug.  The GstDeviceMonitor posts DEVICE_ADDED/REMOVED/CHANGED
 * from its providers' threads; they are read from a bus watch attached to
 * the main context of creation, so the models only change there. */

struct _MeshMediaDevices {
  GObject           parent_instance;

  GstDeviceMonitor *monitor;
  GSource          *bus_source;
  GListStore       *cameras;
  GListStore       *microphones;
  GListStore       *speakers;
};

G_DEFINE_FINAL_TYPE (MeshMediaDevices, mesh_media_devices, G_TYPE_OBJECT)

static const char * const id_keys[] = {
  "node.name",          /* PipeWire */
  "device.serial",      /* v4l2 (udev), ALSA cards behind PulseAudio */
  "device.bus_path",
  "object.path",
  "device.path",        /* v4l2: /dev/videoN, stable while nothing else is plugged */
  "device.string",
  NULL
};

static char *
compute_id (GstDevice *device)
{
  g_autofree char *name = gst_device_get_display_name (device);
  g_autoptr(GstStructure) props = gst_device_get_properties (device);
  g_autofree char *internal = NULL;
  const char *key = NULL;

  /* PulseAudio's source/sink name is the stable key there, but it is a
   * property of the device object, not of its properties structure. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (device), "internal-name"))
    g_object_get (device, "internal-name", &internal, NULL);
  if (internal != NULL && *internal != '\0')
    key = internal;

  for (guint i = 0; key == NULL && props != NULL && id_keys[i] != NULL; i++) {
    const char *value = gst_structure_get_string (props, id_keys[i]);

    if (value != NULL && *value != '\0')
      key = value;
  }

  return g_strdup_printf ("%s|%s|%s", G_OBJECT_TYPE_NAME (device), name ? name : "", key ? key : "");
}

/**
 * mesh_media_device_get_id:
 * @device: a #GstDevice
 *
 * A string that names @device across runs and re-plugs, to remember a choice
 * in GSettings: the kind of device, its display name and the most stable key
 * its provider gives (PipeWire node name, PulseAudio name, serial, bus path).
 *
 * Returns: (transfer none): the id, owned by @device
 */
const char *
mesh_media_device_get_id (GstDevice *device)
{
  static GQuark quark;
  const char *id;

  g_return_val_if_fail (GST_IS_DEVICE (device), NULL);

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("mesh-media-device-id");

  id = g_object_get_qdata (G_OBJECT (device), quark);
  if (id == NULL) {
    char *computed = compute_id (device);

    g_object_set_qdata_full (G_OBJECT (device), quark, computed, g_free);
    id = computed;
  }
  return id;
}

static GListStore *
store_for_class (MeshMediaDevices *self,
                 const char       *klass)
{
  if (g_strcmp0 (klass, MESH_MEDIA_CLASS_CAMERA) == 0)
    return self->cameras;
  if (g_strcmp0 (klass, MESH_MEDIA_CLASS_MICROPHONE) == 0)
    return self->microphones;
  if (g_strcmp0 (klass, MESH_MEDIA_CLASS_SPEAKER) == 0)
    return self->speakers;
  return NULL;
}

static gboolean
store_find (GListStore *store,
            GstDevice  *device,
            guint      *position)
{
  if (g_list_store_find (store, device, position))
    return TRUE;

  /* A provider that cannot monitor makes new objects at each probe. */
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (store)); i++) {
    g_autoptr(GstDevice) item = g_list_model_get_item (G_LIST_MODEL (store), i);

    if (g_str_equal (mesh_media_device_get_id (item), mesh_media_device_get_id (device))) {
      *position = i;
      return TRUE;
    }
  }
  return FALSE;
}

/* PulseAudio lists what each speaker plays as an Audio/Source too ("Monitor
 * of …"): not a microphone to talk into. */
static gboolean
device_matches (GstDevice  *device,
                const char *klass)
{
  g_autoptr(GstStructure) props = NULL;

  if (!gst_device_has_classes (device, klass))
    return FALSE;
  if (!g_str_equal (klass, MESH_MEDIA_CLASS_MICROPHONE))
    return TRUE;
  props = gst_device_get_properties (device);
  return props == NULL || g_strcmp0 (gst_structure_get_string (props, "device.class"), "monitor") != 0;
}

static void
device_added (MeshMediaDevices *self,
              GstDevice        *device)
{
  const char * const classes[] = {
    MESH_MEDIA_CLASS_CAMERA, MESH_MEDIA_CLASS_MICROPHONE, MESH_MEDIA_CLASS_SPEAKER
  };

  for (guint i = 0; i < G_N_ELEMENTS (classes); i++) {
    GListStore *store = store_for_class (self, classes[i]);
    guint position;

    if (device_matches (device, classes[i]) && !g_list_store_find (store, device, &position))
      g_list_store_append (store, device);
  }
}

static void
device_removed (MeshMediaDevices *self,
                GstDevice        *device)
{
  GListStore *stores[] = { self->cameras, self->microphones, self->speakers };

  for (guint i = 0; i < G_N_ELEMENTS (stores); i++) {
    guint position;

    if (store_find (stores[i], device, &position))
      g_list_store_remove (stores[i], position);
  }
}

static void
device_changed (MeshMediaDevices *self,
                GstDevice        *device,
                GstDevice        *old_device)
{
  const char * const classes[] = {
    MESH_MEDIA_CLASS_CAMERA, MESH_MEDIA_CLASS_MICROPHONE, MESH_MEDIA_CLASS_SPEAKER
  };

  /* Replaced in place so that a picker keeps its selection's position. */
  for (guint i = 0; i < G_N_ELEMENTS (classes); i++) {
    GListStore *store = store_for_class (self, classes[i]);
    gboolean matches = device_matches (device, classes[i]);
    guint position;

    if (old_device != NULL && g_list_store_find (store, old_device, &position)) {
      if (matches)
        g_list_store_splice (store, position, 1, (gpointer *) &device, 1);
      else
        g_list_store_remove (store, position);
    } else if (matches && !g_list_store_find (store, device, &position)) {
      g_list_store_append (store, device);
    }
  }
}

static gboolean
on_bus_message (GstBus     *bus,
                GstMessage *message,
                gpointer    user_data)
{
  MeshMediaDevices *self = MESH_MEDIA_DEVICES (user_data);
  g_autoptr(GstDevice) device = NULL;
  g_autoptr(GstDevice) old_device = NULL;

  switch (GST_MESSAGE_TYPE (message)) {
  case GST_MESSAGE_DEVICE_ADDED:
    gst_message_parse_device_added (message, &device);
    device_added (self, device);
    break;
  case GST_MESSAGE_DEVICE_REMOVED:
    gst_message_parse_device_removed (message, &device);
    device_removed (self, device);
    break;
  case GST_MESSAGE_DEVICE_CHANGED:
    gst_message_parse_device_changed (message, &device, &old_device);
    device_changed (self, device, old_device);
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

static void
mesh_media_devices_dispose (GObject *object)
{
  MeshMediaDevices *self = MESH_MEDIA_DEVICES (object);

  if (self->bus_source != NULL) {
    g_source_destroy (self->bus_source);
    g_clear_pointer (&self->bus_source, g_source_unref);
  }
  if (self->monitor != NULL) {
    gst_device_monitor_stop (self->monitor);
    g_clear_object (&self->monitor);
  }
  g_clear_object (&self->cameras);
  g_clear_object (&self->microphones);
  g_clear_object (&self->speakers);

  G_OBJECT_CLASS (mesh_media_devices_parent_class)->dispose (object);
}

static void
mesh_media_devices_class_init (MeshMediaDevicesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mesh_media_devices_dispose;
}

static void
mesh_media_devices_init (MeshMediaDevices *self)
{
  g_autoptr(GstBus) bus = NULL;
  GList *devices;

  self->cameras = g_list_store_new (GST_TYPE_DEVICE);
  self->microphones = g_list_store_new (GST_TYPE_DEVICE);
  self->speakers = g_list_store_new (GST_TYPE_DEVICE);

  self->monitor = gst_device_monitor_new ();
  gst_device_monitor_add_filter (self->monitor, MESH_MEDIA_CLASS_CAMERA, NULL);
  gst_device_monitor_add_filter (self->monitor, MESH_MEDIA_CLASS_MICROPHONE, NULL);
  gst_device_monitor_add_filter (self->monitor, MESH_MEDIA_CLASS_SPEAKER, NULL);

  bus = gst_device_monitor_get_bus (self->monitor);
  self->bus_source = gst_bus_create_watch (bus);
  g_source_set_callback (self->bus_source, G_SOURCE_FUNC (on_bus_message), self, NULL);
  g_source_attach (self->bus_source, g_main_context_get_thread_default ());

  /* No provider starting (no camera, no sound server: CI) is not an error:
   * the lists stay empty and the defaults say so. */
  if (!gst_device_monitor_start (self->monitor))
    g_debug ("No device provider started");

  /* The devices present at start; later ones come as bus messages, and those
   * already listed here are skipped when their DEVICE_ADDED arrives. */
  devices = gst_device_monitor_get_devices (self->monitor);
  for (GList *l = devices; l != NULL; l = l->next)
    device_added (self, l->data);
  g_list_free_full (devices, gst_object_unref);
}

/**
 * mesh_media_devices_new:
 *
 * Starts watching cameras, microphones and speakers.  The models change on
 * the thread-default main context of the caller.
 *
 * Returns: (transfer full): a new #MeshMediaDevices
 */
MeshMediaDevices *
mesh_media_devices_new (void)
{
  if (!gst_is_initialized ())
    gst_init (NULL, NULL);

  return g_object_new (MESH_TYPE_MEDIA_DEVICES, NULL);
}

/**
 * mesh_media_devices_get_model:
 * @klass: %MESH_MEDIA_CLASS_CAMERA, %MESH_MEDIA_CLASS_MICROPHONE or %MESH_MEDIA_CLASS_SPEAKER
 *
 * Returns: (transfer none): a #GListModel of #GstDevice
 */
GListModel *
mesh_media_devices_get_model (MeshMediaDevices *self,
                              const char       *klass)
{
  GListStore *store;

  g_return_val_if_fail (MESH_IS_MEDIA_DEVICES (self), NULL);

  store = store_for_class (self, klass);
  g_return_val_if_fail (store != NULL, NULL);
  return G_LIST_MODEL (store);
}

GListModel *
mesh_media_devices_get_cameras (MeshMediaDevices *self)
{
  return mesh_media_devices_get_model (self, MESH_MEDIA_CLASS_CAMERA);
}

GListModel *
mesh_media_devices_get_microphones (MeshMediaDevices *self)
{
  return mesh_media_devices_get_model (self, MESH_MEDIA_CLASS_MICROPHONE);
}

GListModel *
mesh_media_devices_get_speakers (MeshMediaDevices *self)
{
  return mesh_media_devices_get_model (self, MESH_MEDIA_CLASS_SPEAKER);
}

/**
 * mesh_media_devices_find:
 * @klass: the kind of device
 * @id: (nullable): an id from mesh_media_device_get_id(); %NULL or "" is the default
 *
 * The device with this id.  When it is not there but exactly one device of
 * the same kind has the same name (a webcam plugged into another port), that
 * one.
 *
 * Returns: (transfer full) (nullable): the device, or %NULL
 */
GstDevice *
mesh_media_devices_find (MeshMediaDevices *self,
                         const char       *klass,
                         const char       *id)
{
  GListModel *model;
  const char *last_bar;
  g_autofree char *prefix = NULL;
  GstDevice *same_name = NULL;
  guint n_same_name = 0;

  g_return_val_if_fail (MESH_IS_MEDIA_DEVICES (self), NULL);

  model = mesh_media_devices_get_model (self, klass);
  if (model == NULL || id == NULL || *id == '\0')
    return NULL;

  for (guint i = 0; i < g_list_model_get_n_items (model); i++) {
    g_autoptr(GstDevice) device = g_list_model_get_item (model, i);

    if (g_str_equal (mesh_media_device_get_id (device), id))
      return g_steal_pointer (&device);
  }

  last_bar = strrchr (id, '|');
  if (last_bar == NULL)
    return NULL;
  prefix = g_strndup (id, last_bar - id + 1);
  for (guint i = 0; i < g_list_model_get_n_items (model); i++) {
    g_autoptr(GstDevice) device = g_list_model_get_item (model, i);

    if (g_str_has_prefix (mesh_media_device_get_id (device), prefix)) {
      n_same_name++;
      same_name = device;
    }
  }
  return n_same_name == 1 ? g_object_ref (same_name) : NULL;
}

static GstDevice *
default_device (MeshMediaDevices *self,
                const char       *klass)
{
  GListModel *model = mesh_media_devices_get_model (self, klass);
  guint n = g_list_model_get_n_items (model);

  /* The sound server's default (PulseAudio and PipeWire mark it), else the
   * first one listed: never a test source, which is what autovideosrc and
   * autoaudiosrc fall back to when nothing works. */
  for (guint i = 0; i < n; i++) {
    g_autoptr(GstDevice) device = g_list_model_get_item (model, i);
    g_autoptr(GstStructure) props = gst_device_get_properties (device);
    gboolean is_default = FALSE;

    if (props != NULL && gst_structure_get_boolean (props, "is-default", &is_default) && is_default)
      return g_steal_pointer (&device);
  }
  return n > 0 ? g_list_model_get_item (model, 0) : NULL;
}

/**
 * mesh_media_devices_create_element:
 * @device: (nullable): a device from one of the models, or %NULL for the default
 * @klass: the kind of device
 *
 * The GStreamer element of a device.  With no such device at all, there is
 * no camera (%NULL: audio only) or no microphone (%NULL: receive only), and
 * the speaker is a `fakesink`, so that a machine without sound still
 * receives calls.  Never blocks on a sound server.
 *
 * Returns: (transfer floating) (nullable): the element
 */
GstElement *
mesh_media_devices_create_element (MeshMediaDevices *self,
                                   GstDevice        *device,
                                   const char       *klass)
{
  g_autoptr(GstDevice) chosen = NULL;
  GstElement *element = NULL;
  gboolean is_speaker;

  g_return_val_if_fail (MESH_IS_MEDIA_DEVICES (self), NULL);
  g_return_val_if_fail (device == NULL || GST_IS_DEVICE (device), NULL);
  g_return_val_if_fail (store_for_class (self, klass) != NULL, NULL);

  is_speaker = g_str_equal (klass, MESH_MEDIA_CLASS_SPEAKER);
  chosen = device != NULL ? g_object_ref (device) : default_device (self, klass);
  if (chosen != NULL) {
    element = gst_device_create_element (chosen, NULL);
    if (element == NULL)
      g_debug ("Device %s made no element", mesh_media_device_get_id (chosen));
  }

  if (element == NULL && is_speaker) {
    element = gst_element_factory_make ("fakesink", NULL);
    /* Clocked like a real sink, so received audio is consumed in real time. */
    g_object_set (element, "sync", TRUE, NULL);
  }
  return element;
}
