/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-agent"

#include "config.h"

#include "mesh-p2p-session-private.h"

#include "mesh-cap-token.h"
#include "mesh-error.h"
#include "mesh-escape.h"
#include "mesh-file-transfer.h"
#include "mesh-folder-transfer.h"
#include "mesh-json.h"
#include "mesh-quic-stream.h"
#include "mesh-terminal-viewer.h"

/* The engines of a session, one per kind and role, behind MeshP2pEngine:
 * each makes its engine object on session->stream, forwards its progress
 * and calls session->done once.  Nothing here knows the controller. */

static char *
shown (const char *text)
{
  return mesh_escape_for_display (text != NULL ? text : "(none)", -1);
}

static void
engine_fail (MeshP2pSession *session,
             GQuark          domain,
             int             code,
             const char     *message)
{
  g_autoptr(GError) error = g_error_new_literal (domain, code, message);

  session->done (session, error);
}

/* The session follows a file or folder engine: its progress, and it is the
 * one session->discard and the controller reach. */
static gpointer
engine_watch (MeshP2pSession     *session,
              MeshTransferEngine *engine)
{
  session->engine = G_OBJECT (engine);
  g_signal_connect (engine, "progress", G_CALLBACK (mesh_p2p_session_on_progress), session);
  return engine;
}

/* A file or folder receiver of @type, held to the meta our user (or policy)
 * accepted and to the session's size limit.  It reads, and so returns
 * flow-control credit, no faster than the offer's max_rate.  NULL when the
 * offer cannot be held to (the session is done). */
static gpointer
receiver_new (MeshP2pSession *session,
              GType           type)
{
  MeshTransferEngine *receiver;
  GIOStream *base = session->stream;
  const char *name = NULL, *hash = NULL;
  gint64 size = -1;

  if (!mesh_json_get_string (session->meta, "name", TRUE, &name, NULL) ||
      !mesh_json_get_int (session->meta, "size", TRUE, &size, NULL) || size < 0 ||
      !mesh_json_get_string (session->meta, "hash", FALSE, &hash, NULL)) {
    engine_fail (session, MESH_ERROR, MESH_ERROR_BAD_REQUEST,
                 "the offer had no valid name and size");
    return NULL;
  }
  if (MESH_IS_AGENT_SESSION_STREAM (base))
    base = mesh_agent_session_stream_get_base (MESH_AGENT_SESSION_STREAM (base));
  if (session->max_rate > 0 && MESH_IS_QUIC_STREAM (base))
    mesh_quic_stream_set_receive_rate (MESH_QUIC_STREAM (base), session->max_rate);

  receiver = mesh_transfer_engine_new (type, session->stream, session->download_dir);
  if (session->max_size > 0)
    mesh_transfer_engine_set_max_size (receiver, session->max_size);
  mesh_transfer_engine_set_offer (receiver, name, size, hash);
  return engine_watch (session, receiver);
}

/* Where a received file or folder now is, for the log and the session. */
static char *
received (MeshP2pSession  *session,
          GFile           *where,
          const char      *name,
          char           **user,
          char           **path)
{
  g_autofree char *raw = where != NULL ? g_file_get_path (where) : NULL;

  mesh_p2p_session_set_file (session, where);
  *user = shown (session->peer_username);
  *path = shown (raw);
  return shown (name);
}

/* What a file or folder session keeps of its engine's end: the bytes it
 * counts, and where a received file or folder now is. */
typedef void (*TransferEndFunc) (MeshP2pSession *session,
                                 GObject        *engine,
                                 const GError   *error);

/* file, client: FILE_META, FILE_DATA… until the receiver's FILE_DONE. */
static void
file_sent (MeshP2pSession *session,
           GObject        *engine,
           const GError   *error)
{
  session->bytes = mesh_file_sender_get_bytes_done (MESH_FILE_SENDER (engine));
}

/* file, server */
static void
file_received (MeshP2pSession *session,
               GObject        *engine,
               const GError   *error)
{
  MeshFileReceiver *receiver = MESH_FILE_RECEIVER (engine);
  g_autofree char *user = NULL, *path = NULL, *name = NULL;

  session->bytes = mesh_file_receiver_get_bytes_done (receiver);
  if (error != NULL)
    return;
  name = received (session, mesh_file_receiver_get_file (receiver),
                   mesh_file_receiver_get_name (receiver), &user, &path);
  g_message ("Received “%s” from %s into %s (%" G_GUINT64_FORMAT " bytes, resumed at %"
             G_GUINT64_FORMAT ")", name, user, path, session->bytes,
             mesh_file_receiver_get_resumed_from (receiver));
}

/* folder, client: ZIP_META and the zip stream. */
static void
folder_sent (MeshP2pSession *session,
             GObject        *engine,
             const GError   *error)
{
  if (error == NULL)
    session->bytes = mesh_folder_sender_get_zip_size (MESH_FOLDER_SENDER (engine));
}

/* folder, server */
static void
folder_received (MeshP2pSession *session,
                 GObject        *engine,
                 const GError   *error)
{
  MeshFolderReceiver *receiver = MESH_FOLDER_RECEIVER (engine);
  g_autofree char *user = NULL, *path = NULL, *name = NULL;

  if (error != NULL)
    return;
  name = received (session, mesh_folder_receiver_get_folder (receiver),
                   mesh_folder_receiver_get_name (receiver), &user, &path);
  g_message ("Received folder “%s” from %s into %s", name, user, path);
}

static const TransferEndFunc transfer_ends[2][2] = {
  [MESH_P2P_KIND_FILE] = {
    [MESH_P2P_ROLE_CLIENT] = file_sent, [MESH_P2P_ROLE_SERVER] = file_received,
  },
  [MESH_P2P_KIND_FOLDER] = {
    [MESH_P2P_ROLE_CLIENT] = folder_sent, [MESH_P2P_ROLE_SERVER] = folder_received,
  },
};

static void
transfer_ended (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(MeshP2pSession) session = user_data;
  g_autoptr(GError) error = NULL;

  mesh_transfer_engine_finish (MESH_TRANSFER_ENGINE (source), result, &error);
  transfer_ends[session->kind][session->role] (session, source, error);
  session->done (session, error);
}

static void
file_send_start (MeshP2pSession *session)
{
  MeshFileSender *sender = mesh_file_sender_new (session->stream, session->path);

  mesh_file_sender_set_hash_cache (sender, session->hash_cache);
  mesh_file_sender_send_async (engine_watch (session, MESH_TRANSFER_ENGINE (sender)),
                               session->cancellable, transfer_ended, g_object_ref (session));
}

static void
file_receive_start (MeshP2pSession *session)
{
  MeshFileReceiver *receiver = receiver_new (session, MESH_TYPE_FILE_RECEIVER);

  if (receiver != NULL)
    mesh_file_receiver_receive_async (receiver, session->cancellable, transfer_ended,
                                      g_object_ref (session));
}

/* A receiver stopped by its user, or withdrawn, keeps no .part. */
static void
file_receive_discard (MeshP2pSession *session)
{
  if (session->engine != NULL)
    mesh_file_receiver_discard (MESH_FILE_RECEIVER (session->engine));
}

static void
folder_send_start (MeshP2pSession *session)
{
  MeshFolderSender *sender = mesh_folder_sender_new (session->stream, session->path);

  mesh_folder_sender_send_async (engine_watch (session, MESH_TRANSFER_ENGINE (sender)),
                                 session->cancellable, transfer_ended, g_object_ref (session));
}

static void
folder_receive_start (MeshP2pSession *session)
{
  MeshFolderReceiver *receiver = receiver_new (session, MESH_TYPE_FOLDER_RECEIVER);

  if (receiver != NULL)
    mesh_folder_receiver_receive_async (receiver, session->cancellable, transfer_ended,
                                        g_object_ref (session));
}

/* terminal, client: a viewer of the host's PTY. */

static void
viewer_closed (MeshTerminalViewer *viewer,
               GError             *error,
               MeshP2pSession     *session)
{
  session->done (session, error);
}

static void
terminal_view_start (MeshP2pSession *session)
{
  MeshTerminalViewer *viewer = mesh_terminal_viewer_new (session->stream);

  session->engine = G_OBJECT (viewer);
  g_signal_connect (viewer, "closed", G_CALLBACK (viewer_closed), session);
  mesh_terminal_viewer_start (viewer);
}

/* terminal, server: one more viewer of a PTY hosted here.  The session
 * layer takes TERM_CONTROL out of the stream for the controller. */
static void
terminal_host_start (MeshP2pSession *session)
{
  static const char * const intercept[] = { "TERM_CONTROL", NULL };
  g_autoptr(MeshAgentSessionStream) filtered = NULL;

  if (session->host == NULL) {
    engine_fail (session, MESH_ERROR, MESH_ERROR_UNROUTABLE, "the terminal share ended");
    return;
  }
  filtered = mesh_agent_session_stream_new (session->stream, intercept, session->on_control,
                                            g_object_ref (session), g_object_unref);
  g_set_object (&session->stream, G_IO_STREAM (filtered));
  session->viewer_id = mesh_terminal_host_add_viewer (session->host, G_IO_STREAM (filtered),
                                                      TRUE);
}

static void
nothing_to_discard (MeshP2pSession *session)
{
}

static const MeshP2pEngine engines[3][2] = {
  [MESH_P2P_KIND_FILE] = {
    [MESH_P2P_ROLE_CLIENT] = {
      .cap = MESH_CAP_FILE, .start = file_send_start, .discard = nothing_to_discard,
      .paced = TRUE,
    },
    [MESH_P2P_ROLE_SERVER] = {
      .start = file_receive_start, .discard = file_receive_discard,
      .paced = TRUE, .resumable = TRUE,
    },
  },
  [MESH_P2P_KIND_FOLDER] = {
    [MESH_P2P_ROLE_CLIENT] = {
      .cap = MESH_CAP_FOLDER, .start = folder_send_start, .discard = nothing_to_discard,
      .paced = TRUE,
    },
    /* The folder receiver removes its partial folder itself once cancelled. */
    [MESH_P2P_ROLE_SERVER] = {
      .start = folder_receive_start, .discard = nothing_to_discard,
      .paced = TRUE,
    },
  },
  [MESH_P2P_KIND_TERMINAL] = {
    [MESH_P2P_ROLE_CLIENT] = {
      .cap = MESH_CAP_TERMINAL_VIEW, .start = terminal_view_start, .discard = nothing_to_discard,
      .owns_stream = TRUE, .returns_engine = TRUE,
    },
    [MESH_P2P_ROLE_SERVER] = {
      .start = terminal_host_start, .discard = nothing_to_discard,
      .owns_stream = TRUE,
    },
  },
};

const MeshP2pEngine *
mesh_p2p_engine_lookup (MeshP2pKind kind,
                        MeshP2pRole role)
{
  g_return_val_if_fail (kind <= MESH_P2P_KIND_TERMINAL, NULL);
  g_return_val_if_fail (role <= MESH_P2P_ROLE_SERVER, NULL);

  return &engines[kind][role];
}
