/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the parts of MeshRoomView share: mesh-room-view.c (the widget, the
 * conversation list, the room's header and calls, the public API),
 * -composer.c (the message entry, its limit and the rooms' drafts),
 * -actions.c (the room menu: invite, rename, leave, delete) and -devices.c
 * (what goes to members' devices: files and folders, terminal shares, the
 * transfers list). */

#include "mesh-call-banner.h"
#include "mesh-call-buttons.h"
#include "mesh-call-view.h"
#include "mesh-connection-banner.h"
#include "mesh-embedded-agent.h"
#include "mesh-escape.h"
#include "mesh-member-list.h"
#include "mesh-member-row.h"
#include "mesh-message-row.h"
#include "mesh-share-bar.h"
#include "mesh-terminal-window.h"
#include "mesh-transfer-list.h"
#include "mesh-room-view.h"
#include "mesh-ui-util.h"
#include "mesh-window.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>

G_BEGIN_DECLS

/* What the server takes in one chat message (protocol: content ≤ 16 384 bytes). */
#define CHAT_MAX_BYTES   16384
/* From how close to the limit the composer shows what is left. */
#define CHAT_WARN_BYTES  1000
/* Typing stores the room's draft after this pause. */
#define DRAFT_SAVE_MS    500

struct _MeshRoomView {
  AdwBin                parent_instance;

  /* Template widgets */
  AdwWindowTitle       *title;
  MeshConnectionBanner *banner;
  MeshShareBar         *share_bar;
  MeshTransferList     *transfer_list;
  GtkStack             *stack;
  GtkStack             *chat_stack;
  GtkSpinner           *spinner;
  GtkScrolledWindow    *scroller;
  GtkListView          *list_view;
  GtkListBox           *members_list;
  GtkWidget            *members_button;
  GtkWidget            *room_menu_button;
  GtkEntry             *entry;
  GtkLabel             *limit_label;
  MeshCallButtons      *call_buttons;
  MeshCallBanner       *call_banner;
  GtkPaned             *call_paned;
  MeshCallView         *call_view;

  /* Owned references */
  MeshClientSession    *session;
  MeshRoom             *room;
  MeshChatModel        *chat;
  MeshMemberList       *members;
  GHashTable           *chats;        /* room_id → MeshChatModel */
  MeshEmbeddedAgent    *agent;
  MeshCallController   *calls;
  GCancellable         *cancellable;  /* the current room's requests */
  gboolean              folded;
  /* Follow new messages while the user is reading the newest ones. */
  gboolean              stick_to_bottom;
  double                last_upper;
  guint                 scroll_idle_id;
  guint                 draft_save_id;
};

/* mesh-room-view.c */
void          room_view_scroll_to_bottom          (MeshRoomView  *self);
const char   *room_view_own_user_id               (MeshRoomView  *self);

/* -composer.c */
char         *room_view_load_draft                (MeshRoomView  *self,
                                                   const char    *room_id);
void          room_view_save_current_draft        (MeshRoomView  *self);
void          room_view_update_send_action        (MeshRoomView  *self);
void          room_view_entry_changed_cb          (MeshRoomView  *self);
void          room_view_send                      (MeshRoomView  *self);
void          room_view_entry_activate_cb         (MeshRoomView  *self);
void          room_view_composer_class_init      (GtkWidgetClass *widget_class);

/* -actions.c */
void          room_view_actions_class_init       (GtkWidgetClass *widget_class);
void          room_view_update_room_actions       (MeshRoomView  *self);

/* -devices.c */
void          room_view_devices_class_init       (GtkWidgetClass *widget_class);
void          room_view_share_watch_cb            (MeshRoomView  *self,
                                                   const char    *room_id,
                                                   const char    *share_id,
                                                   const char    *username,
                                                   const char    *device_id);
gboolean      room_view_clear_finished_cb         (MeshRoomView  *self);
void          room_view_transfers_changed_cb      (MeshRoomView  *self);
void          room_view_agent_ready_cb            (MeshRoomView  *self,
                                                   const char    *device_id);
gboolean      room_view_drop_cb                   (GtkDropTarget *target,
                                                   const GValue  *value,
                                                   double         x,
                                                   double         y,
                                                   MeshRoomView  *self);

G_END_DECLS
