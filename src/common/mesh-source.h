/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void mesh_source_keep_polled (GSource *source);

G_END_DECLS
