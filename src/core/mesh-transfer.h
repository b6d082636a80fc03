/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  MESH_TRANSFER_OUTGOING,
  MESH_TRANSFER_INCOMING,
} MeshTransferDirection;

typedef enum {
  MESH_TRANSFER_OFFERED,    /* incoming: waiting for the user to accept or decline */
  MESH_TRANSFER_WAITING,    /* accepted or asked for; the peers are connecting */
  MESH_TRANSFER_RUNNING,
  MESH_TRANSFER_DONE,
  MESH_TRANSFER_FAILED,
  MESH_TRANSFER_CANCELLED,
  MESH_TRANSFER_DECLINED,   /* by this user, or by the receiver */
} MeshTransferState;

#define MESH_TYPE_TRANSFER (mesh_transfer_get_type ())

G_DECLARE_FINAL_TYPE (MeshTransfer, mesh_transfer, MESH, TRANSFER, GObject)

/* One file or folder going to or coming from a member, as the app shows it.
 * A main-thread model: the embedded agent updates it, the UI reads its
 * properties ("state", "done", "size", "rate", "error", "file" notify) and
 * asks for actions with accept/decline/cancel, which emit the signals of
 * the same names for the agent to carry out. */
MeshTransfer          *mesh_transfer_new           (guint                  id,
                                                    MeshTransferDirection  direction,
                                                    const char            *room_id,
                                                    const char            *peer_name,
                                                    const char            *name,
                                                    gboolean               is_folder,
                                                    guint64                size);
guint                  mesh_transfer_get_id        (MeshTransfer          *self);
MeshTransferDirection  mesh_transfer_get_direction (MeshTransfer          *self);
const char            *mesh_transfer_get_room_id   (MeshTransfer          *self);
/* The other side's user name. */
const char            *mesh_transfer_get_peer_name (MeshTransfer          *self);
const char            *mesh_transfer_get_name      (MeshTransfer          *self);
gboolean               mesh_transfer_get_is_folder (MeshTransfer          *self);
MeshTransferState      mesh_transfer_get_state     (MeshTransfer          *self);
/* TRUE once the state is DONE, FAILED, CANCELLED or DECLINED. */
gboolean               mesh_transfer_is_finished   (MeshTransfer          *self);
guint64                mesh_transfer_get_size      (MeshTransfer          *self);
guint64                mesh_transfer_get_done      (MeshTransfer          *self);
/* 0.0 to 1.0; 0 while the size is unknown. */
double                 mesh_transfer_get_fraction  (MeshTransfer          *self);
/* Bytes a second over the last seconds; 0 when not running. */
guint64                mesh_transfer_get_rate      (MeshTransfer          *self);
/* Why it failed or was declined, in words; NULL otherwise. */
const char            *mesh_transfer_get_error     (MeshTransfer          *self);
/* Outgoing: what is sent.  Incoming: where it is written, once known. */
GFile                 *mesh_transfer_get_file      (MeshTransfer          *self);
/* Incoming offers: the folder it will be saved in (the download folder unless changed). */
GFile                 *mesh_transfer_get_folder    (MeshTransfer          *self);

/* Who cancelled it when it was the other side (their name); NULL otherwise. */
const char            *mesh_transfer_get_cancelled_by (MeshTransfer       *self);
/* The raw error behind the sentence of get_error(), for a Details view. */
const char            *mesh_transfer_get_details   (MeshTransfer          *self);
/* A failed outgoing transfer that mesh_transfer_retry() can resume. */
gboolean               mesh_transfer_get_retryable (MeshTransfer          *self);

/* For the agent. */
void                   mesh_transfer_end_with_error (MeshTransfer         *self,
                                                     const GError         *error);
void                   mesh_transfer_set_progress  (MeshTransfer          *self,
                                                    guint64                done,
                                                    guint64                size);
void                   mesh_transfer_set_state     (MeshTransfer          *self,
                                                    MeshTransferState      state,
                                                    const char            *error);
void                   mesh_transfer_set_file      (MeshTransfer          *self,
                                                    GFile                 *file);
void                   mesh_transfer_set_folder    (MeshTransfer          *self,
                                                    GFile                 *folder);

/* For the UI.  accept (@folder: where to save, NULL for the one shown) and
 * decline apply to OFFERED incoming transfers; cancel to any unfinished one. */
void                   mesh_transfer_accept        (MeshTransfer          *self,
                                                    GFile                 *folder);
void                   mesh_transfer_decline       (MeshTransfer          *self);
void                   mesh_transfer_cancel        (MeshTransfer          *self);
void                   mesh_transfer_retry         (MeshTransfer          *self);

G_END_DECLS
