/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh"

#include "config.h"

#include "mesh-application.h"

#include <glib/gi18n.h>
#include <locale.h>

int
main (int   argc,
      char *argv[])
{
  g_autoptr(MeshApplication) app = NULL;

  setlocale (LC_ALL, "");
  mesh_application_bind_text_domain ();
  textdomain (GETTEXT_PACKAGE);

  g_set_application_name (_("Mesh"));
  app = mesh_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
