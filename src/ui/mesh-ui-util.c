/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ui"

#include "config.h"

#include "mesh-ui-util.h"

#include "mesh-error.h"

#include <glib/gi18n.h>

char *
mesh_ui_describe_error (const GError *error)
{
  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain == MESH_ERROR) {
    switch ((MeshErrorCode) error->code) {
    case MESH_ERROR_UNAUTHORIZED:
      return g_strdup (_("The user name or the password is wrong"));
    case MESH_ERROR_CONFLICT:
      return g_strdup (_("That user name is taken"));
    case MESH_ERROR_FORBIDDEN:
      return g_strdup (_("The server does not allow this"));
    case MESH_ERROR_ROOM_NOT_FOUND:
      return g_strdup (_("That room no longer exists"));
    case MESH_ERROR_ROOM_FULL:
      return g_strdup (_("That room is full"));
    case MESH_ERROR_NOT_FOUND:
      return g_strdup (_("That invite code is unknown or has expired"));
    case MESH_ERROR_RATE_LIMITED:
      return g_strdup (_("Too many attempts; wait a moment and try again"));
    case MESH_ERROR_PAYLOAD_TOO_LARGE:
      return g_strdup (_("The message is too long"));
    case MESH_ERROR_VERSION_UNSUPPORTED:
      return g_strdup (_("The server runs a version of Mesh this app cannot talk to"));
    case MESH_ERROR_BAD_REQUEST:
      return g_strdup_printf (_("The server refused the request: %s"), error->message);
    case MESH_ERROR_CAP_REQUIRED:
    case MESH_ERROR_CAP_EXPIRED:
    case MESH_ERROR_CAP_INVALID:
    case MESH_ERROR_P2P_SESSION_DENIED:
    case MESH_ERROR_UNROUTABLE:
    case MESH_ERROR_INTERNAL:
    default:
      return g_strdup_printf (_("The server reported an error: %s"), error->message);
    }
  }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
      g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE))
    return g_strdup (_("The server cannot be reached"));
  if (error->domain == G_TLS_ERROR)
    return g_strdup_printf (_("The secure connection failed: %s"), error->message);
  return g_strdup (error->message);
}

char *
mesh_ui_format_fingerprint (const char *hex)
{
  g_autoptr(GString) out = g_string_new (NULL);
  guint n = 0;

  g_return_val_if_fail (hex != NULL, NULL);

  for (const char *p = hex; *p != '\0'; p++) {
    if (!g_ascii_isxdigit (*p))
      continue;
    if (n > 0 && n % 2 == 0)
      g_string_append_c (out, n % 32 == 0 ? '\n' : ':');
    g_string_append_c (out, g_ascii_toupper (*p));
    n++;
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

void
mesh_ui_toast (GtkWidget  *widget,
               const char *message)
{
  g_return_if_fail (GTK_IS_WIDGET (widget));
  g_return_if_fail (message != NULL);

  gtk_widget_activate_action (widget, "win.toast", "s", message);
}

void
mesh_ui_toast_error (GtkWidget    *widget,
                     const GError *error)
{
  g_autofree char *message = mesh_ui_describe_error (error);

  mesh_ui_toast (widget, message);
}

guint
mesh_ui_name_color (const char *name)
{
  return name != NULL ? g_str_hash (name) % 8 + 1 : 1;
}
