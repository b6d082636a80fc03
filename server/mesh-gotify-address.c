/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-gotify"

#include "config.h"

#include "mesh-gotify-private.h"

/* Address checks (SSRF).  A target's name is resolved once per connection
 * by the connectable below, every address it resolves to is judged, and the
 * socket client connects only to those addresses: there is no second
 * lookup a DNS answer could change in between. */

static const char *
ipv4_refusal (const guint8 *a)
{
  if (a[0] == 0)
    return "an unspecified (\"this network\") address";
  if (a[0] == 127)
    return "a loopback address";
  if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168))
    return "a private (RFC 1918) address";
  if (a[0] == 100 && (a[1] & 0xC0) == 64)
    return "a shared (carrier-grade NAT) address";
  if (a[0] == 169 && a[1] == 254)
    return "a link-local address";
  if (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2))
    return "a reserved address";
  if (a[0] == 192 && a[1] == 88 && a[2] == 99)
    return "a reserved address";
  if (a[0] == 198 && (a[1] & 0xFE) == 18)
    return "a reserved (benchmarking) address";
  if ((a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113))
    return "a reserved (documentation) address";
  if ((a[0] & 0xF0) == 224)
    return "a multicast address";
  if ((a[0] & 0xF0) == 240)
    return "a reserved or broadcast address";
  return NULL;
}

const char *
mesh_gotify_address_refusal (GInetAddress *address)
{
  const guint8 *a;
  static const guint8 zeros[12] = { 0 };

  g_return_val_if_fail (G_IS_INET_ADDRESS (address), "not an address");

  a = g_inet_address_to_bytes (address);
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    return ipv4_refusal (a);
  if (g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
    return "not an IP address";

  /* Forms that carry an IPv4 address reach that address. */
  if (memcmp (a, zeros, 10) == 0 && a[10] == 0xFF && a[11] == 0xFF)   /* ::ffff:a.b.c.d */
    return ipv4_refusal (a + 12);
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B &&  /* 64:ff9b::/96 */
      memcmp (a + 4, zeros, 8) == 0)
    return ipv4_refusal (a + 12);
  if (a[0] == 0x20 && a[1] == 0x02)                                   /* 2002::/16, 6to4 */
    return ipv4_refusal (a + 2);
  if (memcmp (a, zeros, 12) == 0) {                                   /* ::a.b.c.d, ::, ::1 */
    if (a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1)
      return a[15] == 1 ? "a loopback address" : "an unspecified address";
    return ipv4_refusal (a + 12) ? ipv4_refusal (a + 12) : "a deprecated IPv4-compatible address";
  }
  if (a[0] == 0xFF)
    return "a multicast address";
  if ((a[0] & 0xFE) == 0xFC)
    return "a unique local (private) address";
  if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)
    return "a link-local address";
  if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0)
    return "a site-local address";
  /* Outside 2000::/3 nothing is global unicast (64:ff9b:1::/48, 100::/64, ...). */
  if ((a[0] & 0xE0) != 0x20)
    return "a reserved address";
  /* 2001::/23 (Teredo, benchmarking, ORCHID...) and 2001:db8::/32. */
  if (a[0] == 0x20 && a[1] == 0x01 && (a[2] & 0xFE) == 0x00)
    return "a reserved address";
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8)
    return "a reserved (documentation) address";
  return NULL;
}

#define MESH_TYPE_CHECKED_ENUMERATOR (mesh_checked_enumerator_get_type ())
G_DECLARE_FINAL_TYPE (MeshCheckedEnumerator, mesh_checked_enumerator, MESH, CHECKED_ENUMERATOR,
                      GSocketAddressEnumerator)

struct _MeshCheckedEnumerator {
  GSocketAddressEnumerator  parent_instance;
  MeshCheckedAddress       *address;
  GList                    *addresses;    /* GInetAddress, checked */
  GList                    *next;
  gboolean                  resolved;
};

G_DEFINE_FINAL_TYPE (MeshCheckedEnumerator, mesh_checked_enumerator,
                     G_TYPE_SOCKET_ADDRESS_ENUMERATOR)

static void mesh_checked_address_connectable_init (GSocketConnectableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MeshCheckedAddress, mesh_checked_address, G_TYPE_NETWORK_ADDRESS,
                               G_IMPLEMENT_INTERFACE (G_TYPE_SOCKET_CONNECTABLE,
                               mesh_checked_address_connectable_init))

static GSocketConnectableIface *checked_address_parent_iface;

/* Keeps the lookup's addresses if every one of them may be reached. */
static gboolean
checked_enumerator_take (MeshCheckedEnumerator  *self,
                         GList                  *addresses,
                         GError                **error)
{
  MeshCheckedAddress *address = self->address;
  const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (address));

  self->resolved = TRUE;
  g_clear_pointer (&address->refusal, g_free);
  for (GList *l = addresses; l != NULL && !address->allow_private; l = l->next) {
    const char *why = mesh_gotify_address_refusal (l->data);

    if (why != NULL) {
      g_autofree char *text = g_inet_address_to_string (l->data);

      address->refusal = g_strdup_printf ("the Gotify host %s resolves to %s, %s: refused "
                                          "(only the server's operator can allow private "
                                          "targets)", host, text, why);
      g_resolver_free_addresses (addresses);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, address->refusal);
      return FALSE;
    }
  }
  self->addresses = addresses;
  self->next = addresses;
  return TRUE;
}

static GSocketAddress *
checked_enumerator_pop (MeshCheckedEnumerator *self)
{
  GInetAddress *inet;

  if (self->next == NULL)
    return NULL;
  inet = self->next->data;
  self->next = self->next->next;
  return g_inet_socket_address_new (inet,
                                    g_network_address_get_port (G_NETWORK_ADDRESS (self->address)));
}

static GSocketAddress *
checked_enumerator_next (GSocketAddressEnumerator  *enumerator,
                         GCancellable              *cancellable,
                         GError                   **error)
{
  MeshCheckedEnumerator *self = MESH_CHECKED_ENUMERATOR (enumerator);

  if (!self->resolved) {
    g_autoptr(GResolver) resolver = g_resolver_get_default ();
    const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (self->address));
    GList *addresses = g_resolver_lookup_by_name (resolver, host, cancellable, error);

    if (addresses == NULL || !checked_enumerator_take (self, addresses, error))
      return NULL;
  }
  return checked_enumerator_pop (self);
}

static void
checked_enumerator_resolved_cb (GObject      *source,
                                GAsyncResult *result,
                                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MeshCheckedEnumerator *self = g_task_get_source_object (task);
  GError *error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);

  if (addresses == NULL || !checked_enumerator_take (self, addresses, &error)) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_pointer (task, checked_enumerator_pop (self), g_object_unref);
}

static void
checked_enumerator_next_async (GSocketAddressEnumerator *enumerator,
                               GCancellable             *cancellable,
                               GAsyncReadyCallback       callback,
                               gpointer                  user_data)
{
  MeshCheckedEnumerator *self = MESH_CHECKED_ENUMERATOR (enumerator);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, checked_enumerator_next_async);
  if (!self->resolved) {
    g_autoptr(GResolver) resolver = g_resolver_get_default ();
    const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (self->address));

    g_resolver_lookup_by_name_async (resolver, host, cancellable, checked_enumerator_resolved_cb,
                                     g_steal_pointer (&task));
    return;
  }
  g_task_return_pointer (task, checked_enumerator_pop (self), g_object_unref);
}

static GSocketAddress *
checked_enumerator_next_finish (GSocketAddressEnumerator  *enumerator,
                                GAsyncResult              *result,
                                GError                   **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
mesh_checked_enumerator_finalize (GObject *object)
{
  MeshCheckedEnumerator *self = MESH_CHECKED_ENUMERATOR (object);

  g_resolver_free_addresses (self->addresses);
  g_clear_object (&self->address);
  G_OBJECT_CLASS (mesh_checked_enumerator_parent_class)->finalize (object);
}

static void
mesh_checked_enumerator_class_init (MeshCheckedEnumeratorClass *klass)
{
  GSocketAddressEnumeratorClass *enumerator_class = G_SOCKET_ADDRESS_ENUMERATOR_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = mesh_checked_enumerator_finalize;
  enumerator_class->next = checked_enumerator_next;
  enumerator_class->next_async = checked_enumerator_next_async;
  enumerator_class->next_finish = checked_enumerator_next_finish;
}

static void
mesh_checked_enumerator_init (MeshCheckedEnumerator *self)
{
}

static GSocketAddressEnumerator *
checked_address_enumerate (GSocketConnectable *connectable)
{
  MeshCheckedEnumerator *enumerator = g_object_new (MESH_TYPE_CHECKED_ENUMERATOR, NULL);

  enumerator->address = g_object_ref (MESH_CHECKED_ADDRESS (connectable));
  return G_SOCKET_ADDRESS_ENUMERATOR (enumerator);
}

static char *
checked_address_to_string (GSocketConnectable *connectable)
{
  return checked_address_parent_iface->to_string (connectable);
}

static void
mesh_checked_address_connectable_init (GSocketConnectableIface *iface)
{
  checked_address_parent_iface = g_type_interface_peek_parent (iface);
  iface->enumerate = checked_address_enumerate;
  iface->proxy_enumerate = checked_address_enumerate;
  iface->to_string = checked_address_to_string;
}

static void
mesh_checked_address_finalize (GObject *object)
{
  g_free (MESH_CHECKED_ADDRESS (object)->refusal);
  G_OBJECT_CLASS (mesh_checked_address_parent_class)->finalize (object);
}

static void
mesh_checked_address_class_init (MeshCheckedAddressClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mesh_checked_address_finalize;
}

static void
mesh_checked_address_init (MeshCheckedAddress *self)
{
}
