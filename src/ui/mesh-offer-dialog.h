/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-transfer.h"

G_BEGIN_DECLS

#define MESH_TYPE_OFFER_DIALOG (mesh_offer_dialog_get_type ())

G_DECLARE_FINAL_TYPE (MeshOfferDialog, mesh_offer_dialog, MESH, OFFER_DIALOG, AdwMessageDialog)

/* Asks whether to take an OFFERED incoming @transfer: who sends what and how
 * big it is, and the folder it will be saved in, which the user may change.
 * "Accept" calls mesh_transfer_accept () with that folder; "Decline" or
 * closing the dialog calls mesh_transfer_decline ().  Should the transfer
 * stop being offered meanwhile (the offer expired, the sender cancelled),
 * the dialog closes without an answer.  Present it with gtk_window_present (). */
GtkWidget    *mesh_offer_dialog_new          (GtkWindow       *parent,
                                              MeshTransfer    *transfer);
MeshTransfer *mesh_offer_dialog_get_transfer (MeshOfferDialog *self);
/* The folder the transfer will be saved in if accepted. */
GFile        *mesh_offer_dialog_get_folder   (MeshOfferDialog *self);

G_END_DECLS
