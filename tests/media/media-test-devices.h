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
void       media_test_device_plug     (GstDevice  *device);
void       media_test_device_unplug   (GstDevice  *device);

G_END_DECLS
