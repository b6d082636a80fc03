/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "mesh-shared-terminal.h"
#include "mesh-terminal-view.h"

G_BEGIN_DECLS

#define MESH_TYPE_TERMINAL_WINDOW (mesh_terminal_window_get_type ())

G_DECLARE_FINAL_TYPE (MeshTerminalWindow, mesh_terminal_window, MESH, TERMINAL_WINDOW, AdwWindow)

/* A window of its own for one terminal share, to place next to the chat.
 * Closing it stops watching; the host is asked first, since closing stops
 * the share.  Ctrl+Shift+W closes; so does Ctrl+W, unless the terminal takes
 * input (the shell needs ^W). */
MeshTerminalWindow *mesh_terminal_window_new          (GtkApplication     *app,
                                                       MeshSharedTerminal *terminal);
MeshTerminalView   *mesh_terminal_window_get_view     (MeshTerminalWindow *self);
MeshSharedTerminal *mesh_terminal_window_get_terminal (MeshTerminalWindow *self);

G_END_DECLS
