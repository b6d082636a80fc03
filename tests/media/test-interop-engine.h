/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "aiortc-harness.h"
#include "mesh-call-engine.h"

G_BEGIN_DECLS

/* One side of a call for the interop, TURN and call-setup runs: a
 * MeshClientRest signed in to a MeshTestMediaServer (its certificate
 * pinned), a connected MeshClientSession that joined @room_id, and a
 * MeshCallEngine on it with test sources (videotestsrc WIDTHxHEIGHT at
 * 30 fps, audiotestsrc, fakesink), gathering on @local_address only, echo
 * cancellation off. */
typedef struct {
  MeshClientRest    *rest;
  MeshClientSession *session;
  MeshCallEngine    *engine;
  char              *user_id;
  MeshCall          *incoming;     /* the last "incoming-call" */
  gboolean           auto_accept;  /* accept every incoming call at once */
  gint64             incoming_at;  /* monotonic µs of the last incoming call */
} MeshTestEngine;

MeshTestEngine *mesh_test_engine_new    (MeshTestMediaServer *server,
                                         const char          *username,
                                         const char          *password,
                                         const char          *room_id,
                                         const char          *local_address,
                                         int                  width,
                                         int                  height);
void            mesh_test_engine_free   (MeshTestEngine      *self);

/* The first peer of the engine's first live call (a new reference), or NULL. */
MeshCallPeer   *mesh_test_engine_dup_peer (MeshTestEngine    *self);
guint           mesh_test_engine_n_calls  (MeshTestEngine    *self);

/* Pumps the main context until @check (@data) or @timeout_ms; returns
 * @check's last answer. */
gboolean        mesh_test_wait_for      (gboolean (*check) (gpointer data),
                                         gpointer             data,
                                         guint                timeout_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestEngine, mesh_test_engine_free)

G_END_DECLS
