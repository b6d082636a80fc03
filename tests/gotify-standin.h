/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* A Gotify server (v2 API) on 127.0.0.1 for tests, following
 * shared/research/gotify.md §1–§5: POST /message with the token read from
 * ?token=, then X-Gotify-Key, then Authorization: Bearer (401 JSON before
 * the body is looked at); the body parsed by its Content-Type (JSON, or a
 * form merged with the query, where extras are ignored); 400 for a missing
 * or empty message, bad JSON or a non-integer priority; a blank title
 * becomes the app's name and a missing priority the app's default; 200 with
 * the stored message.  GET /version, GET|HEAD /health, 307 for POST
 * /message/, JSON 404 elsewhere.  Switches make it down (not listening),
 * hanging (requests never answered), failing (500) or redirecting (301). */

typedef enum {
  GOTIFY_STANDIN_UP,
  GOTIFY_STANDIN_DOWN,
  GOTIFY_STANDIN_HANG,
  GOTIFY_STANDIN_FAIL,
  GOTIFY_STANDIN_REDIRECT,
  /* 400 whose body starts with GOTIFY_STANDIN_SECRET and goes on for
   * GOTIFY_STANDIN_HUGE_BYTES (chunked, written as the client reads). */
  GOTIFY_STANDIN_HUGE,
} GotifyStandinMode;

#define GOTIFY_STANDIN_SECRET     "internal-secret-7f3a"
#define GOTIFY_STANDIN_HUGE_BYTES (64 * 1024 * 1024)

typedef struct {
  gint64      id;
  gint64      appid;
  char       *title;
  char       *message;
  gint64      priority;
  JsonObject *extras;          /* NULL when none was stored */
  char       *content_type;    /* the request's media type */
} GotifyStandinMessage;

typedef struct _GotifyStandin GotifyStandin;

GotifyStandin *gotify_standin_new           (void);
void           gotify_standin_free          (GotifyStandin     *self);
/* "http://127.0.0.1:PORT" (the same port across down and up). */
const char    *gotify_standin_get_url       (GotifyStandin     *self);
/* Adds an application; returns its token (owned by the stand-in). */
const char    *gotify_standin_add_app       (GotifyStandin     *self,
                                             const char        *name,
                                             gint64             default_priority);
void           gotify_standin_set_mode      (GotifyStandin     *self,
                                             GotifyStandinMode  mode);
/* Stored messages, oldest first (GotifyStandinMessage*, owned). */
GPtrArray     *gotify_standin_get_messages  (GotifyStandin     *self);
/* Body bytes the socket took for answers in GOTIFY_STANDIN_HUGE mode. */
guint64        gotify_standin_get_body_bytes_sent (GotifyStandin *self);
/* Every POST /message that reached it, answered or not. */
guint          gotify_standin_get_n_posts   (GotifyStandin     *self);
/* Pumps the main context until @n messages are stored; FALSE after
 * @timeout_ms. */
gboolean       gotify_standin_wait_messages (GotifyStandin     *self,
                                             guint              n,
                                             guint              timeout_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GotifyStandin, gotify_standin_free)

G_END_DECLS
