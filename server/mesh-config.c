/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-config"

#include "config.h"

#include "mesh-config.h"
#include "mesh-listener.h"

#include <string.h>

char *
mesh_config_default_data_dir (void)
{
  /* systemd's StateDirectory= tells us where to keep state. */
  const char *state = g_getenv ("STATE_DIRECTORY");

  if (state != NULL && *state != '\0')
    return g_strdup (state);
  return g_build_filename (g_get_user_data_dir (), "mesh-server", NULL);
}

MeshConfig *
mesh_config_new (void)
{
  MeshConfig *config = g_new0 (MeshConfig, 1);

  config->listen = g_strdup (MESH_DEFAULT_LISTEN);
  config->legacy_listen = g_strdup (MESH_DEFAULT_LEGACY_LISTEN);
  config->legacy_enabled = TRUE;
  config->data_dir = mesh_config_default_data_dir ();
  config->hello_timeout_s = 10;
  mesh_ws_limits_init_default (&config->limits);
  mesh_notify_config_init_default (&config->notify);
  mesh_rest_throttle_init_default (&config->throttle);
  config->device_idle_days = 90;
  mesh_rest_turn_init_default (&config->turn);

  /* The legacy relay carries trickled ICE for several calls through one
   * socket: it must take bursts of thousands of signals (legacy-relay.md). */
  mesh_ws_limits_init_default (&config->legacy_limits);
  config->legacy_limits.messages_per_second = 20000;
  config->legacy_limits.burst = 20000;
  config->legacy_limits.abuse_limit = 100000;
  config->legacy_limits.max_queued_bytes = 16 * 1024 * 1024;
  return config;
}

void
mesh_config_free (MeshConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->listen);
  g_free (config->legacy_listen);
  g_free (config->data_dir);
  g_free (config->tls_cert);
  g_free (config->tls_key);
  g_strfreev (config->throttle.trusted_proxies);
  mesh_rest_turn_clear (&config->turn);
  g_free (config);
}

static gboolean
read_string (GKeyFile    *kf,
             const char  *group,
             const char  *key,
             char       **out,
             GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  char *value = g_key_file_get_string (kf, group, key, &local_error);

  if (value == NULL) {
    if (g_error_matches (local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
        g_error_matches (local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
      return TRUE;
    g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "[%s] %s: ", group, key);
    return FALSE;
  }
  g_free (*out);
  *out = value;
  return TRUE;
}

static gboolean
read_bool (GKeyFile    *kf,
           const char  *group,
           const char  *key,
           gboolean    *out,
           GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  gboolean value;

  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  value = g_key_file_get_boolean (kf, group, key, &local_error);
  if (local_error != NULL) {
    g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "[%s] %s: ", group, key);
    return FALSE;
  }
  *out = value;
  return TRUE;
}

static gboolean
read_number (GKeyFile    *kf,
             const char  *group,
             const char  *key,
             double       min,
             double       max,
             double      *out,
             GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  double value;

  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  value = g_key_file_get_double (kf, group, key, &local_error);
  if (local_error != NULL) {
    g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "[%s] %s: ", group, key);
    return FALSE;
  }
  if (value < min || value > max) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                 "[%s] %s: %g is outside %g..%g", group, key, value, min, max);
    return FALSE;
  }
  *out = value;
  return TRUE;
}

static gboolean
read_limits (GKeyFile      *kf,
             const char    *group,
             MeshWsLimits  *limits,
             GError       **error)
{
  double frame = limits->max_frame_bytes, rate = limits->messages_per_second;
  double burst = limits->burst, queue = limits->max_queued_bytes;
  double ping = limits->ping_interval_s, silence = limits->silence_timeout_s;
  double abuse = limits->abuse_limit;
  double sockets = limits->max_sockets, user_sockets = limits->max_sockets_per_user;

  if (!read_number (kf, group, "max-frame-bytes", 1024, 16 * 1024 * 1024, &frame, error) ||
      !read_number (kf, group, "messages-per-second", 1, 1e7, &rate, error) ||
      !read_number (kf, group, "burst", 1, 1e7, &burst, error) ||
      !read_number (kf, group, "abuse-limit", 1, 1e9, &abuse, error) ||
      !read_number (kf, group, "max-queued-bytes", 64 * 1024, 1024.0 * 1024 * 1024, &queue, error) ||
      !read_number (kf, group, "ping-interval", 0, 3600, &ping, error) ||
      !read_number (kf, group, "silence-timeout", 0, 86400, &silence, error) ||
      !read_number (kf, group, "max-sockets", 1, 1e6, &sockets, error) ||
      !read_number (kf, group, "max-sockets-per-user", 1, 1e6, &user_sockets, error))
    return FALSE;

  limits->max_frame_bytes = (gsize) frame;
  limits->messages_per_second = rate;
  limits->burst = burst;
  limits->abuse_limit = (guint) abuse;
  limits->max_queued_bytes = (gsize) queue;
  limits->ping_interval_s = (guint) ping;
  limits->silence_timeout_s = (guint) silence;
  limits->max_sockets = (guint) sockets;
  limits->max_sockets_per_user = (guint) user_sockets;
  return TRUE;
}

static gboolean
read_notify (GKeyFile          *kf,
             MeshNotifyConfig  *notify,
             GError           **error)
{
  /* The key of each kind's default priority, in MeshNotifyKind order. */
  static const char * const priority_keys[MESH_NOTIFY_N_KINDS] = {
    "chat-priority", "call-priority", "share-priority", "terminal-priority", "agent-priority",
  };
  gboolean disabled = !notify->gotify_enabled;
  gboolean allow_private = notify->gotify.allow_private_targets;
  double timeout = notify->gotify.request_timeout_s;
  double retry_min = notify->gotify.retry_min_s, retry_max = notify->gotify.retry_max_s;
  double max_pending = notify->gotify.max_pending;
  double agent_delay = notify->agent_offline_delay_s, call_timeout = notify->call_timeout_s;

  if (!read_bool (kf, "gotify", "disabled", &disabled, error) ||
      !read_bool (kf, "gotify", "allow-private-targets", &allow_private, error) ||
      !read_number (kf, "gotify", "request-timeout", 0.1, 600, &timeout, error) ||
      !read_number (kf, "gotify", "retry-min", 0.01, 3600, &retry_min, error) ||
      !read_number (kf, "gotify", "retry-max", 0.01, 86400, &retry_max, error) ||
      !read_number (kf, "gotify", "max-pending", 1, 1e6, &max_pending, error) ||
      !read_number (kf, "gotify", "agent-offline-delay", 0.1, 86400, &agent_delay, error) ||
      !read_number (kf, "gotify", "call-timeout", 0.1, 3600, &call_timeout, error))
    return FALSE;
  for (guint i = 0; i < MESH_NOTIFY_N_KINDS; i++) {
    double priority = notify->priorities[i];

    if (!read_number (kf, "gotify", priority_keys[i], 0, 10, &priority, error))
      return FALSE;
    notify->priorities[i] = (gint64) priority;
  }
  if (retry_max < retry_min) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                 "[gotify] retry-max (%g) is below retry-min (%g)", retry_max, retry_min);
    return FALSE;
  }
  notify->gotify_enabled = !disabled;
  notify->gotify.allow_private_targets = allow_private;
  notify->gotify.request_timeout_s = timeout;
  notify->gotify.retry_min_s = retry_min;
  notify->gotify.retry_max_s = retry_max;
  notify->gotify.max_pending = (guint) max_pending;
  notify->agent_offline_delay_s = agent_delay;
  notify->call_timeout_s = call_timeout;
  return TRUE;
}

static gboolean
read_auth (GKeyFile          *kf,
           MeshConfig        *config,
           GError           **error)
{
  MeshRestThrottle *throttle = &config->throttle;
  double known = throttle->known_days, entries = throttle->max_entries;
  double idle = config->device_idle_days;

  if (!read_number (kf, "auth", "login-ip-burst", 1, 1e6, &throttle->ip_burst, error) ||
      !read_number (kf, "auth", "login-ip-per-minute", 0.01, 1e6, &throttle->ip_per_minute,
                    error) ||
      !read_number (kf, "auth", "login-user-burst", 1, 1e6, &throttle->user_burst, error) ||
      !read_number (kf, "auth", "login-user-per-minute", 0.01, 1e6,
                    &throttle->user_per_minute, error) ||
      !read_number (kf, "auth", "login-known-days", 0, 3650, &known, error) ||
      !read_number (kf, "auth", "throttle-max-entries", 100, 1e7, &entries, error) ||
      !read_number (kf, "auth", "device-token-idle-days", 1, 36500, &idle, error))
    return FALSE;
  if (g_key_file_has_key (kf, "auth", "trusted-proxies", NULL)) {
    g_auto(GStrv) proxies = g_key_file_get_string_list (kf, "auth", "trusted-proxies", NULL,
                                                        error);

    if (proxies == NULL) {
      g_prefix_error (error, "[auth] trusted-proxies: ");
      return FALSE;
    }
    /* Compared as text with the peer's address: normalise them. */
    for (guint i = 0; proxies[i] != NULL; i++) {
      g_autoptr(GInetAddress) address = g_inet_address_new_from_string (g_strstrip (proxies[i]));

      if (address == NULL) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "[auth] trusted-proxies: '%s' is not an IP address", proxies[i]);
        return FALSE;
      }
      g_free (proxies[i]);
      proxies[i] = g_inet_address_to_string (address);
    }
    g_strfreev (throttle->trusted_proxies);
    throttle->trusted_proxies = g_steal_pointer (&proxies);
  }
  throttle->known_days = (guint) known;
  throttle->max_entries = (guint) entries;
  config->device_idle_days = (guint) idle;
  return TRUE;
}

/* An ICE server URI as RFC 7064/7065 write them: scheme, then a host
 * (and port, and for TURN a ?transport=), no spaces or credentials. */
static gboolean
turn_uri_is_valid (const char *uri,
                   gboolean   *is_turn)
{
  static const char * const schemes[] = { "stun:", "stuns:", "turn:", "turns:" };
  const char *rest = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (schemes) && rest == NULL; i++) {
    if (g_ascii_strncasecmp (uri, schemes[i], strlen (schemes[i])) == 0) {
      rest = uri + strlen (schemes[i]);
      *is_turn = i >= 2;
    }
  }
  if (rest == NULL || *rest == '\0' || *rest == '/' || *rest == '?' || *rest == ':')
    return FALSE;
  for (const char *p = rest; *p != '\0'; p++) {
    if ((guchar) *p <= ' ' || (guchar) *p >= 0x7f || *p == '@' || *p == '"' || *p == '\\')
      return FALSE;
  }
  /* A query only for TURN, and only the transport. */
  rest = strchr (rest, '?');
  if (rest != NULL && (!*is_turn || (!g_str_equal (rest, "?transport=udp") &&
                                     !g_str_equal (rest, "?transport=tcp"))))
    return FALSE;
  return TRUE;
}

/* The secret's first line; the file need not be readable by others the
 * way the config file is. */
static gboolean
read_secret_file (const char  *path,
                  char       **secret,
                  GError     **error)
{
  g_autofree char *contents = NULL;
  char *newline;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return FALSE;
  newline = strpbrk (contents, "\r\n");
  if (newline != NULL)
    *newline = '\0';
  g_free (*secret);
  *secret = g_strdup (contents);
  memset (contents, 0, strlen (contents));
  return TRUE;
}

static gboolean
read_turn (GKeyFile      *kf,
           MeshRestTurn  *turn,
           GError       **error)
{
  double ttl = turn->ttl_s;
  g_autofree char *secret_file = NULL;
  gboolean has_turn = FALSE;

  if (!read_number (kf, "turn", "ttl", 60, 30 * 86400, &ttl, error) ||
      !read_string (kf, "turn", "secret", &turn->secret, error) ||
      !read_string (kf, "turn", "secret-file", &secret_file, error))
    return FALSE;
  if (secret_file != NULL) {
    if (g_key_file_has_key (kf, "turn", "secret", NULL)) {
      g_set_error_literal (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "[turn] give secret or secret-file, not both");
      return FALSE;
    }
    if (!read_secret_file (secret_file, &turn->secret, error)) {
      g_prefix_error (error, "[turn] secret-file: ");
      return FALSE;
    }
  }
  if (turn->secret != NULL && turn->secret[0] == '\0') {
    g_set_error_literal (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                         "[turn] the secret is empty");
    return FALSE;
  }
  if (g_key_file_has_key (kf, "turn", "uris", NULL)) {
    g_auto(GStrv) list = g_key_file_get_string_list (kf, "turn", "uris", NULL, error);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

    if (list == NULL) {
      g_prefix_error (error, "[turn] uris: ");
      return FALSE;
    }
    for (guint i = 0; list[i] != NULL; i++) {
      const char *uri = g_strstrip (list[i]);
      gboolean is_turn = FALSE;

      if (*uri == '\0')
        continue;
      if (!turn_uri_is_valid (uri, &is_turn)) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "[turn] uris: '%s' is not a stun:, stuns:, turn: or turns: URI "
                     "(host[:port][?transport=udp|tcp], no credentials)", uri);
        return FALSE;
      }
      has_turn |= is_turn;
      g_strv_builder_add (builder, uri);
    }
    g_strfreev (turn->uris);
    turn->uris = g_strv_builder_end (builder);
  }
  /* Without it clients would get TURN URIs they cannot authenticate to. */
  if (has_turn && turn->secret == NULL) {
    g_set_error_literal (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                         "[turn] uris has turn: URIs but there is no secret "
                         "(coturn's static-auth-secret)");
    return FALSE;
  }
  turn->ttl_s = (guint) ttl;
  return TRUE;
}

gboolean
mesh_config_load_file (MeshConfig  *config,
                       const char  *path,
                       GError     **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  gboolean no_legacy = !config->legacy_enabled;
  double hello = config->hello_timeout_s;
  double shards = config->shards;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error)) {
    g_prefix_error (error, "%s: ", path);
    return FALSE;
  }

  if (!read_string (kf, "server", "listen", &config->listen, error) ||
      !read_string (kf, "server", "data-dir", &config->data_dir, error) ||
      !read_bool (kf, "server", "open-registration", &config->open_registration, error) ||
      !read_string (kf, "server", "tls-cert", &config->tls_cert, error) ||
      !read_string (kf, "server", "tls-key", &config->tls_key, error) ||
      !read_number (kf, "server", "hello-timeout", 1, 3600, &hello, error) ||
      !read_number (kf, "server", "shards", 0, 256, &shards, error) ||
      !read_string (kf, "legacy", "listen", &config->legacy_listen, error) ||
      !read_bool (kf, "legacy", "disabled", &no_legacy, error) ||
      !read_limits (kf, "limits", &config->limits, error) ||
      !read_limits (kf, "legacy", &config->legacy_limits, error) ||
      !read_notify (kf, &config->notify, error) ||
      !read_auth (kf, config, error) ||
      !read_turn (kf, &config->turn, error)) {
    g_prefix_error (error, "%s: ", path);
    return FALSE;
  }
  config->legacy_enabled = !no_legacy;
  config->hello_timeout_s = (guint) hello;
  config->shards = (guint) shards;
  return TRUE;
}

static gboolean
check_listen (const char  *what,
              const char  *host_port,
              gboolean     has_tls,
              GError     **error)
{
  g_autofree char *host = NULL;
  guint16 port;

  if (!mesh_parse_host_port (host_port, &host, &port, error)) {
    g_prefix_error (error, "%s: ", what);
    return FALSE;
  }
  if (!has_tls && !mesh_host_is_loopback (host)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "%s %s is not a loopback address: plain HTTP/WebSocket is only allowed on "
                 "loopback; give --tls-cert and --tls-key (or listen on 127.0.0.1)",
                 what, host_port);
    return FALSE;
  }
  return TRUE;
}

gboolean
mesh_config_validate (MeshConfig  *config,
                      GError     **error)
{
  gboolean has_tls = config->tls_cert != NULL || config->tls_key != NULL;

  if ((config->tls_cert == NULL) != (config->tls_key == NULL)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                         "--tls-cert and --tls-key go together");
    return FALSE;
  }
  if (config->data_dir == NULL || *config->data_dir == '\0') {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no data folder");
    return FALSE;
  }
  if (!check_listen ("--listen", config->listen, has_tls, error))
    return FALSE;
  /* The legacy relay serves wss:// with the same certificate when there is one. */
  if (config->legacy_enabled &&
      !check_listen ("--legacy-listen", config->legacy_listen, has_tls, error))
    return FALSE;
  return TRUE;
}
