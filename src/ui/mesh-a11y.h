/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Gives every button, menu button and search entry that GTK 4.8 and
 * libadwaita 1.2 leave unnamed for screen readers a name as it is mapped:
 * a mnemonic label without its underscore ("_Join" is read "Join"), an icon
 * button its tooltip.  Covers the widgets the app cannot reach in .ui files
 * (dialog responses, the password reveal, a spin button's steps).  Names set
 * explicitly are kept. */
void mesh_a11y_install (void);

/* "_Create Account" → "Create Account"; "__" → "_". */
char *mesh_a11y_strip_mnemonic (const char *label);

G_END_DECLS
