/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-ui"

#include "config.h"

#include "mesh-error-text.h"

#include "mesh-error.h"
#include "mesh-escape.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

static const char *
describe_mesh (const GError *error)
{
  switch ((MeshErrorCode) error->code) {
  case MESH_ERROR_UNAUTHORIZED:
    return _("The user name or the password is wrong. Check both and try again.");
  case MESH_ERROR_CONFLICT:
    return _("That user name is taken. Choose another one.");
  case MESH_ERROR_FORBIDDEN:
    return _("The server does not allow this. Ask the server’s administrator.");
  case MESH_ERROR_ROOM_NOT_FOUND:
    return _("That room no longer exists.");
  case MESH_ERROR_ROOM_FULL:
    return _("That room is full: a room has at most four members.");
  case MESH_ERROR_NOT_FOUND:
    return _("That invite code is unknown or has expired. Ask for a new one.");
  case MESH_ERROR_RATE_LIMITED:
    return _("Too many attempts. Wait a minute, then try again.");
  case MESH_ERROR_PAYLOAD_TOO_LARGE:
    return _("This is too long for the server. Shorten it and try again.");
  case MESH_ERROR_VERSION_UNSUPPORTED:
    return _("The server runs a version of Mesh this app cannot talk to. Update the app or the server.");
  case MESH_ERROR_BAD_REQUEST:
    return _("The server refused the request. Check what you entered and try again.");
  case MESH_ERROR_P2P_SESSION_DENIED:
    return _("The other side declined.");
  case MESH_ERROR_UNROUTABLE:
    return _("That device is not online right now. Try again when it is.");
  case MESH_ERROR_CAP_REQUIRED:
  case MESH_ERROR_CAP_EXPIRED:
  case MESH_ERROR_CAP_INVALID:
    return _("The permission for this ran out. Try again.");
  case MESH_ERROR_INTERNAL:
  default:
    return _("The server ran into a problem. Try again later.");
  }
}

static const char *
describe_io (const GError *error)
{
  switch (error->code) {
  case G_IO_ERROR_CONNECTION_REFUSED:
    return _("Nothing answers at that address. Check the server address and that the server is running.");
  case G_IO_ERROR_TIMED_OUT:
    return _("The server did not answer in time. Check the server address and your network, then try again.");
  case G_IO_ERROR_HOST_UNREACHABLE:
  case G_IO_ERROR_NETWORK_UNREACHABLE:
    return _("The server cannot be reached from this network. Check your connection.");
  case G_IO_ERROR_CONNECTION_CLOSED:
  case G_IO_ERROR_CLOSED:
    return _("The connection to the server was lost. Try again.");
  case G_IO_ERROR_PROXY_FAILED:
  case G_IO_ERROR_PROXY_AUTH_FAILED:
  case G_IO_ERROR_PROXY_NEED_AUTH:
  case G_IO_ERROR_PROXY_NOT_ALLOWED:
    return _("The network proxy refused the connection. Check the proxy settings.");
  case G_IO_ERROR_INVALID_DATA:
  case G_IO_ERROR_PARTIAL_INPUT:
    return _("The answer was not understood: is this the address of a Mesh server?");
  case G_IO_ERROR_PERMISSION_DENIED:
    return _("Permission denied. Check that you may use this file or folder.");
  case G_IO_ERROR_NOT_FOUND:
    return _("The file or folder is not there any more.");
  case G_IO_ERROR_NO_SPACE:
    return _("The disk is full. Free some space and try again.");
  default:
    return NULL;
  }
}

static const char *
describe_tls (const GError *error)
{
  switch (error->code) {
  case G_TLS_ERROR_BAD_CERTIFICATE:
    return _("The server’s certificate cannot be trusted. Check the server address; if it is right, ask the server’s administrator.");
  case G_TLS_ERROR_NOT_TLS:
    return _("The server does not speak https. If it is on your own network, try an address starting with http://.");
  case G_TLS_ERROR_EOF:
    return _("The server closed the secure connection. Try again.");
  case G_TLS_ERROR_CERTIFICATE_REQUIRED:
    return _("The server asks for a certificate this app does not have.");
  default:
    return _("The secure connection to the server failed. Check the server address; if it is on your own network, try http://.");
  }
}

char *
mesh_error_text_describe (const GError  *error,
                          char         **details)
{
  const char *text = NULL;

  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain == MESH_ERROR)
    text = describe_mesh (error);
  else if (error->domain == G_IO_ERROR)
    text = describe_io (error);
  else if (error->domain == G_TLS_ERROR)
    text = describe_tls (error);
  else if (error->domain == G_RESOLVER_ERROR)
    text = error->code == G_RESOLVER_ERROR_TEMPORARY_FAILURE
             ? _("The server’s name could not be looked up right now. Check your connection and try again.")
             : _("No server has that name. Check the server address for typing mistakes.");
  else if (error->domain == SOUP_SESSION_ERROR)
    text = _("The server’s answer was not understood: is this the address of a Mesh server?");
  else if (error->domain == JSON_PARSER_ERROR)
    text = _("The answer was not understood: is this the address of a Mesh server?");
  else if (error->domain == G_FILE_ERROR)
    text = _("A file could not be read or written. Check that the disk has space and the folder may be written.");

  if (text == NULL)
    text = _("Something went wrong. Try again; the details may help the server’s administrator.");

  if (details != NULL) {
    g_autofree char *message = mesh_escape_for_display (error->message, -1);

    *details = g_strdup_printf ("%s (%s %d)", message, g_quark_to_string (error->domain),
                                error->code);
  }
  return g_strdup (text);
}

AdwToast *
mesh_error_text_toast_new (const char *text)
{
  AdwToast *toast;
  GtkWidget *title;

  g_return_val_if_fail (text != NULL, NULL);

  toast = adw_toast_new (text);
  /* libadwaita 1.2 cuts a toast's title at one line: a wrapping label of
   * our own instead, as wide as a toast may be. */
  title = gtk_label_new (text);
  gtk_label_set_wrap (GTK_LABEL (title), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (title), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_max_width_chars (GTK_LABEL (title), 50);
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  /* Clear of the toast's rounded ends when it takes several lines. */
  gtk_widget_set_margin_top (title, 6);
  gtk_widget_set_margin_bottom (title, 6);
  gtk_widget_set_margin_start (title, 6);
  adw_toast_set_custom_title (toast, title);
  return toast;
}
