/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define MESH_TYPE_TRANSFER_LIST (mesh_transfer_list_get_type ())

G_DECLARE_FINAL_TYPE (MeshTransferList, mesh_transfer_list, MESH, TRANSFER_LIST, AdwBin)

/* A header-bar button for the room's transfers: its icon is a pie of the
 * overall progress while some are unfinished, and it opens a popover with
 * one row per transfer, newest first, and "Clear Finished".
 *
 * Properties: "model" (a GListModel of MeshTransfer, oldest first, as
 * mesh_embedded_agent_get_transfers () gives it) and "n-active" (how many
 * are not finished: offered, waiting or running).
 *
 * Signal "clear-finished" (→ gboolean): the user asked to remove the
 * finished transfers.  Return TRUE once they are removed (for instance with
 * mesh_embedded_agent_clear_finished ()); when no handler does and the
 * model is a GListStore, the finished ones are removed from it. */
GtkWidget  *mesh_transfer_list_new         (void);
GListModel *mesh_transfer_list_get_model   (MeshTransferList *self);
void        mesh_transfer_list_set_model   (MeshTransferList *self,
                                            GListModel       *model);
guint       mesh_transfer_list_get_n_active (MeshTransferList *self);
/* Opens the popover, for instance when the user has just sent something. */
void        mesh_transfer_list_popup       (MeshTransferList *self);

G_END_DECLS
