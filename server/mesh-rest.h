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
