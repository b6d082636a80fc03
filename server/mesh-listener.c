/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-listener"

#include "config.h"

#include "mesh-counting-stream.h"
#include "mesh-listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define LISTEN_BACKLOG 4096

struct _MeshListener {
  GObject           parent_instance;
  SoupServer       *server;
  GTlsCertificate  *certificate;
  GSocketService   *service;
  GInetSocketAddress *bound;
};

G_DEFINE_FINAL_TYPE (MeshListener, mesh_listener, G_TYPE_OBJECT)

gboolean
mesh_parse_host_port (const char  *host_port,
                      char       **host,
                      guint16     *port,
                      GError     **error)
{
  const char *colon;
  g_autofree char *h = NULL;
  guint64 p;
  char *end = NULL;

  if (host_port == NULL || *host_port == '\0')
    goto bad;

  if (host_port[0] == '[') {
    const char *close = strchr (host_port, ']');

    if (close == NULL || close[1] != ':')
      goto bad;
    h = g_strndup (host_port + 1, close - host_port - 1);
    colon = close + 1;
  } else {
    colon = strrchr (host_port, ':');
    if (colon == NULL || colon == host_port)
      goto bad;
    h = g_strndup (host_port, colon - host_port);
  }

  p = g_ascii_strtoull (colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || p > 65535)
    goto bad;

  *host = g_steal_pointer (&h);
  *port = (guint16) p;
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "“%s” is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)",
               host_port ? host_port : "");
  return FALSE;
}

gboolean
mesh_host_is_loopback (const char *host)
{
  g_autoptr(GInetAddress) addr = NULL;

  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  addr = g_inet_address_new_from_string (host);
  return addr != NULL && g_inet_address_get_is_loopback (addr);
}

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             MeshListener      *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(MeshCountingStream) counting = NULL;
  GSocket *socket = g_socket_connection_get_socket (connection);

  /* Signaling is many small frames: Nagle would add up to 40 ms to each. */
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  local = g_socket_connection_get_local_address (connection, NULL);
  remote = g_socket_connection_get_remote_address (connection, NULL);

  if (self->certificate != NULL) {
    stream = G_IO_STREAM (g_tls_server_connection_new (G_IO_STREAM (connection),
                                                       self->certificate, &error));
    if (stream == NULL) {
      g_warning ("Cannot start TLS on a new connection: %s", error->message);
      return TRUE;
    }
  } else {
    stream = G_IO_STREAM (g_object_ref (connection));
  }

  counting = mesh_counting_stream_new (stream);
  if (!soup_server_accept_iostream (self->server, G_IO_STREAM (counting), local, remote, &error))
    g_warning ("Cannot accept a connection: %s", error->message);
  return TRUE;
}

static void
mesh_listener_dispose (GObject *object)
{
  MeshListener *self = MESH_LISTENER (object);

  mesh_listener_stop (self);
  g_clear_object (&self->server);
  g_clear_object (&self->certificate);
  g_clear_object (&self->bound);
  G_OBJECT_CLASS (mesh_listener_parent_class)->dispose (object);
}

static void
mesh_listener_class_init (MeshListenerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mesh_listener_dispose;
}

static void
mesh_listener_init (MeshListener *self)
{
}

MeshListener *
mesh_listener_new (SoupServer      *server,
                   GTlsCertificate *certificate)
{
  MeshListener *self;

  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);

  self = g_object_new (MESH_TYPE_LISTENER, NULL);
  self->server = g_object_ref (server);
  self->certificate = certificate ? g_object_ref (certificate) : NULL;
  return self;
}

gboolean
mesh_listener_listen (MeshListener  *self,
                      const char    *host_port,
                      GError       **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) addr = NULL;
  g_autoptr(GSocketAddress) sockaddr = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  guint16 port;

  g_return_val_if_fail (MESH_IS_LISTENER (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);

  if (!mesh_parse_host_port (host_port, &host, &port, error))
    return FALSE;

  if (g_ascii_strcasecmp (host, "localhost") == 0)
    addr = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  else
    addr = g_inet_address_new_from_string (host);
  if (addr == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "“%s” is not an IP address to listen on", host);
    return FALSE;
  }

  self->service = g_socket_service_new ();
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service), LISTEN_BACKLOG);
  sockaddr = g_inet_socket_address_new (addr, port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), sockaddr,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, error)) {
    g_clear_object (&self->service);
    return FALSE;
  }
  self->bound = G_INET_SOCKET_ADDRESS (g_steal_pointer (&effective));
  g_signal_connect_object (self->service, "incoming", G_CALLBACK (incoming_cb), self, 0);
  g_socket_service_start (self->service);
  return TRUE;
}

guint16
mesh_listener_get_port (MeshListener *self)
{
  g_return_val_if_fail (MESH_IS_LISTENER (self), 0);
  return self->bound ? g_inet_socket_address_get_port (self->bound) : 0;
}

char *
mesh_listener_get_url (MeshListener *self,
                       const char   *scheme_plain,
                       const char   *scheme_tls)
{
  g_autofree char *host = NULL;
  GInetAddress *addr;

  g_return_val_if_fail (MESH_IS_LISTENER (self), NULL);
  if (self->bound == NULL)
    return NULL;

  addr = g_inet_socket_address_get_address (self->bound);
  host = g_inet_address_to_string (addr);
  return g_strdup_printf (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6
                            ? "%s://[%s]:%u" : "%s://%s:%u",
                          self->certificate ? scheme_tls : scheme_plain,
                          host, mesh_listener_get_port (self));
}

void
mesh_listener_stop (MeshListener *self)
{
  g_return_if_fail (MESH_IS_LISTENER (self));

  if (self->service == NULL)
    return;
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_clear_object (&self->service);
}
