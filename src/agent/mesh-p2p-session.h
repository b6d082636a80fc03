/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* One P2P session (protocol §5, §6) in either role, as its engine runs it.
 * The agent controller makes them: mesh_agent_controller_send_async() and
 * view_terminal_async() return theirs, "session-added" announces every other
 * one.  Watch it with notify::state (and notify::bytes-done for progress);
 * it lives on the controller's thread and changes there only. */

typedef enum {
  MESH_P2P_KIND_FILE,
  MESH_P2P_KIND_FOLDER,
  MESH_P2P_KIND_TERMINAL,
} MeshP2pKind;

typedef enum {
  MESH_P2P_ROLE_CLIENT,  /* A: we asked for it and connect */
  MESH_P2P_ROLE_SERVER,  /* B: the peer asked, we accept its connection */
} MeshP2pRole;

typedef enum {
  MESH_P2P_STATE_REQUESTING,  /* client: asking the server (caps, request, accept) */
  MESH_P2P_STATE_OFFERED,     /* server: waiting for our user's answer */
  MESH_P2P_STATE_ACCEPTED,    /* server: waiting for the peer's P2P_HELLO */
  MESH_P2P_STATE_CONNECTING,  /* client: QUIC handshake and P2P_HELLO */
  MESH_P2P_STATE_RUNNING,     /* the engine runs */
  MESH_P2P_STATE_DONE,        /* ended well (a receiver checked the hash) */
  MESH_P2P_STATE_FAILED,      /* ended badly or cancelled: see "error" */
  MESH_P2P_STATE_REFUSED,     /* server: refused, declined or expired before it ran: "error" */
} MeshP2pState;

#define MESH_TYPE_P2P_KIND  (mesh_p2p_kind_get_type ())
#define MESH_TYPE_P2P_ROLE  (mesh_p2p_role_get_type ())
#define MESH_TYPE_P2P_STATE (mesh_p2p_state_get_type ())
#define MESH_TYPE_P2P_SESSION (mesh_p2p_session_get_type ())

GType mesh_p2p_kind_get_type  (void) G_GNUC_CONST;
GType mesh_p2p_role_get_type  (void) G_GNUC_CONST;
GType mesh_p2p_state_get_type (void) G_GNUC_CONST;

G_DECLARE_FINAL_TYPE (MeshP2pSession, mesh_p2p_session, MESH, P2P_SESSION, GObject)

/* The wire names ("file", "folder", "terminal"; "client", "server"). */
const char   *mesh_p2p_kind_to_string            (MeshP2pKind     kind);
gboolean      mesh_p2p_kind_from_string          (const char     *text,
                                                  MeshP2pKind    *kind);
const char   *mesh_p2p_role_to_string            (MeshP2pRole     role);

/* NULL until the server created it (client role). */
const char   *mesh_p2p_session_get_session_id    (MeshP2pSession *self);
MeshP2pKind   mesh_p2p_session_get_kind          (MeshP2pSession *self);
MeshP2pRole   mesh_p2p_session_get_role          (MeshP2pSession *self);
MeshP2pState  mesh_p2p_session_get_state         (MeshP2pSession *self);
gboolean      mesh_p2p_session_is_finished       (MeshP2pSession *self);
const char   *mesh_p2p_session_get_room_id       (MeshP2pSession *self);
/* The file or folder name, or the share id of a terminal. */
const char   *mesh_p2p_session_get_name          (MeshP2pSession *self);
const char   *mesh_p2p_session_get_peer_username (MeshP2pSession *self);
const char   *mesh_p2p_session_get_peer_device_id (MeshP2pSession *self);
guint64       mesh_p2p_session_get_bytes_done    (MeshP2pSession *self);
guint64       mesh_p2p_session_get_bytes_total   (MeshP2pSession *self);
/* Bytes per second since the engine started. */
guint64       mesh_p2p_session_get_rate          (MeshP2pSession *self);
/* How it failed or was refused; NULL otherwise. */
const GError *mesh_p2p_session_get_error         (MeshP2pSession *self);
/* What is sent, or where a received file or folder now is. */
GFile        *mesh_p2p_session_get_file          (MeshP2pSession *self);

G_END_DECLS
