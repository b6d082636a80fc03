/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-rest"

#include "config.h"

#include "mesh-rest-private.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

/* Registration and login, and the throttle that guards them. */

/* A token bucket; absent means full. */
typedef struct {
  double tokens;
  gint64 at;            /* monotonic µs of the last refill */
} Bucket;

void
mesh_rest_throttle_init_default (MeshRestThrottle *throttle)
{
  throttle->ip_burst = 20;
  throttle->ip_per_minute = 10;
  throttle->user_burst = 10;
  throttle->user_per_minute = 2;
  throttle->known_days = 30;
  throttle->max_entries = 10000;
}

/* The tokens of @key's bucket now (a missing one is full). */
static double
bucket_level (GHashTable *buckets,
              const char *key,
              double      burst,
              double      per_minute,
              gint64      now)
{
  Bucket *bucket = g_hash_table_lookup (buckets, key);

  if (bucket == NULL)
    return burst;
  return MIN (burst, bucket->tokens + (now - bucket->at) / 60e6 * per_minute);
}

/* Seconds until @key has a token (0 when it has one). */
static guint
bucket_wait (GHashTable *buckets,
             const char *key,
             double      burst,
             double      per_minute,
             gint64      now)
{
  double level = bucket_level (buckets, key, burst, per_minute, now);
  double wait;
  guint wait_s;

  if (level >= 1.0)
    return 0;
  wait = (1.0 - level) * 60.0 / per_minute;
  wait_s = (guint) wait;
  return wait_s < wait ? wait_s + 1 : MAX (wait_s, 1);
}

/* Keeps a table within @max entries: full buckets (the same as none) go
 * first, then arbitrary ones, which only makes those keys start afresh. */
static void
buckets_make_room (GHashTable *buckets,
                   double      burst,
                   double      per_minute,
                   guint       max,
                   gint64      now)
{
  GHashTableIter iter;
  const char *key;

  if (g_hash_table_size (buckets) < max)
    return;
  g_hash_table_iter_init (&iter, buckets);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL)) {
    if (bucket_level (buckets, key, burst, per_minute, now) >= burst)
      g_hash_table_iter_remove (&iter);
  }
  g_hash_table_iter_init (&iter, buckets);
  while (g_hash_table_size (buckets) >= max && g_hash_table_iter_next (&iter, NULL, NULL))
    g_hash_table_iter_remove (&iter);
}

static void
bucket_add (MeshRest   *rest,
            GHashTable *buckets,
            const char *key,
            double      burst,
            double      per_minute,
            double      delta)
{
  gint64 now = g_get_monotonic_time ();
  double level = bucket_level (buckets, key, burst, per_minute, now) + delta;
  Bucket *bucket;

  if (level >= burst) {
    g_hash_table_remove (buckets, key);
    return;
  }
  bucket = g_hash_table_lookup (buckets, key);
  if (bucket == NULL) {
    buckets_make_room (buckets, burst, per_minute, rest->throttle.max_entries, now);
    bucket = g_new0 (Bucket, 1);
    g_hash_table_insert (buckets, g_strdup (key), bucket);
  }
  bucket->tokens = MAX (level, 0.0);
  bucket->at = now;
}

/* Behind a trusted reverse proxy the client is the last address it added
 * to X-Forwarded-For (anything before that the client may have made up). */
static GInetAddress *
forwarded_client (MeshRest          *rest,
                  SoupServerMessage *msg,
                  GInetAddress      *peer)
{
  g_autofree char *peer_text = g_inet_address_to_string (peer);
  const char *header, *last;
  g_autofree char *text = NULL;

  if (rest->throttle.trusted_proxies == NULL ||
      !g_strv_contains ((const char * const *) rest->throttle.trusted_proxies, peer_text))
    return NULL;
  header = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                          "X-Forwarded-For");
  if (header == NULL)
    return NULL;
  last = strrchr (header, ',');
  text = g_strstrip (g_strdup (last != NULL ? last + 1 : header));
  return g_inet_address_new_from_string (text);
}

/* The client's address as a throttling key: IPv6 by its /64, which one
 * subscriber usually has whole. */
static char *
address_key (MeshRest          *rest,
             SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  g_autoptr(GInetAddress) forwarded = NULL;
  GInetAddress *inet;
  guint8 bytes[16];

  if (!G_IS_INET_SOCKET_ADDRESS (remote))
    return g_strdup ("unknown");
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));
  forwarded = forwarded_client (rest, msg, inet);
  if (forwarded != NULL)
    inet = forwarded;
  if (g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV6)
    return g_inet_address_to_string (inet);
  memcpy (bytes, g_inet_address_to_bytes (inet), 16);
  /* An IPv4-mapped address is one IPv4 client. */
  if (!g_inet_address_get_is_loopback (inet) &&
      !(bytes[10] == 0xFF && bytes[11] == 0xFF && memcmp (bytes, "\0\0\0\0\0\0\0\0\0\0", 10) == 0))
    memset (bytes + 8, 0, 8);
  {
    g_autoptr(GInetAddress) masked = g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);

    return g_inet_address_to_string (masked);
  }
}

static char *
known_key (const char *user_key,
           const char *address)
{
  return g_strconcat (user_key, "\n", address, NULL);
}

static gboolean
is_known (MeshRest   *rest,
          const char *user_key,
          const char *address)
{
  g_autofree char *key = known_key (user_key, address);
  gint64 *expiry = g_hash_table_lookup (rest->known, key);

  return expiry != NULL && *expiry > g_get_monotonic_time ();
}

static void
remember_known (MeshRest   *rest,
                const char *user_key,
                const char *address)
{
  gint64 now = g_get_monotonic_time ();
  gint64 *expiry = g_new (gint64, 1);

  if (g_hash_table_size (rest->known) >= rest->throttle.max_entries) {
    GHashTableIter iter;
    gint64 *value;

    g_hash_table_iter_init (&iter, rest->known);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &value)) {
      if (*value <= now)
        g_hash_table_iter_remove (&iter);
    }
    g_hash_table_iter_init (&iter, rest->known);
    while (g_hash_table_size (rest->known) >= rest->throttle.max_entries &&
           g_hash_table_iter_next (&iter, NULL, NULL))
      g_hash_table_iter_remove (&iter);
  }
  *expiry = now + (gint64) rest->throttle.known_days * 86400 * G_USEC_PER_SEC;
  g_hash_table_replace (rest->known, known_key (user_key, address), expiry);
}

static void
reply_rate_limited (SoupServerMessage *msg,
                    guint              wait_s,
                    const char        *what)
{
  g_autofree char *retry_after = g_strdup_printf ("%u", wait_s);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Retry-After", retry_after);
  mesh_rest_reply_error_code (msg, MESH_ERROR_RATE_LIMITED, "too many %s: try again in %u s", what,
                              wait_s);
}

/* The per-address bucket of login and registration, which both cost a
 * PBKDF2 run.  FALSE: refused (answered). */
static gboolean
throttle_address (MeshRestRequest  *request,
                  char            **address_out)
{
  MeshRest *rest = request->rest;
  g_autofree char *address = address_key (rest, request->msg);
  guint wait_s = bucket_wait (rest->ip_buckets, address, rest->throttle.ip_burst,
                              rest->throttle.ip_per_minute, g_get_monotonic_time ());

  if (wait_s > 0) {
    reply_rate_limited (request->msg, wait_s, "login or registration attempts from this address");
    return FALSE;
  }
  bucket_add (rest, rest->ip_buckets, address, rest->throttle.ip_burst,
              rest->throttle.ip_per_minute, -1.0);
  if (address_out != NULL)
    *address_out = g_steal_pointer (&address);
  return TRUE;
}

static void
register_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(PendingReply) pending = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = mesh_store_add_user_finish (MESH_STORE (source), result, &error);
  SoupServerMessage *msg = mesh_rest_pending_reply_get_message (pending);
  g_autoptr(JsonObject) reply = NULL;

  if (msg == NULL)
    return;
  if (user_id == NULL) {
    mesh_rest_reply_error (msg, error);
  } else {
    reply = json_object_new ();
    json_object_set_string_member (reply, "user_id", user_id);
    mesh_rest_reply_object (msg, SOUP_STATUS_CREATED, reply);
  }
  soup_server_message_unpause (msg);
}

void
mesh_rest_handle_register (MeshRestRequest *request)
{
  const char *username, *password;

  if (!request->rest->open_registration) {
    mesh_rest_reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                                "registration is closed on this server: ask its administrator");
    return;
  }
  if (!mesh_rest_request_get_string (request, "username", TRUE, &username) ||
      !mesh_rest_request_get_string (request, "password", TRUE, &password) ||
      !throttle_address (request, NULL))
    return;

  mesh_store_add_user_async (request->rest->store, username, password, NULL,
                             register_done, mesh_rest_pending_reply_new (request));
}

static void
login_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(PendingReply) pending = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = mesh_store_check_password_finish (MESH_STORE (source), result,
                                                               &error);
  g_autofree char *token = NULL;
  g_autoptr(JsonObject) reply = NULL;
  SoupServerMessage *msg = mesh_rest_pending_reply_get_message (pending);
  MeshRest *rest = pending->rest;
  gint64 expires_in = 0;

  /* A right password gives its username token back and trusts the address;
   * a wrong one keeps the token it took. */
  if (user_id != NULL) {
    if (pending->user_token)
      bucket_add (rest, rest->user_buckets, pending->user_key, rest->throttle.user_burst,
                  rest->throttle.user_per_minute, 1.0);
    remember_known (rest, pending->user_key, pending->address);
  } else if (mesh_error_get_code (error) != MESH_ERROR_UNAUTHORIZED && pending->user_token) {
    bucket_add (rest, rest->user_buckets, pending->user_key, rest->throttle.user_burst,
                rest->throttle.user_per_minute, 1.0);
  }
  if (msg == NULL)
    return;
  if (user_id != NULL)
    token = mesh_store_create_access_token (pending->rest->store, user_id, &expires_in, &error);
  if (token == NULL) {
    mesh_rest_reply_error (msg, error);
  } else {
    reply = json_object_new ();
    json_object_set_string_member (reply, "access_token", token);
    json_object_set_string_member (reply, "user_id", user_id);
    json_object_set_int_member (reply, "expires_in", expires_in);
    mesh_rest_reply_object (msg, SOUP_STATUS_OK, reply);
  }
  soup_server_message_unpause (msg);
}

void
mesh_rest_handle_login (MeshRestRequest *request)
{
  const char *username, *password;
  MeshRest *rest = request->rest;
  g_autofree char *address = NULL;
  g_autofree char *user_key = NULL;
  PendingReply *pending;
  gboolean user_token = FALSE;

  if (!mesh_rest_request_get_string (request, "username", TRUE, &username) ||
      !mesh_rest_request_get_string (request, "password", TRUE, &password) ||
      !throttle_address (request, &address))
    return;

  /* Usernames compare without ASCII case (COLLATE NOCASE). */
  user_key = g_ascii_strdown (username, -1);
  if (!is_known (rest, user_key, address)) {
    guint wait_s = bucket_wait (rest->user_buckets, user_key, rest->throttle.user_burst,
                                rest->throttle.user_per_minute, g_get_monotonic_time ());

    if (wait_s > 0) {
      reply_rate_limited (request->msg, wait_s, "failed logins for this user");
      return;
    }
    /* Taken now, so that attempts in flight together count too. */
    bucket_add (rest, rest->user_buckets, user_key, rest->throttle.user_burst,
                rest->throttle.user_per_minute, -1.0);
    user_token = TRUE;
  }

  pending = mesh_rest_pending_reply_new (request);
  pending->user_key = g_steal_pointer (&user_key);
  pending->address = g_steal_pointer (&address);
  pending->user_token = user_token;
  mesh_store_check_password_async (request->rest->store, username, password, NULL,
                                   login_done, pending);
}
