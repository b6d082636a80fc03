/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "aiortc-harness"

#include "config.h"

#include "aiortc-harness.h"
#include "../mesh-test-server.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define NETNS_PREFIX      "mesh-t"
#define REST_LINE_PREFIX  "  REST       "
#define START_TIMEOUT_MS  20000

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
set_flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

void
mesh_test_media_pump (guint ms)
{
  mesh_test_pump (ms);
}

/* Network namespace ------------------------------------------------------ */

struct _MeshTestNetns {
  char *name;
  char *host_if;
  char *peer_if;
  char *host_address;
  char *peer_address;
};

/* `ip` and the NULL-terminated arguments from @first on, as an argv. */
static GPtrArray *
ip_argv (const char *first,
         va_list     args)
{
  GPtrArray *argv = g_ptr_array_new ();
  const char *arg;

  g_ptr_array_add (argv, (char *) "ip");
  for (arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* Runs `ip ARGS…`; FALSE with @error (its stderr) when it fails. */
static gboolean
run_ip (GError **error,
        ...)
{
  g_autoptr(GPtrArray) argv = NULL;
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  int status = 0;
  va_list args;

  va_start (args, error);
  argv = ip_argv (va_arg (args, const char *), args);
  va_end (args);

  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                     &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL)) {
    g_autofree char *command = g_strjoinv (" ", (char **) argv->pdata);

    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", command,
                 err != NULL ? g_strstrip (err) : "failed");
    return FALSE;
  }
  return TRUE;
}

static char *
ip_output (const char *first,
           ...)
{
  g_autoptr(GPtrArray) argv = NULL;
  char *out = NULL;
  int status = 0;
  va_list args;

  va_start (args, first);
  argv = ip_argv (first, args);
  va_end (args);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                     &status, NULL) ||
      !g_spawn_check_wait_status (status, NULL)) {
    g_free (out);
    return NULL;
  }
  return out;
}

/* The pid a name of ours was made by, or 0. */
static GPid
owner_pid (const char *name,
           const char *prefix)
{
  guint64 pid;
  char *end;

  if (!g_str_has_prefix (name, prefix))
    return 0;
  pid = g_ascii_strtoull (name + strlen (prefix), &end, 10);
  if (end == name + strlen (prefix) || (*end != '-' && *end != 'h'))
    return 0;
  return (GPid) pid;
}

static gboolean
pid_alive (GPid pid)
{
  g_autofree char *proc = g_strdup_printf ("/proc/%d", (int) pid);

  return g_file_test (proc, G_FILE_TEST_EXISTS);
}

static void
kill_namespace_processes (const char *name)
{
  g_autofree char *pids = ip_output ("netns", "pids", name, NULL);
  g_auto(GStrv) lines = NULL;

  if (pids == NULL)
    return;
  lines = g_strsplit (pids, "\n", 0);
  for (guint i = 0; lines[i] != NULL; i++) {
    gint64 pid = g_ascii_strtoll (lines[i], NULL, 10);

    if (pid > 1)
      kill ((pid_t) pid, SIGKILL);
  }
}

/* Namespaces and veth ends left behind by a test run that crashed. */
static void
remove_stale (void)
{
  g_autofree char *netns = ip_output ("netns", "list", NULL);
  g_autofree char *links = ip_output ("-o", "link", "show", "type", "veth", NULL);
  g_auto(GStrv) lines = NULL;

  if (netns != NULL) {
    lines = g_strsplit (netns, "\n", 0);
    for (guint i = 0; lines[i] != NULL; i++) {
      g_autofree char *name = g_strdup (lines[i]);
      char *space = strchr (name, ' ');
      GPid pid;

      if (space != NULL)
        *space = '\0';
      pid = owner_pid (name, NETNS_PREFIX);
      if (pid != 0 && !pid_alive (pid)) {
        kill_namespace_processes (name);
        run_ip (NULL, "netns", "del", name, NULL);
      }
    }
    g_clear_pointer (&lines, g_strfreev);
  }
  if (links != NULL) {
    lines = g_strsplit (links, "\n", 0);
    for (guint i = 0; lines[i] != NULL; i++) {
      g_auto(GStrv) fields = g_strsplit (lines[i], " ", 3);
      g_autofree char *name = NULL;
      char *at;
      GPid pid;

      if (g_strv_length (fields) < 2)
        continue;
      name = g_strdup (g_strstrip (fields[1]));
      at = strchr (name, '@');
      if (at != NULL)
        *at = '\0';
      if (g_str_has_suffix (name, ":"))
        name[strlen (name) - 1] = '\0';
      pid = owner_pid (name, "mt");
      if (pid != 0 && !pid_alive (pid))
        run_ip (NULL, "link", "del", name, NULL);
    }
  }
}

void
mesh_test_netns_free (MeshTestNetns *self)
{
  if (self == NULL)
    return;
  kill_namespace_processes (self->name);
  run_ip (NULL, "netns", "del", self->name, NULL);
  /* Gone with its peer already; just in case. */
  run_ip (NULL, "link", "del", self->host_if, NULL);
  g_free (self->name);
  g_free (self->host_if);
  g_free (self->peer_if);
  g_free (self->host_address);
  g_free (self->peer_address);
  g_free (self);
}

/* Whether any interface has an address in 10.231.@third.@base/30. */
static gboolean
subnet_in_use (guint third,
               guint base)
{
  g_autofree char *addresses = ip_output ("-4", "-o", "addr", "show", NULL);

  if (addresses == NULL)
    return TRUE;
  for (guint i = 0; i < 4; i++) {
    g_autofree char *needle = g_strdup_printf (" 10.231.%u.%u/", third, base + i);

    if (strstr (addresses, needle) != NULL)
      return TRUE;
  }
  return FALSE;
}

MeshTestNetns *
mesh_test_netns_new (GError **error)
{
  static guint counter;
  g_autoptr(MeshTestNetns) self = NULL;
  g_autofree char *ip = g_find_program_in_path ("ip");
  g_autoptr(GError) local_error = NULL;
  g_autofree char *host_cidr = NULL;
  g_autofree char *peer_cidr = NULL;
  guint n = counter++;
  guint pid = (guint) getpid ();
  guint third = pid % 256, base = 0;

  if (ip == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                         "no `ip` command (iproute2): cannot make a network namespace");
    return NULL;
  }
  remove_stale ();

  self = g_new0 (MeshTestNetns, 1);
  self->name = g_strdup_printf (NETNS_PREFIX "%u-%u", pid, n);
  self->host_if = g_strdup_printf ("mt%uh%u", pid, n % 100);
  self->peer_if = g_strdup_printf ("mt%up%u", pid, n % 100);
  if (!run_ip (&local_error, "netns", "add", self->name, NULL)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                 "cannot make a network namespace (needs root or CAP_NET_ADMIN): %s",
                 local_error->message);
    g_clear_pointer (&self->name, g_free);
    return NULL;
  }
  /* A /30 of 10.231.0.0/16 nobody here uses. */
  for (guint tries = 0; tries < 64; tries++) {
    base = ((n + tries) % 64) * 4;
    if (!subnet_in_use (third, base))
      break;
  }
  self->host_address = g_strdup_printf ("10.231.%u.%u", third, base + 1);
  self->peer_address = g_strdup_printf ("10.231.%u.%u", third, base + 2);
  host_cidr = g_strconcat (self->host_address, "/30", NULL);
  peer_cidr = g_strconcat (self->peer_address, "/30", NULL);

  if (!run_ip (error, "link", "add", self->host_if, "type", "veth", "peer", "name",
               self->peer_if, "netns", self->name, NULL) ||
      !run_ip (error, "addr", "add", host_cidr, "dev", self->host_if, NULL) ||
      !run_ip (error, "link", "set", self->host_if, "up", NULL) ||
      !run_ip (error, "-n", self->name, "addr", "add", peer_cidr, "dev", self->peer_if, NULL) ||
      !run_ip (error, "-n", self->name, "link", "set", self->peer_if, "up", NULL) ||
      !run_ip (error, "-n", self->name, "link", "set", "lo", "up", NULL)) {
    g_prefix_error (error, "cannot set up a veth pair into a network namespace (needs root or "
                    "CAP_NET_ADMIN): ");
    return NULL;
  }

  /* Until the link is up, binding to the address fails. */
  for (guint i = 0; i < 100; i++) {
    g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                              G_SOCKET_PROTOCOL_UDP, NULL);
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (self->host_address);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, 0);

    if (socket != NULL && g_socket_bind (socket, address, FALSE, NULL))
      break;
    g_usleep (20 * 1000);
  }
  return g_steal_pointer (&self);
}

const char *
mesh_test_netns_get_name (MeshTestNetns *self)
{
  return self->name;
}

const char *
mesh_test_netns_get_host_address (MeshTestNetns *self)
{
  return self->host_address;
}

const char *
mesh_test_netns_get_peer_address (MeshTestNetns *self)
{
  return self->peer_address;
}

/* mesh-server with TLS on any address ------------------------------------ */

struct _MeshTestMediaServer {
  char            *address;
  char            *dir;
  char            *data_dir;
  char            *config_path;
  char            *cert_path;
  char            *key_path;
  char            *fingerprint;
  GTlsCertificate *certificate;
  char            *url;
  GSubprocess     *process;
  GCancellable    *cancellable;
  GString         *output;
  gboolean         exited;
  SoupSession     *session;
};

/* A self-signed ECDSA certificate for @address and 127.0.0.1. */
static void
make_certificate (MeshTestMediaServer *self)
{
  g_autoptr(GError) error = NULL;

  self->fingerprint = mesh_test_make_certificate_for (self->dir, self->address, &self->cert_path,
                                                      &self->key_path);
  self->certificate = g_tls_certificate_new_from_file (self->cert_path, &error);
  g_assert_no_error (error);
}

static const char *
server_binary (void)
{
  const char *bin = g_getenv ("MESH_SERVER_BIN");

  if (bin == NULL)
    g_error ("MESH_SERVER_BIN is not set: run this test through meson test");
  return bin;
}

MeshTestMediaServer *
mesh_test_media_server_new (const char *address,
                            const char *config_text)
{
  g_autoptr(GError) error = NULL;
  MeshTestMediaServer *self = g_new0 (MeshTestMediaServer, 1);
  /* Tests log in and connect far more than people. */
  g_autofree char *config = g_strconcat (config_text != NULL ? config_text : "",
                                         "\n[auth]\nlogin-ip-burst=1000000\n"
                                         "login-ip-per-minute=1000000\n", NULL);

  g_assert_true (config_text == NULL || strstr (config_text, "[auth]") == NULL);
  self->address = g_strdup (address);
  self->dir = g_dir_make_tmp ("mesh-media-server-XXXXXX", &error);
  g_assert_no_error (error);
  self->data_dir = g_build_filename (self->dir, "data", NULL);
  g_mkdir (self->data_dir, 0700);
  self->config_path = g_build_filename (self->dir, "mesh-server.conf", NULL);
  g_file_set_contents (self->config_path, config, -1, &error);
  g_assert_no_error (error);
  self->output = g_string_new (NULL);
  make_certificate (self);
  self->session = soup_session_new ();
  return self;
}

void
mesh_test_media_server_free (MeshTestMediaServer *self)
{
  if (self == NULL)
    return;
  if (self->process != NULL && g_subprocess_get_identifier (self->process) != NULL) {
    g_subprocess_send_signal (self->process, SIGTERM);
    g_subprocess_wait (self->process, NULL, NULL);
  }
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);
  g_clear_object (&self->session);
  g_clear_object (&self->certificate);
  mesh_test_remove_tree (self->dir);
  g_string_free (self->output, TRUE);
  g_free (self->address);
  g_free (self->dir);
  g_free (self->data_dir);
  g_free (self->config_path);
  g_free (self->cert_path);
  g_free (self->key_path);
  g_free (self->fingerprint);
  g_free (self->url);
  g_free (self);
}

char *
mesh_test_media_server_add_user (MeshTestMediaServer *self,
                                 const char          *username,
                                 const char          *password)
{
  return mesh_test_add_user_in (self->data_dir, username, password);
}

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  MeshTestMediaServer *self;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                    &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || line == NULL)
    return;
  self = user_data;
  g_string_append_printf (self->output, "%s\n", line);
  if (self->url == NULL && g_str_has_prefix (line, REST_LINE_PREFIX)) {
    const char *url = line + strlen (REST_LINE_PREFIX);

    g_assert_true (g_str_has_prefix (url, "https://"));
    g_assert_true (g_str_has_suffix (url, "/api/v1"));
    self->url = g_strndup (url, strlen (url) - strlen ("/api/v1"));
  }
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       self->cancellable, read_line_cb, self);
}

static void
server_exited_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  ((MeshTestMediaServer *) user_data)->exited = TRUE;
}

void
mesh_test_media_server_start (MeshTestMediaServer *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *listen = g_strdup_printf ("%s:0", self->address);
  gboolean timed_out = FALSE;
  guint timeout_id;

  g_assert_null (self->process);
  self->cancellable = g_cancellable_new ();
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  self->process = g_subprocess_launcher_spawn (launcher, &error, server_binary (),
                                               "--listen", listen, "--no-legacy",
                                               "--data-dir", self->data_dir,
                                               "--config", self->config_path,
                                               "--tls-cert", self->cert_path,
                                               "--tls-key", self->key_path, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (self->process, self->cancellable, server_exited_cb, self);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, self->cancellable, read_line_cb,
                                       self);
  timeout_id = g_timeout_add (START_TIMEOUT_MS, set_flag_cb, &timed_out);
  while (self->url == NULL && !self->exited && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  if (self->url == NULL)
    g_error ("mesh-server did not start on %s; it printed:\n%s", self->address,
             self->output->str);
}

const char *
mesh_test_media_server_get_url (MeshTestMediaServer *self)
{
  return self->url;
}

const char *
mesh_test_media_server_get_cert_path (MeshTestMediaServer *self)
{
  return self->cert_path;
}

const char *
mesh_test_media_server_get_fingerprint (MeshTestMediaServer *self)
{
  return self->fingerprint;
}

static gboolean
accept_ours (SoupMessage          *msg,
             GTlsCertificate      *certificate,
             GTlsCertificateFlags  errors,
             gpointer              user_data)
{
  MeshTestMediaServer *self = user_data;

  return g_tls_certificate_is_same (certificate, self->certificate);
}

static void
send_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

JsonNode *
mesh_test_media_server_rest (MeshTestMediaServer *self,
                             const char          *method,
                             const char          *path,
                             const char          *token,
                             const char          *body)
{
  g_autofree char *url = g_strconcat (self->url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint status;

  g_assert_nonnull (msg);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_ours), self);
  if (token != NULL) {
    g_autofree char *authorization = g_strconcat ("Bearer ", token, NULL);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                  authorization);
  }
  if (body != NULL) {
    g_autoptr(GBytes) request = g_bytes_new (body, strlen (body));

    soup_message_set_request_body_from_bytes (msg, "application/json", request);
  }
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, NULL, send_done,
                                    &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  bytes = soup_session_send_and_read_finish (self->session, result, &error);
  g_assert_no_error (error);
  status = soup_message_get_status (msg);
  if (status < 200 || status > 299)
    g_error ("%s %s: %u %.*s", method, path, status, (int) g_bytes_get_size (bytes),
             (const char *) g_bytes_get_data (bytes, NULL));
  if (g_bytes_get_size (bytes) == 0)
    return NULL;
  json_parser_load_from_data (parser, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                              &error);
  g_assert_no_error (error);
  return json_node_ref (json_parser_get_root (parser));
}

char *
mesh_test_media_server_login (MeshTestMediaServer *self,
                              const char          *username,
                              const char          *password)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) request = NULL;
  g_autoptr(JsonNode) answer = NULL;
  g_autofree char *body = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "username");
  json_builder_add_string_value (builder, username);
  json_builder_set_member_name (builder, "password");
  json_builder_add_string_value (builder, password);
  json_builder_end_object (builder);
  request = json_builder_get_root (builder);
  body = json_to_string (request, FALSE);
  answer = mesh_test_media_server_rest (self, "POST", "/api/v1/auth/login", NULL, body);
  return g_strdup (json_object_get_string_member (json_node_get_object (answer),
                                                  "access_token"));
}

char *
mesh_test_media_server_shared_room (MeshTestMediaServer *self,
                                    const char          *owner_token,
                                    const char * const  *member_tokens)
{
  g_autoptr(JsonNode) room = mesh_test_media_server_rest (self, "POST", "/api/v1/rooms",
                                                          owner_token,
                                                          "{\"name\":\"call test\"}");
  const char *room_id = json_object_get_string_member (json_node_get_object (room), "room_id");
  g_autofree char *invite_path = g_strdup_printf ("/api/v1/rooms/%s/invites", room_id);
  g_autoptr(JsonNode) invite = mesh_test_media_server_rest (self, "POST", invite_path,
                                                            owner_token, NULL);
  const char *code = json_object_get_string_member (json_node_get_object (invite), "code");
  g_autofree char *accept_path = g_strdup_printf ("/api/v1/invites/%s/accept", code);

  for (guint i = 0; member_tokens != NULL && member_tokens[i] != NULL; i++) {
    g_autoptr(JsonNode) accepted = mesh_test_media_server_rest (self, "POST", accept_path,
                                                                member_tokens[i], NULL);
  }
  return g_strdup (room_id);
}

/* aiortc-peer.py ----------------------------------------------------------- */

struct _MeshTestAiortc {
  GSubprocess  *process;
  GCancellable *cancellable;
  char         *peer_id;
  JsonObject   *result;
  gboolean      exited;
};

static void
aiortc_line_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  MeshTestAiortc *self;
  JsonObject *obj;
  const char *event;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                    &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || line == NULL)
    return;
  self = user_data;
  g_test_message ("aiortc: %s", line);
  if (json_parser_load_from_data (parser, line, -1, NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    obj = json_node_get_object (json_parser_get_root (parser));
    event = json_object_get_string_member_with_default (obj, "event", "");
    if (g_str_equal (event, "ready") && self->peer_id == NULL)
      self->peer_id = g_strdup (json_object_get_string_member (obj, "peer_id"));
    else if (g_str_equal (event, "result") && self->result == NULL)
      self->result = json_object_ref (obj);
  }
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       self->cancellable, aiortc_line_cb, self);
}

static void
aiortc_exited_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  ((MeshTestAiortc *) user_data)->exited = TRUE;
}

MeshTestAiortc *
mesh_test_aiortc_spawn (MeshTestNetns       *netns,
                        MeshTestMediaServer *server,
                        const char          *username,
                        const char          *password,
                        const char          *room_id,
                        const char * const  *extra_args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  const char *script = g_getenv ("MESH_AIORTC_PEER");
  const char *python = g_getenv ("MESH_PYTHON3");
  MeshTestAiortc *self = g_new0 (MeshTestAiortc, 1);

  if (script == NULL)
    g_error ("MESH_AIORTC_PEER is not set: run this test through meson test");
  if (netns != NULL) {
    g_ptr_array_add (argv, (char *) "ip");
    g_ptr_array_add (argv, (char *) "netns");
    g_ptr_array_add (argv, (char *) "exec");
    g_ptr_array_add (argv, netns->name);
  }
  /* Debian's python3 (python3-aiortc), not whatever python3 is first in PATH. */
  g_ptr_array_add (argv, (char *) (python != NULL ? python : "/usr/bin/python3"));
  g_ptr_array_add (argv, (char *) script);
  g_ptr_array_add (argv, (char *) "--url");
  g_ptr_array_add (argv, server->url);
  g_ptr_array_add (argv, (char *) "--cafile");
  g_ptr_array_add (argv, server->cert_path);
  g_ptr_array_add (argv, (char *) "--user");
  g_ptr_array_add (argv, (char *) username);
  g_ptr_array_add (argv, (char *) "--password");
  g_ptr_array_add (argv, (char *) password);
  g_ptr_array_add (argv, (char *) "--room");
  g_ptr_array_add (argv, (char *) room_id);
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) extra_args[i]);
  g_ptr_array_add (argv, NULL);

  self->cancellable = g_cancellable_new ();
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  self->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata,
                                                &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (self->process, self->cancellable, aiortc_exited_cb, self);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, self->cancellable,
                                       aiortc_line_cb, self);
  return self;
}

static gboolean
wait_until (MeshTestAiortc *self,
            gboolean      (*done) (MeshTestAiortc *self),
            guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);

  while (!done (self) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return done (self);
}

static gboolean
is_ready (MeshTestAiortc *self)
{
  return self->peer_id != NULL || self->exited;
}

static gboolean
is_finished (MeshTestAiortc *self)
{
  return self->exited;
}

const char *
mesh_test_aiortc_wait_ready (MeshTestAiortc *self,
                             guint           timeout_ms)
{
  wait_until (self, is_ready, timeout_ms);
  return self->peer_id;
}

JsonObject *
mesh_test_aiortc_wait_result (MeshTestAiortc *self,
                              guint           timeout_ms)
{
  wait_until (self, is_finished, timeout_ms);
  /* The last line may still be in the pipe when it exits. */
  for (guint i = 0; i < 50 && self->result == NULL && self->exited; i++)
    g_main_context_iteration (NULL, FALSE);
  return self->result;
}

gboolean
mesh_test_aiortc_has_exited (MeshTestAiortc *self)
{
  return self->exited;
}

void
mesh_test_aiortc_free (MeshTestAiortc *self)
{
  if (self == NULL)
    return;
  if (!self->exited && g_subprocess_get_identifier (self->process) != NULL) {
    g_subprocess_force_exit (self->process);
    g_subprocess_wait (self->process, NULL, NULL);
  }
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->process);
  g_free (self->peer_id);
  g_clear_pointer (&self->result, json_object_unref);
  g_free (self);
}
