/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "mesh-cap-token.h"
#include "mesh-notify.h"
#include "mesh-store.h"

G_BEGIN_DECLS

/* The REST API of protocol §2 under /api/v1, plus GET /health. */

typedef gboolean (*MeshRestControlFunc) (gpointer    user_data,
                                         const char *room_id,
                                         const char *user_id,
                                         const char *bearer_token);

/* Throttling of POST /auth/login and /auth/register (token buckets; a
 * refused request gets 429 RATE_LIMITED with Retry-After).  Per client
 * address (IPv6 by /64), every attempt costs a token; per username, every
 * failed login does, except from an address that logged in as that user
 * before (so guessing cannot lock the owner out); the buckets refill, so
 * nothing is locked for good.  Full buckets are forgotten: memory stays
 * within max_entries per table. */
typedef struct {
  double ip_burst;              /* attempts one address may make at once */
  double ip_per_minute;         /* then this many a minute */
  double user_burst;            /* failed logins for one username at once */
  double user_per_minute;       /* then this many a minute */
  guint  known_days;            /* how long a successful address is trusted */
  guint  max_entries;           /* per table; beyond it old entries go */
  /* Reverse proxies (IP addresses) whose X-Forwarded-For is believed: the
   * client is the last address the proxy appended.  NULL: none. */
  GStrv  trusted_proxies;
} MeshRestThrottle;

void   mesh_rest_throttle_init_default (MeshRestThrottle *throttle);

/* ICE servers for calls, handed out by GET /api/v1/turn ([turn] in the
 * config file).  With a secret, TURN credentials follow the TURN REST API
 * scheme of coturn's use-auth-secret: username "<expiry>:<user_id>",
 * password base64 (HMAC-SHA1 (secret, username)). */
typedef struct {
  GStrv  uris;       /* stun:, stuns:, turn:, turns: URIs; NULL/empty: 404 */
  char  *secret;     /* coturn's static-auth-secret; NULL: no credentials */
  guint  ttl_s;      /* lifetime of the credentials, seconds */
} MeshRestTurn;

#define MESH_REST_TURN_DEFAULT_TTL 86400

void   mesh_rest_turn_init_default (MeshRestTurn       *turn);
void   mesh_rest_turn_copy         (MeshRestTurn       *dest,
                                    const MeshRestTurn *src);
void   mesh_rest_turn_clear        (MeshRestTurn       *turn);
/* The credentials for @user_id valid until @expiry (Unix time). */
void   mesh_rest_turn_credentials  (const char         *secret,
                                    const char         *user_id,
                                    gint64              expiry,
                                    char              **username,
                                    char              **password);

typedef struct {
  MeshStore           *store;
  MeshCapKey          *cap_key;
  gboolean             open_registration;
  gsize                max_body_size;          /* bytes; 0 = 64 KiB */
  /* Asked before a `terminal:control` cap is issued (§4, §7): TRUE only when
   * the peer that holds control of a terminal share in @room_id is @user_id's
   * and used @bearer_token, the caller's.  NULL: never. */
  MeshRestControlFunc  may_control_terminal;
  gpointer             hook_data;
  /* /me/gotify (§9) settings, test and delivery; NULL: those routes 404. */
  MeshNotifier        *notifier;
  MeshRestThrottle     throttle;               /* all 0: the defaults */
  MeshRestTurn         turn;                   /* copied; no uris: /turn 404s */
  /* Called when a user revoked one of their devices (its sockets close). */
  void               (*device_revoked) (gpointer    user_data,
                                        const char *device_id);
} MeshRestConfig;

/* Adds the handlers to @server.  The config's objects are referenced. */
void   mesh_rest_add_handlers   (SoupServer           *server,
                                 const MeshRestConfig *config);

/* The bearer token of a request: `Authorization: Bearer …`, else, when
 * @allow_query (the WebSocket upgrade: browsers cannot set headers there),
 * the `access_token` query parameter.  NULL when there is none.  REST routes
 * take only the header, so tokens stay out of URLs and proxy logs. */
char  *mesh_rest_get_bearer     (SoupServerMessage    *msg,
                                 gboolean              allow_query);

/* Answers @msg with a JSON body and `Connection: close` (libsoup 3.2 leaks
 * idle keep-alive connections, research/server.md pitfall 7). */
void   mesh_rest_reply_json     (SoupServerMessage    *msg,
                                 guint                 status,
                                 const char           *body);
void   mesh_rest_reply_error    (SoupServerMessage    *msg,
                                 const GError         *error);

G_END_DECLS
