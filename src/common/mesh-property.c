/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "mesh-property.h"

gboolean
mesh_property_set_string (GObject     *object,
                          char       **field,
                          const char  *value,
                          GParamSpec  *pspec)
{
  g_return_val_if_fail (G_IS_OBJECT (object), FALSE);
  g_return_val_if_fail (field != NULL && pspec != NULL, FALSE);

  if (g_strcmp0 (*field, value) == 0)
    return FALSE;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (object, pspec);
  return TRUE;
}
