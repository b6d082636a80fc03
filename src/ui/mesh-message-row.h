/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-chat-message.h"

G_BEGIN_DECLS

#define MESH_TYPE_MESSAGE_ROW (mesh_message_row_get_type ())

G_DECLARE_FINAL_TYPE (MeshMessageRow, mesh_message_row, MESH, MESSAGE_ROW, AdwBin)

/* One chat message: a day separator above the first message of a day, the
 * sender's name above the first of a run, the text, its time and, for the
 * user's own messages (aligned to the end), whether it was delivered. */
GtkWidget       *mesh_message_row_new         (void);
void             mesh_message_row_set_message (MeshMessageRow  *self,
                                               MeshChatMessage *message,
                                               gboolean         show_day,
                                               gboolean         show_sender);
MeshChatMessage *mesh_message_row_get_message (MeshMessageRow  *self);

/* Whether @message starts a new day or a new run of messages by one sender
 * after @previous (NULL for the first message). */
gboolean         mesh_message_row_starts_day  (MeshChatMessage *message,
                                               MeshChatMessage *previous);
gboolean         mesh_message_row_starts_run  (MeshChatMessage *message,
                                               MeshChatMessage *previous);

/* @content as Pango markup, web addresses (http, https) as links. */
char            *mesh_message_row_markup      (const char      *content);

G_END_DECLS
