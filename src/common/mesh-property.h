/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Sets the string kept in @field (a property of @object) to a copy of
 * @value and notifies @pspec when it changed; TRUE then. */
gboolean mesh_property_set_string (GObject     *object,
                                   char       **field,
                                   const char  *value,
                                   GParamSpec  *pspec);

G_END_DECLS
