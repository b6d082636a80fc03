/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-application"

#include "config.h"

#include "mesh-a11y.h"
#include "mesh-application.h"
#ifdef MESH_BENCH_PROBE
#include "mesh-bench-probe.h"
#endif
#include "mesh-call-actions.h"
#include "mesh-preferences-window.h"
#include "mesh-window.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _MeshApplication {
  AdwApplication  parent_instance;

  char           *profile;
  GSettings      *settings;
  char           *initial_server;
  char           *initial_username;
  char           *initial_password;
};

G_DEFINE_FINAL_TYPE (MeshApplication, mesh_application, ADW_TYPE_APPLICATION)

static gboolean
profile_name_is_valid (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 64)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  }
  return TRUE;
}

static gboolean
style_variant_get_mapping (GValue   *value,
                           GVariant *variant,
                           gpointer  user_data)
{
  const char *name = g_variant_get_string (variant, NULL);

  if (g_strcmp0 (name, "light") == 0)
    g_value_set_enum (value, ADW_COLOR_SCHEME_FORCE_LIGHT);
  else if (g_strcmp0 (name, "dark") == 0)
    g_value_set_enum (value, ADW_COLOR_SCHEME_FORCE_DARK);
  else
    g_value_set_enum (value, ADW_COLOR_SCHEME_DEFAULT);
  return TRUE;
}

static char *
read_password_line (void)
{
  char buffer[1024];
  gsize len;

  if (fgets (buffer, sizeof buffer, stdin) == NULL)
    return NULL;
  len = strcspn (buffer, "\r\n");
  buffer[len] = '\0';
  return g_strdup (buffer);
}

static int
mesh_application_handle_local_options (GApplication *application,
                                       GVariantDict *options)
{
  MeshApplication *self = MESH_APPLICATION (application);
  const char *profile = NULL;
  const char *server = NULL;
  const char *username = NULL;
  gboolean password_stdin = FALSE;

  if (g_variant_dict_lookup (options, "version", "b", NULL)) {
    g_print ("mesh %s\n", PACKAGE_VERSION);
    return 0;
  }

  if (g_variant_dict_lookup (options, "profile", "&s", &profile)) {
    if (!profile_name_is_valid (profile)) {
      g_printerr (_("A profile name is 1 to 64 letters, digits, “-” or “_”.\n"));
      return 2;
    }
    mesh_application_set_profile (self, profile);
  }

  if (g_variant_dict_lookup (options, "server", "&s", &server))
    self->initial_server = g_strdup (server);
  if (g_variant_dict_lookup (options, "username", "&s", &username))
    self->initial_username = g_strdup (username);
  if (g_variant_dict_lookup (options, "password-stdin", "b", &password_stdin) && password_stdin) {
    if (self->initial_server == NULL || self->initial_username == NULL) {
      g_printerr (_("--password-stdin needs --server and --username.\n"));
      return 2;
    }
    self->initial_password = read_password_line ();
    if (self->initial_password == NULL) {
      g_printerr (_("No password could be read from the standard input.\n"));
      return 1;
    }
  }

  return G_APPLICATION_CLASS (mesh_application_parent_class)->handle_local_options (application,
                                                                                    options);
}

static void
quit_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
preferences_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  MeshApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  GtkWindow *preferences = mesh_preferences_window_new (self->settings);

  gtk_window_set_transient_for (preferences, parent);
  gtk_window_present (preferences);
}

static void
about_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  MeshApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  const char *developers[] = { "The Mesh developers", NULL };

  adw_show_about_window (parent,
                         "application-name", _("Mesh"),
                         "application-icon", APP_ID,
                         "version", PACKAGE_VERSION,
                         "developer-name", _("The Mesh developers"),
                         "developers", developers,
                         "comments", _("Chat with your team on your own server"),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         /* Translators: put your names here, one per line. */
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static const GActionEntry app_actions[] = {
  { "quit", quit_activated },
  { "preferences", preferences_activated },
  { "about", about_activated },
};

static void
mesh_application_startup (GApplication *application)
{
  MeshApplication *self = MESH_APPLICATION (application);
  static const char *quit_accels[] = { "<Control>q", NULL };
  static const char *preferences_accels[] = { "<Control>comma", NULL };
  static const char *close_accels[] = { "<Control>w", NULL };

  G_APPLICATION_CLASS (mesh_application_parent_class)->startup (application);
  mesh_a11y_install ();

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  mesh_call_actions_install (GTK_APPLICATION (self));
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         preferences_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "window.close", close_accels);

  g_settings_bind_with_mapping (mesh_application_get_settings (self), "style-variant",
                                adw_style_manager_get_default (), "color-scheme",
                                G_SETTINGS_BIND_GET, style_variant_get_mapping, NULL, NULL, NULL);
#ifdef MESH_BENCH_PROBE
  /* Does nothing unless bench/app-start asks for it. */
  mesh_bench_probe_attach (GTK_APPLICATION (self));
#endif
}

static void
mesh_application_activate (GApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  if (window == NULL)
    window = GTK_WINDOW (mesh_window_new (MESH_APPLICATION (application)));
  gtk_window_present (window);
}

static void
mesh_application_finalize (GObject *object)
{
  MeshApplication *self = MESH_APPLICATION (object);

  g_clear_object (&self->settings);
  g_free (self->profile);
  g_free (self->initial_server);
  g_free (self->initial_username);
  g_free (mesh_application_steal_initial_password (self));

  G_OBJECT_CLASS (mesh_application_parent_class)->finalize (object);
}

static void
mesh_application_class_init (MeshApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = mesh_application_finalize;
  app_class->handle_local_options = mesh_application_handle_local_options;
  app_class->startup = mesh_application_startup;
  app_class->activate = mesh_application_activate;
}

static void
mesh_application_init (MeshApplication *self)
{
  static const GOptionEntry entries[] = {
    { "profile", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Use a separate account and settings"), N_("NAME") },
    { "server", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Sign in to this server"), N_("URL") },
    { "username", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Sign in with this user name"), N_("NAME") },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Read the password from the standard input and sign in"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Show the version"), NULL },
    { NULL }
  };

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Chat with your team on your own server."));
}

const char *
mesh_application_bind_text_domain (void)
{
  const char *dir = LOCALEDIR;
#ifdef MESH_BUILD_ROOT
  /* meson compiles po/ into <build>/po/<lang>/LC_MESSAGES: a program run
   * from the build folder finds no translations in the prefix it would be
   * installed to. */
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  /* The link is the real path: so must the build folder be. */
  g_autofree char *root = realpath (MESH_BUILD_ROOT, NULL);
  g_autofree char *prefix = root != NULL ? g_strconcat (root, G_DIR_SEPARATOR_S, NULL) : NULL;

  if (exe != NULL && prefix != NULL && g_str_has_prefix (exe, prefix))
    dir = MESH_BUILD_ROOT G_DIR_SEPARATOR_S "po";
#endif
  bindtextdomain (GETTEXT_PACKAGE, dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  return dir;
}

MeshApplication *
mesh_application_new (void)
{
  return g_object_new (MESH_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/org/mesh/Mesh",
                       NULL);
}

const char *
mesh_application_get_profile (MeshApplication *self)
{
  g_return_val_if_fail (MESH_IS_APPLICATION (self), NULL);

  return self->profile;
}

void
mesh_application_set_profile (MeshApplication *self,
                              const char      *profile)
{
  g_return_if_fail (MESH_IS_APPLICATION (self));
  g_return_if_fail (profile == NULL || profile_name_is_valid (profile));
  g_return_if_fail (self->settings == NULL);

  g_free (self->profile);
  self->profile = g_strdup (profile);
  /* Each profile is its own process: a second one must not hand its
   * command line to the first. */
  if (profile != NULL)
    g_application_set_flags (G_APPLICATION (self),
                             g_application_get_flags (G_APPLICATION (self)) |
                             G_APPLICATION_NON_UNIQUE);
}

GSettings *
mesh_application_get_settings (MeshApplication *self)
{
  g_return_val_if_fail (MESH_IS_APPLICATION (self), NULL);

  if (self->settings == NULL) {
    g_autofree char *path = NULL;

    if (self->profile != NULL)
      path = g_strdup_printf ("/org/mesh/Mesh/profiles/%s/", self->profile);
    else
      path = g_strdup ("/org/mesh/Mesh/");
    self->settings = g_settings_new_with_path (APP_ID, path);
  }
  return self->settings;
}

const char *
mesh_application_get_initial_server (MeshApplication *self)
{
  g_return_val_if_fail (MESH_IS_APPLICATION (self), NULL);

  return self->initial_server;
}

const char *
mesh_application_get_initial_username (MeshApplication *self)
{
  g_return_val_if_fail (MESH_IS_APPLICATION (self), NULL);

  return self->initial_username;
}

char *
mesh_application_steal_initial_password (MeshApplication *self)
{
  g_return_val_if_fail (MESH_IS_APPLICATION (self), NULL);

  return g_steal_pointer (&self->initial_password);
}
