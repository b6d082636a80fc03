/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-media-devices.h"

#include "media-test-devices.h"

/* The test's own device provider (media-test-devices.c), the only one the
 * monitor sees, so the test plugs cameras, microphones and speakers in and
 * out at will. */

static GstDevice *
test_device_new (const char *klass,
                 const char *name,
                 const char *serial,
                 gboolean    is_default)
{
  return media_test_device_new_full (klass, name, serial, is_default, NULL);
}

static GstDeviceProvider *
get_provider (void)
{
  return gst_device_provider_factory_get_by_name ("meshtestprovider");
}

static gpointer
plug_thread (gpointer data)
{
  media_test_device_plug (GST_DEVICE (data));
  return NULL;
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
  g_autoptr(GstDevice) monitor = media_test_device_new_full ("Audio/Source", "Monitor of Speakers",
                                                             "mon", FALSE, "monitor");
  g_autoptr(GstElement) element = NULL;

  /* Plugged from another thread, as providers do: the model changes on
   * this thread's main context, not under the provider's feet. */
  g_thread_join (g_thread_new ("provider", plug_thread, camera));
  g_assert_cmpuint (g_list_model_get_n_items (cameras), ==, 0);
  wait_for_n_items (cameras, 1);
  g_assert_true (item (cameras, 0) == camera);
  g_assert_cmpuint (g_list_model_get_n_items (microphones), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (speakers), ==, 0);

  media_test_device_plug (monitor);
  media_test_device_plug (mic);
  wait_for_n_items (microphones, 1);
  g_assert_true (item (microphones, 0) == mic);
  media_test_device_plug (camera2);
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

  media_test_device_unplug (camera);
  wait_for_n_items (cameras, 1);
  g_assert_true (item (cameras, 0) == camera2);
  media_test_device_unplug (mic);
  wait_for_n_items (microphones, 0);
  g_assert_null (mesh_media_devices_create_element (devices, NULL, MESH_MEDIA_CLASS_MICROPHONE));

  media_test_devices_unplug_all ();
  wait_for_n_items (cameras, 0);
}

static void
test_present_at_start (void)
{
  g_autoptr(GstDevice) camera = test_device_new ("Video/Source", "Webcam", "cam-1", FALSE);
  g_autoptr(GList) startup = g_list_append (NULL, camera);
  g_autoptr(MeshMediaDevices) devices = NULL;

  media_test_devices_set_startup (startup);
  devices = mesh_media_devices_new ();
  media_test_devices_set_startup (NULL);
  /* Listed once, although the provider also announces it. */
  drain ();
  g_assert_cmpuint (g_list_model_get_n_items (mesh_media_devices_get_cameras (devices)), ==, 1);
  media_test_devices_unplug_all ();
  wait_for_n_items (mesh_media_devices_get_cameras (devices), 0);
}

static void
test_default_speaker (void)
{
  g_autoptr(MeshMediaDevices) devices = mesh_media_devices_new ();
  g_autoptr(GstDevice) hdmi = test_device_new ("Audio/Sink", "HDMI", "hdmi", FALSE);
  g_autoptr(GstDevice) speakers = test_device_new ("Audio/Sink", "Speakers", "analog", TRUE);
  g_autoptr(GstElement) element = NULL;

  media_test_device_plug (hdmi);
  media_test_device_plug (speakers);
  wait_for_n_items (mesh_media_devices_get_speakers (devices), 2);
  /* The sound server's default, not merely the first listed. */
  element = gst_object_ref_sink (mesh_media_devices_create_element (devices, NULL,
                                                                    MESH_MEDIA_CLASS_SPEAKER));
  g_assert_cmpstr (GST_OBJECT_NAME (element), ==, "analog");
  media_test_devices_unplug_all ();
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

  media_test_device_plug (camera);
  media_test_device_plug (other);
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
  media_test_device_unplug (camera);
  wait_for_n_items (cameras, 1);
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved));
  media_test_device_plug (replugged);
  wait_for_n_items (cameras, 2);
  g_assert_cmpstr (mesh_media_device_get_id (replugged), ==, saved);
  found = mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved);
  g_assert_true (found == replugged);
  g_clear_object (&found);

  /* Same camera on another port (another key): found by its name while it is
   * the only one with that name, not when two are. */
  media_test_device_unplug (other);
  wait_for_n_items (cameras, 1);
  media_test_device_plug (moved);
  wait_for_n_items (cameras, 2);
  found = mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved_other);
  g_assert_true (found == moved);
  g_clear_object (&found);
  media_test_device_plug (twin);
  wait_for_n_items (cameras, 3);
  g_assert_null (mesh_media_devices_find (devices, MESH_MEDIA_CLASS_CAMERA, saved_other));

  media_test_devices_unplug_all ();
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

  media_test_device_plug (first);
  media_test_device_plug (second);
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

  media_test_devices_unplug_all ();
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
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mesh/media/devices/real-machine", test_real_machine);
  if (g_test_subprocess ())
    return g_test_run ();

  /* Only our provider: the machine's cameras and sound server stay out. */
  media_test_devices_install ();
  media_test_devices_name_by_serial (TRUE);

  g_test_add_func ("/mesh/media/devices/no-devices", test_no_devices);
  g_test_add_func ("/mesh/media/devices/hotplug", test_hotplug);
  g_test_add_func ("/mesh/media/devices/present-at-start", test_present_at_start);
  g_test_add_func ("/mesh/media/devices/default-speaker", test_default_speaker);
  g_test_add_func ("/mesh/media/devices/ids", test_ids);
  g_test_add_func ("/mesh/media/devices/changed", test_changed);

  return g_test_run ();
}
