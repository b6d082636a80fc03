/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *mesh_escape_for_display (const char *text,
                               gssize      len);

G_END_DECLS
