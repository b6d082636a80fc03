/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-gotify"

#include "config.h"

#include "gotify-standin.h"
#include "mesh-gotify.h"
#include "mesh-test-server.h"

#include <string.h>

/* Short timers so that retries, grace periods and call limits pass in a
 * test's time; the behaviour is the same as with the defaults. */
#define SHORT_TIMERS \
  "[gotify]\n" \
  "request-timeout=1\n" \
  "retry-min=0.05\n" \
  "retry-max=0.3\n" \
  "agent-offline-delay=2\n" \
  "call-timeout=1\n"
/* The stand-in listens on 127.0.0.1, which only an operator may allow. */
#define CONFIG SHORT_TIMERS "allow-private-targets=true\n"

#define PASSWORD  "correct horse"
#define WAIT_MS   15000
#define FP_ALICE  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_BOB    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

typedef struct {
  MeshTestServer *server;
  GotifyStandin  *gotify;
  char           *alice;       /* access tokens */
  char           *bob;
  char           *alice_id;
  char           *bob_id;
  char           *room_id;
  const char     *bob_app;     /* Gotify app tokens */
  const char     *alice_app;
} Fixture;

static JsonObject *
request_object (Fixture    *fixture,
                const char *method,
                const char *path,
                const char *token,
                const char *body,
                guint       status)
{
  g_autoptr(MeshTestResponse) response = mesh_test_request (fixture->server, method, path, token,
                                                            body);

  if (response->status != status)
    g_error ("%s %s: %u, expected %u: %.*s", method, path, response->status, status,
             (int) g_bytes_get_size (response->body),
             (const char *) g_bytes_get_data (response->body, NULL));
  return json_object_ref (mesh_test_response_object (response));
}

static void
put_gotify (Fixture    *fixture,
            const char *token,
            const char *body)
{
  g_autoptr(JsonObject) view = request_object (fixture, "PUT", "/api/v1/me/gotify", token, body,
                                               200);

  g_assert_true (json_object_get_boolean_member (view, "token_set"));
}

static char *
gotify_body (Fixture    *fixture,
             const char *app_token,
             const char *extra)
{
  return g_strdup_printf ("{\"url\":\"%s/\",\"token\":\"%s\"%s%s}",
                          gotify_standin_get_url (fixture->gotify), app_token,
                          extra ? "," : "", extra ? extra : "");
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(JsonObject) room = NULL;
  g_autoptr(JsonObject) invite = NULL;
  g_autoptr(JsonObject) accepted = NULL;
  g_autofree char *invite_path = NULL;
  g_autofree char *accept_path = NULL;

  fixture->gotify = gotify_standin_new ();
  fixture->bob_app = gotify_standin_add_app (fixture->gotify, "Mesh for Bob", 0);
  fixture->alice_app = gotify_standin_add_app (fixture->gotify, "Mesh for Alice", 0);

  fixture->server = mesh_test_server_new (data != NULL ? data : CONFIG);
  g_free (mesh_test_server_add_user (fixture->server, "alice", PASSWORD));
  g_free (mesh_test_server_add_user (fixture->server, "bob", PASSWORD));
  mesh_test_server_start (fixture->server);
  fixture->alice = mesh_test_login (fixture->server, "alice", PASSWORD, &fixture->alice_id);
  fixture->bob = mesh_test_login (fixture->server, "bob", PASSWORD, &fixture->bob_id);

  room = request_object (fixture, "POST", "/api/v1/rooms", fixture->alice,
                         "{\"name\":\"Garden\"}", 201);
  fixture->room_id = g_strdup (json_object_get_string_member (room, "room_id"));
  invite_path = g_strdup_printf ("/api/v1/rooms/%s/invites", fixture->room_id);
  invite = request_object (fixture, "POST", invite_path, fixture->alice, NULL, 201);
  accept_path = g_strdup_printf ("/api/v1/invites/%s/accept",
                                 json_object_get_string_member (invite, "code"));
  accepted = request_object (fixture, "POST", accept_path, fixture->bob, NULL, 200);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  if (mesh_test_server_is_running (fixture->server))
    mesh_test_server_stop (fixture->server);
  g_clear_pointer (&fixture->server, mesh_test_server_free);
  g_clear_pointer (&fixture->gotify, gotify_standin_free);
  g_free (fixture->alice);
  g_free (fixture->bob);
  g_free (fixture->alice_id);
  g_free (fixture->bob_id);
  g_free (fixture->room_id);
}

static MeshTestClient *
client_in_room (Fixture    *fixture,
                const char *token,
                char      **peer_id)
{
  g_autoptr(JsonObject) welcome = NULL;
  MeshTestClient *client = mesh_test_client_new_hello (fixture->server, token, "client", NULL,
                                                       &welcome);

  if (peer_id != NULL)
    *peer_id = g_strdup (json_object_get_string_member (welcome, "peer_id"));
  mesh_test_client_join (client, fixture->room_id);
  return client;
}

/* Registers a device for the user of @token and connects it as an agent. */
static MeshTestClient *
agent_in_room (Fixture     *fixture,
               const char  *token,
               const char  *name,
               const char  *fingerprint,
               char       **device_id,
               char       **device_token)
{
  g_autofree char *body = g_strdup_printf ("{\"name\":\"%s\",\"fingerprint\":\"%s\"}", name,
                                           fingerprint);
  g_autofree char *hello = g_strdup_printf ("\"quic\":{\"port\":4433,\"fingerprint\":\"%s\"}",
                                            fingerprint);
  g_autoptr(JsonObject) device = request_object (fixture, "POST", "/api/v1/devices", token, body,
                                                 201);
  MeshTestClient *agent;

  *device_id = g_strdup (json_object_get_string_member (device, "device_id"));
  *device_token = g_strdup (json_object_get_string_member (device, "device_token"));
  agent = mesh_test_client_new_hello (fixture->server, *device_token, "agent", hello, NULL);
  mesh_test_client_join (agent, fixture->room_id);
  return agent;
}

static char *
agent_hello (const char *fingerprint)
{
  return g_strdup_printf ("\"quic\":{\"port\":4433,\"fingerprint\":\"%s\"}", fingerprint);
}

static void
chat (MeshTestClient *client,
      const char     *room_id,
      const char     *content)
{
  g_autofree char *payload = g_strdup_printf ("{\"room_id\":\"%s\",\"content\":\"%s\"}", room_id,
                                              content);
  const char *id = mesh_test_client_send (client, "chat.message.send", payload);
  g_autoptr(JsonObject) created = mesh_test_client_wait_for_ref (client, id, MESH_TEST_TIMEOUT_MS);

  g_assert_nonnull (created);
  g_assert_cmpstr (json_object_get_string_member (created, "type"), ==, "chat.message.created");
}

static char *
get_cap (Fixture    *fixture,
         const char *token,
         const char *body)
{
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", fixture->room_id);
  g_autoptr(JsonObject) cap = request_object (fixture, "POST", path, token, body, 200);

  return g_strdup (json_object_get_string_member (cap, "cap_token"));
}

static GotifyStandinMessage *
message_at (Fixture *fixture,
            guint    i)
{
  GPtrArray *messages = gotify_standin_get_messages (fixture->gotify);

  g_assert_cmpuint (i, <, messages->len);
  return messages->pdata[i];
}

/* Waits for message @i (counting from 0) and returns it. */
static GotifyStandinMessage *
wait_message (Fixture *fixture,
              guint    i)
{
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, i + 1, WAIT_MS));
  return message_at (fixture, i);
}

/* Waits for a frame of @type on @client; it must come. */
static JsonObject *
take_frame (MeshTestClient *client,
            const char     *type)
{
  JsonObject *frame = mesh_test_client_wait_for_type (client, type, WAIT_MS);

  g_assert_nonnull (frame);
  return frame;
}

static void
expect_frame (MeshTestClient *client,
              const char     *type)
{
  json_object_unref (take_frame (client, type));
}

static const char *
event_kind (GotifyStandinMessage *message)
{
  JsonObject *event;

  g_assert_nonnull (message->extras);
  event = json_object_get_object_member (message->extras, "mesh::event");
  g_assert_nonnull (event);
  return json_object_get_string_member (event, "kind");
}

/* Delivered as JSON with an explicit priority and plain text. */
static void
assert_well_formed (GotifyStandinMessage *message,
                    gint64                appid,
                    const char           *kind,
                    gint64                priority)
{
  JsonObject *display;

  g_assert_cmpint (message->appid, ==, appid);
  g_assert_cmpstr (message->content_type, ==, "application/json");
  g_assert_cmpint (message->priority, ==, priority);
  display = json_object_get_object_member (message->extras, "client::display");
  g_assert_nonnull (display);
  g_assert_cmpstr (json_object_get_string_member (display, "contentType"), ==, "text/plain");
  g_assert_cmpstr (event_kind (message), ==, kind);
}

static void
assert_contains (const char *text,
                 const char *part)
{
  if (strstr (text, part) == NULL)
    g_error ("'%s' does not contain '%s'", text, part);
}

/* No message beyond @n arrives while the server has time to send one. */
static void
assert_no_more (Fixture *fixture,
                guint    n,
                guint    ms)
{
  mesh_test_pump (ms);
  g_assert_cmpuint (gotify_standin_get_messages (fixture->gotify)->len, ==, n);
}

static gint64
outbox_pending (Fixture    *fixture,
                const char *token)
{
  g_autoptr(JsonObject) view = request_object (fixture, "GET", "/api/v1/me/gotify", token, NULL,
                                               200);

  return json_object_get_int_member (view, "pending");
}

/* The stand-in stores a message before the server has read its answer and
 * removed the row: wait for the count instead of racing it. */
static gboolean
wait_pending (Fixture    *fixture,
              const char *token,
              gint64      n)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * (gint64) 1000;

  while (outbox_pending (fixture, token) != n) {
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    mesh_test_pump (50);
  }
  return TRUE;
}

/* The stand-in serves on this thread's main context: send asynchronously
 * and pump it meanwhile. */
static void
sent_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GBytes *
send_pumping (SoupSession  *session,
              SoupMessage  *msg,
              GError      **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, sent_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return soup_session_send_and_read_finish (session, result, error);
}

/* The stand-in behaves like Gotify (research/gotify.md §5), so that what the
 * server does against it holds against the real thing. */
static void
test_standin (void)
{
  g_autoptr(GotifyStandin) gotify = gotify_standin_new ();
  g_autoptr(SoupSession) session = soup_session_new ();
  const char *good = gotify_standin_add_app (gotify, "Backups", 3);
  const char *other = gotify_standin_add_app (gotify, "Other", 0);
  struct {
    const char *query;
    const char *header;
    const char *bearer;
    const char *content_type;
    const char *body;
    guint       status;
    const char *description;
  } cases[] = {
    /* No token, or a wrong one: 401 before the body counts. */
    { NULL, NULL, NULL, "application/json", "{}", 401, "you need to provide a valid access token" },
    { NULL, "Awrongwrongwrong", NULL, "application/json", "{\"message\":\"x\"}", 401, "valid access token" },
    /* A stale ?token= hides a good header. */
    { "Astale", good, NULL, "application/json", "{\"message\":\"x\"}", 401, "valid access token" },
    { NULL, NULL, good, "application/json", "", 400, "EOF" },
    { NULL, good, NULL, "application/json", "{\"title\":\"t\"}", 400, "Field 'message' is required" },
    { NULL, good, NULL, "application/json", "{\"message\":\"\"}", 400, "Field 'message' is required" },
    { NULL, good, NULL, "application/json", "{\"message\":", 400, NULL },
    { NULL, good, NULL, "application/json", "{\"message\":\"m\",\"priority\":\"5\"}", 400, "of type int" },
    { NULL, good, NULL, "application/json", "{\"message\":\"m\",\"priority\":5.5}", 400, "of type int" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *url = g_strdup_printf ("%s/message%s%s", gotify_standin_get_url (gotify),
                                            cases[i].query ? "?token=" : "",
                                            cases[i].query ? cases[i].query : "");
    g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr(GBytes) body = g_bytes_new_static (cases[i].body, strlen (cases[i].body));
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autoptr(GError) error = NULL;
    JsonObject *object;

    soup_message_set_request_body_from_bytes (msg, cases[i].content_type, body);
    if (cases[i].header != NULL)
      soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Gotify-Key",
                                    cases[i].header);
    if (cases[i].bearer != NULL) {
      g_autofree char *auth = g_strconcat ("bearer ", cases[i].bearer, NULL);

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
    }
    reply = send_pumping (session, msg, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, cases[i].status);
    json_parser_load_from_data (parser, g_bytes_get_data (reply, NULL), g_bytes_get_size (reply),
                                &error);
    g_assert_no_error (error);
    object = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpint (json_object_get_int_member (object, "errorCode"), ==, cases[i].status);
    g_assert_cmpstr (json_object_get_string_member (object, "error"), ==,
                     soup_status_get_phrase (cases[i].status));
    if (cases[i].description != NULL)
      assert_contains (json_object_get_string_member (object, "errorDescription"),
                       cases[i].description);
  }
  g_assert_cmpuint (gotify_standin_get_messages (gotify)->len, ==, 0);

  /* Accepted: a blank title becomes the app's name, no priority the app's
   * default; a form drops extras; the answer is the stored message. */
  {
    g_autofree char *url = g_strdup_printf ("%s/message", gotify_standin_get_url (gotify));
    g_autoptr(SoupMessage) json_msg = soup_message_new ("POST", url);
    g_autoptr(SoupMessage) form_msg = soup_message_new ("POST", url);
    const char *json = "{\"message\":\"**done**\",\"title\":\"  \",\"extras\":"
                       "{\"client::display\":{\"contentType\":\"text/markdown\"}}}";
    g_autoptr(GBytes) json_body = g_bytes_new_static (json, strlen (json));
    g_autoptr(GBytes) form_body = g_bytes_new_static ("message=hi&priority=7",
                                                      strlen ("message=hi&priority=7"));
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(JsonParser) parser = json_parser_new ();
    g_autoptr(GError) error = NULL;
    JsonObject *object;
    GotifyStandinMessage *stored;

    soup_message_set_request_body_from_bytes (json_msg, "application/json; charset=utf-8",
                                              json_body);
    soup_message_headers_replace (soup_message_get_request_headers (json_msg), "X-Gotify-Key",
                                  good);
    reply = send_pumping (session, json_msg, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (json_msg), ==, 200);
    json_parser_load_from_data (parser, g_bytes_get_data (reply, NULL), g_bytes_get_size (reply),
                                &error);
    g_assert_no_error (error);
    object = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpint (json_object_get_int_member (object, "id"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (object, "appid"), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Backups");
    g_assert_cmpint (json_object_get_int_member (object, "priority"), ==, 3);
    g_assert_true (json_object_has_member (object, "extras"));
    g_assert_true (json_object_has_member (object, "date"));

    soup_message_set_request_body_from_bytes (form_msg, "application/x-www-form-urlencoded",
                                              form_body);
    soup_message_headers_replace (soup_message_get_request_headers (form_msg), "Authorization",
                                  "Bearer Anotatokenatall");
    soup_message_headers_replace (soup_message_get_request_headers (form_msg), "X-Gotify-Key",
                                  other);
    g_bytes_unref (send_pumping (session, form_msg, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (form_msg), ==, 200);

    g_assert_cmpuint (gotify_standin_get_messages (gotify)->len, ==, 2);
    stored = gotify_standin_get_messages (gotify)->pdata[1];
    g_assert_cmpint (stored->appid, ==, 2);
    g_assert_cmpstr (stored->message, ==, "hi");
    g_assert_cmpstr (stored->title, ==, "Other");
    g_assert_cmpint (stored->priority, ==, 7);
    g_assert_null (stored->extras);
  }
}

/* §9 REST shapes: checked URL, a token never returned, events, errors. */
static void
test_rest (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(JsonObject) view = NULL;
  g_autoptr(JsonObject) report = NULL;
  g_autoptr(MeshTestResponse) response = NULL;
  g_autofree char *body = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autoptr(JsonObject) device = NULL;
  JsonArray *events;
  const char *bad_bodies[] = {
    "{\"token\":\"Axxx\"}",
    "{\"url\":\"ftp://127.0.0.1/\",\"token\":\"Axxx\"}",
    "{\"url\":\"http://user:secret@127.0.0.1/\",\"token\":\"Axxx\"}",
    "{\"url\":\"http://127.0.0.1/?token=Axxx\",\"token\":\"Axxx\"}",
    "{\"url\":\"http://127.0.0.1/#x\",\"token\":\"Axxx\"}",
    "{\"url\":\"not a url\",\"token\":\"Axxx\"}",
    "{\"url\":\"http:///message\",\"token\":\"Axxx\"}",
    "{\"url\":\"http://127.0.0.1/\",\"token\":\"A x\"}",
    "{\"url\":\"http://127.0.0.1/\",\"token\":\"\"}",
    "{\"url\":\"http://127.0.0.1/\",\"token\":\"Axxx\",\"priority\":11}",
    "{\"url\":\"http://127.0.0.1/\",\"token\":\"Axxx\",\"priority\":\"high\"}",
    "{\"url\":\"http://127.0.0.1/\",\"token\":\"Axxx\",\"events\":[\"chat.message.sent\"]}",
    "{\"url\":\"http://127.0.0.1/\",\"token\":\"Axxx\",\"events\":\"call.missed\"}",
    /* No token stored yet to keep. */
    "{\"url\":\"http://127.0.0.1/\"}",
  };

  response = mesh_test_request (fixture->server, "GET", "/api/v1/me/gotify", fixture->bob, NULL);
  mesh_test_response_assert_error (response, 404, "NOT_FOUND");
  g_clear_pointer (&response, mesh_test_response_free);
  response = mesh_test_request (fixture->server, "GET", "/api/v1/me/gotify", NULL, NULL);
  mesh_test_response_assert_error (response, 401, "UNAUTHORIZED");
  g_clear_pointer (&response, mesh_test_response_free);
  response = mesh_test_request (fixture->server, "POST", "/api/v1/me/gotify/test", fixture->bob,
                                NULL);
  mesh_test_response_assert_error (response, 404, "NOT_FOUND");

  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++) {
    g_test_message ("PUT %s", bad_bodies[i]);
    mesh_test_request_expect_error (fixture->server, "PUT", "/api/v1/me/gotify", fixture->bob,
                                    bad_bodies[i], 400, "BAD_REQUEST");
  }

  /* A path prefix is kept; the answer is the GET view, without the token. */
  body = g_strdup_printf ("{\"url\":\"%s/gotify/\",\"token\":\"%s\",\"priority\":9,"
                          "\"events\":[\"call.missed\",\"chat.message.created\",\"call.missed\"]}",
                          gotify_standin_get_url (fixture->gotify), fixture->bob_app);
  g_clear_pointer (&response, mesh_test_response_free);
  response = mesh_test_request_expect (fixture->server, "PUT", "/api/v1/me/gotify", fixture->bob,
                                       body, 200);
  g_assert_null (g_strstr_len (g_bytes_get_data (response->body, NULL),
                               g_bytes_get_size (response->body), fixture->bob_app));
  view = json_object_ref (mesh_test_response_object (response));
  g_assert_true (json_object_get_boolean_member (view, "token_set"));
  g_assert_false (json_object_has_member (view, "token"));
  g_assert_cmpint (json_object_get_int_member (view, "priority"), ==, 9);
  g_assert_false (json_object_has_member (view, "last_error"));
  events = json_object_get_array_member (view, "events");
  g_assert_cmpuint (json_array_get_length (events), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (events, 0), ==, "chat.message.created");
  g_assert_cmpstr (json_array_get_string_element (events, 1), ==, "call.missed");
  g_assert_cmpint (json_object_get_int_member (
                     json_object_get_object_member (view, "priorities"), "agent.offline"), ==, 9);

  g_clear_pointer (&view, json_object_unref);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  g_assert_true (json_object_get_boolean_member (view, "token_set"));
  g_assert_false (json_object_has_member (view, "token"));
  g_assert_true (g_str_has_suffix (json_object_get_string_member (view, "url"), "/gotify/"));

  /* The test goes to /gotify/message, which the stand-in does not serve:
   * Gotify's refusal is a report, not an error of ours. */
  report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
  g_assert_false (json_object_get_boolean_member (report, "ok"));
  g_assert_cmpint (json_object_get_int_member (report, "status"), ==, 404);
  assert_contains (json_object_get_string_member (report, "error"), "404 Not Found");
  /* The status line only: nothing of the body. */
  g_assert_null (strstr (json_object_get_string_member (report, "error"), "page not found"));

  /* Without the token the stored one is kept; defaults come back. */
  g_clear_pointer (&body, g_free);
  body = g_strdup_printf ("{\"url\":\"%s\"}", gotify_standin_get_url (fixture->gotify));
  g_clear_pointer (&view, json_object_unref);
  view = request_object (fixture, "PUT", "/api/v1/me/gotify", fixture->bob, body, 200);
  g_assert_true (json_object_get_null_member (view, "priority") ||
                 JSON_NODE_HOLDS_NULL (json_object_get_member (view, "priority")));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (view, "events")), ==, 5);
  g_assert_cmpint (json_object_get_int_member (
                     json_object_get_object_member (view, "priorities"), "call.missed"), ==, 8);
  g_clear_pointer (&report, json_object_unref);
  report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
  g_assert_true (json_object_get_boolean_member (report, "ok"));
  g_assert_cmpint (json_object_get_int_member (report, "status"), ==, 200);
  g_assert_cmpuint (gotify_standin_get_messages (fixture->gotify)->len, ==, 1);
  g_assert_cmpstr (message_at (fixture, 0)->title, ==, "Mesh: test notification");
  g_assert_cmpint (message_at (fixture, 0)->priority, ==, 5);

  /* A wrong token: Gotify's 401, reported. */
  g_clear_pointer (&body, g_free);
  body = g_strdup_printf ("{\"url\":\"%s\",\"token\":\"Anotmytoken1234\"}",
                          gotify_standin_get_url (fixture->gotify));
  put_gotify (fixture, fixture->bob, body);
  g_clear_pointer (&report, json_object_unref);
  report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
  g_assert_false (json_object_get_boolean_member (report, "ok"));
  g_assert_cmpint (json_object_get_int_member (report, "status"), ==, 401);
  assert_contains (json_object_get_string_member (report, "error"), "401 Unauthorized");
  assert_contains (json_object_get_string_member (report, "error"), "application token");
  g_assert_null (strstr (json_object_get_string_member (report, "error"), "valid access token"));

  /* Nobody is down: a refused connection is reported without a status. */
  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_DOWN);
  g_clear_pointer (&report, json_object_unref);
  report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
  g_assert_false (json_object_get_boolean_member (report, "ok"));
  g_assert_false (json_object_has_member (report, "status"));
  assert_contains (json_object_get_string_member (report, "error"), "cannot reach Gotify");
  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_UP);

  /* A device token may not touch the user's notifications. */
  device = request_object (fixture, "POST", "/api/v1/devices", fixture->bob,
                           "{\"name\":\"laptop\",\"fingerprint\":\"" FP_BOB "\"}", 201);
  g_clear_pointer (&response, mesh_test_response_free);
  response = mesh_test_request (fixture->server, "PUT", "/api/v1/me/gotify",
                                json_object_get_string_member (device, "device_token"), body);
  mesh_test_response_assert_error (response, 403, "FORBIDDEN");

  /* DELETE: 204, then nothing is set; again: still 204. */
  for (guint i = 0; i < 2; i++) {
    g_clear_pointer (&response, mesh_test_response_free);
    response = mesh_test_request_expect (fixture->server, "DELETE", "/api/v1/me/gotify",
                                         fixture->bob, NULL, 204);
  }
  g_clear_pointer (&response, mesh_test_response_free);
  response = mesh_test_request (fixture->server, "GET", "/api/v1/me/gotify", fixture->bob, NULL);
  mesh_test_response_assert_error (response, 404, "NOT_FOUND");
}

/* Every kind reaches the users it concerns, once, with its words; the one
 * who acted hears nothing; `events` filters. */
static void
test_events (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(MeshTestClient) bob = NULL;
  g_autoptr(MeshTestClient) alice_agent = NULL;
  g_autoptr(MeshTestClient) bob_agent = NULL;
  g_autoptr(JsonObject) frame = NULL;
  g_autofree char *alice_peer = NULL;
  g_autofree char *bob_peer = NULL;
  g_autofree char *alice_device = NULL, *alice_device_token = NULL;
  g_autofree char *bob_device = NULL, *bob_device_token = NULL;
  g_autofree char *cap = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *session_id = NULL;
  g_autofree char *body = NULL;
  JsonObject *missed;
  GotifyStandinMessage *message;

  body = gotify_body (fixture, fixture->bob_app, NULL);
  put_gotify (fixture, fixture->bob, body);
  g_clear_pointer (&body, g_free);
  body = gotify_body (fixture, fixture->alice_app, NULL);
  put_gotify (fixture, fixture->alice, body);

  alice = client_in_room (fixture, fixture->alice, &alice_peer);
  bob = client_in_room (fixture, fixture->bob, &bob_peer);
  alice_agent = agent_in_room (fixture, fixture->alice, "alice-desk", FP_ALICE, &alice_device,
                               &alice_device_token);
  bob_agent = agent_in_room (fixture, fixture->bob, "bob-laptop", FP_BOB, &bob_device,
                             &bob_device_token);

  /* 1. chat.message.created */
  chat (alice, fixture->room_id, "Lunch at 12? <b>not html</b> **not bold**");
  message = wait_message (fixture, 0);
  assert_well_formed (message, 1, "chat.message.created", 5);
  g_assert_cmpstr (message->title, ==, "alice in Garden");
  g_assert_cmpstr (message->message, ==, "Lunch at 12? <b>not html</b> **not bold**");

  /* 2. terminal.share.started, by Alice's agent */
  payload = g_strdup_printf ("{\"room_id\":\"%s\"}", fixture->room_id);
  mesh_test_client_send (alice_agent, "terminal.share.start", payload);
  expect_frame (alice_agent, "terminal.share.started");
  message = wait_message (fixture, 1);
  assert_well_formed (message, 1, "terminal.share.started", 6);
  g_assert_cmpstr (message->title, ==, "alice is sharing a terminal");
  assert_contains (message->message, "Garden");

  /* 3. share.completed: Alice's agent sends Bob's agent a file. */
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"caps\":[\"file\"],\"target_device_id\":\"%s\"}", bob_device);
  cap = get_cap (fixture, fixture->alice, payload);
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"room_id\":\"%s\",\"target_device_id\":\"%s\",\"kind\":\"file\","
                             "\"cap_token\":\"%s\",\"meta\":{\"name\":\"report.pdf\","
                             "\"size\":1048576}}", fixture->room_id, bob_device, cap);
  mesh_test_client_send (alice_agent, "p2p.session.request", payload);
  g_clear_pointer (&frame, json_object_unref);
  frame = take_frame (bob_agent, "p2p.session.created");
  session_id = g_strdup (json_object_get_string_member (mesh_test_frame_payload (frame),
                                                        "session_id"));
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"session_id\":\"%s\"}", session_id);
  mesh_test_client_send (bob_agent, "p2p.session.accept", payload);
  expect_frame (alice_agent, "p2p.session.accept");
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"session_id\":\"%s\",\"bytes\":1048576,\"ok\":true}", session_id);
  /* The sender's report alone tells nobody: the receiver has not checked. */
  mesh_test_client_send (alice_agent, "p2p.session.completed", payload);
  chat (alice, fixture->room_id, "sent");
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, 3, WAIT_MS));
  g_assert_cmpstr (event_kind (message_at (fixture, 2)), ==, "chat.message.created");
  mesh_test_client_send (bob_agent, "p2p.session.completed", payload);
  message = wait_message (fixture, 3);
  assert_well_formed (message, 1, "share.completed", 4);
  g_assert_cmpstr (message->title, ==, "File received: report.pdf");
  /* g_format_size puts a no-break space before the unit. */
  assert_contains (message->message, "alice sent you “report.pdf” (1.0\u00a0MB)");
  assert_contains (message->message, "bob-laptop");

  /* 4. call.missed: Alice rings Bob and hangs up before he answers. */
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"caps\":[\"call\"],\"target_peer_id\":\"%s\"}", bob_peer);
  g_clear_pointer (&cap, g_free);
  cap = get_cap (fixture, fixture->alice, payload);
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"sdp\":\"v=0\","
                             "\"cap_token\":\"%s\",\"media\":\"call\"}",
                             fixture->room_id, bob_peer, cap);
  mesh_test_client_send (alice, "rtc.offer", payload);
  expect_frame (bob, "rtc.offer");
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\"}", fixture->room_id,
                             bob_peer);
  mesh_test_client_send (alice, "rtc.hangup", payload);
  g_clear_pointer (&frame, json_object_unref);
  frame = take_frame (bob, "call.missed");
  missed = mesh_test_frame_payload (frame);
  g_assert_cmpstr (json_object_get_string_member (missed, "room_id"), ==, fixture->room_id);
  g_assert_cmpstr (json_object_get_string_member (missed, "caller_peer_id"), ==, alice_peer);
  g_assert_cmpstr (json_object_get_string_member (missed, "caller_user_id"), ==, fixture->alice_id);
  g_assert_cmpstr (json_object_get_string_member (missed, "caller_username"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (missed, "media"), ==, "call");
  g_assert_cmpuint (mesh_test_client_count_type (alice, "call.missed"), ==, 0);
  message = wait_message (fixture, 4);
  assert_well_formed (message, 1, "call.missed", 8);
  g_assert_cmpstr (message->title, ==, "Missed call from alice");
  assert_contains (message->message, "alice called you in “Garden” at ");

  /* 5. agent.offline: Bob's agent goes and stays away. */
  mesh_test_client_close (bob_agent);
  message = wait_message (fixture, 5);
  assert_well_formed (message, 1, "agent.offline", 8);
  g_assert_cmpstr (message->title, ==, "Agent offline: bob-laptop");
  assert_contains (message->message, "Your agent “bob-laptop” disconnected at ");

  /* Once each, and nothing ever went to Alice (appid 2), who acted. */
  assert_no_more (fixture, 6, 500);

  /* events: Bob keeps only calls; a chat is no longer pushed to him. */
  g_clear_pointer (&body, g_free);
  body = gotify_body (fixture, fixture->bob_app, "\"events\":[\"call.missed\"]");
  put_gotify (fixture, fixture->bob, body);
  chat (alice, fixture->room_id, "filtered");
  g_assert_cmpint (outbox_pending (fixture, fixture->bob), ==, 0);
  assert_no_more (fixture, 6, 300);

  /* Bob's chat goes to Alice, with the priority she chose. */
  g_clear_pointer (&body, g_free);
  body = gotify_body (fixture, fixture->alice_app, "\"priority\":2");
  put_gotify (fixture, fixture->alice, body);
  chat (bob, fixture->room_id, "for alice");
  message = wait_message (fixture, 6);
  assert_well_formed (message, 2, "chat.message.created", 2);
  g_assert_cmpstr (message->title, ==, "bob in Garden");
}

/* An offer rings for call-timeout; an answer is not a missed call; a call
 * hung up before an answer is, whichever side hangs up (§3.4); a retried
 * offer is missed once. */
static void
test_calls (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(MeshTestClient) bob = NULL;
  g_autofree char *alice_peer = NULL;
  g_autofree char *bob_peer = NULL;
  g_autofree char *alice_cap = NULL;
  g_autofree char *bob_cap = NULL;
  g_autofree char *offer = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *hangup = NULL;
  g_autofree char *decline = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *body = gotify_body (fixture, fixture->bob_app, NULL);

  put_gotify (fixture, fixture->bob, body);
  alice = client_in_room (fixture, fixture->alice, &alice_peer);
  bob = client_in_room (fixture, fixture->bob, &bob_peer);

  payload = g_strdup_printf ("{\"caps\":[\"call\",\"screenshare\"],\"target_peer_id\":\"%s\"}",
                             bob_peer);
  alice_cap = get_cap (fixture, fixture->alice, payload);
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"caps\":[\"call\"],\"target_peer_id\":\"%s\"}", alice_peer);
  bob_cap = get_cap (fixture, fixture->bob, payload);
  offer = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"sdp\":\"v=0\","
                           "\"cap_token\":\"%s\",\"media\":\"call\"}",
                           fixture->room_id, bob_peer, alice_cap);
  answer = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"sdp\":\"v=0\","
                            "\"cap_token\":\"%s\"}", fixture->room_id, alice_peer, bob_cap);
  hangup = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\"}", fixture->room_id,
                            bob_peer);
  decline = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\"}", fixture->room_id,
                             alice_peer);

  /* Answered, then ended: no miss. */
  mesh_test_client_send (alice, "rtc.offer", offer);
  expect_frame (bob, "rtc.offer");
  mesh_test_client_send (bob, "rtc.answer", answer);
  expect_frame (alice, "rtc.answer");
  mesh_test_client_send (alice, "rtc.hangup", hangup);
  expect_frame (bob, "rtc.hangup");

  /* Hung up by Bob before he answered: missed all the same. */
  mesh_test_client_send (alice, "rtc.offer", offer);
  expect_frame (bob, "rtc.offer");
  mesh_test_client_send (bob, "rtc.hangup", decline);
  expect_frame (alice, "rtc.hangup");
  expect_frame (bob, "call.missed");
  g_assert_cmpstr (wait_message (fixture, 0)->title, ==, "Missed call from alice");

  /* A screen share is not rung. */
  g_clear_pointer (&payload, g_free);
  payload = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"sdp\":\"v=0\","
                             "\"cap_token\":\"%s\",\"media\":\"screenshare\"}",
                             fixture->room_id, bob_peer, alice_cap);
  mesh_test_client_send (alice, "rtc.offer", payload);

  /* Offered twice, never answered: missed once, after the time limit. */
  mesh_test_client_send (alice, "rtc.offer", offer);
  mesh_test_client_send (alice, "rtc.offer", offer);
  expect_frame (bob, "call.missed");
  g_assert_cmpstr (wait_message (fixture, 1)->title, ==, "Missed call from alice");
  /* Twice the time limit: nothing else. */
  assert_no_more (fixture, 2, 2000);
  g_assert_cmpuint (mesh_test_client_count_type (bob, "call.missed"), ==, 0);
}

/* A quick reconnection is not "offline"; staying away is. */
static void
test_agent_reconnect (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(MeshTestClient) agent = NULL;
  g_autoptr(MeshTestClient) again = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autofree char *hello = agent_hello (FP_BOB);
  g_autofree char *body = gotify_body (fixture, fixture->bob_app, NULL);

  put_gotify (fixture, fixture->bob, body);
  agent = agent_in_room (fixture, fixture->bob, "bob-laptop", FP_BOB, &device_id, &device_token);
  mesh_test_client_close (agent);
  again = mesh_test_client_new_hello (fixture->server, device_token, "agent", hello, NULL);
  /* Longer than the grace period (2 s). */
  assert_no_more (fixture, 0, 3000);

  mesh_test_client_close (again);
  g_assert_cmpstr (wait_message (fixture, 0)->title, ==, "Agent offline: bob-laptop");
  assert_no_more (fixture, 1, 300);
}

static void
assert_chats_in_order (Fixture    *fixture,
                       guint       first,
                       guint       n,
                       const char *prefix)
{
  for (guint i = 0; i < n; i++) {
    g_autofree char *expected = g_strdup_printf ("%s %u", prefix, i);

    g_assert_cmpstr (message_at (fixture, first + i)->message, ==, expected);
  }
}

/* Bob gets notifications, Gotify goes down and Alice sends @n chats
 * "@prefix 0", "@prefix 1", …; returns Alice's client. */
static MeshTestClient *
chat_while_down (Fixture    *fixture,
                 guint       n,
                 const char *prefix)
{
  g_autofree char *body = gotify_body (fixture, fixture->bob_app, NULL);
  MeshTestClient *alice;

  put_gotify (fixture, fixture->bob, body);
  alice = client_in_room (fixture, fixture->alice, NULL);
  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_DOWN);
  for (guint i = 0; i < n; i++) {
    g_autofree char *text = g_strdup_printf ("%s %u", prefix, i);

    chat (alice, fixture->room_id, text);
  }
  return alice;
}

/* Down, then failing with 500: delayed, nothing lost, nothing doubled,
 * in order; the waiting is visible in GET. */
static void
test_outage (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = chat_while_down (fixture, 10, "down");
  g_autoptr(JsonObject) view = NULL;

  mesh_test_pump (1000);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  g_assert_cmpint (json_object_get_int_member (view, "pending"), ==, 10);
  assert_contains (json_object_get_string_member (view, "retry_error"), "cannot reach Gotify");
  g_assert_false (json_object_has_member (view, "last_error"));

  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_UP);
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, 10, WAIT_MS));
  assert_chats_in_order (fixture, 0, 10, "down");
  g_assert_true (wait_pending (fixture, fixture->bob, 0));

  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_FAIL);
  for (guint i = 0; i < 5; i++) {
    g_autofree char *text = g_strdup_printf ("failing %u", i);

    chat (alice, fixture->room_id, text);
  }
  mesh_test_pump (1000);
  g_assert_cmpuint (gotify_standin_get_n_posts (fixture->gotify), >, 11);
  g_clear_pointer (&view, json_object_unref);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  assert_contains (json_object_get_string_member (view, "retry_error"), "500");
  /* The status line only, never the body. */
  assert_contains (json_object_get_string_member (view, "retry_error"), "Internal Server Error");
  g_assert_null (strstr (json_object_get_string_member (view, "retry_error"), "database is locked"));

  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_UP);
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, 15, WAIT_MS));
  assert_chats_in_order (fixture, 10, 5, "failing");
  assert_no_more (fixture, 15, 500);
  g_clear_pointer (&view, json_object_unref);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  g_assert_false (json_object_has_member (view, "retry_error"));
  g_assert_cmpint (json_object_get_int_member (view, "pending"), ==, 0);
}

/* The outbox is on disk: a restart with undelivered messages sends them. */
static void
test_restart (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = chat_while_down (fixture, 8, "before restart");
  g_autofree char *old_token = NULL;

  g_assert_cmpint (outbox_pending (fixture, fixture->bob), ==, 8);
  mesh_test_client_close (alice);
  mesh_test_server_stop (fixture->server);

  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_UP);
  mesh_test_pump (200);
  g_assert_cmpuint (gotify_standin_get_messages (fixture->gotify)->len, ==, 0);
  mesh_test_server_start (fixture->server);
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, 8, WAIT_MS));
  assert_chats_in_order (fixture, 0, 8, "before restart");
  assert_no_more (fixture, 8, 500);
  g_assert_cmpint (outbox_pending (fixture, fixture->bob), ==, 0);
}

/* A refusal (bad token, a redirect) stops retrying and is shown; new
 * settings deliver what waited. */
static void
test_refused (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(JsonObject) view = NULL;
  g_autofree char *bad = gotify_body (fixture, "Abadbadbadbad12", NULL);
  g_autofree char *good = gotify_body (fixture, fixture->bob_app, NULL);
  guint posts;

  put_gotify (fixture, fixture->bob, bad);
  alice = client_in_room (fixture, fixture->alice, NULL);
  chat (alice, fixture->room_id, "refused 0");
  chat (alice, fixture->room_id, "refused 1");
  mesh_test_pump (1000);
  posts = gotify_standin_get_n_posts (fixture->gotify);
  g_assert_cmpuint (posts, ==, 1);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  assert_contains (json_object_get_string_member (view, "last_error"), "401");
  assert_contains (json_object_get_string_member (view, "last_error"), "application token");
  g_assert_cmpint (json_object_get_int_member (view, "pending"), ==, 2);

  /* Stopped means stopped: new messages wait too. */
  chat (alice, fixture->room_id, "refused 2");
  mesh_test_pump (1000);
  g_assert_cmpuint (gotify_standin_get_n_posts (fixture->gotify), ==, posts);

  put_gotify (fixture, fixture->bob, good);
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, 3, WAIT_MS));
  assert_chats_in_order (fixture, 0, 3, "refused");
  g_clear_pointer (&view, json_object_unref);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  g_assert_false (json_object_has_member (view, "last_error"));

  /* A proxy redirecting to https would turn the POST into a GET. */
  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_REDIRECT);
  chat (alice, fixture->room_id, "redirected");
  mesh_test_pump (1000);
  g_clear_pointer (&view, json_object_unref);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  assert_contains (json_object_get_string_member (view, "last_error"), "301");
  assert_contains (json_object_get_string_member (view, "last_error"), "https://127.0.0.1:");
  g_assert_cmpuint (gotify_standin_get_messages (fixture->gotify)->len, ==, 3);
}

/* A PUT without `token` keeps the stored token only for the same origin:
 * a new scheme, host or port needs the token again. */
static void
test_token_origin (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GUri) standin = g_uri_parse (gotify_standin_get_url (fixture->gotify),
                                         G_URI_FLAGS_NONE, NULL);
  int port = g_uri_get_port (standin);
  g_autofree char *first = gotify_body (fixture, fixture->bob_app, NULL);
  g_autoptr(JsonObject) view = NULL;
  g_autoptr(JsonObject) report = NULL;
  const char *moved[] = {
    "http://127.0.0.2:PORT/", "https://127.0.0.1:PORT/", "http://localhost:PORT/",
    "http://127.0.0.1:PORT1/", "http://127.0.0.1/", "http://[::1]:PORT/",
    "http://attacker.example:PORT/",
  };
  const char *same[] = {
    "http://127.0.0.1:PORT/gotify/", "HTTP://127.0.0.1:PORT", "http://127.0.0.1:PORT///",
  };
  g_autofree char *port_text = g_strdup_printf ("%d", port);

  put_gotify (fixture, fixture->bob, first);
  for (guint i = 0; i < G_N_ELEMENTS (moved); i++) {
    g_autoptr(GString) url = g_string_new (moved[i]);
    g_autofree char *body = NULL;

    g_string_replace (url, "PORT", port_text, 0);
    body = g_strdup_printf ("{\"url\":\"%s\",\"priority\":7}", url->str);
    mesh_test_request_expect_error (fixture->server, "PUT", "/api/v1/me/gotify", fixture->bob, body,
                                    400, "BAD_REQUEST");

    g_test_message ("PUT %s", body);
  }
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  g_assert_true (g_str_has_prefix (json_object_get_string_member (view, "url"),
                                   gotify_standin_get_url (fixture->gotify)));
  g_assert_true (json_object_get_null_member (view, "priority"));

  for (guint i = 0; i < G_N_ELEMENTS (same); i++) {
    g_autoptr(GString) url = g_string_new (same[i]);
    g_autofree char *body = NULL;

    g_string_replace (url, "PORT", port_text, 0);
    body = g_strdup_printf ("{\"url\":\"%s\"}", url->str);
    g_test_message ("PUT %s", body);
    put_gotify (fixture, fixture->bob, body);
  }
  /* The kept token still works where it was meant to go. */
  report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
  g_assert_true (json_object_get_boolean_member (report, "ok"));

  /* With the token, any origin may be set. */
  {
    g_autofree char *body = g_strdup_printf ("{\"url\":\"http://localhost:%d\","
                                             "\"token\":\"%s\"}", port, fixture->bob_app);

    put_gotify (fixture, fixture->bob, body);
  }
}

/* The classification of target addresses, including the IPv6 forms that
 * carry an IPv4 address. */
static void
test_address_refusal (void)
{
  const char *refused[] = {
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "172.16.0.1",
    "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.255", "169.254.169.254",
    "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::", "::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1",
    "::ffff:0:127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "2002:7f00:1::1", "2002:c0a8:101::",
    "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff05::2",
    "2001:db8::1", "2001::1", "2001:2::1", "100::1", "64:ff9b:1::1", "4000::1",
  };
  const char *allowed[] = {
    "1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1", "100.63.255.255",
    "100.128.0.1", "192.169.0.1", "169.253.0.1", "223.255.255.255",
    "2606:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
    "2002:808:808::1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string (refused[i]);

    g_assert_nonnull (address);
    if (mesh_gotify_address_refusal (address) == NULL)
      g_error ("%s should be refused", refused[i]);
  }
  for (guint i = 0; i < G_N_ELEMENTS (allowed); i++) {
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string (allowed[i]);

    g_assert_nonnull (address);
    if (mesh_gotify_address_refusal (address) != NULL)
      g_error ("%s should be allowed: %s", allowed[i], mesh_gotify_address_refusal (address));
  }
}

/* Without allow-private-targets no request reaches loopback or private
 * addresses, whether the URL names them or a name resolves to them: both the
 * test and the delivery report a refusal, and nothing is retried. */
static void
test_private_targets (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GUri) standin = g_uri_parse (gotify_standin_get_url (fixture->gotify),
                                         G_URI_FLAGS_NONE, NULL);
  int port = g_uri_get_port (standin);
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(JsonObject) view = NULL;
  g_autofree char *body = NULL;
  /* @refused: the test reports the refusal; FALSE for the short IPv4
   * forms, which the resolver does not take: nothing is sent either way. */
  static const struct {
    const char *host;
    gboolean    refused;
  } targets[] = {
    { "127.0.0.1", TRUE }, { "localhost", TRUE }, { "LocalHost.", TRUE }, { "[::1]", TRUE },
    { "[::ffff:127.0.0.1]", TRUE }, { "[::ffff:7f00:1]", TRUE }, { "0.0.0.0", TRUE },
    { "[::]", TRUE }, { "10.0.0.1", TRUE }, { "169.254.169.254", TRUE }, { "[fe80::1]", TRUE },
    { "[fd00::1]", TRUE }, { "100.64.0.1", TRUE }, { "[64:ff9b::7f00:1]", TRUE },
    { "127.1", FALSE }, { "2130706433", FALSE }, { "0x7f000001", FALSE },
    { "017700000001", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++) {
    g_autoptr(JsonObject) report = NULL;
    g_autofree char *url = g_strdup_printf ("http://%s:%d", targets[i].host, port);

    g_test_message ("target %s", url);
    g_free (body);
    body = g_strdup_printf ("{\"url\":\"%s\",\"token\":\"%s\"}", url, fixture->bob_app);
    put_gotify (fixture, fixture->bob, body);
    report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
    g_assert_false (json_object_get_boolean_member (report, "ok"));
    g_assert_false (json_object_has_member (report, "status"));
    if (targets[i].refused)
      assert_contains (json_object_get_string_member (report, "error"), "refused");
  }
  g_assert_cmpuint (gotify_standin_get_n_posts (fixture->gotify), ==, 0);

  /* Delivery: stopped with the reason, the message kept for new settings. */
  g_free (body);
  body = g_strdup_printf ("{\"url\":\"http://localhost:%d/\",\"token\":\"%s\"}", port,
                          fixture->bob_app);
  put_gotify (fixture, fixture->bob, body);
  alice = client_in_room (fixture, fixture->alice, NULL);
  chat (alice, fixture->room_id, "to localhost");
  mesh_test_pump (1500);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  assert_contains (json_object_get_string_member (view, "last_error"), "refused");
  assert_contains (json_object_get_string_member (view, "last_error"), "loopback");
  g_assert_cmpint (json_object_get_int_member (view, "pending"), ==, 1);
  g_assert_cmpuint (gotify_standin_get_n_posts (fixture->gotify), ==, 0);
}

/* An answer with a huge body that holds something else's data: neither
 * the test report nor last_error shows any of it, and the server stops
 * reading at once (the stand-in could not write most of it). */
static void
test_huge_answer (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(JsonObject) view = NULL;
  g_autoptr(JsonObject) report = NULL;
  g_autofree char *body = gotify_body (fixture, fixture->bob_app, NULL);
  const char *text;

  put_gotify (fixture, fixture->bob, body);
  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_HUGE);
  report = request_object (fixture, "POST", "/api/v1/me/gotify/test", fixture->bob, NULL, 200);
  g_assert_false (json_object_get_boolean_member (report, "ok"));
  g_assert_cmpint (json_object_get_int_member (report, "status"), ==, 400);
  text = json_object_get_string_member (report, "error");
  assert_contains (text, "400 Bad Request");
  g_assert_null (strstr (text, GOTIFY_STANDIN_SECRET));
  g_assert_null (strstr (text, "errorDescription"));

  alice = client_in_room (fixture, fixture->alice, NULL);
  chat (alice, fixture->room_id, "huge");
  mesh_test_pump (1500);
  view = request_object (fixture, "GET", "/api/v1/me/gotify", fixture->bob, NULL, 200);
  text = json_object_get_string_member (view, "last_error");
  assert_contains (text, "400 Bad Request");
  g_assert_null (strstr (text, GOTIFY_STANDIN_SECRET));

  g_assert_cmpuint (gotify_standin_get_n_posts (fixture->gotify), ==, 2);
  g_test_message ("the stand-in got %" G_GUINT64_FORMAT " body bytes of 2 × %d out",
                  gotify_standin_get_body_bytes_sent (fixture->gotify), GOTIFY_STANDIN_HUGE_BYTES);
  /* What the sockets' buffers took, far from the whole. */
  g_assert_cmpuint (gotify_standin_get_body_bytes_sent (fixture->gotify), <,
                    GOTIFY_STANDIN_HUGE_BYTES / 4);
}

/* A Gotify that never answers costs the control plane nothing: every chat
 * round trip completes while its notifications hang. */
static void
test_hang (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(MeshTestClient) bob = NULL;
  g_autofree char *body = gotify_body (fixture, fixture->bob_app, NULL);
  gint64 total[2] = { 0, 0 };
  guint n = 30;
  guint posts = 0;

  put_gotify (fixture, fixture->bob, body);
  alice = client_in_room (fixture, fixture->alice, NULL);
  bob = client_in_room (fixture, fixture->bob, NULL);

  for (guint phase = 0; phase < 2; phase++) {
    posts = gotify_standin_get_n_posts (fixture->gotify);
    gotify_standin_set_mode (fixture->gotify, phase == 0 ? GOTIFY_STANDIN_UP : GOTIFY_STANDIN_HANG);
    for (guint i = 0; i < n; i++) {
      g_autofree char *text = g_strdup_printf ("%s %u", phase == 0 ? "up" : "hang", i);
      gint64 start = g_get_monotonic_time ();
      g_autoptr(JsonObject) seen = NULL;

      chat (alice, fixture->room_id, text);
      seen = mesh_test_client_wait_for_type (bob, "chat.message.created", WAIT_MS);
      g_assert_nonnull (seen);
      total[phase] += g_get_monotonic_time () - start;
    }
    if (phase == 0)
      g_assert_true (gotify_standin_wait_messages (fixture->gotify, n, WAIT_MS));
  }
  /* All of the second phase went through while Gotify held its requests
   * without an answer. */
  g_assert_cmpuint (gotify_standin_get_n_posts (fixture->gotify), >, posts);
  g_assert_cmpuint (gotify_standin_get_messages (fixture->gotify)->len, ==, n);
  g_test_message ("chat round trip (send → echo → room mate): %.2f ms with Gotify up, "
                  "%.2f ms with Gotify hanging (mean of %u)",
                  total[0] / 1000.0 / n, total[1] / 1000.0 / n, n);

  gotify_standin_set_mode (fixture->gotify, GOTIFY_STANDIN_UP);
  g_assert_true (gotify_standin_wait_messages (fixture->gotify, 2 * n, WAIT_MS));
  assert_chats_in_order (fixture, n, n, "hang");
  assert_no_more (fixture, 2 * n, 500);
}

/* A one-off command (mesh-agent send) says "transient" in its hello: its
 * exit is not "Agent offline", and it does not hide a long-lived agent of
 * the same device that went away. */
static void
test_transient_agent (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(MeshTestClient) agent = NULL;
  g_autoptr(MeshTestClient) once = NULL;
  g_autoptr(MeshTestClient) twice = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  g_autofree char *quic = agent_hello (FP_BOB);
  g_autofree char *hello = g_strdup_printf ("\"transient\":true,%s", quic);
  g_autofree char *body = gotify_body (fixture, fixture->bob_app, NULL);

  put_gotify (fixture, fixture->bob, body);
  agent = agent_in_room (fixture, fixture->bob, "bob-laptop", FP_BOB, &device_id, &device_token);
  mesh_test_client_close (agent);

  /* A send from the shell comes and goes while the agent is away. */
  once = mesh_test_client_new_hello (fixture->server, device_token, "agent", hello, NULL);
  mesh_test_client_join (once, fixture->room_id);
  mesh_test_client_close (once);
  /* The long-lived agent stays away: reported once, not hidden. */
  g_assert_cmpstr (wait_message (fixture, 0)->title, ==, "Agent offline: bob-laptop");

  /* Another one-off send: more than the grace period (2 s), nothing. */
  twice = mesh_test_client_new_hello (fixture->server, device_token, "agent", hello, NULL);
  mesh_test_client_join (twice, fixture->room_id);
  mesh_test_client_close (twice);
  assert_no_more (fixture, 1, 3000);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/mesh/gotify/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  g_test_add_func ("/mesh/gotify/standin", test_standin);
  ADD ("rest", test_rest);
  ADD ("events", test_events);
  ADD ("calls", test_calls);
  ADD ("agent-reconnect", test_agent_reconnect);
  ADD ("outage", test_outage);
  ADD ("restart", test_restart);
  ADD ("refused", test_refused);
  ADD ("hang", test_hang);
  g_test_add_func ("/mesh/gotify/address-refusal", test_address_refusal);
  g_test_add ("/mesh/gotify/private-targets", Fixture, SHORT_TIMERS, fixture_set_up,
              test_private_targets, fixture_tear_down);
  ADD ("huge-answer", test_huge_answer);
  ADD ("token-origin", test_token_origin);
  ADD ("transient-agent", test_transient_agent);
  return g_test_run ();
}
