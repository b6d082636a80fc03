/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Accepts TCP connections for a SoupServer with a deep listen backlog
 * (GSocketListener's default of 10 stalls connection bursts), TCP_NODELAY,
 * optional TLS, and a MeshCountingStream around every connection. */

#define MESH_TYPE_LISTENER (mesh_listener_get_type ())
G_DECLARE_FINAL_TYPE (MeshListener, mesh_listener, MESH, LISTENER, GObject)

MeshListener *mesh_listener_new        (SoupServer      *server,
                                        GTlsCertificate *certificate);
/* @host_port is "HOST:PORT" ("[::1]:8080" for IPv6; port 0 picks one). */
gboolean      mesh_listener_listen     (MeshListener    *self,
                                        const char      *host_port,
                                        GError         **error);
guint16       mesh_listener_get_port   (MeshListener    *self);
char         *mesh_listener_get_url    (MeshListener    *self,
                                        const char      *scheme_plain,
                                        const char      *scheme_tls);
void          mesh_listener_stop       (MeshListener    *self);

/* Parses "HOST:PORT"; FALSE with an error naming what is wrong. */
gboolean      mesh_parse_host_port     (const char      *host_port,
                                        char           **host,
                                        guint16         *port,
                                        GError         **error);
/* Whether @host is a loopback address or "localhost". */
gboolean      mesh_host_is_loopback    (const char      *host);

G_END_DECLS
