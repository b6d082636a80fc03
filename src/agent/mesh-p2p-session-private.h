/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "mesh-agent-session.h"
#include "mesh-hash-cache.h"
#include "mesh-p2p-session.h"
#include "mesh-quic-endpoint.h"
#include "mesh-terminal-host.h"

G_BEGIN_DECLS

/* What the agent controller and the engines share about a session.  Only
 * the controller's thread touches it. */

typedef struct _MeshAgentController MeshAgentController;
typedef struct _MeshP2pEngine MeshP2pEngine;

/* Called once when the engine has ended (error NULL: it went well). */
typedef void (*MeshP2pDoneFunc) (MeshP2pSession *session,
                                 const GError   *error);

struct _MeshP2pSession {
  GObject              parent_instance;

  /* What the server said (p2p.session.created). */
  MeshAgentController *controller;     /* borrowed; NULL once the controller is gone */
  char                *session_id;
  MeshP2pKind          kind;
  MeshP2pRole          role;
  char                *room_id;
  char                *peer_device_id;
  char                *peer_user_id;
  char                *peer_username;
  char                *token;
  char                *peer_fingerprint;
  JsonObject          *meta;
  JsonObject          *endpoints;
  gint64               max_size;
  gint64               max_rate;       /* bytes/s, 0: none; paces file and folder data */
  char                *share_id;       /* terminal */

  /* Where it is. */
  MeshP2pState         state;
  GError              *error;
  guint64              bytes;
  guint64              total;
  gint64               started_at;     /* monotonic µs, when the engine started */
  gint64               expires_at;     /* monotonic µs; server role */
  gboolean             expected;       /* the peer's fingerprint is registered with the endpoint */
  gboolean             token_used;
  gboolean             started;
  gboolean             finished;
  gboolean             asking;         /* server role: waiting for the user's answer */
  gboolean             cancelled;      /* our user cancelled: the connection closes saying so */
  gboolean             accepted;       /* server role: our policy or our user said yes */
  GSource             *expiry;
  GTask               *task;           /* client role: the caller's operation */
  GCancellable        *cancellable;

  /* The data plane. */
  GCancellable        *attempt;        /* the QUIC connection attempt under way */
  GPtrArray           *candidates;     /* GSocketAddress* of the peer, in order */
  guint                next_candidate;
  MeshQuicConnection  *connection;
  GIOStream           *stream;

  /* The engine. */
  const MeshP2pEngine *funcs;
  GObject             *engine;
  MeshP2pDoneFunc      done;
  GFile               *download_dir;   /* server role: where to save */
  GFile               *path;           /* what is sent, or what was received */
  MeshHashCache       *hash_cache;     /* file, client role: hashes of files sent before */
  MeshTerminalHost    *host;           /* terminal, server role: the shell viewed */
  MeshAgentControlFunc on_control;     /* terminal, server role: TERM_CONTROL frames */
  char                *viewer_id;      /* terminal host side */
  JsonObject          *early_control;  /* TERM_CONTROL that came before the server's grant */
};

/* What differs between kinds and roles; the controller only calls these. */
struct _MeshP2pEngine {
  /* The capability a client asks for (§4); NULL for the server role. */
  const char *cap;
  /* Runs the engine on session->stream; it calls session->done once. */
  void     (*start)   (MeshP2pSession *session);
  /* Our user stopped it, or the offer was withdrawn: leave no partial data. */
  void     (*discard) (MeshP2pSession *session);
  /* The engine ends its stream itself (terminals); else the session closes it. */
  gboolean  owns_stream;
  /* The offer's max_rate paces its data. */
  gboolean  paced;
  /* A new session for the same content from the same device replaces a running one. */
  gboolean  resumable;
  /* The caller's operation completes once the engine started (a terminal viewer),
   * not when it ends. */
  gboolean  returns_engine;
};

const MeshP2pEngine *mesh_p2p_engine_lookup          (MeshP2pKind     kind,
                                                      MeshP2pRole     role);

MeshP2pSession      *mesh_p2p_session_new            (MeshP2pKind     kind,
                                                      MeshP2pRole     role);
void                 mesh_p2p_session_set_kind       (MeshP2pSession *self,
                                                      MeshP2pKind     kind);
void                 mesh_p2p_session_set_id         (MeshP2pSession *self,
                                                      const char     *session_id);
void                 mesh_p2p_session_set_state      (MeshP2pSession *self,
                                                      MeshP2pState    state,
                                                      const GError   *error);
void                 mesh_p2p_session_set_progress   (MeshP2pSession *self,
                                                      guint64         done,
                                                      guint64         total);
void                 mesh_p2p_session_set_file       (MeshP2pSession *self,
                                                      GFile          *file);
/* The engine's "progress" signal, connected by engines. */
void                 mesh_p2p_session_on_progress    (GObject        *engine,
                                                      guint64         done,
                                                      guint64         total,
                                                      MeshP2pSession *self);

G_END_DECLS
