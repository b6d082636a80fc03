/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "mesh-store.h"

G_BEGIN_DECLS

/* Gotify delivery (§9): a persistent outbox in the store, emptied by one
 * asynchronous libsoup client.  Each user's target has at most one request
 * in flight, so that user's messages arrive in order; a failure that may
 * pass (no connection, a timeout, 5xx, 408, 425, 429) is retried with
 * exponential backoff and jitter, for ever; a refusal (any other 4xx, or a
 * 3xx, which libsoup would turn into a GET) stops that target and is kept as
 * its `last_error` until the user stores new settings.  Nothing here blocks:
 * the control plane only pays for one SQLite insert per message. */

#define MESH_GOTIFY_MAX_TITLE_BYTES    250
#define MESH_GOTIFY_MAX_MESSAGE_BYTES  4096

typedef struct {
  double request_timeout_s;   /* one try, connection included */
  double retry_min_s;         /* first backoff step */
  double retry_max_s;         /* backoff cap */
  guint  max_pending;         /* per user; older ones are dropped beyond it */
  /* FALSE (the default): a target whose name resolves to any loopback,
   * private, link-local or otherwise non-public address is refused, so
   * that users cannot make the server probe its own network. */
  gboolean allow_private_targets;
} MeshGotifyConfig;

void mesh_gotify_config_init_default (MeshGotifyConfig *config);

/* The URL messages are posted to: @base checked (http or https, a host, no
 * user info, no query or fragment: the token never travels in a URL) and its
 * trailing slashes replaced by "/message", keeping a path prefix.  Refused:
 * NULL with MESH_ERROR_BAD_REQUEST. */
char *mesh_gotify_message_url (const char  *base,
                               GError     **error);

/* Why @address may not be a Gotify target unless private targets are
 * allowed ("a loopback address", ...), or NULL for a public unicast
 * address.  IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 addresses are
 * judged by the IPv4 address they carry. */
const char *mesh_gotify_address_refusal (GInetAddress *address);

/* TRUE when @a and @b (URLs accepted by mesh_gotify_message_url()) have
 * the same scheme, host and port (default ports made explicit, host names
 * compared without case): the stored token may only go where it went. */
gboolean    mesh_gotify_same_origin     (const char   *a,
                                         const char   *b);

#define MESH_TYPE_GOTIFY (mesh_gotify_get_type ())
G_DECLARE_FINAL_TYPE (MeshGotify, mesh_gotify, MESH, GOTIFY, GObject)

MeshGotify *mesh_gotify_new            (MeshStore               *store,
                                        const MeshGotifyConfig  *config);
/* Starts delivering whatever the outbox held when the server last stopped. */
void        mesh_gotify_resume         (MeshGotify              *self);
/* Cancels every request and timer; the outbox keeps what was not delivered. */
void        mesh_gotify_stop           (MeshGotify              *self);

/* Queues a message for @user_id when that user has a target that takes
 * @kind: written to the outbox first, then delivered.  @priority is used
 * unless the user set one of their own; @extras (may be NULL) is sent as
 * Gotify `extras`.  Returns TRUE when a message was queued. */
gboolean    mesh_gotify_push           (MeshGotify              *self,
                                        const char              *user_id,
                                        const char              *kind,
                                        gint64                   priority,
                                        const char              *title,
                                        const char              *message,
                                        JsonObject              *extras);
/* The user's settings were stored or deleted: waiting messages are tried
 * again at once with the new settings (or forgotten with the target). */
void        mesh_gotify_target_changed (MeshGotify              *self,
                                        const char              *user_id);

/* Posts a test message to @url with @token and reports Gotify's answer as
 * {ok, status?, error?} (status: Gotify's HTTP status when it answered).
 * `error` is our own sentence around the status line: nothing of the
 * answer's body is read beyond its headers, nor ever echoed. */
void        mesh_gotify_test_async     (MeshGotify              *self,
                                        const char              *url,
                                        const char              *token,
                                        gint64                   priority,
                                        GCancellable            *cancellable,
                                        GAsyncReadyCallback      callback,
                                        gpointer                 user_data);
JsonObject *mesh_gotify_test_finish    (MeshGotify              *self,
                                        GAsyncResult            *result,
                                        GError                 **error);

G_END_DECLS
