/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* A session stream as an engine sees it, minus the session's own CONTROL
 * messages.  Engines own the frames of their stream and refuse CONTROL
 * types they do not know; the controller still has to hear a few (the
 * viewer's TERM_CONTROL, which carries its terminal:control token).  This
 * GIOStream reads frames from the base stream through its one
 * MeshFrameReader, hands the CONTROL frames whose "t" is in @intercept to a
 * callback and passes every other frame on unchanged.  Writes go straight to
 * the base stream's output; closing closes the base stream.  Without
 * @intercept it only does the latter. */

#define MESH_TYPE_AGENT_SESSION_STREAM (mesh_agent_session_stream_get_type ())

G_DECLARE_FINAL_TYPE (MeshAgentSessionStream, mesh_agent_session_stream, MESH,
                      AGENT_SESSION_STREAM, GIOStream)

typedef void (*MeshAgentControlFunc) (JsonObject *control,
                                      gpointer    user_data);

MeshAgentSessionStream *mesh_agent_session_stream_new       (GIOStream              *base,
                                                             const char * const     *intercept,
                                                             MeshAgentControlFunc    func,
                                                             gpointer                user_data,
                                                             GDestroyNotify          destroy);
GIOStream              *mesh_agent_session_stream_get_base  (MeshAgentSessionStream *self);
/* Drops the callback (its data is destroyed); intercepted frames are then ignored. */
void                    mesh_agent_session_stream_disconnect (MeshAgentSessionStream *self);

G_END_DECLS
