/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "media-test-devices.h"

#define TEST_TYPE_DEVICE (test_device_get_type ())
G_DECLARE_FINAL_TYPE (TestDevice, test_device, TEST, DEVICE, GstDevice)

struct _TestDevice {
  GstDevice parent_instance;
};

G_DEFINE_FINAL_TYPE (TestDevice, test_device, GST_TYPE_DEVICE)

static gboolean name_by_serial;
/* Devices already there when the provider starts (not owned). */
static GList *startup_devices;

static GstElement *
test_device_create_element (GstDevice  *device,
                            const char *name)
{
  g_autoptr(GstStructure) props = gst_device_get_properties (device);

  if (name_by_serial)
    name = gst_structure_get_string (props, "device.serial");
  if (gst_device_has_classes (device, "Video/Source"))
    return gst_element_factory_make ("videotestsrc", name);
  if (gst_device_has_classes (device, "Audio/Source"))
    return gst_element_factory_make ("audiotestsrc", name);
  return gst_element_factory_make ("fakesink", name);
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

#define TEST_TYPE_PROVIDER (test_provider_get_type ())
G_DECLARE_FINAL_TYPE (TestProvider, test_provider, TEST, PROVIDER, GstDeviceProvider)

struct _TestProvider {
  GstDeviceProvider parent_instance;
};

G_DEFINE_FINAL_TYPE (TestProvider, test_provider, GST_TYPE_DEVICE_PROVIDER)

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

void
media_test_devices_install (void)
{
  GList *factories = gst_device_provider_factory_list_get_device_providers (GST_RANK_NONE);

  for (GList *l = factories; l != NULL; l = l->next)
    gst_plugin_feature_set_rank (l->data, GST_RANK_NONE);
  gst_plugin_feature_list_free (factories);
  g_assert_true (gst_device_provider_register (NULL, "meshtestprovider", GST_RANK_PRIMARY,
                                               TEST_TYPE_PROVIDER));
}

void
media_test_devices_name_by_serial (gboolean by_serial)
{
  name_by_serial = by_serial;
}

void
media_test_devices_set_startup (GList *devices)
{
  startup_devices = devices;
}

GstDevice *
media_test_device_new (const char *klass,
                       const char *name,
                       const char *serial)
{
  return media_test_device_new_full (klass, name, serial, FALSE, NULL);
}

GstDevice *
media_test_device_new_full (const char *klass,
                            const char *name,
                            const char *serial,
                            gboolean    is_default,
                            const char *pulse_class)
{
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple (g_str_has_prefix (klass, "Video") ?
                                                       "video/x-raw" : "audio/x-raw");
  g_autoptr(GstStructure) props = gst_structure_new ("test-device-props",
                                                     "device.serial", G_TYPE_STRING, serial,
                                                     NULL);

  /* Absent and FALSE mean the same to a monitor; only the default says so. */
  if (is_default)
    gst_structure_set (props, "is-default", G_TYPE_BOOLEAN, TRUE, NULL);
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

void
media_test_device_plug (GstDevice *device)
{
  g_autoptr(GstDeviceProvider) provider = get_provider ();

  gst_device_provider_device_add (provider, device);
}

void
media_test_device_unplug (GstDevice *device)
{
  g_autoptr(GstDeviceProvider) provider = get_provider ();

  gst_device_provider_device_remove (provider, device);
}

void
media_test_devices_unplug_all (void)
{
  g_autoptr(GstDeviceProvider) provider = get_provider ();
  GList *devices = gst_device_provider_get_devices (provider);

  for (GList *l = devices; l != NULL; l = l->next)
    gst_device_provider_device_remove (provider, l->data);
  g_list_free_full (devices, gst_object_unref);
}
