/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include <stdlib.h>
#include <string.h>

/* Accounts over REST (protocol §2, §8): health, registration, login and
 * its throttles, sessions, devices and their revocation. */

#define FINGERPRINT2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static void
test_rest_health (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) ok = mesh_test_request (server, "GET", "/health", NULL, NULL);
  JsonObject *obj;

  g_assert_cmpuint (ok->status, ==, 200);
  obj = mesh_test_response_object (ok);
  g_assert_cmpstr (get_str (obj, "status"), ==, "ok");
  /* Minimal: nothing but the status. */
  g_assert_cmpuint (json_object_get_size (obj), ==, 1);

  mesh_test_request_expect_error (server, "POST", "/health", NULL, "{}", 405, "BAD_REQUEST");
}

static void
test_rest_register_closed (void)
{
  g_autoptr(MeshTestResponse) login = NULL;

  mesh_test_request_expect_error (main_server (), "POST", "/api/v1/auth/register", NULL,
                                  "{\"username\":\"mallory\",\"password\":\"" PASSWORD "\"}", 403,
                                  "FORBIDDEN");

  /* And no account was made. */
  login = mesh_test_request (main_server (), "POST", "/api/v1/auth/login", NULL,
                             "{\"username\":\"mallory\",\"password\":\"" PASSWORD "\"}");
  mesh_test_response_assert_error (login, 401, "UNAUTHORIZED");
}

static void
test_rest_register_open (void)
{
  static const struct {
    const char *body;
    guint       status;
    const char *code;
  } refusals[] = {
    { "{\"username\":\"newcomer\",\"password\":\"another one 123\"}", 409, "CONFLICT" },
    { "{\"username\":\"nopass\"}", 400, "BAD_REQUEST" },
    { "{\"username\":\"shorty\",\"password\":\"short\"}", 400, "BAD_REQUEST" },
  };
  MeshTestServer *server = strict_server ();
  g_autoptr(MeshTestResponse) r = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *login_user_id = NULL;
  g_autofree char *token = NULL;

  r = mesh_test_request_expect (server, "POST", "/api/v1/auth/register", NULL,
                                "{\"username\":\"newcomer\",\"password\":\"" PASSWORD "\"}", 201);
  user_id = g_strdup (get_str (mesh_test_response_object (r), "user_id"));
  assert_uuid4 (user_id);

  token = mesh_test_login (server, "newcomer", PASSWORD, &login_user_id);
  g_assert_cmpstr (login_user_id, ==, user_id);

  for (guint i = 0; i < G_N_ELEMENTS (refusals); i++)
    mesh_test_request_expect_error (server, "POST", "/api/v1/auth/register", NULL,
                                    refusals[i].body, refusals[i].status, refusals[i].code);
}

static void
test_rest_login (void)
{
  static const char * const malformed[] = {
    "{\"username\":\"alice\"}", "{\"username\":\"alice\",\"password\":12345678}",
  };
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) ok = NULL;
  g_autoptr(MeshTestResponse) wrong = NULL;
  g_autoptr(MeshTestResponse) unknown = NULL;
  JsonObject *obj;

  ok = mesh_test_request_expect (server, "POST", "/api/v1/auth/login", NULL,
                                 "{\"username\":\"alice\",\"password\":\"" PASSWORD "\"}", 200);
  obj = mesh_test_response_object (ok);
  g_assert_cmpstr (get_str (obj, "user_id"), ==, shared.user_id[ALICE]);
  g_assert_cmpint (strlen (get_str (obj, "access_token")), >=, 32);
  /* Each login is a new token. */
  g_assert_cmpstr (get_str (obj, "access_token"), !=, shared.token[ALICE]);
  g_assert_cmpint (json_object_get_int_member (obj, "expires_in"), >, 0);

  wrong = mesh_test_request (server, "POST", "/api/v1/auth/login", NULL,
                             "{\"username\":\"alice\",\"password\":\"not the password\"}");
  unknown = mesh_test_request (server, "POST", "/api/v1/auth/login", NULL,
                               "{\"username\":\"nobody\",\"password\":\"not the password\"}");
  mesh_test_response_assert_error (wrong, 401, "UNAUTHORIZED");
  mesh_test_response_assert_error (unknown, 401, "UNAUTHORIZED");
  /* The same answer: nothing tells whether the user exists. */
  g_assert_cmpstr (get_str (mesh_test_response_object (wrong), "message"), ==,
                   get_str (mesh_test_response_object (unknown), "message"));

  /* No password, or not a string. */
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    mesh_test_request_expect_error (server, "POST", "/api/v1/auth/login", NULL, malformed[i],
                                    400, "BAD_REQUEST");
}

static void
test_rest_unauthorized (void)
{
  static const struct {
    const char *method;
    const char *path;
  } routes[] = {
    { "GET", "/api/v1/devices" },
    { "POST", "/api/v1/devices" },
    { "GET", "/api/v1/rooms" },
    { "POST", "/api/v1/rooms" },
    { "POST", "/api/v1/rooms/" UNKNOWN_ID "/invites" },
    { "GET", "/api/v1/rooms/" UNKNOWN_ID "/messages" },
    { "POST", "/api/v1/rooms/" UNKNOWN_ID "/caps" },
    { "POST", "/api/v1/invites/ABCDEFGHJKLM/accept" },
    { "GET", "/api/v1/keys" },
  };
  MeshTestServer *server = main_server ();

  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    const char *body = g_str_equal (routes[i].method, "POST") ? "{}" : NULL;

    g_test_message ("%s %s", routes[i].method, routes[i].path);
    mesh_test_request_expect_error (server, routes[i].method, routes[i].path, NULL, body, 401,
                                    "UNAUTHORIZED");
    mesh_test_request_expect_error (server, routes[i].method, routes[i].path, "not-a-real-token",
                                    body, 401, "UNAUTHORIZED");
  }
}

static void
test_rest_devices (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) list = NULL;
  g_autoptr(MeshTestResponse) other = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = add_device (ALICE, "alice-laptop", FINGERPRINT, &device_id);
  g_autofree char *again_id = NULL;
  g_autofree char *again_token = NULL;
  JsonArray *devices;
  gboolean found = FALSE;

  /* The same name again: same device, new fingerprint and token. */
  again_token = add_device (ALICE, "alice-laptop", FINGERPRINT2, &again_id);
  g_assert_cmpstr (again_id, ==, device_id);
  g_assert_cmpstr (again_token, !=, device_token);

  list = mesh_test_request_expect (server, "GET", "/api/v1/devices", shared.token[ALICE], NULL,
                                   200);
  devices = mesh_test_response_array (list);
  for (guint i = 0; i < json_array_get_length (devices); i++) {
    JsonObject *d = json_array_get_object_element (devices, i);

    if (g_strcmp0 (get_str (d, "device_id"), device_id) == 0) {
      g_assert_false (found);
      found = TRUE;
      g_assert_cmpstr (get_str (d, "name"), ==, "alice-laptop");
      g_assert_cmpstr (get_str (d, "fingerprint"), ==, FINGERPRINT2);
    }
  }
  g_assert_true (found);

  /* Another user does not see it. */
  other = mesh_test_request_expect (server, "GET", "/api/v1/devices", shared.token[EVE], NULL, 200);
  devices = mesh_test_response_array (other);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    g_assert_cmpstr (get_str (json_array_get_object_element (devices, i), "device_id"), !=,
                     device_id);

  /* A device token cannot mint more devices. */
  mesh_test_request_expect_error (server, "POST", "/api/v1/devices", again_token,
                                  "{\"name\":\"rogue\",\"fingerprint\":\"" FINGERPRINT "\"}",
                                  403, "FORBIDDEN");

  /* Upper case with colons is not the wire form of a fingerprint. */
  mesh_test_request_expect_error (server, "POST", "/api/v1/devices", shared.token[ALICE],
                                  "{\"name\":\"other\",\"fingerprint\":\"AB:CD:EF\"}", 400,
                                  "BAD_REQUEST");
  mesh_test_request_expect_error (server, "POST", "/api/v1/devices", shared.token[ALICE],
                                  "{\"fingerprint\":\"" FINGERPRINT "\"}", 400, "BAD_REQUEST");
}

static MeshTestResponse *
login_attempt (MeshTestServer *server,
               const char     *username,
               const char     *password)
{
  g_autofree char *body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"%s\"}",
                                           username, password);

  return mesh_test_request (server, "POST", "/api/v1/auth/login", NULL, body);
}

static void
assert_rate_limited (MeshTestResponse *r)
{
  const char *retry_after;

  mesh_test_response_assert_error (r, 429, "RATE_LIMITED");
  retry_after = soup_message_headers_get_one (r->headers, "Retry-After");
  g_assert_nonnull (retry_after);
  g_assert_cmpint (atoi (retry_after), >=, 1);
}

/* Per username: failed logins spend a bucket that refills slowly; when it
 * is empty even the right password is not checked (429 + Retry-After) —
 * except from an address that logged in as that user before, so guessing
 * cannot lock the owner out.  Other users are not affected. */
static void
test_rest_login_throttle (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[auth]\n"
                                                           "login-user-burst=3\n"
                                                           "login-user-per-minute=0.5\n");

  g_free (mesh_test_server_add_user (server, "carol", PASSWORD));
  g_free (mesh_test_server_add_user (server, "dave", PASSWORD));
  g_free (mesh_test_server_add_user (server, "erin", PASSWORD));
  mesh_test_server_start (server);

  for (guint i = 0; i < 3; i++) {
    g_autoptr(MeshTestResponse) r = login_attempt (server, "carol", "guess");

    mesh_test_response_assert_error (r, 401, "UNAUTHORIZED");
  }
  {
    /* Any case of the name is the same user. */
    g_autoptr(MeshTestResponse) wrong = login_attempt (server, "CAROL", "guess");
    g_autoptr(MeshTestResponse) right = login_attempt (server, "carol", PASSWORD);

    assert_rate_limited (wrong);
    assert_rate_limited (right);
  }
  /* Dave is not carol. */
  g_free (mesh_test_login (server, "dave", PASSWORD, NULL));

  /* Erin logged in from here before: guesses from elsewhere do not lock
   * her out here. */
  g_free (mesh_test_login (server, "erin", PASSWORD, NULL));
  for (guint i = 0; i < 6; i++) {
    g_autoptr(MeshTestResponse) r = login_attempt (server, "erin", "guess");

    mesh_test_response_assert_error (r, 401, "UNAUTHORIZED");
  }
  g_free (mesh_test_login (server, "erin", PASSWORD, NULL));
  mesh_test_server_stop (server);
}

/* Per address: logins and registrations together. */
static void
test_rest_address_throttle (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[server]\n"
                                                           "open-registration=true\n"
                                                           "[auth]\n"
                                                           "login-ip-burst=4\n"
                                                           "login-ip-per-minute=0.5\n");
  g_autoptr(MeshTestResponse) registered = NULL;
  g_autoptr(MeshTestResponse) refused = NULL;
  g_autoptr(MeshTestResponse) refused_register = NULL;

  g_free (mesh_test_server_add_user (server, "frank", PASSWORD));
  mesh_test_server_start (server);
  registered = mesh_test_request_expect (server, "POST", "/api/v1/auth/register", NULL,
                                         "{\"username\":\"gina\",\"password\":\"" PASSWORD "\"}",
                                         201);
  for (guint i = 0; i < 3; i++) {
    g_autoptr(MeshTestResponse) r = login_attempt (server, i == 0 ? "frank" : "gina",
                                                   i == 2 ? "guess" : PASSWORD);

    g_assert_cmpuint (r->status, ==, i == 2 ? 401 : 200);
  }
  refused = login_attempt (server, "frank", PASSWORD);
  assert_rate_limited (refused);
  refused_register = mesh_test_request (server, "POST", "/api/v1/auth/register", NULL,
                                        "{\"username\":\"hank\",\"password\":\"" PASSWORD
                                        "\"}");
  assert_rate_limited (refused_register);
  mesh_test_server_stop (server);
}

static guint
login_forwarded (MeshTestServer *server,
                 const char     *forwarded_for)
{
  g_autofree char *url = g_strconcat (mesh_test_server_get_rest_url (server), "/auth/login",
                                      NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr(GBytes) body = g_bytes_new_static ("{\"username\":\"ivy\",\"password\":\"x\"}",
                                               strlen ("{\"username\":\"ivy\",\"password\":\"x\"}"));
  g_autoptr(GBytes) answer = NULL;

  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Forwarded-For",
                                forwarded_for);
  answer = soup_session_send_and_read (session, msg, NULL, NULL);
  return soup_message_get_status (msg);
}

/* Behind a trusted proxy each client has its own bucket: the last address
 * the proxy appended, whatever the client put before it. */
static void
test_rest_forwarded_throttle (void)
{
  g_autoptr(MeshTestServer) server = mesh_test_server_new ("[auth]\n"
                                                           "login-ip-burst=2\n"
                                                           "login-ip-per-minute=0.5\n"
                                                           "login-user-burst=100\n"
                                                           "trusted-proxies=127.0.0.1;::1\n");

  mesh_test_server_start (server);
  g_assert_cmpuint (login_forwarded (server, "203.0.113.5"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "198.51.100.1, 203.0.113.5"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "203.0.113.5"), ==, 429);
  /* Made-up entries before the proxy's do not give a new bucket. */
  g_assert_cmpuint (login_forwarded (server, "192.0.2.77, 203.0.113.5"), ==, 429);
  /* Another client, and another /64 of IPv6, are not throttled. */
  g_assert_cmpuint (login_forwarded (server, "203.0.113.6"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:2::1"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:2::2"), ==, 401);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:2:ffff::3"), ==, 429);
  g_assert_cmpuint (login_forwarded (server, "2001:db8:1:3::1"), ==, 401);
  mesh_test_server_stop (server);
}

/* DELETE /devices/{id}: own devices only, not with a device token; the
 * token stops working at once and the device's sockets are closed. */
static void
test_rest_device_revoke (void)
{
  MeshTestServer *server = main_server ();
  g_autoptr(MeshTestResponse) revoked = NULL;
  g_autoptr(MeshTestResponse) list = NULL;
  g_autoptr(MeshTestClient) agent = NULL;
  g_autoptr(MeshTestClient) alice = NULL;
  g_autoptr(MeshTestClient) late = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *device_token = NULL;
  JsonArray *devices;
  guint status = 0;

  device_token = add_device (ALICE, "alice-revoked", FINGERPRINT, &device_id);
  path = g_strdup_printf ("/api/v1/devices/%s", device_id);

  agent = mesh_test_client_new_hello (server, device_token, "agent", QUIC_HELLO, NULL);
  alice = mesh_test_client_new_hello (server, shared.token[ALICE], "client", NULL, NULL);

  mesh_test_request_expect_error (server, "DELETE", path, shared.token[EVE], NULL, 404,
                                  "NOT_FOUND");
  mesh_test_request_expect_error (server, "DELETE", path, device_token, NULL, 403, "FORBIDDEN");
  g_assert_true (mesh_test_client_is_open (agent));

  revoked = mesh_test_request_expect (server, "DELETE", path, shared.token[ALICE], NULL, 204);
  assert_closed_by_server (agent);
  /* Only that device's sockets. */
  g_assert_true (mesh_test_client_is_open (alice));

  mesh_test_request_expect_error (server, "GET", "/api/v1/rooms", device_token, NULL, 401,
                                  "UNAUTHORIZED");
  late = mesh_test_client_connect (server, device_token, MESH_TEST_AUTH_HEADER, &status, &error);
  g_assert_null (late);
  g_assert_cmpuint (status, ==, 401);
  mesh_test_request_expect_error (server, "DELETE", path, shared.token[ALICE], NULL, 404,
                                  "NOT_FOUND");

  list = mesh_test_request (server, "GET", "/api/v1/devices", shared.token[ALICE], NULL);
  devices = mesh_test_response_array (list);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    g_assert_cmpstr (get_str (json_array_get_object_element (devices, i), "device_id"), !=,
                     device_id);
}

void
test_server_add_accounts_tests (void)
{
  g_test_add_func ("/mesh/server/rest/health", test_rest_health);
  g_test_add_func ("/mesh/server/rest/register-closed", test_rest_register_closed);
  g_test_add_func ("/mesh/server/rest/register-open", test_rest_register_open);
  g_test_add_func ("/mesh/server/rest/login", test_rest_login);
  g_test_add_func ("/mesh/server/rest/unauthorized", test_rest_unauthorized);
  g_test_add_func ("/mesh/server/rest/devices", test_rest_devices);
  g_test_add_func ("/mesh/server/rest/device-revoke", test_rest_device_revoke);
  g_test_add_func ("/mesh/server/rest/login-throttle", test_rest_login_throttle);
  g_test_add_func ("/mesh/server/rest/address-throttle", test_rest_address_throttle);
  g_test_add_func ("/mesh/server/rest/forwarded-throttle", test_rest_forwarded_throttle);
}
