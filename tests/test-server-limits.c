/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include <sys/resource.h>
#include <string.h>

/* Errors and limits (protocol §8): unknown paths, bad JSON, oversize bodies
 * and frames, the rate limit and the abuse that closes a socket, and many
 * sockets at once over the hub's shards. */

static void
test_rest_not_found (void)
{
  MeshTestServer *server = main_server ();
  static const char * const missing[] = {
    "/api/v1/nope", "/api/v1/rooms/x/nope", "/api/v1/rooms//messages", "/api/v1x", "/nothing",
  };

  for (guint i = 0; i < G_N_ELEMENTS (missing); i++) {
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "GET", missing[i],
                                                       shared.token[ALICE], NULL);

    g_test_message ("GET %s", missing[i]);
    g_assert_cmpuint (r->status, ==, 404);
    /* Ours answer with an error body; libsoup's own 404 for paths no
     * handler serves has none, and that is fine too. */
    if (g_str_has_prefix (missing[i], "/api/v1/"))
      mesh_test_response_assert_error (r, 404, "NOT_FOUND");
  }
  {
    g_autoptr(MeshTestResponse) r = mesh_test_request (server, "DELETE", "/api/v1/rooms",
                                                       shared.token[ALICE], NULL);

    mesh_test_response_assert_error (r, 405, "BAD_REQUEST");
    mesh_test_request_expect_error (server, "GET", "/api/v1/auth/login", NULL, NULL, 405,
                                    "BAD_REQUEST");
  }
}

static void
test_rest_bad_json (void)
{
  MeshTestServer *server = main_server ();
  static const char * const bodies[] = { "{not json", "[1,2,3]", "\"a string\"", "", "{\"name\":" };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++) {
    g_autoptr(MeshTestResponse) rooms = mesh_test_request (server, "POST", "/api/v1/rooms",
                                                           shared.token[ALICE], bodies[i]);
    g_autoptr(MeshTestResponse) login = mesh_test_request (server, "POST", "/api/v1/auth/login",
                                                           NULL, bodies[i]);

    g_test_message ("body '%s'", bodies[i]);
    mesh_test_response_assert_error (rooms, 400, "BAD_REQUEST");
    mesh_test_response_assert_error (login, 400, "BAD_REQUEST");
  }
}

static void
test_rest_oversize (void)
{
  MeshTestServer *server = main_server ();
  gsize size = 100 * 1024;
  char *data = g_malloc (size);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(MeshTestResponse) r = NULL;
  g_autoptr(MeshTestResponse) after = NULL;

  /* A JSON object with one huge name: valid, but over the 64 KiB limit. */
  memset (data, 'a', size);
  memcpy (data, "{\"name\":\"", 9);
  memcpy (data + size - 2, "\"}", 2);
  body = g_bytes_new_take (data, size);
  r = mesh_test_request_raw (server, "POST", "/api/v1/rooms", shared.token[ALICE],
                             "application/json", body);
  mesh_test_response_assert_error (r, 413, "PAYLOAD_TOO_LARGE");

  /* The server is fine afterwards. */
  after = mesh_test_request_expect (server, "GET", "/health", NULL, NULL, 200);
}

static void
test_ws_bad_frames (void)
{
  g_autofree char *room_id = room_with (ALICE, "Frames", -1);
  g_autoptr(MeshTestClient) a = client_for (ALICE, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(GBytes) binary = g_bytes_new_static ("\x01\x02", 2);
  gsize big_size = 70 * 1024;
  g_autofree char *big = NULL;
  const char *id;

  id = mesh_test_client_send (a, "no.such.event", NULL);
  mesh_test_client_expect_error (a, "BAD_REQUEST", id);

  mesh_test_client_send_raw (a, "{\"type\":", 8);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);
  mesh_test_client_send_raw (a, "[1,2]", 5);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);
  mesh_test_client_send_raw (a, "{\"id\":\"x\",\"payload\":{}}", 23);
  mesh_test_client_expect_error (a, "BAD_REQUEST", "x");
  mesh_test_client_send_raw (a, "{\"type\":\"room.join\",\"payload\":[]}", 33);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);

  /* Deep nesting within the size limit is just another bad frame. */
  {
    gsize depth = 30000;
    g_autofree char *deep = g_malloc (2 * depth);

    memset (deep, '[', depth);
    memset (deep + depth, ']', depth);
    mesh_test_client_send_raw (a, deep, 2 * depth);
    mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);
  }

  /* Frames are JSON text; binary ones are refused. */
  mesh_test_client_send_binary (a, binary);
  mesh_test_client_expect_error (a, "BAD_REQUEST", NULL);

  /* A frame over 64 KiB is refused, and the socket stays open. */
  big = g_malloc (big_size + 1);
  memset (big, ' ', big_size);
  memcpy (big, "{\"type\":\"presence.update\",\"payload\":{\"status\":\"busy\"}}", 53);
  big[big_size] = '\0';
  mesh_test_client_send_raw (a, big, big_size);
  mesh_test_client_expect_error (a, "PAYLOAD_TOO_LARGE", NULL);
  g_assert_true (mesh_test_client_is_open (a));

  /* Still usable after all of that. */
  {
    g_autoptr(JsonObject) created = ws_chat (a, room_id, "still fine", NULL);

    g_assert_cmpstr (get_str (created, "content"), ==, "still fine");
  }
}

static void
test_ws_rate_limit (void)
{
  g_autofree char *room_id = room_with (ALICE, "Flood", BOB, -1);
  g_autoptr(MeshTestClient) a = client_for (ALICE, NULL);
  g_autoptr(MeshTestClient) b = client_for (BOB, NULL);
  g_autoptr(JsonObject) ja = ws_join (a, room_id);
  g_autoptr(JsonObject) jb = ws_join (b, room_id);
  g_autoptr(JsonObject) served = NULL;
  g_autoptr(JsonObject) marker = NULL;
  g_autoptr(GHashTable) flood_ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) frames = NULL;
  guint accepted = 0, limited = 0, chats = 0;

  mesh_test_client_clear (a);
  /* 400 at once against the default 100/s with a burst of 200. */
  for (guint i = 0; i < 400; i++)
    g_hash_table_add (flood_ids, (gpointer) mesh_test_client_send (a, "test.flood", NULL));

  /* Meanwhile B is served as usual. */
  served = ws_chat (b, room_id, "not disturbed", NULL);
  g_assert_cmpstr (get_str (served, "content"), ==, "not disturbed");

  /* Once tokens are back, A is answered again; retry while still limited. */
  for (guint tries = 0; tries < 20 && marker == NULL; tries++) {
    const char *id = mesh_test_client_send (a, "presence.update", "{\"status\":\"away\"}");

    marker = mesh_test_client_wait_for_ref (a, id, 1000);
  }
  g_assert_nonnull (marker);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (marker), "code"), ==, "BAD_REQUEST");

  frames = mesh_test_client_take_all (a);
  for (guint i = 0; i < frames->len; i++) {
    JsonObject *frame = frames->pdata[i];
    JsonObject *payload = mesh_test_frame_payload (frame);

    if (g_str_equal (get_str (frame, "type"), "chat.message.created")) {
      g_assert_cmpstr (get_str (payload, "content"), ==, "not disturbed");
      chats++;
    } else if (g_str_equal (get_str (frame, "type"), "error") &&
               g_strcmp0 (get_str (payload, "code"), "RATE_LIMITED") == 0) {
      g_assert_false (json_object_has_member (payload, "ref"));
      limited++;
    } else if (g_str_equal (get_str (frame, "type"), "error") &&
               g_hash_table_contains (flood_ids, get_str (payload, "ref"))) {
      g_assert_cmpstr (get_str (payload, "code"), ==, "BAD_REQUEST");
      accepted++;
    }
  }
  g_test_message ("flood of 400: %u answered, %u RATE_LIMITED errors", accepted, limited);
  /* The burst went through, the rest was dropped with an error. */
  g_assert_cmpuint (accepted, >=, 190);
  g_assert_cmpuint (accepted, <, 400);
  g_assert_cmpuint (limited, >=, 1);
  /* A got B's message, once, and both sockets are open. */
  g_assert_cmpuint (chats, ==, 1);
  g_assert_true (mesh_test_client_is_open (a));
  g_assert_true (mesh_test_client_is_open (b));
}

static void
test_ws_abuse_closes (void)
{
  MeshTestServer *server = strict_server ();
  g_autofree char *token = strict_user ("flooder");
  g_autofree char *other_token = strict_user ("bystander");
  g_autoptr(MeshTestClient) flooder = NULL;
  g_autoptr(MeshTestClient) bystander = NULL;
  const char *id;

  flooder = mesh_test_client_new_hello (server, token, "client", NULL, NULL);
  bystander = mesh_test_client_new_hello (server, other_token, "client", NULL, NULL);

  /* 1 message/s, a burst of 5, closed after 20 refused in a row. */
  for (guint i = 0; i < 100; i++)
    mesh_test_client_send (flooder, "presence.update", "{\"status\":\"online\"}");
  mesh_test_client_expect_error (flooder, "RATE_LIMITED", NULL);
  assert_closed_by_server (flooder);

  id = mesh_test_client_send (bystander, "presence.update", "{\"status\":\"away\"}");
  mesh_test_client_expect_error (bystander, "BAD_REQUEST", id);
  g_assert_true (mesh_test_client_is_open (bystander));
}

/* Voluntary context switches of the server's thread named @name, or -1
 * when it has none by that name: a shard that ran sockets slept and woke. */
static gint64
thread_switches (const char *pid,
                 const char *name)
{
  g_autofree char *dir_path = g_strdup_printf ("/proc/%s/task", pid);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL) {
    g_autofree char *comm_path = g_build_filename (dir_path, tid, "comm", NULL);
    g_autofree char *status_path = g_build_filename (dir_path, tid, "status", NULL);
    g_autofree char *comm = NULL;
    g_autofree char *status = NULL;
    const char *line;

    if (!g_file_get_contents (comm_path, &comm, NULL, NULL) ||
        !g_str_equal (g_strstrip (comm), name) ||
        !g_file_get_contents (status_path, &status, NULL, NULL))
      continue;
    line = strstr (status, "voluntary_ctxt_switches:");
    return line ? g_ascii_strtoll (line + strlen ("voluntary_ctxt_switches:"), NULL, 10) : -1;
  }
  return -1;
}

/* A bare WebSocket client on a blocking GSocket: 2 000 libsoup clients in
 * this process's main loop would cost it O(sockets) per iteration (the
 * very thing the server's shards avoid), and the test would take a minute. */
static gboolean
raw_read_exact (GSocket *socket,
                guint8  *buffer,
                gsize    len)
{
  gsize done = 0;

  while (done < len) {
    gssize n = g_socket_receive (socket, (char *) buffer + done, len - done, NULL, NULL);

    if (n <= 0)
      return FALSE;
    done += n;
  }
  return TRUE;
}

static void
raw_ws_send (GSocket    *socket,
             const char *text)
{
  gsize len = strlen (text);
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  guint8 head[4] = { 0x81, 0, 0, 0 };
  const guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };

  g_assert_cmpuint (len, <, 65536);
  if (len < 126) {
    head[1] = 0x80 | len;
    g_byte_array_append (frame, head, 2);
  } else {
    head[1] = 0x80 | 126;
    head[2] = len >> 8;
    head[3] = len & 0xff;
    g_byte_array_append (frame, head, 4);
  }
  g_byte_array_append (frame, mask, 4);
  for (gsize i = 0; i < len; i++) {
    guint8 c = text[i] ^ mask[i % 4];

    g_byte_array_append (frame, &c, 1);
  }
  g_assert_cmpint (g_socket_send (socket, (char *) frame->data, frame->len, NULL, NULL), ==,
                   (gssize) frame->len);
}

/* The next text frame, as a JSON object (control frames skipped). */
static JsonObject *
raw_ws_receive (GSocket *socket)
{
  for (;;) {
    guint8 head[2], ext[8];
    guint64 len;
    g_autofree guint8 *payload = NULL;

    if (!raw_read_exact (socket, head, 2))
      return NULL;
    len = head[1] & 0x7f;
    if (len == 126) {
      if (!raw_read_exact (socket, ext, 2))
        return NULL;
      len = (ext[0] << 8) | ext[1];
    } else if (len == 127) {
      if (!raw_read_exact (socket, ext, 8))
        return NULL;
      len = 0;
      for (guint i = 0; i < 8; i++)
        len = (len << 8) | ext[i];
    }
    g_assert_cmpuint (len, <, 1 << 20);
    payload = g_malloc (len + 1);
    if (!raw_read_exact (socket, payload, len))
      return NULL;
    payload[len] = '\0';
    if ((head[0] & 0x0f) == 0x1) {
      g_autoptr(JsonNode) node = json_from_string ((const char *) payload, NULL);

      g_assert_nonnull (node);
      return json_object_ref (json_node_get_object (node));
    }
    g_assert_cmpuint (head[0] & 0x0f, !=, 0x8);  /* not closed */
  }
}

static GSocket *
raw_ws_connect (guint16     port,
                const char *token)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autofree char *request = g_strdup_printf ("GET /ws HTTP/1.1\r\n"
                                              "Host: 127.0.0.1:%u\r\n"
                                              "Upgrade: websocket\r\n"
                                              "Connection: Upgrade\r\n"
                                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                              "Sec-WebSocket-Version: 13\r\n"
                                              "Authorization: Bearer %s\r\n\r\n",
                                              port, token);
  GString *response = g_string_new (NULL);
  g_autoptr(JsonObject) welcome = NULL;

  g_assert_no_error (error);
  g_socket_set_timeout (socket, MESH_TEST_TIMEOUT_MS / 1000);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_socket_send (socket, request, strlen (request), NULL, NULL), ==,
                   (gssize) strlen (request));
  /* Byte by byte up to the blank line: nothing of the first frame is lost. */
  while (!g_str_has_suffix (response->str, "\r\n\r\n")) {
    guint8 c;

    g_assert_true (raw_read_exact (socket, &c, 1));
    g_string_append_c (response, c);
  }
  g_assert_true (g_str_has_prefix (response->str, "HTTP/1.1 101"));
  g_string_free (response, TRUE);

  raw_ws_send (socket, "{\"type\":\"system.hello\",\"id\":\"h\","
                       "\"payload\":{\"peer_type\":\"client\",\"version\":\"2.0.0\"}}");
  welcome = raw_ws_receive (socket);
  g_assert_nonnull (welcome);
  g_assert_cmpstr (get_str (welcome, "type"), ==, "system.welcome");
  return g_steal_pointer (&socket);
}

/* 2 000 sockets over 4 shard threads (round robin: 500 each) all get a
 * room's events, every one, in the order they were made. */
static void
test_ws_many_sockets_over_shards (void)
{
  enum { N_SOCKETS = 2000, N_SHARDS = 4, N_EVENTS = 8 };
  g_autoptr(MeshTestServer) server = NULL;
  g_autoptr(MeshTestResponse) created = NULL;
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GUri) base = NULL;
  g_autofree char *token = NULL;
  g_autofree char *path = NULL;
  struct rlimit limit;
  const char *room_id;

  /* Each socket is a descriptor here too. */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < N_SOCKETS + 256) {
    g_test_skip ("the open-files hard limit is below 2 256");
    return;
  }
  limit.rlim_cur = limit.rlim_max;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &limit), ==, 0);

  server = mesh_test_server_new ("[server]\n"
                                 "shards=4\n"
                                 "[limits]\n"
                                 "max-sockets=4000\n");
  g_free (mesh_test_server_add_user (server, "crowd", PASSWORD));
  mesh_test_server_start (server);
  token = mesh_test_login (server, "crowd", PASSWORD, NULL);
  created = mesh_test_request_expect (server, "POST", "/api/v1/rooms", token,
                                      "{\"name\":\"crowd 0\"}", 201);
  room_id = get_str (mesh_test_response_object (created), "room_id");
  path = g_strdup_printf ("/api/v1/rooms/%s", room_id);
  base = g_uri_parse (mesh_test_server_get_base_url (server), G_URI_FLAGS_NONE, NULL);
  g_assert_nonnull (base);

  for (guint i = 0; i < N_SOCKETS; i++)
    g_ptr_array_add (sockets, raw_ws_connect (g_uri_get_port (base), token));

  for (guint k = 1; k <= N_EVENTS; k++) {
    g_autofree char *body = g_strdup_printf ("{\"name\":\"crowd %u\"}", k);
    g_autoptr(MeshTestResponse) renamed = mesh_test_request (server, "PATCH", path, token, body);

    g_assert_cmpuint (renamed->status, ==, 200);
  }

  for (guint i = 0; i < N_SOCKETS; i++) {
    for (guint k = 1; k <= N_EVENTS; k++) {
      g_autoptr(JsonObject) event = raw_ws_receive (sockets->pdata[i]);
      g_autofree char *want = g_strdup_printf ("crowd %u", k);
      JsonObject *payload;

      if (event == NULL)
        g_error ("socket %u: no event %u", i, k);
      g_assert_cmpstr (get_str (event, "type"), ==, "room.updated");
      payload = mesh_test_frame_payload (event);
      g_assert_cmpstr (get_str (payload, "room_id"), ==, room_id);
      g_assert_cmpstr (get_str (payload, "name"), ==, want);
    }
  }

  /* Every shard thread ran sockets. */
  for (guint i = 0; i < N_SHARDS; i++) {
    g_autofree char *name = g_strdup_printf ("mesh-ws-%u", i);

    g_assert_cmpint (thread_switches (mesh_test_server_get_pid (server), name), >, 10);
  }
  g_assert_cmpint (thread_switches (mesh_test_server_get_pid (server), "mesh-ws-4"), ==, -1);

  g_ptr_array_set_size (sockets, 0);
  mesh_test_server_stop (server);
}

void
test_server_add_limits_tests (void)
{
  g_test_add_func ("/mesh/server/rest/not-found", test_rest_not_found);
  g_test_add_func ("/mesh/server/rest/bad-json", test_rest_bad_json);
  g_test_add_func ("/mesh/server/rest/oversize", test_rest_oversize);
  g_test_add_func ("/mesh/server/ws/bad-frames", test_ws_bad_frames);
  g_test_add_func ("/mesh/server/ws/rate-limit", test_ws_rate_limit);
  g_test_add_func ("/mesh/server/ws/abuse-closes", test_ws_abuse_closes);
  g_test_add_func ("/mesh/server/ws/many-sockets-over-shards", test_ws_many_sockets_over_shards);
}
