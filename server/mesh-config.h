/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "mesh-notify.h"
#include "mesh-rest.h"
#include "mesh-ws-peer.h"

G_BEGIN_DECLS

/* mesh-server's settings: defaults, then the config file (GKeyFile), then
 * the command line.  See docs/operations.md for every key. */
typedef struct {
  char         *listen;             /* "HOST:PORT" */
  char         *legacy_listen;      /* "HOST:PORT" */
  gboolean      legacy_enabled;
  char         *data_dir;
  gboolean      open_registration;
  char         *tls_cert;
  char         *tls_key;
  guint         hello_timeout_s;
  guint         shards;             /* [server] shards: WebSocket threads, 0 = one per core */
  MeshWsLimits  limits;             /* the v2 hub's */
  MeshWsLimits  legacy_limits;      /* the legacy relay's */
  MeshNotifyConfig notify;          /* [gotify]: notifications (§9) */
  MeshRestThrottle throttle;        /* [auth]: login and registration */
  guint         device_idle_days;   /* [auth]: device tokens unused this long expire */
  MeshRestTurn  turn;               /* [turn]: ICE servers for calls */
} MeshConfig;

#define MESH_DEFAULT_LISTEN        "127.0.0.1:8080"
#define MESH_DEFAULT_LEGACY_LISTEN "127.0.0.1:3001"

MeshConfig *mesh_config_new           (void);
void        mesh_config_free          (MeshConfig  *config);
gboolean    mesh_config_load_file     (MeshConfig  *config,
                                       const char  *path,
                                       GError     **error);
/* Checks the whole: plain HTTP only on loopback, certificate and key
 * together, a data folder. */
gboolean    mesh_config_validate      (MeshConfig  *config,
                                       GError     **error);
char       *mesh_config_default_data_dir (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshConfig, mesh_config_free)

G_END_DECLS
