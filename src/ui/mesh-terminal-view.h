/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-shared-terminal.h"

G_BEGIN_DECLS

#define MESH_TYPE_TERMINAL_VIEW (mesh_terminal_view_get_type ())

G_DECLARE_FINAL_TYPE (MeshTerminalView, mesh_terminal_view, MESH, TERMINAL_VIEW, AdwBin)

/* One terminal share: a bar (title, who controls, control buttons) above a
 * VTE that shows the shell's output.  What the user types goes to the shell
 * only while they have control.  The host's view sets the shell's size; a
 * viewer's view takes the host's size and scrolls or centres it.  On the
 * host, a viewer's request for control opens a dialog that answers it.
 *
 * Actions: terminal.request-control, terminal.release-control (a viewer
 * gives control back, the host takes it back), terminal.stop (asks the host
 * first), terminal.copy and terminal.paste (Ctrl+Shift+C / Ctrl+Shift+V). */
GtkWidget          *mesh_terminal_view_new            (MeshSharedTerminal *terminal);
MeshSharedTerminal *mesh_terminal_view_get_terminal   (MeshTerminalView   *self);
/* "Your shared terminal" or "<host>’s terminal". */
const char         *mesh_terminal_view_get_title      (MeshTerminalView   *self);
/* Whether the bar shows the title (a window with the title in its header
 * bar turns it off). */
void                mesh_terminal_view_set_show_title (MeshTerminalView   *self,
                                                       gboolean            show_title);
/* The sentence in the control badge, e.g. "Only Alice types"; NULL while
 * connecting or once ended. */
const char         *mesh_terminal_view_get_badge      (MeshTerminalView   *self);
/* The VTE, for focus and tests. */
GtkWidget          *mesh_terminal_view_get_vte        (MeshTerminalView   *self);
/* The host: asks whether to stop sharing, then stops (and closes the window
 * holding the view when @close_window).  A viewer stops watching at once. */
void                mesh_terminal_view_ask_stop       (MeshTerminalView   *self,
                                                       gboolean            close_window);

G_END_DECLS
