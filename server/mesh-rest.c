/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-rest"

#include "config.h"

#include "mesh-rest.h"

#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-gotify.h"
#include "mesh-ids.h"
#include "mesh-json.h"

#include <string.h>

#define API_PREFIX        "/api/v1"
#define DEFAULT_MAX_BODY  (64 * 1024)
#define DEFAULT_LIMIT     50
#define MAX_LIMIT         200
#define MAX_GOTIFY_TOKEN  512

/* The handlers' shared state, reference-counted (g_rc_box): the server
 * holds one reference per handler, each pending login one more. */
typedef struct {
  MeshStore           *store;
  MeshCapKey          *cap_key;
  gboolean             open_registration;
  gsize                max_body_size;
  MeshRestControlFunc  may_control_terminal;
  gpointer             hook_data;
  MeshNotifier        *notifier;
  void               (*device_revoked) (gpointer user_data, const char *device_id);
  MeshRestThrottle     throttle;
  GHashTable          *ip_buckets;      /* address → Bucket */
  GHashTable          *user_buckets;    /* lower-case username → Bucket */
  GHashTable          *known;           /* "username\naddress" → expiry (µs, boxed) */
  MeshRestTurn         turn;
} MeshRest;

/* A token bucket; absent means full. */
typedef struct {
  double tokens;
  gint64 at;            /* monotonic µs of the last refill */
} Bucket;

/* One request on its way through the route table. */
typedef struct {
  MeshRest          *rest;
  SoupServerMessage *msg;
  GHashTable        *query;       /* decoded query string, may be NULL */
  const char        *params[2];   /* the path's '*' segments, in order */
  char              *user_id;     /* the caller, once authenticated */
  char              *device_id;   /* set when the caller used a device token */
  JsonObject        *body;        /* for routes that take a JSON object */
} MeshRestRequest;

typedef void (*MeshRestHandler) (MeshRestRequest *request);

typedef enum {
  ROUTE_PUBLIC = 0,
  ROUTE_AUTH   = 1 << 0,   /* needs an access or device token */
  ROUTE_BODY   = 1 << 1,   /* takes a JSON object body */
} RouteFlags;

/* A login or registration waiting for its PBKDF2 work: the message is
 * paused meanwhile, and the client may hang up before the answer. */
typedef struct {
  MeshRest          *rest;
  SoupServerMessage *msg;
  gulong             disconnected_id;
  gboolean           gone;
  char              *user_key;        /* login: the username's bucket key */
  char              *address;         /* login: the client's address key */
  gboolean           user_token;      /* login: took a token from user_key */
} PendingReply;

static void
rest_clear (MeshRest *rest)
{
  g_clear_pointer (&rest->ip_buckets, g_hash_table_unref);
  g_clear_pointer (&rest->user_buckets, g_hash_table_unref);
  g_clear_pointer (&rest->known, g_hash_table_unref);
  g_clear_pointer (&rest->throttle.trusted_proxies, g_strfreev);
  mesh_rest_turn_clear (&rest->turn);
  g_clear_object (&rest->store);
  g_clear_object (&rest->cap_key);
  g_clear_object (&rest->notifier);
}

static void
rest_release (gpointer data)
{
  g_rc_box_release_full (data, (GDestroyNotify) rest_clear);
}

static void
rest_release_closure (gpointer  data,
                      GClosure *closure)
{
  rest_release (data);
}

static void
reply_error_full (SoupServerMessage *msg,
                  guint              status,
                  MeshErrorCode      code,
                  const char        *message)
{
  g_autofree char *body = mesh_json_error_body (mesh_error_code_to_string (code), message, NULL);

  if (status == SOUP_STATUS_UNAUTHORIZED)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "WWW-Authenticate", "Bearer");
  mesh_rest_reply_json (msg, status, body);
}

static void G_GNUC_PRINTF (3, 4)
reply_error_code (SoupServerMessage *msg,
                  MeshErrorCode      code,
                  const char        *format,
                  ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  reply_error_full (msg, mesh_error_code_http_status (code), code, message);
}

static void
reply_node (SoupServerMessage *msg,
            guint              status,
            JsonNode          *node)
{
  g_autofree char *body = mesh_json_to_string (node, NULL);

  mesh_rest_reply_json (msg, status, body);
}

static void
reply_object (SoupServerMessage *msg,
              guint              status,
              JsonObject        *object)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);

  reply_node (msg, status, node);
}

static void
reply_array (SoupServerMessage *msg,
             JsonArray         *array)
{
  g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), array);

  reply_node (msg, SOUP_STATUS_OK, node);
}

static void
on_pending_disconnected (SoupServerMessage *msg,
                         PendingReply      *pending)
{
  pending->gone = TRUE;
}

static PendingReply *
pending_reply_new (MeshRestRequest *request)
{
  PendingReply *pending = g_new0 (PendingReply, 1);

  pending->rest = g_rc_box_acquire (request->rest);
  pending->msg = g_object_ref (request->msg);
  pending->disconnected_id = g_signal_connect (pending->msg, "disconnected",
                                               G_CALLBACK (on_pending_disconnected), pending);
  soup_server_message_pause (pending->msg);
  return pending;
}

static void
pending_reply_free (PendingReply *pending)
{
  g_signal_handler_disconnect (pending->msg, pending->disconnected_id);
  g_object_unref (pending->msg);
  g_free (pending->user_key);
  g_free (pending->address);
  rest_release (pending->rest);
  g_free (pending);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PendingReply, pending_reply_free)

/* Returns the message to answer, or NULL when the client is gone. */
static SoupServerMessage *
pending_reply_get_message (PendingReply *pending)
{
  return pending->gone ? NULL : pending->msg;
}

static gboolean
request_get_string (MeshRestRequest  *request,
                    const char       *field,
                    gboolean          required,
                    const char      **value)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_json_get_string (request->body, field, required, value, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  if (*value != NULL && (*value)[0] == '\0') {
    reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST, "field '%s' must not be empty", field);
    return FALSE;
  }
  return TRUE;
}

/* An optional integer field that must lie in [@min, @max]; *@value is
 * left alone when the field is absent. */
static gboolean
request_get_int (MeshRestRequest *request,
                 const char      *field,
                 gint64           min,
                 gint64           max,
                 gint64          *value)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_object_get_member (request->body, field);
  gint64 v;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!mesh_json_get_int (request->body, field, TRUE, &v, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  if (v < min || v > max) {
    reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                      "field '%s' must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT,
                      field, min, max);
    return FALSE;
  }
  *value = v;
  return TRUE;
}

/* Room routes: unknown room 404 ROOM_NOT_FOUND, non-member 403 FORBIDDEN. */
static gboolean
request_check_member (MeshRestRequest *request,
                      const char      *room_id)
{
  g_autofree char *role = NULL;

  if (!mesh_store_room_exists (request->rest->store, room_id)) {
    reply_error_code (request->msg, MESH_ERROR_ROOM_NOT_FOUND, "unknown room");
    return FALSE;
  }
  role = mesh_store_get_member_role (request->rest->store, room_id, request->user_id);
  if (role == NULL) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN, "not a member of this room");
    return FALSE;
  }
  return TRUE;
}

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
  reply_error_code (msg, MESH_ERROR_RATE_LIMITED, "too many %s: try again in %u s", what,
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
  SoupServerMessage *msg = pending_reply_get_message (pending);
  g_autoptr(JsonObject) reply = NULL;

  if (msg == NULL)
    return;
  if (user_id == NULL) {
    mesh_rest_reply_error (msg, error);
  } else {
    reply = json_object_new ();
    json_object_set_string_member (reply, "user_id", user_id);
    reply_object (msg, SOUP_STATUS_CREATED, reply);
  }
  soup_server_message_unpause (msg);
}

static void
handle_register (MeshRestRequest *request)
{
  const char *username, *password;

  if (!request->rest->open_registration) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                      "registration is closed on this server: ask its administrator");
    return;
  }
  if (!request_get_string (request, "username", TRUE, &username) ||
      !request_get_string (request, "password", TRUE, &password) ||
      !throttle_address (request, NULL))
    return;

  mesh_store_add_user_async (request->rest->store, username, password, NULL,
                             register_done, pending_reply_new (request));
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
  SoupServerMessage *msg = pending_reply_get_message (pending);
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
    reply_object (msg, SOUP_STATUS_OK, reply);
  }
  soup_server_message_unpause (msg);
}

static void
handle_login (MeshRestRequest *request)
{
  const char *username, *password;
  MeshRest *rest = request->rest;
  g_autofree char *address = NULL;
  g_autofree char *user_key = NULL;
  PendingReply *pending;
  gboolean user_token = FALSE;

  if (!request_get_string (request, "username", TRUE, &username) ||
      !request_get_string (request, "password", TRUE, &password) ||
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

  pending = pending_reply_new (request);
  pending->user_key = g_steal_pointer (&user_key);
  pending->address = g_steal_pointer (&address);
  pending->user_token = user_token;
  mesh_store_check_password_async (request->rest->store, username, password, NULL,
                                   login_done, pending);
}

static void
handle_add_device (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *name, *fingerprint;

  /* Otherwise one stolen agent token could mint more of them. */
  if (request->device_id != NULL) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                      "a device token cannot register devices: use the user's access token");
    return;
  }
  if (!request_get_string (request, "name", TRUE, &name) ||
      !request_get_string (request, "fingerprint", TRUE, &fingerprint))
    return;

  if (!mesh_store_add_device (request->rest->store, request->user_id, name, fingerprint,
                              &device_id, &device_token, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "device_id", device_id);
  json_object_set_string_member (reply, "device_token", device_token);
  reply_object (request->msg, SOUP_STATUS_CREATED, reply);
}

static void
handle_list_devices (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = mesh_store_list_devices (request->rest->store, request->user_id,
                                                          &error);
  g_autoptr(JsonArray) array = json_array_new ();

  if (devices == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  for (guint i = 0; i < devices->len; i++) {
    MeshStoreDevice *device = devices->pdata[i];
    JsonObject *obj = json_object_new ();

    json_object_set_string_member (obj, "device_id", device->device_id);
    json_object_set_string_member (obj, "name", device->name);
    json_object_set_string_member (obj, "fingerprint", device->fingerprint);
    json_array_add_object_element (array, obj);
  }
  reply_array (request->msg, array);
}

/* Revoking: the token stops working at once and the device's sockets are
 * closed.  The user's own devices only; not with a device token (a stolen
 * agent token must not lock the user's other devices out). */
static void
handle_delete_device (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  const char *device_id = request->params[0];

  if (request->device_id != NULL) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                      "a device token cannot revoke devices: use the user's access token");
    return;
  }
  if (!mesh_store_delete_device (request->rest->store, request->user_id, device_id, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  if (request->rest->device_revoked != NULL)
    request->rest->device_revoked (request->rest->hook_data, device_id);
  soup_server_message_set_status (request->msg, SOUP_STATUS_NO_CONTENT, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Connection", "close");
}

static void
handle_list_rooms (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) rooms = mesh_store_list_rooms_json (request->rest->store,
                                                           request->user_id, &error);

  if (rooms == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply_array (request->msg, rooms);
}

static void
handle_create_room (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *name;

  if (!request_get_string (request, "name", TRUE, &name))
    return;
  room_id = mesh_store_create_room (request->rest->store, request->user_id, name, &error);
  if (room_id == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "room_id", room_id);
  reply_object (request->msg, SOUP_STATUS_CREATED, reply);
}

static void
handle_rename_room (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *name;

  if (!request_get_string (request, "name", TRUE, &name))
    return;
  if (!mesh_store_rename_room (request->rest->store, request->params[0], request->user_id, name,
                               &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "room_id", request->params[0]);
  json_object_set_string_member (reply, "name", name);
  reply_object (request->msg, SOUP_STATUS_OK, reply);
}

static void
handle_delete_room (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_store_delete_room (request->rest->store, request->params[0], request->user_id,
                               &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  soup_server_message_set_status (request->msg, SOUP_STATUS_NO_CONTENT, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Connection", "close");
}

static void
handle_leave_room (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;

  if (!mesh_store_leave_room (request->rest->store, request->params[0], request->user_id,
                              &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  soup_server_message_set_status (request->msg, SOUP_STATUS_NO_CONTENT, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Connection", "close");
}

static void
handle_create_invite (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autoptr(JsonObject) reply = NULL;
  gint64 expires_in = 0;

  /* The store answers ROOM_NOT_FOUND and FORBIDDEN (non-member) itself. */
  code = mesh_store_create_invite (request->rest->store, request->params[0], request->user_id,
                                   &expires_in, &error);
  if (code == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "code", code);
  json_object_set_int_member (reply, "expires_in", expires_in);
  reply_object (request->msg, SOUP_STATUS_CREATED, reply);
}

static void
handle_accept_invite (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;
  g_autoptr(JsonObject) reply = NULL;

  room_id = mesh_store_accept_invite (request->rest->store, request->params[0],
                                      request->user_id, &error);
  if (room_id == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "room_id", room_id);
  reply_object (request->msg, SOUP_STATUS_OK, reply);
}

static void
handle_list_messages (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(JsonArray) array = json_array_new ();
  const char *room_id = request->params[0];
  const char *before = NULL;
  const char *after = NULL;
  const char *limit_text = NULL;
  guint64 limit = DEFAULT_LIMIT;

  if (!request_check_member (request, room_id))
    return;

  if (request->query != NULL) {
    before = g_hash_table_lookup (request->query, "before");
    after = g_hash_table_lookup (request->query, "after");
    limit_text = g_hash_table_lookup (request->query, "limit");
  }
  if (before != NULL && before[0] == '\0')
    before = NULL;
  if (after != NULL && after[0] == '\0')
    after = NULL;
  /* One direction per page: "before" pages back, "after" catches up. */
  if (before != NULL && after != NULL) {
    reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                      "give either 'before' or 'after', not both");
    return;
  }
  if (limit_text != NULL &&
      (!g_ascii_string_to_unsigned (limit_text, 10, 1, MAX_LIMIT, &limit, NULL))) {
    reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                      "parameter 'limit' must be an integer from 1 to %d", MAX_LIMIT);
    return;
  }

  if (after != NULL)
    messages = mesh_store_list_messages_after (request->rest->store, room_id, after,
                                               (guint) limit, &error);
  else
    messages = mesh_store_list_messages (request->rest->store, room_id, before, (guint) limit,
                                         &error);
  if (messages == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  for (guint i = 0; i < messages->len; i++)
    json_array_add_object_element (array, mesh_store_message_to_json (messages->pdata[i]));
  reply_array (request->msg, array);
}

static void
handle_issue_caps (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshCapClaims) claims = mesh_cap_claims_new ();
  g_autoptr(GPtrArray) caps = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonObject) reply = NULL;
  g_autofree char *token = NULL;
  g_auto(GStrv) requested = NULL;
  g_autofree char *bearer = mesh_rest_get_bearer (request->msg, FALSE);
  const char *room_id = request->params[0];
  const char *target_peer_id, *target_device_id;
  gint64 ttl = MESH_CAP_DEFAULT_TTL;
  gint64 now;

  if (!request_check_member (request, room_id))
    return;

  if (!mesh_json_get_strv (request->body, "caps", TRUE, &requested, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  for (guint i = 0; requested[i] != NULL; i++) {
    if (!mesh_cap_is_known (requested[i])) {
      reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                        "field 'caps': unknown capability '%s'", requested[i]);
      return;
    }
    if (!g_ptr_array_find_with_equal_func (caps, requested[i], g_str_equal, NULL))
      g_ptr_array_add (caps, g_strdup (requested[i]));
  }
  if (caps->len == 0) {
    reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                      "field 'caps' must name at least one capability");
    return;
  }
  /* §4, §7: control goes only to whoever holds it right now. */
  if (g_ptr_array_find_with_equal_func (caps, MESH_CAP_TERMINAL_CONTROL, g_str_equal, NULL) &&
      (request->rest->may_control_terminal == NULL ||
       !request->rest->may_control_terminal (request->rest->hook_data, room_id, request->user_id,
                                             bearer))) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                      "'terminal:control' is issued only to the holder of terminal control");
    return;
  }

  if (!request_get_string (request, "target_peer_id", FALSE, &target_peer_id) ||
      !request_get_string (request, "target_device_id", FALSE, &target_device_id) ||
      !request_get_int (request, "max_size", 0, G_MAXINT64, &claims->max_size) ||
      !request_get_int (request, "max_rate", 0, G_MAXINT64, &claims->max_rate) ||
      !request_get_int (request, "ttl", 1, G_MAXINT32, &ttl))
    return;
  /* Longer asks are shortened, not refused: expires_in tells the truth. */
  ttl = MIN (ttl, MESH_CAP_MAX_TTL);

  now = g_get_real_time () / G_USEC_PER_SEC;
  g_ptr_array_add (caps, NULL);
  claims->caps = (GStrv) g_ptr_array_free (g_steal_pointer (&caps), FALSE);
  claims->sub = g_strdup (request->user_id);
  claims->room_id = g_strdup (room_id);
  claims->iat = now;
  claims->exp = now + ttl;
  claims->jti = mesh_id_new ();
  claims->target_peer_id = g_strdup (target_peer_id);
  claims->target_device_id = g_strdup (target_device_id);

  token = mesh_cap_key_sign (request->rest->cap_key, claims, &error);
  if (token == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  reply = json_object_new ();
  json_object_set_string_member (reply, "cap_token", token);
  json_object_set_int_member (reply, "expires_in", ttl);
  reply_object (request->msg, SOUP_STATUS_OK, reply);
}

static void
handle_get_keys (MeshRestRequest *request)
{
  g_autoptr(JsonObject) reply = json_object_new ();

  json_object_set_string_member (reply, "alg", "ES256");
  json_object_set_string_member (reply, "public_key_pem",
                                 mesh_cap_key_get_public_pem (request->rest->cap_key));
  reply_object (request->msg, SOUP_STATUS_OK, reply);
}

/* §9 Gotify settings: the user's own, never through a device token (a
 * stolen agent token must not redirect the user's notifications). */
static gboolean
request_check_gotify (MeshRestRequest *request)
{
  MeshNotifier *notifier = request->rest->notifier;

  if (notifier == NULL || !mesh_notifier_gotify_enabled (notifier)) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                      "Gotify push is turned off on this server");
    return FALSE;
  }
  if (request->device_id != NULL) {
    reply_error_code (request->msg, MESH_ERROR_FORBIDDEN,
                      "a device token cannot manage Gotify settings: use the user's access token");
    return FALSE;
  }
  return TRUE;
}

/* The view of GET and PUT: {url, token_set, priority, events, priorities,
 * pending, last_error?, retry_error?}; never the token. */
static JsonObject *
gotify_view (MeshRest              *rest,
             const MeshStoreGotify *gotify)
{
  JsonObject *view = json_object_new ();
  JsonObject *priorities = json_object_new ();
  JsonArray *events = json_array_new ();

  json_object_set_string_member (view, "url", gotify->url);
  json_object_set_boolean_member (view, "token_set", gotify->token[0] != '\0');
  if (gotify->priority >= 0)
    json_object_set_int_member (view, "priority", gotify->priority);
  else
    json_object_set_null_member (view, "priority");
  for (guint i = 0; i < MESH_NOTIFY_N_KINDS; i++) {
    const char *kind = mesh_notify_kind_to_string (i);

    if (gotify->events == NULL || g_strv_contains ((const char * const *) gotify->events, kind))
      json_array_add_string_element (events, kind);
    json_object_set_int_member (priorities, kind,
                                gotify->priority >= 0 ? gotify->priority
                                                      : mesh_notifier_get_priority (rest->notifier, i));
  }
  json_object_set_array_member (view, "events", events);
  json_object_set_object_member (view, "priorities", priorities);
  json_object_set_int_member (view, "pending", mesh_store_outbox_count (rest->store, gotify->user_id));
  if (gotify->last_error != NULL)
    json_object_set_string_member (view, "last_error", gotify->last_error);
  if (gotify->retry_error != NULL)
    json_object_set_string_member (view, "retry_error", gotify->retry_error);
  return view;
}

static void
reply_gotify_view (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStoreGotify) gotify = mesh_store_get_gotify (request->rest->store,
                                                            request->user_id, &error);
  g_autoptr(JsonObject) view = NULL;

  if (gotify == NULL) {
    if (error != NULL)
      mesh_rest_reply_error (request->msg, error);
    else
      reply_error_code (request->msg, MESH_ERROR_NOT_FOUND, "no Gotify target is set");
    return;
  }
  view = gotify_view (request->rest, gotify);
  reply_object (request->msg, SOUP_STATUS_OK, view);
}

static void
handle_get_gotify (MeshRestRequest *request)
{
  if (request_check_gotify (request))
    reply_gotify_view (request);
}

static void
handle_put_gotify (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStoreGotify) previous = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autofree char *message_url = NULL;
  g_auto(GStrv) requested = NULL;
  const char *url, *token;
  gint64 priority = -1;

  if (!request_check_gotify (request) ||
      !request_get_string (request, "url", TRUE, &url) ||
      !request_get_string (request, "token", FALSE, &token) ||
      !request_get_int (request, "priority", 0, 10, &priority))
    return;

  message_url = mesh_gotify_message_url (url, &error);
  if (message_url == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  /* The token is kept as it is (Gotify's formats changed with v3), but it
   * goes into a header: visible ASCII only. */
  if (token != NULL) {
    gsize len = strlen (token);

    for (gsize i = 0; i < len; i++) {
      if (token[i] <= ' ' || token[i] > '~') {
        reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                          "field 'token' must be visible ASCII characters only");
        return;
      }
    }
    if (len > MAX_GOTIFY_TOKEN) {
      reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                        "field 'token' is longer than %d bytes", MAX_GOTIFY_TOKEN);
      return;
    }
  } else {
    /* GET never shows the token: a client changing other settings may
     * leave it out and keep the stored one. */
    previous = mesh_store_get_gotify (request->rest->store, request->user_id, &error);
    if (previous == NULL) {
      if (error != NULL)
        mesh_rest_reply_error (request->msg, error);
      else
        reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST, "missing field 'token'");
      return;
    }
    /* The stored token goes only where it went before: a new scheme, host
     * or port needs it again (else a stolen session could redirect it). */
    if (!mesh_gotify_same_origin (previous->url, url)) {
      reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                        "field 'token' is required when the URL's scheme, host or port changes");
      return;
    }
    token = previous->token;
  }

  if (!mesh_json_get_strv (request->body, "events", FALSE, &requested, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  if (requested != NULL) {
    events = g_ptr_array_new ();
    for (guint i = 0; requested[i] != NULL; i++) {
      if (!mesh_notify_kind_from_string (requested[i], NULL)) {
        reply_error_code (request->msg, MESH_ERROR_BAD_REQUEST,
                          "field 'events': unknown kind '%s' (known: chat.message.created, "
                          "call.missed, share.completed, terminal.share.started, agent.offline)",
                          requested[i]);
        return;
      }
      if (!g_ptr_array_find_with_equal_func (events, requested[i], g_str_equal, NULL))
        g_ptr_array_add (events, requested[i]);
    }
    g_ptr_array_add (events, NULL);
  }

  if (!mesh_store_set_gotify (request->rest->store, request->user_id, url, token, priority,
                              events ? (const char * const *) events->pdata : NULL, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  mesh_gotify_target_changed (mesh_notifier_get_gotify (request->rest->notifier),
                              request->user_id);
  reply_gotify_view (request);
}

static void
handle_delete_gotify (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;

  if (!request_check_gotify (request))
    return;
  /* Idempotent: deleting nothing is done as well. */
  if (!mesh_store_delete_gotify (request->rest->store, request->user_id, NULL, &error)) {
    mesh_rest_reply_error (request->msg, error);
    return;
  }
  mesh_gotify_target_changed (mesh_notifier_get_gotify (request->rest->notifier),
                              request->user_id);
  soup_server_message_set_status (request->msg, SOUP_STATUS_NO_CONTENT, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Connection", "close");
}

static void
gotify_tested (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(PendingReply) pending = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) report = mesh_gotify_test_finish (MESH_GOTIFY (source), result, &error);
  SoupServerMessage *msg = pending_reply_get_message (pending);

  if (msg == NULL)
    return;
  if (report == NULL)
    mesh_rest_reply_error (msg, error);
  else
    reply_object (msg, SOUP_STATUS_OK, report);
  soup_server_message_unpause (msg);
}

/* Gotify's refusal is reported as {ok:false}, never as an error of ours. */
static void
handle_test_gotify (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MeshStoreGotify) gotify = NULL;
  MeshNotifier *notifier = request->rest->notifier;

  if (!request_check_gotify (request))
    return;
  gotify = mesh_store_get_gotify (request->rest->store, request->user_id, &error);
  if (gotify == NULL) {
    if (error != NULL)
      mesh_rest_reply_error (request->msg, error);
    else
      reply_error_code (request->msg, MESH_ERROR_NOT_FOUND, "no Gotify target is set");
    return;
  }
  mesh_gotify_test_async (mesh_notifier_get_gotify (notifier), gotify->url, gotify->token,
                          gotify->priority >= 0 ? gotify->priority
                                                : mesh_notifier_get_priority (notifier,
                                                                              MESH_NOTIFY_CHAT_MESSAGE),
                          NULL, gotify_tested, pending_reply_new (request));
}

void
mesh_rest_turn_init_default (MeshRestTurn *turn)
{
  memset (turn, 0, sizeof *turn);
  turn->ttl_s = MESH_REST_TURN_DEFAULT_TTL;
}

void
mesh_rest_turn_copy (MeshRestTurn       *dest,
                     const MeshRestTurn *src)
{
  dest->uris = g_strdupv (src->uris);
  dest->secret = g_strdup (src->secret);
  dest->ttl_s = src->ttl_s;
}

void
mesh_rest_turn_clear (MeshRestTurn *turn)
{
  g_clear_pointer (&turn->uris, g_strfreev);
  if (turn->secret != NULL) {
    /* A shared secret should not linger in freed memory. */
    memset (turn->secret, 0, strlen (turn->secret));
    g_clear_pointer (&turn->secret, g_free);
  }
}

void
mesh_rest_turn_credentials (const char  *secret,
                            const char  *user_id,
                            gint64       expiry,
                            char       **username,
                            char       **password)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
  guint8 digest[20];
  gsize len = sizeof digest;
  g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", expiry, user_id);

  g_hmac_update (hmac, (const guchar *) name, -1);
  g_hmac_get_digest (hmac, digest, &len);
  *password = g_base64_encode (digest, len);
  *username = g_steal_pointer (&name);
}

/* ICE servers for calls.  Credentials are only minted with a secret and
 * are worth nothing to STUN, so a STUN-only setup gets bare URIs. */
static void
handle_get_turn (MeshRestRequest *request)
{
  const MeshRestTurn *turn = &request->rest->turn;
  g_autoptr(JsonObject) reply = NULL;
  JsonArray *uris;

  if (turn->uris == NULL || turn->uris[0] == NULL) {
    reply_error_code (request->msg, MESH_ERROR_NOT_FOUND, "no ICE servers are configured");
    return;
  }
  reply = json_object_new ();
  uris = json_array_new ();
  for (guint i = 0; turn->uris[i] != NULL; i++)
    json_array_add_string_element (uris, turn->uris[i]);
  json_object_set_array_member (reply, "uris", uris);
  if (turn->secret != NULL) {
    g_autofree char *username = NULL;
    g_autofree char *password = NULL;
    gint64 expiry = g_get_real_time () / G_USEC_PER_SEC + turn->ttl_s;

    mesh_rest_turn_credentials (turn->secret, request->user_id, expiry, &username, &password);
    json_object_set_string_member (reply, "username", username);
    json_object_set_string_member (reply, "password", password);
  }
  json_object_set_int_member (reply, "ttl", turn->ttl_s);
  /* Fresh credentials every time: no cache may hand them to someone else. */
  soup_message_headers_replace (soup_server_message_get_response_headers (request->msg),
                                "Cache-Control", "no-store");
  reply_object (request->msg, SOUP_STATUS_OK, reply);
}

/* Every route of protocol §2 below /api/v1 ('*' is one path segment). */
static const struct {
  const char      *method;
  const char      *pattern;
  RouteFlags       flags;
  MeshRestHandler  handler;
} routes[] = {
  { "POST", "auth/register",     ROUTE_PUBLIC | ROUTE_BODY, handle_register },
  { "POST", "auth/login",        ROUTE_PUBLIC | ROUTE_BODY, handle_login },
  { "GET",  "devices",           ROUTE_AUTH,                handle_list_devices },
  { "POST", "devices",           ROUTE_AUTH | ROUTE_BODY,   handle_add_device },
  { "DELETE", "devices/*",       ROUTE_AUTH,                handle_delete_device },
  { "GET",  "rooms",             ROUTE_AUTH,                handle_list_rooms },
  { "POST", "rooms",             ROUTE_AUTH | ROUTE_BODY,   handle_create_room },
  { "PATCH",  "rooms/*",         ROUTE_AUTH | ROUTE_BODY,   handle_rename_room },
  { "DELETE", "rooms/*",         ROUTE_AUTH,                handle_delete_room },
  { "POST", "rooms/*/leave",     ROUTE_AUTH,                handle_leave_room },
  { "POST", "rooms/*/invites",   ROUTE_AUTH,                handle_create_invite },
  { "GET",  "rooms/*/messages",  ROUTE_AUTH,                handle_list_messages },
  { "POST", "rooms/*/caps",      ROUTE_AUTH | ROUTE_BODY,   handle_issue_caps },
  { "POST", "invites/*/accept",  ROUTE_AUTH,                handle_accept_invite },
  { "GET",  "keys",              ROUTE_AUTH,                handle_get_keys },
  { "GET",    "me/gotify",       ROUTE_AUTH,                handle_get_gotify },
  { "PUT",    "me/gotify",       ROUTE_AUTH | ROUTE_BODY,   handle_put_gotify },
  { "DELETE", "me/gotify",       ROUTE_AUTH,                handle_delete_gotify },
  { "POST",   "me/gotify/test",  ROUTE_AUTH,                handle_test_gotify },
  { "GET",    "turn",            ROUTE_AUTH,                handle_get_turn },
};

/* Matches @segments against @pattern; '*' takes one non-empty segment,
 * stored into @params. */
static gboolean
route_matches (const char  *pattern,
               char       **segments,
               const char **params)
{
  g_auto(GStrv) parts = g_strsplit (pattern, "/", 0);
  guint n_params = 0;

  if (g_strv_length (parts) != g_strv_length (segments))
    return FALSE;
  for (guint i = 0; parts[i] != NULL; i++) {
    if (g_str_equal (parts[i], "*")) {
      if (segments[i][0] == '\0')
        return FALSE;
      g_assert (n_params < 2);
      params[n_params++] = segments[i];
    } else if (!g_str_equal (parts[i], segments[i])) {
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
request_authenticate (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *token = mesh_rest_get_bearer (request->msg, FALSE);

  if (token == NULL) {
    reply_error_code (request->msg, MESH_ERROR_UNAUTHORIZED,
                      "missing 'Authorization: Bearer' token");
    return FALSE;
  }
  request->user_id = mesh_store_authenticate (request->rest->store, token,
                                              &request->device_id, &error);
  if (request->user_id == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  return TRUE;
}

static gboolean
request_parse_body (MeshRestRequest *request)
{
  g_autoptr(GError) error = NULL;
  SoupMessageBody *body = soup_server_message_get_request_body (request->msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  request->body = mesh_json_parse_object (data, (gssize) len, &error);
  if (request->body == NULL) {
    mesh_rest_reply_error (request->msg, error);
    return FALSE;
  }
  return TRUE;
}

static void
api_handler (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  MeshRestRequest request = { .rest = user_data, .msg = msg, .query = query };
  const char *method = soup_server_message_get_method (msg);
  g_auto(GStrv) segments = NULL;
  g_autoptr(GString) allowed = NULL;
  gint found = -1;

  /* The handler's prefix also catches "/api/v1x"; only "/api/v1/…" is ours. */
  if (!g_str_has_prefix (path, API_PREFIX "/")) {
    reply_error_code (msg, MESH_ERROR_NOT_FOUND, "no such resource: %s", path);
    return;
  }
  segments = g_strsplit (path + strlen (API_PREFIX "/"), "/", 0);

  allowed = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (routes) && found < 0; i++) {
    const char *params[2] = { NULL, NULL };

    if (!route_matches (routes[i].pattern, segments, params))
      continue;
    if (!g_str_equal (routes[i].method, method)) {
      g_string_append_printf (allowed, "%s%s", allowed->len ? ", " : "", routes[i].method);
      continue;
    }
    found = i;
    memcpy (request.params, params, sizeof params);
  }

  if (found < 0 && allowed->len > 0) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Allow", allowed->str);
    reply_error_full (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, MESH_ERROR_BAD_REQUEST,
                      "method not allowed here");
    return;
  }
  if (found < 0) {
    reply_error_code (msg, MESH_ERROR_NOT_FOUND, "no such resource: %s", path);
    return;
  }

  if ((!(routes[found].flags & ROUTE_AUTH) || request_authenticate (&request)) &&
      (!(routes[found].flags & ROUTE_BODY) || request_parse_body (&request)))
    routes[found].handler (&request);

  g_free (request.user_id);
  g_free (request.device_id);
  g_clear_pointer (&request.body, json_object_unref);
}

static gboolean
body_too_large (MeshRest          *rest,
                SoupServerMessage *msg,
                goffset            length)
{
  if (length <= (goffset) rest->max_body_size)
    return FALSE;

  reply_error_code (msg, MESH_ERROR_PAYLOAD_TOO_LARGE,
                    "the request body is larger than %" G_GSIZE_FORMAT " bytes",
                    rest->max_body_size);
  /* Whatever still arrives is read and dropped, not kept. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_message_body_truncate (soup_server_message_get_request_body (msg));
  return TRUE;
}

/* Bodies sent without a length (chunked) are counted as they come. */
static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  if (soup_server_message_get_status (msg) != 0)
    return;
  body_too_large (user_data, msg, soup_server_message_get_request_body (msg)->length);
}

/* Runs once the headers are in, before the body is read: an oversized
 * body is refused by its Content-Length without being buffered. */
static void
api_early_handler (SoupServer        *server,
                   SoupServerMessage *msg,
                   const char        *path,
                   GHashTable        *query,
                   gpointer           user_data)
{
  MeshRest *rest = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      body_too_large (rest, msg, soup_message_headers_get_content_length (headers)))
    return;
  g_signal_connect_data (msg, "got-chunk", G_CALLBACK (on_got_chunk),
                         g_rc_box_acquire (rest), rest_release_closure, 0);
}

static void
health_handler (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  const char *method = soup_server_message_get_method (msg);

  if (!g_str_equal (path, "/health")) {
    reply_error_code (msg, MESH_ERROR_NOT_FOUND, "no such resource: %s", path);
    return;
  }
  if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD")) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Allow", "GET, HEAD");
    reply_error_full (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, MESH_ERROR_BAD_REQUEST,
                      "method not allowed here");
    return;
  }
  mesh_rest_reply_json (msg, SOUP_STATUS_OK, "{\"status\":\"ok\"}");
}

void
mesh_rest_add_handlers (SoupServer           *server,
                        const MeshRestConfig *config)
{
  MeshRest *rest;

  g_return_if_fail (SOUP_IS_SERVER (server));
  g_return_if_fail (config != NULL);
  g_return_if_fail (MESH_IS_STORE (config->store));
  g_return_if_fail (MESH_IS_CAP_KEY (config->cap_key));
  g_return_if_fail (mesh_cap_key_can_sign (config->cap_key));

  rest = g_rc_box_new0 (MeshRest);
  rest->store = g_object_ref (config->store);
  rest->cap_key = g_object_ref (config->cap_key);
  rest->open_registration = config->open_registration;
  rest->max_body_size = config->max_body_size ? config->max_body_size : DEFAULT_MAX_BODY;
  rest->may_control_terminal = config->may_control_terminal;
  rest->hook_data = config->hook_data;
  rest->notifier = config->notifier ? g_object_ref (config->notifier) : NULL;
  rest->device_revoked = config->device_revoked;
  mesh_rest_throttle_init_default (&rest->throttle);
  if (config->throttle.max_entries > 0)
    rest->throttle = config->throttle;
  rest->throttle.trusted_proxies = g_strdupv (config->throttle.trusted_proxies);
  mesh_rest_turn_copy (&rest->turn, &config->turn);
  if (rest->turn.ttl_s == 0)
    rest->turn.ttl_s = MESH_REST_TURN_DEFAULT_TTL;
  rest->ip_buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  rest->user_buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  rest->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  soup_server_add_early_handler (server, API_PREFIX, api_early_handler,
                                 g_rc_box_acquire (rest), rest_release);
  soup_server_add_handler (server, API_PREFIX, api_handler, g_rc_box_acquire (rest),
                           rest_release);
  soup_server_add_handler (server, "/health", health_handler, NULL, NULL);
  /* Anything else gets a JSON 404 rather than libsoup's empty one. */
  soup_server_add_handler (server, "/", health_handler, NULL, NULL);
  rest_release (rest);
}

char *
mesh_rest_get_bearer (SoupServerMessage *msg,
                      gboolean           allow_query)
{
  const char *header;
  const char *query;

  g_return_val_if_fail (SOUP_IS_SERVER_MESSAGE (msg), NULL);

  header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                         "Authorization");
  if (header != NULL) {
    while (*header == ' ')
      header++;
    if (g_ascii_strncasecmp (header, "Bearer ", 7) == 0) {
      g_autofree char *token = g_strstrip (g_strdup (header + 7));

      if (token[0] != '\0')
        return g_steal_pointer (&token);
    }
  }

  query = allow_query ? g_uri_get_query (soup_server_message_get_uri (msg)) : NULL;
  if (query != NULL) {
    g_autoptr(GHashTable) form = soup_form_decode (query);
    const char *token = g_hash_table_lookup (form, "access_token");

    if (token != NULL && token[0] != '\0')
      return g_strdup (token);
  }
  return NULL;
}

void
mesh_rest_reply_json (SoupServerMessage *msg,
                      guint              status,
                      const char        *body)
{
  g_return_if_fail (SOUP_IS_SERVER_MESSAGE (msg));
  g_return_if_fail (body != NULL);

  soup_server_message_set_status (msg, status, NULL);
  /* Replaces any earlier body (an error set while the request came in). */
  soup_message_body_truncate (soup_server_message_get_response_body (msg));
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
}

void
mesh_rest_reply_error (SoupServerMessage *msg,
                       const GError      *error)
{
  MeshErrorCode code;

  g_return_if_fail (SOUP_IS_SERVER_MESSAGE (msg));
  g_return_if_fail (error != NULL);

  code = mesh_error_get_code (error);
  /* Database and I/O details are for the log, not for clients. */
  if (code == MESH_ERROR_INTERNAL) {
    g_autofree char *path = mesh_escape_for_display (g_uri_get_path (soup_server_message_get_uri (msg)),
                                                     -1);

    g_warning ("%s %s: %s", soup_server_message_get_method (msg), path, error->message);
    reply_error_full (msg, mesh_error_code_http_status (code), code, "internal server error");
    return;
  }
  reply_error_full (msg, mesh_error_code_http_status (code), code, error->message);
}
