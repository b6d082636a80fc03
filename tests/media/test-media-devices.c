/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-media-devices.h"

/* A device provider of our own, registered in this process and the only one
 * the monitor sees (the machine's providers are ranked out), so the test
 * plugs cameras, microphones and speakers in and out at will. */

#define TEST_TYPE_DEVICE (test_device_get_type ())
G_DECLARE_FINAL_TYPE (TestDevice, test_device, TEST, DEVICE, GstDevice)

struct _TestDevice {
  GstDevice parent_instance;
};

G_DEFINE_FINAL_TYPE (TestDevice, test_device, GST_TYPE_DEVICE)

static GstElement *
test_device_create_element (GstDevice  *device,
                            const char *name)
{
  g_autoptr(GstStructure) props = gst_device_get_properties (device);
  const char *serial = gst_structure_get_string (props, "device.serial");

  /* Named after the device, so a test sees which device made it. */
  if (gst_device_has_classes (device, "Video/Source"))
    return gst_element_factory_make ("videotestsrc", serial);
  if (gst_device_has_classes (device, "Audio/Source"))
    return gst_element_factory_make ("audiotestsrc", serial);
  return gst_element_factory_make ("fakesink", serial);
}

static void
test_device_class_init (TestDeviceClass *klass)
{
  GST_DEVICE_CLASS (klass)->create_element = test_device_create_element;
}

static void
test_device_init (TestDevice *self)
{
}

static GstDevice *
test_device_new_full (const char *klass,
                      const char *name,
                      const char *serial,
                      gboolean    is_default,
                      const char *pulse_class)
{
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple (g_str_has_prefix (klass, "Video") ?
                                                       "video/x-raw" : "audio/x-raw");
  g_autoptr(GstStructure) props = gst_structure_new ("test-device-props",
                                                     "device.serial", G_TYPE_STRING, serial,
                                                     "is-default", G_TYPE_BOOLEAN, is_default,
                                                     NULL);

  if (pulse_class != NULL)
    gst_structure_set (props, "device.class", G_TYPE_STRING, pulse_class, NULL);

  /* Not floating: the provider takes its own reference. */
  return gst_object_ref_sink (g_object_new (TEST_TYPE_DEVICE,
                                            "display-name", name,
                                            "device-class", klass,
                                            "caps", caps,
                                            "properties", props,
                                            NULL));
}

static GstDevice *
test_device_new (const char *klass,
                 const char *name,
                 const char *serial,
                 gboolean    is_default)
{
  return test_device_new_full (klass, name, serial, is_default, NULL);
}

#define TEST_TYPE_PROVIDER (test_provider_get_type ())
G_DECLARE_FINAL_TYPE (TestProvider, test_provider, TEST, PROVIDER, GstDeviceProvider)

struct _TestProvider {
  GstDeviceProvider parent_instance;
};

G_DEFINE_FINAL_TYPE (TestProvider, test_provider, GST_TYPE_DEVICE_PROVIDER)

/* Devices already there when the provider starts: like PulseAudio's, it
 * announces them as it starts. */
static GList *startup_devices;

static gboolean
test_provider_start (GstDeviceProvider *provider)
{
  for (GList *l = startup_devices; l != NULL; l = l->next)
    gst_device_provider_device_add (provider, l->data);
  return TRUE;
}

static void
test_provider_class_init (TestProviderClass *klass)
{
  GstDeviceProviderClass *provider_class = GST_DEVICE_PROVIDER_CLASS (klass);

  provider_class->start = test_provider_start;
  gst_device_provider_class_set_static_metadata (provider_class, "Mesh test devices",
                                                 "Audio/Video/Source/Sink",
                                                 "Devices plugged by the test", "Mesh");
}

static void
test_provider_init (TestProvider *self)
{
}

static GstDeviceProvider *
get_provider (void)
{
  return gst_device_provider_factory_get_by_name ("meshtestprovider");
}

static void
plug (GstDevice *device)
{
  g_autoptr(GstDeviceProvider) provider = get_provider ();

  gst_device_provider_device_add (provider, device);
}

static gpointer
plug_thread (gpointer data)
{
  plug (GST_DEVICE (data));
  return NULL;
}

static void
unplug (GstDevice *device)
{
  g_autoptr(GstDeviceProvider) provider = get_provider ();

  gst_device_provider_device_remove (provider, device);
}

static void
unplug_all (void)
{
  g_autoptr(GstDeviceProvider) provider = get_provider ();
  GList *devices = gst_device_provider_get_devices (provider);

  for (GList *l = devices; l != NULL; l = l->next)
    gst_device_provider_device_remove (provider, l->data);
  g_list_free_full (devices, gst_object_unref);
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* The models change on the main context, from bus messages. */
static void
wait_for_n_items (GListModel *model,
                  guint       n)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (10, on_timeout, &timed_out);

  while (g_list_model_get_n_items (model) != n && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, n);
}

/* Lets pending bus messages through (to see that nothing else arrives). */
static void
drain (void)
{
  gboolean done = FALSE;

  g_timeout_add (200, on_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static GstDevice *
item (GListModel *model,
      guint       position)
{
  GstDevice *device = g_list_model_get_item (model, position);

  g_assert_nonnull (device);
  g_object_unref (device);
  return device;
}

static void
test_no_devices (void)
{
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  g_autoptr(GstElement) speaker = NULL;

  drain ();
  g_assert_cmpuint (g_list_model_get_n_items (mesh_media_devices_get_cameras (devices)), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (mesh_media_devices_get_microphones (devices)), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (mesh_media_devices_get_speakers (devices)), ==, 0);

  /* No camera: audio only; no microphone: receive only; no speaker: a sink
   * that still consumes what is received. */
  g_assert_null (mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_CAMERA));
  g_assert_null (mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_MICROPHONE));
  speaker = gst_object_ref_sink (mesh_media_devices_create_element (devices, NULL,
                                                                    MESH_MEDIA_CLASS_SPEAKER));
  g_assert_nonnull (speaker);
  g_assert_cmpstr (GST_OBJECT_NAME (gst_element_get_factory (speaker)), ==, "fakesink");

  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, ""));
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, NULL));
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_MICROPHONE,
                                          "TestDevice|Mic|gone"));
}

static void
test_hotplug (void)
{
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  GListModel *cameras = mesh_media_devices_get_cameras (devices);
  GListModel *microphones = mesh_media_devices_get_microphones (devices);
  GListModel *speakers = mesh_media_devices_get_speakers (devices);
  g_autoptr(GstDevice) camera = test_device_new ("Video/Source", "Webcam", "cam-1", FALSE);
  g_autoptr(GstDevice) camera2 = test_device_new ("Video/Source", "Other Webcam", "cam-2", FALSE);
  g_autoptr(GstDevice) mic = test_device_new ("Audio/Source", "Headset Mic", "mic-1", FALSE);
  /* What PulseAudio lists for each speaker: not a microphone. */
  g_autoptr(GstDevice) monitor = test_device_new_full ("Audio/Source", "Monitor of Speakers", "mon",
                                                       FALSE, "monitor");
  g_autoptr(GstElement) element = NULL;

  /* Plugged from another thread, as providers do: the model changes on
   * this thread's main context, not under the provider's feet. */
  g_thread_join (g_thread_new ("provider", plug_thread, camera));
  g_assert_cmpuint (g_list_model_get_n_items (cameras), ==, 0);
  wait_for_n_items (cameras, 1);
  g_assert_true (item (cameras, 0) == camera);
  g_assert_cmpuint (g_list_model_get_n_items (microphones), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (speakers), ==, 0);

  plug (monitor);
  plug (mic);
  wait_for_n_items (microphones, 1);
  g_assert_true (item (microphones, 0) == mic);
  plug (camera2);
  wait_for_n_items (cameras, 2);
  g_assert_true (item (cameras, 1) == camera2);

  /* The default camera is a real one now, and a chosen one is that one. */
  element = gst_object_ref_sink (mesh_media_devices_create_element (devices, NULL,
                                                                    MESH_MEDIA_CLASS_CAMERA));
  g_assert_cmpstr (GST_OBJECT_NAME (element), ==, "cam-1");
  gst_clear_object (&element);
  element = gst_object_ref_sink (mesh_media_devices_create_element (devices, camera2,
                                                                    MESH_MEDIA_CLASS_CAMERA));
  g_assert_cmpstr (GST_OBJECT_NAME (element), ==, "cam-2");
  gst_clear_object (&element);
  element = gst_object_ref_sink (mesh_media_devices_create_element (devices, NULL,
                                                                    MESH_MEDIA_CLASS_MICROPHONE));
  g_assert_cmpstr (GST_OBJECT_NAME (element), ==, "mic-1");
  gst_clear_object (&element);

  unplug (camera);
  wait_for_n_items (cameras, 1);
  g_assert_true (item (cameras, 0) == camera2);
  unplug (mic);
  wait_for_n_items (microphones, 0);
  g_assert_null (mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_MICROPHONE));

  unplug_all ();
  wait_for_n_items (cameras, 0);
}

static void
test_present_at_start (void)
{
  g_autoptr(GstDevice) camera = test_device_new ("Video/Source", "Webcam", "cam-1", FALSE);
  g_autoptr(MeshMediaDevices) devices = NULL;

  startup_devices = g_list_append (NULL, camera);
  devices = mesh_media_devices_new ();
  g_clear_pointer (&startup_devices, g_list_free);
  /* Listed once, although the provider also announces it. */
  drain ();
  g_assert_cmpuint (g_list_model_get_n_items (mesh_media_devices_get_cameras (devices)), ==, 1);
  unplug_all ();
  wait_for_n_items (mesh_media_devices_get_cameras (devices), 0);
}

static void
test_default_speaker (void)
{
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  g_autoptr(GstDevice) hdmi = test_device_new ("Audio/Sink", "HDMI", "hdmi", FALSE);
  g_autoptr(GstDevice) speakers = test_device_new ("Audio/Sink", "Speakers", "analog", TRUE);
  g_autoptr(GstElement) element = NULL;

  plug (hdmi);
  plug (speakers);
  wait_for_n_items (mesh_media_devices_get_speakers (devices), 2);
  /* The sound server's default, not merely the first listed. */
  element = gst_object_ref_sink (mesh_media_devices_create_element (devices, NULL,
                                                                    MESH_MEDIA_CLASS_SPEAKER));
  g_assert_cmpstr (GST_OBJECT_NAME (element), ==, "analog");
  unplug_all ();
  wait_for_n_items (mesh_media_devices_get_speakers (devices), 0);
}

static void
test_ids (void)
{
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  GListModel *cameras = mesh_media_devices_get_cameras (devices);
  g_autoptr(GstDevice) camera = test_device_new ("Video/Source", "Webcam", "cam-1", FALSE);
  g_autoptr(GstDevice) replugged = test_device_new ("Video/Source", "Webcam", "cam-1", FALSE);
  g_autoptr(GstDevice) other = test_device_new ("Video/Source", "Other Webcam", "cam-2", FALSE);
  g_autoptr(GstDevice) moved = test_device_new ("Video/Source", "Other Webcam", "cam-2b", FALSE);
  g_autoptr(GstDevice) twin = test_device_new ("Video/Source", "Other Webcam", "cam-3", FALSE);
  g_autoptr(GstDevice) found = NULL;
  g_autofree char *saved = NULL;
  g_autofree char *saved_other = NULL;

  plug (camera);
  plug (other);
  wait_for_n_items (cameras, 2);
  saved = g_strdup (mesh_media_device_get_id (camera));
  saved_other = g_strdup (mesh_media_device_get_id (other));
  g_assert_cmpstr (saved, !=, saved_other);
  g_assert_cmpstr (mesh_media_device_get_id (camera), ==, saved);

  found = mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved);
  g_assert_true (found == camera);
  g_clear_object (&found);
  /* A camera is not a microphone. */
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_MICROPHONE, saved));

  /* Unplugged: gone; plugged again (a new object): the same id finds it. */
  unplug (camera);
  wait_for_n_items (cameras, 1);
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved));
  plug (replugged);
  wait_for_n_items (cameras, 2);
  g_assert_cmpstr (mesh_media_device_get_id (replugged), ==, saved);
  found = mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved);
  g_assert_true (found == replugged);
  g_clear_object (&found);

  /* Same camera on another port (another key): found by its name while it is
   * the only one with that name, not when two are. */
  unplug (other);
  wait_for_n_items (cameras, 1);
  plug (moved);
  wait_for_n_items (cameras, 2);
  found = mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved_other);
  g_assert_true (found == moved);
  g_clear_object (&found);
  plug (twin);
  wait_for_n_items (cameras, 3);
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved_other));

  unplug_all ();
  wait_for_n_items (cameras, 0);
}

static void
test_changed (void)
{
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  GListModel *microphones = mesh_media_devices_get_microphones (devices);
  g_autoptr(GstDevice) first = test_device_new ("Audio/Source", "USB Mic", "usb", FALSE);
  g_autoptr(GstDevice) second = test_device_new ("Audio/Source", "Built-in", "builtin", FALSE);
  g_autoptr(GstDevice) renamed = test_device_new ("Audio/Source", "USB Mic (default)", "usb", TRUE);
  g_autoptr(GstDeviceProvider) provider = get_provider ();
  g_autoptr(GstDevice) found = NULL;
  gboolean timed_out = FALSE;
  guint id;

  plug (first);
  plug (second);
  wait_for_n_items (microphones, 2);
  gst_device_provider_device_changed (provider, renamed, first);

  id = g_timeout_add_seconds (10, on_timeout, &timed_out);
  while (item (microphones, 0) != renamed && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  /* Replaced in place: a picker keeps its row. */
  g_assert_true (item (microphones, 0) == renamed);
  g_assert_true (item (microphones, 1) == second);
  g_assert_cmpuint (g_list_model_get_n_items (microphones), ==, 2);
  found = mesh_media_devices_find (devices, MESH_MEDIA_CLASS_MICROPHONE,
                                   mesh_media_device_get_id (renamed));
  g_assert_true (found == renamed);

  unplug_all ();
  wait_for_n_items (microphones, 0);
}

/* The machine's own providers (PulseAudio, PipeWire, v4l2...), whatever is
 * running: starting never blocks, and there is always a speaker. */
static void
test_real_machine (void)
{
  if (g_test_subprocess ()) {
    g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
    g_autoptr(GstElement) speaker = NULL;
    GstElement *camera = mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_CAMERA);
    GstElement *mic = mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_MICROPHONE);

    g_assert_true (camera != NULL ||
                   g_list_model_get_n_items (mesh_media_devices_get_cameras (devices)) == 0);
    g_assert_true (mic != NULL ||
                   g_list_model_get_n_items (mesh_media_devices_get_microphones (devices)) == 0);
    if (camera != NULL)
      gst_object_unref (gst_object_ref_sink (camera));
    if (mic != NULL)
      gst_object_unref (gst_object_ref_sink (mic));
    speaker = mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_SPEAKER);
    g_assert_nonnull (speaker);
    gst_object_ref_sink (speaker);
    g_test_message ("%u cameras, %u microphones, %u speakers; speaker: %s",
                    g_list_model_get_n_items (mesh_media_devices_get_cameras (devices)),
                    g_list_model_get_n_items (mesh_media_devices_get_microphones (devices)),
                    g_list_model_get_n_items (mesh_media_devices_get_speakers (devices)),
                    GST_OBJECT_NAME (gst_element_get_factory (speaker)));
    return;
  }
  g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int   argc,
      char *argv[])
{
  GList *factories;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/media/devices/real-machine", test_real_machine);
  if (g_test_subprocess ())
    return g_test_run ();

  /* Only our provider: the machine's cameras and sound server stay out. */
  factories = gst_device_provider_factory_list_get_device_providers (GST_RANK_NONE);
  for (GList *l = factories; l != NULL; l = l->next)
    gst_plugin_feature_set_rank (l->data, GST_RANK_NONE);
  gst_plugin_feature_list_free (factories);
  g_assert_true (gst_device_provider_register (NULL, "meshtestprovider", GST_RANK_PRIMARY,
                                               TEST_TYPE_PROVIDER));

  g_test_add_func ("/mesh/media/devices/no-devices", test_no_devices);
  g_test_add_func ("/mesh/media/devices/hotplug", test_hotplug);
  g_test_add_func ("/mesh/media/devices/present-at-start", test_present_at_start);
  g_test_add_func ("/mesh/media/devices/default-speaker", test_default_speaker);
  g_test_add_func ("/mesh/media/devices/ids", test_ids);
  g_test_add_func ("/mesh/media/devices/changed", test_changed);

  return g_test_run ();
}
