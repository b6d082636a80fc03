/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-server"

#include "config.h"

#include "mesh-cap-token.h"
#include "mesh-legacy-relay.h"
#include "mesh-listener.h"
#include "mesh-notify.h"
#include "mesh-rest.h"
#include "mesh-server.h"
#include "mesh-ws-shard.h"

#include <errno.h>
#include <glib/gstdio.h>

struct _MeshServer {
  GObject          parent_instance;

  MeshConfig      *config;
  MeshStore       *store;
  MeshCapKey      *cap_key;
  GTlsCertificate *certificate;
  MeshWsShards    *shards;          /* both hubs' sockets run there */

  SoupServer      *soup;
  MeshListener    *listener;
  MeshWsRegistry  *sockets;         /* the hub's, per user and device */
  MeshHub         *hub;
  MeshNotifier    *notifier;

  SoupServer      *legacy_soup;
  MeshListener    *legacy_listener;
  MeshLegacyRelay *legacy;
};

G_DEFINE_FINAL_TYPE (MeshServer, mesh_server, G_TYPE_OBJECT)

static gboolean
may_control_terminal (gpointer    user_data,
                      const char *room_id,
                      const char *user_id,
                      const char *bearer_token)
{
  MeshServer *self = user_data;

  return self->hub != NULL &&
         mesh_hub_user_controls_terminal (self->hub, room_id, user_id, bearer_token);
}

/* A revoked device's token no longer works: its open sockets go too. */
static void
device_revoked (gpointer    user_data,
                const char *device_id)
{
  MeshServer *self = user_data;
  guint n = mesh_ws_registry_close_device (self->sockets, device_id, "device revoked");

  if (n > 0)
    g_message ("Closed %u socket(s) of revoked device %s", n, device_id);
}

/* A SoupServer without permessage-deflate: it costs 8× in relay throughput
 * and ~20× in memory per socket (research/server.md, pitfall 1). */
static SoupServer *
new_soup_server (void)
{
  SoupServer *server = soup_server_new ("server-header", "mesh-server/" PACKAGE_VERSION, NULL);

  soup_server_remove_websocket_extension (server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  return server;
}

static void
mesh_server_dispose (GObject *object)
{
  MeshServer *self = MESH_SERVER (object);

  mesh_server_stop (self);
  g_clear_object (&self->cap_key);
  g_clear_object (&self->certificate);
  g_clear_pointer (&self->config, mesh_config_free);
  G_OBJECT_CLASS (mesh_server_parent_class)->dispose (object);
}

static void
mesh_server_class_init (MeshServerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mesh_server_dispose;
}

static void
mesh_server_init (MeshServer *self)
{
}

MeshStore *
mesh_server_open_store (const char  *data_dir,
                        GError     **error)
{
  g_autofree char *db_path = g_build_filename (data_dir, "mesh.db", NULL);

  if (g_mkdir_with_parents (data_dir, 0700) != 0) {
    int saved = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 "Cannot create the data folder %s: %s", data_dir, g_strerror (saved));
    return NULL;
  }
  return mesh_store_open (db_path, error);
}

static MeshConfig *
config_copy (const MeshConfig *config)
{
  MeshConfig *copy = g_new0 (MeshConfig, 1);

  *copy = *config;
  copy->listen = g_strdup (config->listen);
  copy->legacy_listen = g_strdup (config->legacy_listen);
  copy->data_dir = g_strdup (config->data_dir);
  copy->tls_cert = g_strdup (config->tls_cert);
  copy->tls_key = g_strdup (config->tls_key);
  copy->throttle.trusted_proxies = g_strdupv (config->throttle.trusted_proxies);
  mesh_rest_turn_copy (&copy->turn, &config->turn);
  return copy;
}

MeshServer *
mesh_server_new (const MeshConfig  *config,
                 GError           **error)
{
  g_autoptr(MeshServer) self = g_object_new (MESH_TYPE_SERVER, NULL);
  g_autofree char *key_path = NULL;
  MeshRestConfig rest = { 0 };

  self->config = config_copy (config);
  if (!mesh_config_validate (self->config, error))
    return NULL;

  if (self->config->tls_cert != NULL) {
    self->certificate = g_tls_certificate_new_from_files (self->config->tls_cert,
                                                          self->config->tls_key, error);
    if (self->certificate == NULL) {
      g_prefix_error (error, "TLS certificate: ");
      return NULL;
    }
  }

  self->store = mesh_server_open_store (self->config->data_dir, error);
  if (self->store == NULL)
    return NULL;

  mesh_store_set_device_idle_ttl (self->store, (gint64) self->config->device_idle_days * 86400);

  key_path = g_build_filename (self->config->data_dir, "signing-key.pem", NULL);
  self->cap_key = mesh_cap_key_load_or_create (key_path, error);
  if (self->cap_key == NULL)
    return NULL;

  self->notifier = mesh_notifier_new (self->store, &self->config->notify);

  self->soup = new_soup_server ();
  rest.store = self->store;
  rest.notifier = self->notifier;
  rest.cap_key = self->cap_key;
  rest.open_registration = self->config->open_registration;
  rest.may_control_terminal = may_control_terminal;
  rest.hook_data = self;
  rest.throttle = self->config->throttle;
  rest.turn = self->config->turn;
  rest.device_revoked = device_revoked;
  mesh_rest_add_handlers (self->soup, &rest);

  self->shards = mesh_ws_shards_new (self->config->shards);
  g_debug ("%u WebSocket shard thread(s)", mesh_ws_shards_get_n (self->shards));
  self->config->limits.shards = self->shards;
  self->config->legacy_limits.shards = self->shards;
  self->sockets = mesh_ws_registry_new (self->config->limits.max_sockets,
                                       self->config->limits.max_sockets_per_user);
  self->config->limits.registry = self->sockets;
  self->hub = mesh_hub_new (self->store, self->cap_key, &self->config->limits,
                            self->config->hello_timeout_s);
  mesh_hub_set_notifier (self->hub, self->notifier);
  mesh_hub_attach (self->hub, self->soup, "/ws");
  self->listener = mesh_listener_new (self->soup, self->certificate);

  if (self->config->legacy_enabled) {
    self->legacy_soup = new_soup_server ();
    self->legacy = mesh_legacy_relay_new (&self->config->legacy_limits);
    mesh_legacy_relay_attach (self->legacy, self->legacy_soup);
    self->legacy_listener = mesh_listener_new (self->legacy_soup, self->certificate);
  }
  return g_steal_pointer (&self);
}

gboolean
mesh_server_start (MeshServer  *self,
                   GError     **error)
{
  g_return_val_if_fail (MESH_IS_SERVER (self), FALSE);

  if (!mesh_listener_listen (self->listener, self->config->listen, error)) {
    g_prefix_error (error, "Cannot listen on %s: ", self->config->listen);
    return FALSE;
  }
  if (self->legacy_listener != NULL &&
      !mesh_listener_listen (self->legacy_listener, self->config->legacy_listen, error)) {
    g_prefix_error (error, "Cannot listen on %s (legacy relay): ", self->config->legacy_listen);
    mesh_listener_stop (self->listener);
    return FALSE;
  }
  /* What the outbox held at the last stop goes out now. */
  mesh_notifier_start (self->notifier);
  return TRUE;
}

void
mesh_server_stop (MeshServer *self)
{
  g_return_if_fail (MESH_IS_SERVER (self));

  if (self->listener != NULL)
    mesh_listener_stop (self->listener);
  if (self->legacy_listener != NULL)
    mesh_listener_stop (self->legacy_listener);
  if (self->hub != NULL)
    mesh_hub_close_all (self->hub);
  /* After the sockets: closing agents must not leave offline timers. */
  if (self->notifier != NULL)
    mesh_notifier_stop (self->notifier);
  if (self->legacy != NULL)
    mesh_legacy_relay_close_all (self->legacy);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
  if (self->legacy_soup != NULL)
    soup_server_disconnect (self->legacy_soup);

  g_clear_object (&self->listener);
  g_clear_object (&self->legacy_listener);
  g_clear_object (&self->hub);
  g_clear_pointer (&self->sockets, mesh_ws_registry_free);
  g_clear_object (&self->notifier);
  g_clear_object (&self->legacy);
  g_clear_object (&self->soup);
  g_clear_object (&self->legacy_soup);
  g_clear_pointer (&self->shards, mesh_ws_shards_free);
  if (self->store != NULL)
    mesh_store_close (self->store);
  g_clear_object (&self->store);
}

char *
mesh_server_get_url (MeshServer *self)
{
  g_return_val_if_fail (MESH_IS_SERVER (self), NULL);
  return self->listener ? mesh_listener_get_url (self->listener, "http", "https") : NULL;
}

char *
mesh_server_get_legacy_url (MeshServer *self)
{
  g_return_val_if_fail (MESH_IS_SERVER (self), NULL);
  return self->legacy_listener ? mesh_listener_get_url (self->legacy_listener, "ws", "wss") : NULL;
}

MeshStore *
mesh_server_get_store (MeshServer *self)
{
  g_return_val_if_fail (MESH_IS_SERVER (self), NULL);
  return self->store;
}

MeshHub *
mesh_server_get_hub (MeshServer *self)
{
  g_return_val_if_fail (MESH_IS_SERVER (self), NULL);
  return self->hub;
}
