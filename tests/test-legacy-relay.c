/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-legacy-relay"

#include "config.h"

#include "mesh-config.h"
#include "mesh-json.h"
#include "mesh-legacy-relay.h"
#include "mesh-listener.h"

#include <string.h>
#include <sys/socket.h>

/* The TEMPORARY legacy relay (spec/legacy-relay.md), run in-process on
 * 127.0.0.1 and driven by real libsoup WebSocket clients. */

/* Only a safety net for a hang: no test waits for time to pass. */
#define WAIT_TIMEOUT_S 60

typedef struct {
  SoupServer      *server;
  MeshListener    *listener;
  MeshLegacyRelay *relay;
  SoupSession     *session;
  char            *ws_url;
  char            *http_url;
  GPtrArray       *clients;
  guint            barriers;
} Fixture;

typedef struct {
  SoupWebsocketConnection *conn;
  GQueue                   frames;   /* GBytes*, oldest first */
  gboolean                 closed;
} Client;

static gboolean
wait_timeout_cb (gpointer data)
{
  g_error ("timed out waiting for %s", (const char *) data);
  return G_SOURCE_REMOVE;
}

static void
wait_until (gboolean   (*done) (gpointer data),
            gpointer     data,
            const char  *what)
{
  guint timeout_id = g_timeout_add_seconds (WAIT_TIMEOUT_S, wait_timeout_cb, (gpointer) what);

  while (!done (data))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);
}

static gboolean
pointer_set (gpointer data)
{
  return *(gpointer *) data != NULL;
}

static gboolean
client_has_frame (gpointer data)
{
  Client *client = data;

  return !g_queue_is_empty (&client->frames) || client->closed;
}

static gboolean
client_is_closed (gpointer data)
{
  return ((Client *) data)->closed;
}

static void
client_message_cb (SoupWebsocketConnection *conn,
                   SoupWebsocketDataType    type,
                   GBytes                  *message,
                   Client                  *client)
{
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  g_queue_push_tail (&client->frames, g_bytes_ref (message));
}

static void
client_closed_cb (SoupWebsocketConnection *conn,
                  Client                  *client)
{
  client->closed = TRUE;
}

static void
client_free (Client *client)
{
  g_signal_handlers_disconnect_by_data (client->conn, client);
  g_clear_object (&client->conn);
  g_queue_clear_full (&client->frames, (GDestroyNotify) g_bytes_unref);
  g_free (client);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  SoupWebsocketConnection **conn = user_data;
  g_autoptr(GError) error = NULL;

  *conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
}

static Client *
client_new (Fixture *fixture)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", fixture->ws_url);
  Client *client = g_new0 (Client, 1);

  soup_session_websocket_connect_async (fixture->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        NULL, connect_cb, &client->conn);
  wait_until (pointer_set, &client->conn, "a WebSocket connection");
  /* The relay's participants frames grow with the test; the limit does not
   * matter here. */
  soup_websocket_connection_set_max_incoming_payload_size (client->conn, 0);
  g_signal_connect (client->conn, "message", G_CALLBACK (client_message_cb), client);
  g_signal_connect (client->conn, "closed", G_CALLBACK (client_closed_cb), client);
  g_ptr_array_add (fixture->clients, client);
  return client;
}

static void
client_send (Client     *client,
             const char *text)
{
  soup_websocket_connection_send_text (client->conn, text);
}

static GBytes *
client_next (Client *client)
{
  wait_until (client_has_frame, client, "a frame");
  g_assert_false (g_queue_is_empty (&client->frames));
  return g_queue_pop_head (&client->frames);
}

static void
client_close (Client *client)
{
  soup_websocket_connection_close (client->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  wait_until (client_is_closed, client, "the close");
}

static JsonNode *
parse (const char *text,
       gsize       len)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = mesh_json_parse (text, len, &error);

  g_assert_no_error (error);
  return node;
}

typedef enum {
  EXPECT_JSON,    /* the same JSON as the text */
  EXPECT_BYTES,   /* these very bytes */
  EXPECT_ERROR,   /* one `error` whose text has the fragment */
} Expect;

/* The next frame of @client must match @expected as @how says. */
static void
expect_frame (Client     *client,
              Expect      how,
              const char *expected)
{
  g_autoptr(GBytes) frame = client_next (client);
  gsize len;
  const char *data = g_bytes_get_data (frame, &len);
  g_autoptr(JsonNode) got = NULL;
  g_autoptr(JsonNode) want = NULL;
  JsonObject *object;

  switch (how) {
  case EXPECT_JSON:
    want = parse (expected, -1);
    got = parse (data, len);
    if (!json_node_equal (want, got))
      g_error ("expected %s, got %.*s", expected, (int) len, data);
    break;
  case EXPECT_BYTES:
    if (len != strlen (expected) || memcmp (data, expected, len) != 0)
      g_error ("expected the bytes %s, got %.*s", expected, (int) len, data);
    break;
  case EXPECT_ERROR:
    got = parse (data, len);
    object = json_node_get_object (got);
    if (json_object_get_size (object) != 2 ||
        g_strcmp0 (json_object_get_string_member_with_default (object, "type", NULL),
                   "error") != 0 ||
        strstr (json_object_get_string_member_with_default (object, "error", ""), expected) == NULL)
      g_error ("expected an error about '%s', got %.*s", expected, (int) len, data);
    break;
  }
}

#define expect_json(client, expected) expect_frame ((client), EXPECT_JSON, (expected))
#define expect_bytes(client, expected) expect_frame ((client), EXPECT_BYTES, (expected))
#define expect_error(client, fragment) expect_frame ((client), EXPECT_ERROR, (fragment))

/* @from sends @text and @to gets these very bytes. */
static void
expect_relayed (Client     *from,
                Client     *to,
                const char *text)
{
  client_send (from, text);
  expect_bytes (to, text);
}

/* Reads frames of @client until one has @fragment; the socket must stay
 * open meanwhile. */
static void
expect_eventually (Client     *client,
                   const char *fragment)
{
  while (TRUE) {
    g_autoptr(GBytes) next = client_next (client);
    gsize len;
    const char *text = g_bytes_get_data (next, &len);

    g_assert_false (client->closed);
    if (g_strstr_len (text, len, fragment) != NULL)
      break;
  }
}

static void
skip_frames (Client *client,
             guint   n)
{
  for (guint i = 0; i < n; i++)
    g_bytes_unref (client_next (client));
}

/* Proves that nothing was sent to @client before now: the relay handles a
 * socket's frames in order and every frame it sends because of earlier
 * events is queued ahead of the answer to this one. */
static void
expect_quiet (Fixture *fixture,
              Client  *client)
{
  g_autofree char *type = g_strdup_printf ("barrier-%u", ++fixture->barriers);
  g_autofree char *frame = g_strdup_printf ("{\"type\":\"%s\"}", type);
  g_autofree char *answer = g_strdup_printf ("unknown type '%s'", type);

  client_send (client, frame);
  expect_error (client, answer);
}

/* Sends a register frame; the keys are left out when NULL. */
static void
client_register_keys (Client     *client,
                      const char *node_id,
                      const char *username,
                      const char *public_key,
                      const char *encryption_key)
{
  g_autoptr(GString) frame = g_string_new (NULL);

  g_string_printf (frame, "{\"type\":\"register\",\"nodeId\":\"%s\",\"username\":\"%s\"",
                   node_id, username);
  if (public_key != NULL)
    g_string_append_printf (frame, ",\"publicKey\":\"%s\"", public_key);
  if (encryption_key != NULL)
    g_string_append_printf (frame, ",\"encryptionKey\":\"%s\"", encryption_key);
  g_string_append_c (frame, '}');
  client_send (client, frame->str);
}

static void
client_register (Client     *client,
                 const char *node_id,
                 const char *username)
{
  client_register_keys (client, node_id, username, NULL, NULL);
}

/* Registers @a as alice and @b as bob and takes what that tells them: a's
 * list, b's join (list and presence) and b's list. */
static void
register_alice_and_bob (Client *a,
                        Client *b)
{
  client_register (a, "a", "alice");
  skip_frames (a, 1);
  client_register (b, "b", "bob");
  skip_frames (a, 2);
  skip_frames (b, 1);
}

static void
fixture_set_up_with (Fixture            *fixture,
                     const MeshWsLimits *limits)
{
  g_autoptr(GError) error = NULL;
  guint16 port;

  fixture->server = soup_server_new ("server-header", "mesh-test", NULL);
  soup_server_remove_websocket_extension (fixture->server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  fixture->relay = mesh_legacy_relay_new (limits);
  mesh_legacy_relay_attach (fixture->relay, fixture->server);
  fixture->listener = mesh_listener_new (fixture->server, NULL);
  mesh_listener_listen (fixture->listener, "127.0.0.1:0", &error);
  g_assert_no_error (error);

  port = mesh_listener_get_port (fixture->listener);
  g_assert_cmpuint (port, >, 0);
  fixture->ws_url = g_strdup_printf ("ws://127.0.0.1:%u/", port);
  fixture->http_url = g_strdup_printf ("http://127.0.0.1:%u", port);
  fixture->session = soup_session_new_with_options ("max-conns", 1000,
                                                    "max-conns-per-host", 1000, NULL);
  fixture->clients = g_ptr_array_new_with_free_func ((GDestroyNotify) client_free);
}

/* What a test changes in the limits mesh-server really uses for the relay
 * (0: keep that limit). */
typedef struct {
  double burst;
  double messages_per_second;
  gsize  max_queued_bytes;
  guint  ping_interval_s;
  guint  silence_timeout_s;
} LimitsChange;

/* A bucket that never refills within a test run. */
static const LimitsChange rate_limits = { .burst = 3, .messages_per_second = 1e-6 };
static const LimitsChange queue_limits = { .max_queued_bytes = 256 * 1024 };
static const LimitsChange liveness_limits = { .ping_interval_s = 1, .silence_timeout_s = 12 };
static const LimitsChange spread_limits = { .ping_interval_s = 4, .silence_timeout_s = 60 };

/* @data: a LimitsChange, or NULL for the limits mesh-server really uses. */
static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(MeshConfig) config = mesh_config_new ();
  MeshWsLimits limits = config->legacy_limits;
  const LimitsChange *change = data;

  if (change != NULL) {
    limits.burst = change->burst ? change->burst : limits.burst;
    limits.messages_per_second = change->messages_per_second ? change->messages_per_second
                                                             : limits.messages_per_second;
    limits.max_queued_bytes = change->max_queued_bytes ? change->max_queued_bytes
                                                       : limits.max_queued_bytes;
    limits.ping_interval_s = change->ping_interval_s ? change->ping_interval_s
                                                     : limits.ping_interval_s;
    limits.silence_timeout_s = change->silence_timeout_s ? change->silence_timeout_s
                                                         : limits.silence_timeout_s;
  }
  fixture_set_up_with (fixture, &limits);
}

static gboolean
relay_is_empty (gpointer data)
{
  return mesh_legacy_relay_get_n_participants (data) == 0;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  for (guint i = 0; i < fixture->clients->len; i++) {
    Client *client = g_ptr_array_index (fixture->clients, i);

    if (soup_websocket_connection_get_state (client->conn) == SOUP_WEBSOCKET_STATE_OPEN)
      client_close (client);
    else
      wait_until (client_is_closed, client, "the close");
  }
  /* The relay sees each close a moment after the client does. */
  wait_until (relay_is_empty, fixture->relay, "the relay to see every close");

  mesh_legacy_relay_close_all (fixture->relay);
  mesh_listener_stop (fixture->listener);
  soup_server_disconnect (fixture->server);
  g_clear_pointer (&fixture->clients, g_ptr_array_unref);
  g_clear_object (&fixture->session);
  g_clear_object (&fixture->listener);
  g_clear_object (&fixture->relay);
  g_clear_object (&fixture->server);
  g_free (fixture->ws_url);
  g_free (fixture->http_url);
}

typedef struct {
  gboolean  done;
  guint     status;
  char     *content_type;
  GBytes   *body;
} HttpReply;

static void
http_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  HttpReply *reply = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;

  reply->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
  reply->status = soup_message_get_status (msg);
  reply->content_type = g_strdup (soup_message_headers_get_content_type (
                                    soup_message_get_response_headers (msg), NULL));
  reply->done = TRUE;
}

static gboolean
reply_done (gpointer data)
{
  return ((HttpReply *) data)->done;
}

static void
http_get (Fixture    *fixture,
          const char *path,
          HttpReply  *reply)
{
  g_autofree char *url = g_strconcat (fixture->http_url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  soup_session_send_and_read_async (fixture->session, msg, G_PRIORITY_DEFAULT, NULL,
                                    http_cb, reply);
  wait_until (reply_done, reply, "an HTTP answer");
}

static void
http_reply_clear (HttpReply *reply)
{
  g_free (reply->content_type);
  g_bytes_unref (reply->body);
}

static void
test_health (Fixture       *fixture,
             gconstpointer  data)
{
  HttpReply health = { 0 }, plain = { 0 }, other = { 0 };
  g_autoptr(JsonNode) body = NULL;
  gsize len;
  const char *text;

  http_get (fixture, "/health", &health);
  g_assert_cmpuint (health.status, ==, 200);
  g_assert_cmpstr (health.content_type, ==, "application/json");
  text = g_bytes_get_data (health.body, &len);
  g_assert_cmpmem (text, len, "{\"status\":\"ok\"}", 15);

  /* A plain GET where the WebSocket lives: a JSON error, not a hang. */
  http_get (fixture, "/", &plain);
  g_assert_cmpuint (plain.status, ==, 400);
  g_assert_cmpstr (plain.content_type, ==, "application/json");
  text = g_bytes_get_data (plain.body, &len);
  body = parse (text, len);
  g_assert_true (json_object_has_member (json_node_get_object (body), "error"));

  http_get (fixture, "/elsewhere", &other);
  g_assert_cmpuint (other.status, ==, 404);
  g_assert_cmpstr (other.content_type, ==, "application/json");

  http_reply_clear (&health);
  http_reply_clear (&plain);
  http_reply_clear (&other);
}

static void
test_register (Fixture       *fixture,
               gconstpointer  data)
{
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  Client *idle = client_new (fixture);

  client_register_keys (a, "a", "alice", "pk-a", "ek-a");
  /* The participants list carries the encryption key, never the public key. */
  expect_json (a, "{\"type\":\"participants\",\"participants\":"
                  "[{\"nodeId\":\"a\",\"username\":\"alice\",\"encryptionKey\":\"ek-a\"}]}");

  client_register (b, "b", "bob");
  expect_json (b, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"a\",\"username\":\"alice\",\"encryptionKey\":\"ek-a\"},"
                  "{\"nodeId\":\"b\",\"username\":\"bob\"}]}");
  expect_json (a, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"a\",\"username\":\"alice\",\"encryptionKey\":\"ek-a\"},"
                  "{\"nodeId\":\"b\",\"username\":\"bob\"}]}");
  /* Keys that were not given are left out, not null. */
  expect_json (a, "{\"type\":\"presence\",\"action\":\"join\",\"nodeId\":\"b\","
                  "\"username\":\"bob\"}");

  /* No presence about oneself, nothing to a socket that did not register. */
  expect_quiet (fixture, a);
  expect_quiet (fixture, b);
  expect_quiet (fixture, idle);
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 2);
}

static void
test_register_errors (Fixture       *fixture,
                      gconstpointer  data)
{
  static const struct {
    const char *frame;
    const char *error;
  } cases[] = {
    { "{\"type\":\"register\",\"username\":\"alice\"}", "nodeId" },
    { "{\"type\":\"register\",\"nodeId\":\"a\"}", "username" },
    { "{\"type\":\"register\",\"nodeId\":7,\"username\":\"alice\"}", "nodeId" },
    { "{\"type\":\"register\",\"nodeId\":\"a\",\"username\":[\"alice\"]}", "username" },
    { "{\"type\":\"register\",\"nodeId\":\"\",\"username\":\"alice\"}", "nodeId" },
    { "{\"type\":\"register\",\"nodeId\":\"a\",\"username\":\"alice\",\"publicKey\":1}",
      "publicKey" },
    { "{\"type\":\"register\",\"nodeId\":\"a\",\"username\":\"alice\",\"encryptionKey\":{}}",
      "encryptionKey" },
  };
  Client *a = client_new (fixture);
  Client *watcher = client_new (fixture);

  client_register (watcher, "w", "walter");
  expect_json (watcher, "{\"type\":\"participants\",\"participants\":"
                        "[{\"nodeId\":\"w\",\"username\":\"walter\"}]}");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    client_send (a, cases[i].frame);
    expect_error (a, cases[i].error);
  }
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 1);
  /* Nobody heard of the refused registrations. */
  expect_quiet (fixture, watcher);

  /* The socket is still usable. */
  client_register (a, "a", "alice");
  expect_json (a, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"w\",\"username\":\"walter\"},"
                  "{\"nodeId\":\"a\",\"username\":\"alice\"}]}");
}

static void
test_errors (Fixture       *fixture,
             gconstpointer  data)
{
  static const struct {
    const char *frame;
    const char *error;
  } cases[] = {
    { "{\"type\":\"signal\"", "invalid JSON" },
    { "", "invalid JSON" },
    { "{'type':'heartbeat'}", "invalid JSON" },
    { "{\"type\":\"heartbeat\"} trailing", "invalid JSON" },
    { "{\"type\":\"heartbeat\",}", "invalid JSON" },
    { "{\"n\":01}", "invalid JSON" },
    /* What json-glib 1.6 takes beyond JSON, where nesting once hid from
     * scans that only knew JSON (the hub's, not this one). */
    { "{\"type\":\"heartbeat\"/* c */}", "invalid JSON" },
    { "{\"type\":\"heartbeat\",\"x\":'\"',\"y\":[[[[]]]],\"z\":'\"'}", "invalid JSON" },
    { "{\"type\":\"heartbeat\",'\"':1}", "invalid JSON" },
    { "{\"type\":\"heartbeat\",\"s\":\"\\x41\"}", "invalid JSON" },
    { "{\"type\":\"heartbeat\",\"s\":\"a\tb\"}", "invalid JSON" },
    { "{\"type\":\"heartbeat\",\"n\":0x10}", "invalid JSON" },
    { "[{\"type\":\"heartbeat\"}]", "JSON object" },
    { "42", "JSON object" },
    { "\"register\"", "JSON object" },
    { "{}", "type" },
    { "{\"type\":5}", "type" },
    { "{\"type\":null}", "type" },
    { "{\"type\":\"dance\"}", "unknown type 'dance'" },
    { "{\"type\":\"participants\",\"participants\":[]}", "unknown type" },
    { "{\"type\":\"signal\",\"from\":\"a\",\"payload\":{}}", "to" },
    { "{\"type\":\"signal\",\"to\":\"b\",\"payload\":{}}", "from" },
    { "{\"type\":\"signal\",\"from\":\"a\",\"to\":[\"b\"],\"payload\":{}}", "to" },
    { "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"nobody\",\"payload\":{}}",
      "unknown target peer 'nobody'" },
    { "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\\u0000\",\"payload\":{}}",
      "U+0000" },
    { "{\"type\":\"register\",\"nodeId\":\"b\\u0000x\",\"username\":\"eve\"}", "U+0000" },
    { "{\"type\":\"register\",\"nodeId\":\"e\\ud83dx\",\"username\":\"eve\"}", "surrogate" },
    { "{\"type\":\"register\",\"nodeId\":\"e\",\"username\":\"\\udc00\"}", "invalid JSON" },
    { "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"\\ud83dx\",\"payload\":{}}",
      "unknown target peer" },
    { "{\"type\":\"role-assign\",\"roles\":[\"relay\"]}", "nodeId" },
    { "{\"type\":\"role-assign\",\"nodeId\":\"b\"}", "roles" },
    { "{\"type\":\"role-assign\",\"nodeId\":\"b\",\"roles\":\"relay\"}", "roles" },
    { "{\"type\":\"role-assign\",\"nodeId\":\"b\",\"roles\":[\"relay\",3]}", "roles" },
  };
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  Client *stranger = client_new (fixture);

  client_register (a, "a", "alice");
  expect_json (a, "{\"type\":\"participants\",\"participants\":"
                  "[{\"nodeId\":\"a\",\"username\":\"alice\"}]}");
  client_register (b, "b", "bob");
  for (guint i = 0; i < 3; i++)
    g_bytes_unref (client_next (i == 2 ? b : a));

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    client_send (a, cases[i].frame);
    expect_error (a, cases[i].error);
  }
  /* One error each and nothing else, to anyone. */
  expect_quiet (fixture, a);
  expect_quiet (fixture, b);

  /* Signals need a registered sender, even with a valid target. */
  client_send (stranger, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\",\"payload\":1}");
  expect_error (stranger, "register");
  expect_quiet (fixture, b);

  /* After all that, a's socket still relays. */
  expect_relayed (a, b, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\",\"payload\":\"hi\"}");
}

static void
test_heartbeat (Fixture       *fixture,
                gconstpointer  data)
{
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  Client *c = client_new (fixture);
  Client *stranger = client_new (fixture);

  register_alice_and_bob (a, b);
  client_register (c, "c", "carol");
  skip_frames (a, 2);
  skip_frames (b, 2);
  skip_frames (c, 1);

  client_send (a, "{\"type\":\"heartbeat\"}");
  expect_json (b, "{\"type\":\"heartbeat\",\"from\":\"a\"}");
  expect_json (c, "{\"type\":\"heartbeat\",\"from\":\"a\"}");
  expect_quiet (fixture, a);

  /* Extra fields change nothing: the relay says who it is from. */
  client_send (b, "{ \"type\" : \"heartbeat\", \"from\": \"mallory\", \"at\": 12 }");
  expect_json (a, "{\"type\":\"heartbeat\",\"from\":\"b\"}");
  expect_json (c, "{\"type\":\"heartbeat\",\"from\":\"b\"}");
  expect_quiet (fixture, b);

  /* From a socket that did not register: not relayed, no error either. */
  client_send (stranger, "{\"type\":\"heartbeat\"}");
  expect_quiet (fixture, stranger);
  expect_quiet (fixture, a);
  expect_quiet (fixture, b);
  expect_quiet (fixture, c);
}

static void
test_role_assign (Fixture       *fixture,
                  gconstpointer  data)
{
  const char *assign = "{ \"type\":\"role-assign\", \"nodeId\":\"b\","
                       " \"roles\":[\"relay\",\"seed\"],"
                       " \"extra\": {\"n\": 1.50}, \"epoch\":18446744073709551617 }";
  const char *empty = "{\"type\":\"role-assign\",\"nodeId\":\"zed\",\"roles\":[]}";
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  Client *stranger = client_new (fixture);

  register_alice_and_bob (a, b);

  /* Unchanged, to everyone, the sender included. */
  expect_relayed (a, a, assign);
  expect_bytes (b, assign);
  expect_quiet (fixture, stranger);

  /* An unregistered sender gets its own copy too. */
  expect_relayed (stranger, stranger, empty);
  expect_bytes (a, empty);
  expect_bytes (b, empty);
  expect_quiet (fixture, a);
}

static gboolean
has_n_frames (gpointer data)
{
  gpointer *args = data;
  Client *client = args[0];

  return client->frames.length >= GPOINTER_TO_UINT (args[1]) || client->closed;
}

static void
test_signal_burst (Fixture       *fixture,
                   gconstpointer  data)
{
  const guint n = 2000;
  g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func (g_free);
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  gpointer args[2] = { b, GUINT_TO_POINTER (n) };

  register_alice_and_bob (a, b);

  /* Trickled ICE for several calls: all at once, without waiting. */
  for (guint i = 0; i < n; i++) {
    char *frame = g_strdup_printf ("{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\",\"payload\":"
                                   "{\"call\":%u,\"seq\":%u,\"candidate\":\"candidate:%u 1 udp "
                                   "2122260223 192.168.1.%u 5%04u typ host\",\"t\":%u.%03u}}",
                                   i % 7, i, i * 7919, i % 255, i, i, i % 1000);

    client_send (a, frame);
    g_ptr_array_add (sent, frame);
  }

  wait_until (has_n_frames, args, "the burst");
  g_assert_false (b->closed);
  for (guint i = 0; i < n; i++)
    expect_bytes (b, g_ptr_array_index (sent, i));
  expect_quiet (fixture, a);
  expect_quiet (fixture, b);
}

static void
test_signal_exact (Fixture       *fixture,
                   gconstpointer  data)
{
  /* Things a re-encoding would change: a NUL inside a string (json-glib
   * cuts there), numbers beyond double precision, a lone surrogate (json-glib
   * refuses it), escapes, spacing and key order. */
  static const char *const frames[] = {
    "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\",\"payload\":{\"sdp\":\"v=0\\u0000x\"}}",
    "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\",\"payload\":"
      "[123456789012345678901234567890,-0.10000000000000000555,1E+400,0]}",
    "{\"payload\":\"\\ud83d\",\"to\":\"b\",\"type\":\"signal\",\"from\":\"a\"}",
    " {\n\t\"type\" : \"signal\" ,\"from\":\"a\",\"to\":\"b\",\"payload\":"
      "\"caf\\u00e9 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}\n",
    "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\",\"payload\":"
      "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
    "{\"type\":\"sig\\u006eal\",\"from\":\"a\",\"to\":\"b\",\"payload\":null}",
    "{\"type\":\"signal\",\"from\":\"spoofed\",\"to\":\"b\",\"payload\":{\"to\":\"c\",\"type\":1}}",
    "{\"type\":\"heartbeat\",\"type\":\"signal\",\"from\":\"a\",\"to\":\"c\",\"to\":\"b\"}",
  };
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);

  register_alice_and_bob (a, b);

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++) {
    expect_relayed (a, b, frames[i]);
  }
  expect_quiet (fixture, a);
}

/* Garbage from one client, interleaved with another's signals. */
static void
test_isolation (Fixture       *fixture,
                gconstpointer  data)
{
  static const char *const garbage[] = {
    "{", "null", "{\"type\":\"signal\",\"from\":\"c\",\"to\":\"nobody\"}",
    "{\"type\":\"register\"}", "]]]]", "{\"type\":\"role-assign\"}", "{\"type\":7}",
  };
  const guint rounds = 50;
  g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *deep = NULL;
  g_autofree char *hidden = NULL;
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  Client *c = client_new (fixture);

  register_alice_and_bob (a, b);

  for (guint i = 0; i < rounds; i++) {
    char *frame = g_strdup_printf ("{\"type\":\"signal\",\"from\":\"a\",\"to\":\"b\","
                                   "\"payload\":%u}", i);

    client_send (a, frame);
    g_ptr_array_add (sent, frame);
    client_send (c, garbage[i % G_N_ELEMENTS (garbage)]);
  }
  /* Nesting deep enough to exhaust a recursive parser. */
  deep = g_strnfill (60000, '[');
  client_send (c, deep);
  /* The same, complete, between two single-quoted strings. */
  {
    GString *text = g_string_new ("{\"type\":\"signal\",\"x\":'\"',\"y\":");

    for (guint i = 0; i < 30000; i++)
      g_string_append_c (text, '[');
    for (guint i = 0; i < 30000; i++)
      g_string_append_c (text, ']');
    g_string_append (text, ",\"z\":'\"'}");
    hidden = g_string_free (text, FALSE);
  }
  client_send (c, hidden);

  for (guint i = 0; i < rounds; i++)
    expect_bytes (b, g_ptr_array_index (sent, i));
  for (guint i = 0; i < rounds; i++)
    expect_error (c, "");
  expect_error (c, "invalid JSON");
  expect_error (c, "invalid JSON");
  g_assert_false (c->closed);
  expect_quiet (fixture, a);
  expect_quiet (fixture, b);
  expect_quiet (fixture, c);
}

static void
test_frame_limits (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GString) big = g_string_new ("{\"type\":\"signal\",\"from\":\"a\",\"to\":\"a\","
                                         "\"payload\":\"");
  Client *a = client_new (fixture);

  client_register (a, "a", "alice");
  skip_frames (a, 1);

  while (big->len < 64 * 1024 + 10)
    g_string_append (big, "0123456789abcdef");
  g_string_append (big, "\"}");
  client_send (a, big->str);
  expect_error (a, "limit");

  soup_websocket_connection_send_binary (a->conn, "\x01\x02", 2);
  expect_error (a, "binary");

  /* Still open and still registered: a signal to oneself comes back. */
  expect_relayed (a, a, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"a\",\"payload\":1}");
}

static void
test_rate_limit (Fixture       *fixture,
                 gconstpointer  data)
{
  Client *a = client_new (fixture);

  client_register (a, "a", "alice");
  skip_frames (a, 1);
  expect_relayed (a, a, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"a\",\"payload\":1}");
  client_send (a, "{\"type\":\"heartbeat\"}");
  client_send (a, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"a\",\"payload\":2}");
  client_send (a, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"a\",\"payload\":3}");

  expect_error (a, "messages/s");
  g_assert_cmpint (soup_websocket_connection_get_state (a->conn), ==, SOUP_WEBSOCKET_STATE_OPEN);
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 1);
}

static void
test_presence_on_close (Fixture       *fixture,
                        gconstpointer  data)
{
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);
  Client *stranger = client_new (fixture);

  client_register_keys (a, "a", "alice", "pk-a", "ek-a");
  skip_frames (a, 1);
  client_register_keys (b, "b", "bob", "pk-b", NULL);
  skip_frames (b, 1);
  skip_frames (a, 2);

  client_close (a);
  /* The same fields as the join, then the list without a. */
  expect_json (b, "{\"type\":\"presence\",\"action\":\"leave\",\"nodeId\":\"a\","
                  "\"username\":\"alice\",\"publicKey\":\"pk-a\",\"encryptionKey\":\"ek-a\"}");
  expect_json (b, "{\"type\":\"participants\",\"participants\":"
                  "[{\"nodeId\":\"b\",\"username\":\"bob\"}]}");
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 1);

  /* An unregistered socket leaves without a word. */
  client_close (stranger);
  expect_quiet (fixture, b);

  client_send (b, "{\"type\":\"signal\",\"from\":\"b\",\"to\":\"a\",\"payload\":{}}");
  expect_error (b, "unknown target peer 'a'");
}

/* A second socket registering a live nodeId takes it over. */
static void
test_duplicate_register (Fixture       *fixture,
                         gconstpointer  data)
{
  Client *old = client_new (fixture);
  Client *b = client_new (fixture);
  Client *new = client_new (fixture);

  client_register_keys (old, "a", "alice-laptop", NULL, "ek-1");
  skip_frames (old, 1);
  client_register (b, "b", "bob");
  skip_frames (old, 2);
  skip_frames (b, 1);

  client_register (new, "a", "alice-phone");

  /* The others see the old entry leave, then the new one join. */
  expect_json (b, "{\"type\":\"presence\",\"action\":\"leave\",\"nodeId\":\"a\","
                  "\"username\":\"alice-laptop\",\"encryptionKey\":\"ek-1\"}");
  expect_json (b, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"b\",\"username\":\"bob\"},"
                  "{\"nodeId\":\"a\",\"username\":\"alice-phone\"}]}");
  expect_json (b, "{\"type\":\"presence\",\"action\":\"join\",\"nodeId\":\"a\","
                  "\"username\":\"alice-phone\"}");
  expect_json (new, "{\"type\":\"participants\",\"participants\":["
                    "{\"nodeId\":\"b\",\"username\":\"bob\"},"
                    "{\"nodeId\":\"a\",\"username\":\"alice-phone\"}]}");

  /* The old socket is told why, then closed. */
  expect_error (old, "registered by another connection");
  wait_until (client_is_closed, old, "the replaced socket to close");
  g_assert_true (g_queue_is_empty (&old->frames));

  /* Its close announces nothing more; signals go to the new socket. */
  expect_quiet (fixture, b);
  expect_relayed (b, new, "{\"type\":\"signal\",\"from\":\"b\",\"to\":\"a\",\"payload\":\"x\"}");
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 2);
}

/* The same socket registering again: a new nodeId leaves the old one, the
 * same nodeId updates the entry. */
static void
test_reregister (Fixture       *fixture,
                 gconstpointer  data)
{
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);

  register_alice_and_bob (a, b);

  client_register (a, "a2", "alice");
  expect_json (b, "{\"type\":\"presence\",\"action\":\"leave\",\"nodeId\":\"a\","
                  "\"username\":\"alice\"}");
  expect_json (b, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"b\",\"username\":\"bob\"},"
                  "{\"nodeId\":\"a2\",\"username\":\"alice\"}]}");
  expect_json (b, "{\"type\":\"presence\",\"action\":\"join\",\"nodeId\":\"a2\","
                  "\"username\":\"alice\"}");
  expect_json (a, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"b\",\"username\":\"bob\"},"
                  "{\"nodeId\":\"a2\",\"username\":\"alice\"}]}");

  client_send (b, "{\"type\":\"signal\",\"from\":\"b\",\"to\":\"a\",\"payload\":0}");
  expect_error (b, "unknown target peer 'a'");
  expect_relayed (b, a, "{\"type\":\"signal\",\"from\":\"b\",\"to\":\"a2\",\"payload\":0}");

  /* Same id, new details: the entry keeps its place. */
  client_register_keys (a, "a2", "Alice", NULL, "ek");
  expect_json (b, "{\"type\":\"participants\",\"participants\":["
                  "{\"nodeId\":\"b\",\"username\":\"bob\"},"
                  "{\"nodeId\":\"a2\",\"username\":\"Alice\",\"encryptionKey\":\"ek\"}]}");
  expect_json (b, "{\"type\":\"presence\",\"action\":\"join\",\"nodeId\":\"a2\","
                  "\"username\":\"Alice\",\"encryptionKey\":\"ek\"}");
  skip_frames (a, 1);
  expect_quiet (fixture, a);
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 2);
}

static void
test_close_all (Fixture       *fixture,
                gconstpointer  data)
{
  Client *a = client_new (fixture);
  Client *b = client_new (fixture);

  client_register (a, "a", "alice");
  skip_frames (a, 1);
  mesh_legacy_relay_close_all (fixture->relay);
  wait_until (client_is_closed, a, "the shutdown close");
  wait_until (client_is_closed, b, "the shutdown close");
  g_assert_cmpint (soup_websocket_connection_get_close_code (a->conn), ==,
                   SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
}

static gboolean
participants_at_most_one (gpointer data)
{
  return mesh_legacy_relay_get_n_participants (data) <= 1;
}

static gboolean
two_participants (gpointer data)
{
  return mesh_legacy_relay_get_n_participants (data) >= 2;
}

/* A raw socket that does the WebSocket handshake and registers as @node_id,
 * then never reads again.  @rcvbuf: the
 * socket's receive buffer (0: the system's). */
static GSocketConnection *
raw_register (Fixture    *fixture,
              const char *node_id,
              int         rcvbuf)
{
  static const guint8 zero_mask[4] = { 0, 0, 0, 0 };
  const char *request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n";
  g_autofree char *text = g_strdup_printf ("{\"type\":\"register\",\"nodeId\":\"%s\","
                                           "\"username\":\"%c\"}", node_id, node_id[0]);
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *raw;
  GOutputStream *out;
  guint8 header[2];

  g_assert_cmpuint (strlen (text), <, 126);
  raw = g_socket_client_connect_to_host (socket_client, fixture->http_url + strlen ("http://"),
                                         0, NULL, &error);
  g_assert_no_error (error);
  if (rcvbuf > 0)
    g_socket_set_option (g_socket_connection_get_socket (raw), SOL_SOCKET, SO_RCVBUF, rcvbuf, NULL);
  out = g_io_stream_get_output_stream (G_IO_STREAM (raw));
  /* A masked text frame (a zero mask leaves the payload as is). */
  header[0] = 0x81;
  header[1] = 0x80 | strlen (text);
  g_byte_array_append (frame, (const guint8 *) request, strlen (request));
  g_byte_array_append (frame, header, 2);
  g_byte_array_append (frame, zero_mask, 4);
  g_byte_array_append (frame, (const guint8 *) text, strlen (text));
  g_assert_true (g_output_stream_write_all (out, frame->data, frame->len, NULL, NULL, &error));
  g_assert_no_error (error);
  return raw;
}

/* A reader that stops reading must cost the server a bounded amount of
 * memory: it is dropped once its outgoing queue passes the limit, and the
 * sender goes on.  The stalled reader is a raw socket that does the
 * WebSocket handshake and registers, then never reads again. */
static void
test_slow_reader_dropped (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = NULL;
  g_autofree char *filler = g_strnfill (60 * 1024, 'x');
  g_autofree char *signal = NULL;
  Client *a = client_new (fixture);

  /* A tiny receive buffer so the server's side fills up quickly. */
  raw = raw_register (fixture, "slow", 4096);
  client_register (a, "a", "alice");
  wait_until (two_participants, fixture->relay, "both registrations");

  /* About 12 MiB towards the stalled reader: far over its 256 KiB queue
   * plus what the kernel buffers hold. */
  signal = g_strdup_printf ("{\"type\":\"signal\",\"from\":\"a\",\"to\":\"slow\",\"payload\":\"%s\"}",
                            filler);
  for (guint i = 0; i < 200 && mesh_legacy_relay_get_n_participants (fixture->relay) == 2; i++) {
    client_send (a, signal);
    g_main_context_iteration (NULL, FALSE);
  }
  wait_until (participants_at_most_one, fixture->relay, "the stalled reader to be dropped");

  /* The sender is untouched. */
  g_assert_cmpint (soup_websocket_connection_get_state (a->conn), ==, SOUP_WEBSOCKET_STATE_OPEN);
  client_send (a, "{\"type\":\"signal\",\"from\":\"a\",\"to\":\"a\",\"payload\":\"still here\"}");
  expect_eventually (a, "still here");
}

/* The server pings silent sockets and drops those that do not answer: a
 * raw socket that never reads again goes, an idle libsoup client (which
 * answers pings with pongs) stays. */
static void
test_liveness (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GSocketConnection) raw = NULL;
  Client *idle = client_new (fixture);

  raw = raw_register (fixture, "mute", 0);
  client_register (idle, "idle", "i");
  wait_until (two_participants, fixture->relay, "both registrations");

  wait_until (participants_at_most_one, fixture->relay, "the mute socket to be dropped");
  /* The one left is the idle client, still registered and relaying. */
  g_assert_cmpuint (mesh_legacy_relay_get_n_participants (fixture->relay), ==, 1);
  client_send (idle, "{\"type\":\"signal\",\"from\":\"idle\",\"to\":\"idle\",\"payload\":\"alive\"}");
  expect_eventually (idle, "alive");
}

typedef struct {
  GSocketConnection *raw;
  GByteArray        *in;
  gint64             pinged_at;   /* 0 until the first ping frame */
} Silent;

static int
compare_gint64 (const void *a,
                const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* Reads what @silent's socket has without blocking; notes the first ping. */
static void
silent_poll (Silent *silent)
{
  GSocket *socket = g_socket_connection_get_socket (silent->raw);
  guint8 buffer[4096];
  gssize n;
  const guint8 *p, *end, *body;

  while ((n = g_socket_receive_with_blocking (socket, (char *) buffer, sizeof buffer, FALSE,
                                              NULL, NULL)) > 0)
    g_byte_array_append (silent->in, buffer, n);

  /* The HTTP answer, then unmasked server frames. */
  body = (const guint8 *) g_strstr_len ((const char *) silent->in->data, silent->in->len,
                                        "\r\n\r\n");
  if (body == NULL)
    return;
  end = silent->in->data + silent->in->len;
  for (p = body + 4; end - p >= 2;) {
    gsize header = 2, length = p[1] & 0x7f;

    if (length == 126) {
      if (end - p < 4)
        return;
      length = (p[2] << 8) | p[3];
      header = 4;
    }
    g_assert_cmpuint (length, <, 65536);
    if ((gsize) (end - p) < header + length)
      return;
    if ((p[0] & 0x0f) == 0x9 && silent->pinged_at == 0)
      silent->pinged_at = g_get_monotonic_time ();
    p += header + length;
  }
}

/* Sockets opened together are not all pinged together, every interval:
 * each gets its own period, so a server restart (every client back within
 * a second) does not turn into a burst of thousands of pings and pongs
 * that stalls the shard's relaying every ping interval. */
static void
test_ping_spread (Fixture       *fixture,
                  gconstpointer  data)
{
  Silent silent[40] = { 0 };
  gint64 times[G_N_ELEMENTS (silent)], deadline;
  guint pinged = 0, burst = 0;

  for (guint i = 0; i < G_N_ELEMENTS (silent); i++) {
    g_autofree char *node_id = g_strdup_printf ("quiet-%u", i);

    silent[i].raw = raw_register (fixture, node_id, 0);
    silent[i].in = g_byte_array_new ();
  }
  while (mesh_legacy_relay_get_n_participants (fixture->relay) < G_N_ELEMENTS (silent))
    g_main_context_iteration (NULL, TRUE);

  /* Every socket is pinged once within an interval and a sweep; the wait
   * itself has nothing to do with the check below. */
  deadline = g_get_monotonic_time () + WAIT_TIMEOUT_S * G_USEC_PER_SEC;
  while (pinged < G_N_ELEMENTS (silent)) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_main_context_iteration (NULL, FALSE);
    g_usleep (2000);
    pinged = 0;
    for (guint i = 0; i < G_N_ELEMENTS (silent); i++) {
      if (silent[i].pinged_at == 0)
        silent_poll (&silent[i]);
      pinged += silent[i].pinged_at != 0;
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (silent); i++) {
    times[i] = silent[i].pinged_at;
    g_byte_array_unref (silent[i].in);
    g_object_unref (silent[i].raw);
  }
  qsort (times, G_N_ELEMENTS (times), sizeof times[0], compare_gint64);

  /* A shard's sweep pings everything due at once, within milliseconds, and
   * the shards' sweeps are 250 ms apart: the most pings seen within 100 ms
   * is what one burst holds.  All due together, one shard's sweep would
   * ping its whole share (half of them, with two shards) in one go. */
  for (guint i = 0, j = 0; i < G_N_ELEMENTS (times); i++) {
    while (times[i] - times[j] > 100 * 1000)
      j++;
    burst = MAX (burst, i - j + 1);
  }
  g_test_message ("first pings over %" G_GINT64_FORMAT " ms, at most %u within 100 ms",
                  (times[G_N_ELEMENTS (times) - 1] - times[0]) / 1000, burst);
  g_assert_cmpuint (burst, <, G_N_ELEMENTS (silent) / 2);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/mesh/legacy-relay/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("health", test_health);
  ADD ("register", test_register);
  ADD ("register-errors", test_register_errors);
  ADD ("errors", test_errors);
  ADD ("heartbeat", test_heartbeat);
  ADD ("role-assign", test_role_assign);
  ADD ("signal-burst", test_signal_burst);
  ADD ("signal-exact", test_signal_exact);
  ADD ("isolation", test_isolation);
  ADD ("frame-limits", test_frame_limits);
  ADD ("presence-on-close", test_presence_on_close);
  ADD ("duplicate-register", test_duplicate_register);
  ADD ("reregister", test_reregister);
  ADD ("close-all", test_close_all);
  g_test_add ("/mesh/legacy-relay/rate-limit", Fixture, &rate_limits, fixture_set_up,
              test_rate_limit, fixture_tear_down);
  g_test_add ("/mesh/legacy-relay/slow-reader-dropped", Fixture, &queue_limits, fixture_set_up,
              test_slow_reader_dropped, fixture_tear_down);
  g_test_add ("/mesh/legacy-relay/liveness", Fixture, &liveness_limits, fixture_set_up,
              test_liveness, fixture_tear_down);
  g_test_add ("/mesh/legacy-relay/ping-spread", Fixture, &spread_limits, fixture_set_up,
              test_ping_spread, fixture_tear_down);
#undef ADD

  return g_test_run ();
}
