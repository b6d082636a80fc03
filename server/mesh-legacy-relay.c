/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-legacy-relay"

#include "config.h"

#include "mesh-json.h"
#include "mesh-legacy-relay.h"

#include <string.h>

/* TEMPORARY: the proof-of-concept signaling relay of spec/legacy-relay.md.
 * It exists so that existing clients keep working until distributed
 * discovery replaces it; nothing new should be built on it. */

#define MAX_JSON_DEPTH      512
/* JavaScript's JSON.stringify writes lone surrogate escapes, and clients
 * route by "to" spans that may hold \u0000 (refused where it matters). */
#define RELAY_SCAN_FLAGS    MESH_JSON_SCAN_LONE_SURROGATES
/* Node ids this short are routed from a stack copy. */
#define SHORT_ID_BYTES      256

typedef struct _RelayClient RelayClient;

struct _RelayClient {
  MeshLegacyRelay *relay;           /* borrowed: the relay owns the client */
  MeshWsPeer      *ws;
  GList            link;            /* in relay->registered while registered */
  char            *node_id;         /* NULL until registered */
  char            *username;
  char            *public_key;
  char            *encryption_key;
  GBytes          *heartbeat_frame; /* {"type":"heartbeat","from":node_id} */
  gint64           last_rate_error;
};

struct _MeshLegacyRelay {
  GObject       parent_instance;

  MeshWsLimits  limits;
  GHashTable   *clients;            /* RelayClient* (owned), every open socket */
  GHashTable   *by_node_id;         /* node_id → RelayClient (borrowed) */
  GQueue        registered;         /* RelayClient*, in registration order */
};

G_DEFINE_FINAL_TYPE (MeshLegacyRelay, mesh_legacy_relay, G_TYPE_OBJECT)

/* The top-level members the relay reads itself. */
typedef enum {
  FIELD_TYPE,
  FIELD_FROM,
  FIELD_TO,
  FIELD_NODE_ID,
  FIELD_USERNAME,
  N_FIELDS
} Field;

static const char *const field_names[N_FIELDS] = { "type", "from", "to", "nodeId", "username" };

typedef enum {
  SPAN_ABSENT,
  SPAN_STRING,
  SPAN_OTHER,                       /* present, not a string */
} SpanKind;

/* A top-level member's value, as it is in the frame. */
typedef struct {
  SpanKind    kind;
  const char *text;                 /* between the quotes, escapes and all */
  gsize       len;
  gboolean    escaped;              /* holds escapes: @text is not the value */
  gboolean    nul;                  /* holds \u0000, which json-glib cuts at */
} FieldSpan;

typedef struct {
  gboolean    is_object;
  gboolean    escaped_keys;         /* a top-level key with escapes: json-glib reads it */
  FieldSpan   fields[N_FIELDS];
} FrameSummary;

static gboolean
key_is (const char *key,
        gsize       key_len,
        const char *name)
{
  return key_len == strlen (name) && memcmp (key, name, key_len) == 0;
}

/* Notes where the top-level members of field_names are. */
static void
summary_member_cb (guint                depth,
                   const MeshJsonToken *key,
                   const MeshJsonToken *value,
                   gpointer             user_data)
{
  FrameSummary *summary = user_data;

  if (depth != 1 || !summary->is_object)
    return;
  if (key->escaped) {
    summary->escaped_keys = TRUE;
    return;
  }
  for (guint i = 0; i < N_FIELDS; i++) {
    if (key_is (key->text, key->len, field_names[i])) {
      FieldSpan *span = &summary->fields[i];

      /* A later duplicate wins, as in json-glib. */
      memset (span, 0, sizeof *span);
      if (value->kind == MESH_JSON_KIND_STRING) {
        span->kind = SPAN_STRING;
        span->text = value->text;
        span->len = value->len;
        span->escaped = value->escaped;
        span->nul = value->nul;
      } else {
        span->kind = SPAN_OTHER;
      }
      return;
    }
  }
}

/* Checks that @data is exactly one JSON value (RFC 8259, strictly, with the
 * scanner mesh_json_parse uses: json-glib 1.6 accepts single quotes,
 * comments and trailing data) and notes where the top-level members of
 * field_names are.  This lets a `signal` be routed without building a tree
 * of its payload: json-glib takes ~10 µs for a 300-byte ICE candidate, the
 * scan a fraction of that.  On failure, @problem says what is wrong at
 * @offset. */
static gboolean
scan_frame (const char    *data,
            gsize          len,
            FrameSummary  *summary,
            const char   **problem,
            gsize         *offset)
{
  MeshJsonScanError error = { NULL, 0 };
  gsize i = 0;

  memset (summary, 0, sizeof *summary);
  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
    i++;
  summary->is_object = i < len && data[i] == '{';
  if (mesh_json_scan (data, len, MAX_JSON_DEPTH, RELAY_SCAN_FLAGS, summary_member_cb, summary,
                      &error))
    return TRUE;
  *problem = error.problem;
  *offset = error.offset;
  return FALSE;
}

/* A string member whose value is usable as it is in the frame. */
static gboolean
span_is_plain_string (const FieldSpan *span)
{
  return span->kind == SPAN_STRING && !span->escaped;
}

static GBytes *
node_to_frame (JsonNode *node)
{
  gsize len;
  char *text = mesh_json_to_string (node, &len);

  return g_bytes_new_take (text, len);
}

static GBytes *
builder_to_frame (JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);

  return node_to_frame (root);
}

static void
send_error (RelayClient *client,
            const char  *format,
            ...) G_GNUC_PRINTF (2, 3);

static void
send_error (RelayClient *client,
            const char  *format,
            ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GBytes) frame = NULL;
  g_autofree char *formatted = NULL;
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  formatted = g_strdup_vprintf (format, args);
  va_end (args);
  /* json-glib's messages may quote invalid UTF-8 (a lone surrogate it
   * decoded), and libsoup refuses to send that as text. */
  message = g_utf8_make_valid (formatted, -1);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "error");
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  frame = builder_to_frame (builder);
  mesh_ws_peer_send_bytes (client->ws, frame);
}

/* Sends @frame to every registered client but @except. */
static void
send_to_registered (MeshLegacyRelay *self,
                    GBytes          *frame,
                    RelayClient     *except)
{
  for (GList *l = self->registered.head; l != NULL; l = l->next) {
    RelayClient *client = l->data;

    if (client != except)
      mesh_ws_peer_send_bytes (client->ws, frame);
  }
}

static void
send_participants (MeshLegacyRelay *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GBytes) frame = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "participants");
  json_builder_set_member_name (builder, "participants");
  json_builder_begin_array (builder);
  for (GList *l = self->registered.head; l != NULL; l = l->next) {
    RelayClient *client = l->data;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "nodeId");
    json_builder_add_string_value (builder, client->node_id);
    json_builder_set_member_name (builder, "username");
    json_builder_add_string_value (builder, client->username);
    if (client->encryption_key != NULL) {
      json_builder_set_member_name (builder, "encryptionKey");
      json_builder_add_string_value (builder, client->encryption_key);
    }
    json_builder_end_object (builder);
  }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  /* One frame for everyone: its bytes are shared by every send. */
  frame = builder_to_frame (builder);
  send_to_registered (self, frame, NULL);
}

/* Tells the other registered clients that @client joined or left. */
static void
send_presence (RelayClient *client,
               const char  *action)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GBytes) frame = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "presence");
  json_builder_set_member_name (builder, "action");
  json_builder_add_string_value (builder, action);
  json_builder_set_member_name (builder, "nodeId");
  json_builder_add_string_value (builder, client->node_id);
  json_builder_set_member_name (builder, "username");
  json_builder_add_string_value (builder, client->username);
  if (client->public_key != NULL) {
    json_builder_set_member_name (builder, "publicKey");
    json_builder_add_string_value (builder, client->public_key);
  }
  if (client->encryption_key != NULL) {
    json_builder_set_member_name (builder, "encryptionKey");
    json_builder_add_string_value (builder, client->encryption_key);
  }
  json_builder_end_object (builder);

  frame = builder_to_frame (builder);
  send_to_registered (client->relay, frame, client);
}

static void
client_forget_registration (RelayClient *client)
{
  g_clear_pointer (&client->node_id, g_free);
  g_clear_pointer (&client->username, g_free);
  g_clear_pointer (&client->public_key, g_free);
  g_clear_pointer (&client->encryption_key, g_free);
  g_clear_pointer (&client->heartbeat_frame, g_bytes_unref);
}

/* Takes @client out of the participants and sends `presence` leave to the
 * others; the caller sends the updated `participants`. */
static void
unregister_client (RelayClient *client)
{
  MeshLegacyRelay *self = client->relay;

  if (client->node_id == NULL)
    return;
  g_hash_table_remove (self->by_node_id, client->node_id);
  g_queue_unlink (&self->registered, &client->link);
  send_presence (client, "leave");
  client_forget_registration (client);
}

static void
relay_client_free (RelayClient *client)
{
  if (client->ws != NULL)
    mesh_ws_peer_detach (client->ws);
  g_clear_object (&client->ws);
  client_forget_registration (client);
  g_free (client);
}

static GBytes *
heartbeat_frame_new (const char *node_id)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "heartbeat");
  json_builder_set_member_name (builder, "from");
  json_builder_add_string_value (builder, node_id);
  json_builder_end_object (builder);
  return builder_to_frame (builder);
}

static void
handle_register (MeshLegacyRelay    *self,
                 RelayClient        *client,
                 const FrameSummary *summary,
                 JsonObject         *object)
{
  g_autoptr(GError) error = NULL;
  const char *node_id, *username, *public_key, *encryption_key;
  RelayClient *holder;

  if (!mesh_json_get_string (object, "nodeId", TRUE, &node_id, &error) ||
      !mesh_json_get_string (object, "username", TRUE, &username, &error) ||
      !mesh_json_get_string (object, "publicKey", FALSE, &public_key, &error) ||
      !mesh_json_get_string (object, "encryptionKey", FALSE, &encryption_key, &error)) {
    send_error (client, "register: %s", error->message);
    return;
  }
  if (*node_id == '\0') {
    send_error (client, "register: 'nodeId' must not be empty");
    return;
  }
  /* json-glib would cut the string there: "a\u0000b" would take over "a". */
  if (summary->fields[FIELD_NODE_ID].nul || summary->fields[FIELD_USERNAME].nul) {
    send_error (client, "register: 'nodeId' and 'username' cannot contain U+0000");
    return;
  }
  /* json-glib decodes a lone surrogate escape to invalid UTF-8; these
   * strings go into frames the relay builds, which must be valid text. */
  if (!g_utf8_validate (node_id, -1, NULL) || !g_utf8_validate (username, -1, NULL) ||
      (public_key != NULL && !g_utf8_validate (public_key, -1, NULL)) ||
      (encryption_key != NULL && !g_utf8_validate (encryption_key, -1, NULL))) {
    send_error (client, "register: lone surrogate escapes are not allowed in its strings");
    return;
  }

  /* A socket that registers under a new id leaves under its old one. */
  if (client->node_id != NULL && !g_str_equal (client->node_id, node_id))
    unregister_client (client);

  /* The newer socket takes the id: the older one leaves, is told why, and
   * is closed, so that two tabs cannot keep taking the id from each other. */
  holder = g_hash_table_lookup (self->by_node_id, node_id);
  if (holder != NULL && holder != client) {
    unregister_client (holder);
    send_error (holder, "nodeId '%s' was registered by another connection", node_id);
    mesh_ws_peer_close (holder->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "nodeId registered elsewhere");
  }

  g_free (client->username);
  client->username = g_strdup (username);
  g_free (client->public_key);
  client->public_key = g_strdup (public_key);
  g_free (client->encryption_key);
  client->encryption_key = g_strdup (encryption_key);

  if (client->node_id == NULL) {
    client->node_id = g_strdup (node_id);
    client->heartbeat_frame = heartbeat_frame_new (node_id);
    g_hash_table_insert (self->by_node_id, client->node_id, client);
    g_queue_push_tail_link (&self->registered, &client->link);
  }

  send_participants (self);
  send_presence (client, "join");
}

static gboolean
is_string_array (JsonNode *node)
{
  JsonArray *array;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (json_node_get_value_type (json_array_get_element (array, i)) != G_TYPE_STRING)
      return FALSE;
  return TRUE;
}

static void
handle_role_assign (MeshLegacyRelay *self,
                    RelayClient     *client,
                    JsonObject      *object,
                    GBytes          *frame)
{
  g_autoptr(GError) error = NULL;
  const char *node_id;

  if (!mesh_json_get_string (object, "nodeId", TRUE, &node_id, &error)) {
    send_error (client, "role-assign: %s", error->message);
    return;
  }
  if (!is_string_array (json_object_get_member (object, "roles"))) {
    send_error (client, "role-assign: 'roles' must be an array of strings");
    return;
  }

  /* Unchanged, to everyone: the sender too, registered or not. */
  send_to_registered (self, frame, NULL);
  if (client->node_id == NULL)
    mesh_ws_peer_send_bytes (client->ws, frame);
}

static void
handle_heartbeat (MeshLegacyRelay *self,
                  RelayClient     *client)
{
  /* An unregistered sender has no id to announce: only its liveness counts,
   * and MeshWsPeer has noted that already. */
  if (client->heartbeat_frame != NULL)
    send_to_registered (self, client->heartbeat_frame, client);
}

/* Forwards @frame, byte for byte, to the participant registered as @to. */
static void
route_signal (MeshLegacyRelay *self,
              RelayClient     *client,
              const char      *to,
              gsize            to_len,
              GBytes          *frame)
{
  char short_id[SHORT_ID_BYTES];
  g_autofree char *long_id = NULL;
  const char *id;
  RelayClient *target;

  if (client->node_id == NULL) {
    send_error (client, "signal: register before sending signals");
    return;
  }

  if (to_len < sizeof short_id) {
    memcpy (short_id, to, to_len);
    short_id[to_len] = '\0';
    id = short_id;
  } else {
    id = long_id = g_strndup (to, to_len);
  }

  target = g_hash_table_lookup (self->by_node_id, id);
  if (target == NULL) {
    send_error (client, "signal: unknown target peer '%s'", id);
    return;
  }
  mesh_ws_peer_send_bytes (target->ws, frame);
}

/* The general path: the frame is valid JSON; json-glib reads it. */
static void
handle_parsed (MeshLegacyRelay    *self,
               RelayClient        *client,
               const FrameSummary *summary,
               const char         *data,
               gsize               len,
               GBytes             *frame)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;
  const char *type, *from, *to;

  /* json-glib refuses some valid JSON (lone surrogate escapes). */
  root = mesh_json_parse_full (data, len, MAX_JSON_DEPTH, RELAY_SCAN_FLAGS, &error);
  if (root == NULL) {
    send_error (client, "%s", error->message);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    send_error (client, "a message must be a JSON object");
    return;
  }
  object = json_node_get_object (root);

  if (!mesh_json_get_string (object, "type", TRUE, &type, &error)) {
    send_error (client, "%s", error->message);
    return;
  }

  if (g_str_equal (type, "register")) {
    handle_register (self, client, summary, object);
  } else if (g_str_equal (type, "role-assign")) {
    handle_role_assign (self, client, object, frame);
  } else if (g_str_equal (type, "heartbeat")) {
    handle_heartbeat (self, client);
  } else if (g_str_equal (type, "signal")) {
    if (!mesh_json_get_string (object, "from", TRUE, &from, &error) ||
        !mesh_json_get_string (object, "to", TRUE, &to, &error)) {
      send_error (client, "signal: %s", error->message);
      return;
    }
    if (summary->fields[FIELD_TO].nul) {
      send_error (client, "signal: 'to' cannot contain U+0000");
      return;
    }
    route_signal (self, client, to, strlen (to), frame);
  } else {
    send_error (client, "unknown type '%s'", type);
  }
}

/* A signal with a plain "to" is routed straight from the frame; anything
 * else about it (errors, escapes) is left to json-glib. */
static void
handle_signal (MeshLegacyRelay    *self,
               RelayClient        *client,
               const FrameSummary *summary,
               GBytes             *frame)
{
  const FieldSpan *from = &summary->fields[FIELD_FROM];
  const FieldSpan *to = &summary->fields[FIELD_TO];
  gsize len;
  const char *data;

  if (from->kind == SPAN_STRING && span_is_plain_string (to)) {
    route_signal (self, client, to->text, to->len, frame);
    return;
  }
  data = g_bytes_get_data (frame, &len);
  handle_parsed (self, client, summary, data, len, frame);
}

static void
client_message_cb (MeshWsPeer *ws,
                   GBytes     *frame,
                   gpointer    user_data)
{
  RelayClient *client = mesh_ws_peer_get_user_data (ws);
  MeshLegacyRelay *self = user_data;
  FrameSummary summary;
  const FieldSpan *type;
  const char *problem = NULL;
  gsize offset = 0;
  gsize len;
  const char *data = g_bytes_get_data (frame, &len);

  /* A replaced client is closing: what it still sends is moot. */
  if (client == NULL || !mesh_ws_peer_is_open (ws))
    return;

  if (!scan_frame (data, len, &summary, &problem, &offset)) {
    send_error (client, "invalid JSON at byte %" G_GSIZE_FORMAT ": %s", offset, problem);
    return;
  }
  if (!summary.is_object) {
    send_error (client, "a message must be a JSON object");
    return;
  }

  /* The hot paths, signal and heartbeat, need no tree. */
  type = &summary.fields[FIELD_TYPE];
  if (span_is_plain_string (type) && !summary.escaped_keys) {
    if (key_is (type->text, type->len, "signal")) {
      handle_signal (self, client, &summary, frame);
      return;
    }
    if (key_is (type->text, type->len, "heartbeat")) {
      handle_heartbeat (self, client);
      return;
    }
  }

  handle_parsed (self, client, &summary, data, len, frame);
}

static void
client_refused_cb (MeshWsPeer *ws,
                   gsize       size,
                   gboolean    binary,
                   gpointer    user_data)
{
  RelayClient *client = mesh_ws_peer_get_user_data (ws);
  MeshLegacyRelay *self = user_data;

  if (client == NULL)
    return;
  if (binary)
    send_error (client, "binary frames are not supported: send JSON text");
  else
    send_error (client, "message of %" G_GSIZE_FORMAT " bytes is over the limit of %"
                G_GSIZE_FORMAT " bytes", size, self->limits.max_frame_bytes);
}

static void
client_rate_limited_cb (MeshWsPeer *ws,
                        gpointer    user_data)
{
  RelayClient *client = mesh_ws_peer_get_user_data (ws);
  MeshLegacyRelay *self = user_data;
  gint64 now = g_get_monotonic_time ();

  /* One error a second tells a flooding client without adding to the flood. */
  if (client == NULL || now - client->last_rate_error < G_USEC_PER_SEC)
    return;
  client->last_rate_error = now;
  send_error (client, "over %.0f messages/s (burst %.0f): message dropped",
              self->limits.messages_per_second, self->limits.burst);
}

static void
client_closed_cb (MeshWsPeer *ws,
                  gpointer    user_data)
{
  RelayClient *client = mesh_ws_peer_get_user_data (ws);
  MeshLegacyRelay *self = user_data;

  if (client == NULL)
    return;
  if (client->node_id != NULL) {
    unregister_client (client);
    send_participants (self);
  }
  g_hash_table_remove (self->clients, client);
}

static const MeshWsPeerCallbacks client_callbacks = {
  .message = client_message_cb,
  .refused = client_refused_cb,
  .rate_limited = client_rate_limited_cb,
  .closed = client_closed_cb,
};

/* Every open socket, with a reference, so that closing one while going
 * through them cannot change what is being walked. */
static GPtrArray *
snapshot_sockets (MeshLegacyRelay *self)
{
  GPtrArray *sockets = g_ptr_array_new_full (g_hash_table_size (self->clients), g_object_unref);
  GHashTableIter iter;
  RelayClient *client;

  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, (gpointer *) &client, NULL))
    g_ptr_array_add (sockets, g_object_ref (client->ws));
  return sockets;
}

static void
reply_json (SoupServerMessage *msg,
            guint              status,
            const char        *body)
{
  /* libsoup 3.2 leaks idle keep-alive connections (research/server.md,
   * pitfall 7): each answer closes its connection. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
}

static void
health_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  const char *method = soup_server_message_get_method (msg);

  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Allow", "GET, HEAD");
    reply_json (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "{\"error\":\"use GET\"}");
    return;
  }
  reply_json (msg, SOUP_STATUS_OK, "{\"status\":\"ok\"}");
}

static void accept_client (MeshLegacyRelay *self, SoupServerMessage *msg);

/* Every path but /health: a WebSocket upgrade is answered and the socket
 * moves to a shard (mesh-ws-peer.c); anything else gets a JSON error. */
static void
http_cb (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *body = NULL;

  if (soup_websocket_server_check_handshake (msg, NULL, NULL, NULL, &error)) {
    accept_client (user_data, msg);
    return;
  }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  if (g_str_equal (path, "/")) {
    g_autofree char *message = g_strdup_printf ("this is the WebSocket relay: %s",
                                                error->message);

    json_builder_add_string_value (builder, message);
  } else {
    json_builder_add_string_value (builder, "not found");
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  body = mesh_json_to_string (root, NULL);
  reply_json (msg, g_str_equal (path, "/") ? SOUP_STATUS_BAD_REQUEST : SOUP_STATUS_NOT_FOUND,
              body);
}

static void
accept_client (MeshLegacyRelay   *self,
               SoupServerMessage *msg)
{
  RelayClient *client;
  MeshWsPeer *ws = mesh_ws_peer_accept (msg, &self->limits, &client_callbacks, self);

  if (ws == NULL)
    return;
  client = g_new0 (RelayClient, 1);
  client->relay = self;
  client->link.data = client;
  client->ws = ws;
  mesh_ws_peer_set_user_data (client->ws, client);
  g_hash_table_add (self->clients, client);
}

static void
mesh_legacy_relay_dispose (GObject *object)
{
  MeshLegacyRelay *self = MESH_LEGACY_RELAY (object);

  /* The clients own the links and the keys. */
  g_queue_init (&self->registered);
  g_clear_pointer (&self->by_node_id, g_hash_table_unref);
  g_clear_pointer (&self->clients, g_hash_table_unref);
  G_OBJECT_CLASS (mesh_legacy_relay_parent_class)->dispose (object);
}

static void
mesh_legacy_relay_class_init (MeshLegacyRelayClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mesh_legacy_relay_dispose;
}

static void
mesh_legacy_relay_init (MeshLegacyRelay *self)
{
  self->clients = g_hash_table_new_full (g_direct_hash, g_direct_equal,
                                         (GDestroyNotify) relay_client_free, NULL);
  self->by_node_id = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&self->registered);
}

MeshLegacyRelay *
mesh_legacy_relay_new (const MeshWsLimits *limits)
{
  MeshLegacyRelay *self;

  g_return_val_if_fail (limits != NULL, NULL);

  self = g_object_new (MESH_TYPE_LEGACY_RELAY, NULL);
  self->limits = *limits;
  /* Silent sockets are pinged and closed by their shard's sweep. */
  return self;
}

void
mesh_legacy_relay_attach (MeshLegacyRelay *self,
                          SoupServer      *server)
{
  g_return_if_fail (MESH_IS_LEGACY_RELAY (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, "/health", health_cb, NULL, NULL);
  soup_server_add_handler (server, NULL, http_cb, g_object_ref (self), g_object_unref);
}

void
mesh_legacy_relay_close_all (MeshLegacyRelay *self)
{
  g_autoptr(GPtrArray) sockets = NULL;

  g_return_if_fail (MESH_IS_LEGACY_RELAY (self));

  sockets = snapshot_sockets (self);
  for (guint i = 0; i < sockets->len; i++)
    mesh_ws_peer_close (g_ptr_array_index (sockets, i), SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                        "server shutting down");
}

guint
mesh_legacy_relay_get_n_participants (MeshLegacyRelay *self)
{
  g_return_val_if_fail (MESH_IS_LEGACY_RELAY (self), 0);
  return g_hash_table_size (self->by_node_id);
}
