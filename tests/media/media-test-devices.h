/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Cameras, microphones and speakers a test plugs in and out: a device
 * provider of the test's own, registered in the process and the only one a
 * GstDeviceMonitor sees (the machine's providers are ranked out).  Call
 * media_test_devices_install () once, after gst_init () and before any
 * monitor starts. */
void       media_test_devices_install (void);
/* A device of @klass ("Video/Source", "Audio/Source", "Audio/Sink") named
 * @name, whose stable key is @serial; a reference for the caller. */
GstDevice *media_test_device_new      (const char *klass,
                                       const char *name,
                                       const char *serial);
/* The same with a desktop's properties: "is-default" (the system's default
 * device) and, unless NULL, PulseAudio's "device.class" (e.g. "monitor"). */
GstDevice *media_test_device_new_full (const char *klass,
                                       const char *name,
                                       const char *serial,
                                       gboolean    is_default,
                                       const char *pulse_class);
void       media_test_device_plug     (GstDevice  *device);
void       media_test_device_unplug   (GstDevice  *device);
void       media_test_devices_unplug_all (void);
/* Devices the provider announces as it starts, as PulseAudio does with
 * those already there (@devices is not copied; NULL for none). */
void       media_test_devices_set_startup (GList   *devices);
/* With @by_serial, the elements devices make are named after the device's
 * serial, so a test sees which device made one. */
void       media_test_devices_name_by_serial (gboolean by_serial);

G_END_DECLS
