/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "mesh-transfer.h"

G_BEGIN_DECLS

#define MESH_TYPE_TRANSFER_ROW (mesh_transfer_row_get_type ())

G_DECLARE_FINAL_TYPE (MeshTransferRow, mesh_transfer_row, MESH, TRANSFER_ROW, GtkListBoxRow)

/* One file or folder on its way: what it is, to or from whom, how far it
 * got in words, a progress bar while it runs, and the buttons that fit its
 * state (Accept and Decline for an offer, Cancel while unfinished, Open and
 * Show in Folder once received). */
GtkWidget    *mesh_transfer_row_new          (MeshTransfer    *transfer);
MeshTransfer *mesh_transfer_row_get_transfer (MeshTransferRow *self);

G_END_DECLS
