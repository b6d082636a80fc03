/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define MESH_MEDIA_CLASS_CAMERA     "Video/Source"
#define MESH_MEDIA_CLASS_MICROPHONE "Audio/Source"
#define MESH_MEDIA_CLASS_SPEAKER    "Audio/Sink"

#define MESH_TYPE_MEDIA_DEVICES (mesh_media_devices_get_type ())

G_DECLARE_FINAL_TYPE (MeshMediaDevices, mesh_media_devices, MESH, MEDIA_DEVICES, GObject)

MeshMediaDevices *mesh_media_devices_new             (void);
GListModel       *mesh_media_devices_get_cameras     (MeshMediaDevices *self);
GListModel       *mesh_media_devices_get_microphones (MeshMediaDevices *self);
GListModel       *mesh_media_devices_get_speakers    (MeshMediaDevices *self);
GListModel       *mesh_media_devices_get_model       (MeshMediaDevices *self,
                                                      const char       *klass);
GstDevice        *mesh_media_devices_find            (MeshMediaDevices *self,
                                                      const char       *klass,
                                                      const char       *id);
GstElement       *mesh_media_devices_create_element  (MeshMediaDevices *self,
                                                      GstDevice        *device,
                                                      const char       *klass);

const char       *mesh_media_device_get_id           (GstDevice        *device);

G_END_DECLS
