/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-signin-page"

#include "config.h"

#include "mesh-signin-page.h"
#include "mesh-ui-util.h"

#include "mesh-error.h"
#include "mesh-error-text.h"
#include "mesh-escape.h"

#include <glib/gi18n.h>

enum {
  PROP_0,
  PROP_BUSY,
  N_PROPS
};

enum {
  SIGNED_IN,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

struct _MeshSigninPage {
  AdwBin          parent_instance;

  /* Template widgets */
  AdwEntryRow    *server_row;
  AdwEntryRow    *username_row;
  AdwEntryRow    *password_row;
  GtkStack       *sign_in_stack;
  GtkSpinner     *spinner;
  GtkWidget      *cancel_button;
  GtkLabel       *status_label;
  GtkExpander    *details_expander;
  GtkLabel       *details_label;

  /* Owned references */
  GSettings      *settings;
  MeshClientRest *rest;
  GCancellable   *cancellable;
  char           *username;
  char           *password;
  gboolean        registering;
  gboolean        busy;
  guint           timeout_id;
};

/* How long signing in may wait for the server before it says so: long
 * enough for a slow network, short enough that a wrong address is told. */
#define CONNECT_TIMEOUT_S 20

G_DEFINE_FINAL_TYPE (MeshSigninPage, mesh_signin_page, ADW_TYPE_BIN)

static void
update_actions (MeshSigninPage *self)
{
  gboolean filled =
    *gtk_editable_get_text (GTK_EDITABLE (self->server_row)) != '\0' &&
    *gtk_editable_get_text (GTK_EDITABLE (self->username_row)) != '\0' &&
    *gtk_editable_get_text (GTK_EDITABLE (self->password_row)) != '\0';

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "signin.sign-in", filled && !self->busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "signin.register", filled && !self->busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "signin.cancel", self->busy);
}

/* A line under the buttons: what is going on, or what went wrong (with the
 * technical details folded away). */
static void
show_status (MeshSigninPage *self,
             const char     *text,
             const char     *details)
{
  gtk_label_set_text (self->status_label, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), text != NULL);
  gtk_label_set_text (self->details_label, details != NULL ? details : "");
  gtk_expander_set_expanded (self->details_expander, FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->details_expander), details != NULL);
  /* An error stands out; progress is quiet. */
  if (details != NULL) {
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "dim-label");
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
  } else {
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "dim-label");
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "error");
  }
}

static void
set_busy (MeshSigninPage *self,
          gboolean        busy)
{
  self->busy = busy;
  if (!busy)
    g_clear_handle_id (&self->timeout_id, g_source_remove);
  gtk_widget_set_visible (self->cancel_button, busy);
  gtk_stack_set_visible_child_name (self->sign_in_stack, busy ? "busy" : "label");
  gtk_spinner_set_spinning (self->spinner, busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->server_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->username_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->password_row), !busy);
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
fields_changed_cb (MeshSigninPage *self)
{
  gtk_widget_remove_css_class (GTK_WIDGET (self->server_row), "error");
  gtk_widget_remove_css_class (GTK_WIDGET (self->password_row), "error");
  /* What went wrong was about what the user is now changing. */
  if (!self->busy)
    show_status (self, NULL, NULL);
  update_actions (self);
}

static void
entry_activated_cb (MeshSigninPage *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "signin.sign-in", NULL);
}

/* Whether @host is on this computer or a local network, where a server
 * most likely runs without a certificate: loopback, private and link-local
 * addresses, "localhost" and mDNS ".local" names. */
static gboolean
host_is_local (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *bare = NULL;
  g_autofree char *lower = NULL;

  /* "[::1]" as GUri gives it. */
  if (host[0] == '[') {
    bare = g_strndup (host + 1, strlen (host) - (g_str_has_suffix (host, "]") ? 2 : 1));
    host = bare;
  }
  address = g_inet_address_new_from_string (host);
  if (address != NULL) {
    const guint8 *bytes = g_inet_address_to_bytes (address);

    /* IPv6 unique local addresses (fc00::/7) are private too. */
    return g_inet_address_get_is_loopback (address) ||
           g_inet_address_get_is_site_local (address) ||
           g_inet_address_get_is_link_local (address) ||
           (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
            (bytes[0] & 0xfe) == 0xfc);
  }
  lower = g_ascii_strdown (host, -1);
  return g_str_equal (lower, "localhost") || g_str_has_suffix (lower, ".localhost") ||
         g_str_has_suffix (lower, ".local") || g_str_has_suffix (lower, ".local.");
}

/* A scheme typed by the user is kept.  Without one, what the user most likely
 * meant: http on this computer and local networks (a server there rarely has
 * a certificate), https elsewhere ("mesh.example.org"). */
char *
mesh_signin_page_normalize_url (const char  *text,
                                GError     **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text));
  g_autofree char *with_scheme = NULL;
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  if (strstr (stripped, "://") == NULL) {
    g_autofree char *probe = g_strconcat ("http://", stripped, NULL);
    g_autoptr(GUri) probed = g_uri_parse (probe, G_URI_FLAGS_NONE, NULL);
    const char *host = probed != NULL ? g_uri_get_host (probed) : NULL;

    with_scheme = g_strconcat (host != NULL && host_is_local (host) ? "http://" : "https://",
                               stripped, NULL);
  } else {
    with_scheme = g_steal_pointer (&stripped);
  }

  uri = g_uri_parse (with_scheme, G_URI_FLAGS_NONE, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (scheme, "https") != 0 && g_strcmp0 (scheme, "http") != 0)) {
    g_autofree char *shown = mesh_escape_for_display (text, -1);

    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 _("“%s” is not a server address. Enter one like mesh.example.org or 192.168.1.20:8080."),
                 shown);
    return NULL;
  }
  while (g_str_has_suffix (with_scheme, "/"))
    with_scheme[strlen (with_scheme) - 1] = '\0';
  return g_steal_pointer (&with_scheme);
}

static void start (MeshSigninPage *self);
static gboolean timeout_cb (gpointer user_data);

static void
trust_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   MeshSigninPage   *self)
{
  const char *fingerprint = g_object_get_data (G_OBJECT (dialog), "fingerprint");

  if (g_strcmp0 (response, "trust") != 0) {
    set_busy (self, FALSE);
    show_status (self, NULL, NULL);
    return;
  }

  g_settings_set_string (self->settings, "pinned-fingerprint", fingerprint);
  mesh_client_rest_set_pinned_fingerprint (self->rest, fingerprint);
  self->timeout_id = g_timeout_add_seconds (CONNECT_TIMEOUT_S, timeout_cb, self);
  start (self);
}

static void
ask_trust (MeshSigninPage *self)
{
  const char *fingerprint = mesh_client_rest_get_presented_fingerprint (self->rest);
  g_autofree char *formatted = mesh_ui_format_fingerprint (fingerprint);
  g_autofree char *escaped = g_markup_escape_text (mesh_client_rest_get_base_url (self->rest), -1);
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;

  body = g_strdup_printf (_("The server at %s uses a certificate that this computer does not "
                            "know. Trust it only if its fingerprint is the one your server’s "
                            "administrator gave you:\n\n<tt>%s</tt>"), escaped, formatted);
  dialog = mesh_ui_question_new (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))),
                                 _("Trust This Server?"), NULL, "trust", _("_Trust and Sign In"),
                                 ADW_RESPONSE_SUGGESTED, "cancel");
  adw_message_dialog_set_body_use_markup (dialog, TRUE);
  adw_message_dialog_set_body (dialog, body);
  g_object_set_data_full (G_OBJECT (dialog), "fingerprint", g_strdup (fingerprint), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (trust_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
report (MeshSigninPage *self,
        const GError   *error)
{
  g_autofree char *details = NULL;
  g_autofree char *text = mesh_error_text_describe (error, &details);

  g_message ("Signing in failed: %s", details);
  show_status (self, text, details);
}

static void
fail (MeshSigninPage *self,
      const GError   *error)
{
  if (g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) &&
      mesh_client_rest_get_presented_fingerprint (self->rest) != NULL) {
    /* The user takes the time they need to read the fingerprint. */
    g_clear_handle_id (&self->timeout_id, g_source_remove);
    ask_trust (self);
    return;
  }

  set_busy (self, FALSE);
  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_UNAUTHORIZED))
    gtk_widget_add_css_class (GTK_WIDGET (self->password_row), "error");
  else if (!g_error_matches (error, MESH_ERROR, MESH_ERROR_CONFLICT))
    gtk_widget_add_css_class (GTK_WIDGET (self->server_row), "error");
  report (self, error);
}

static void
login_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  MeshSigninPage *self;

  if (!mesh_client_rest_login_finish (MESH_CLIENT_REST (source), result, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    fail (user_data, error);
    return;
  }

  self = user_data;
  g_settings_set_string (self->settings, "server-url",
                         mesh_client_rest_get_base_url (self->rest));
  g_settings_set_string (self->settings, "username", self->username);
  gtk_editable_set_text (GTK_EDITABLE (self->password_row), "");
  g_clear_pointer (&self->password, g_free);
  set_busy (self, FALSE);
  show_status (self, NULL, NULL);
  g_signal_emit (self, signals[SIGNED_IN], 0, self->rest, self->username);
}

static void
register_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = NULL;
  MeshSigninPage *self;

  user_id = mesh_client_rest_register_finish (MESH_CLIENT_REST (source), result, &error);
  if (user_id == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    fail (user_data, error);
    return;
  }

  self = user_data;
  self->registering = FALSE;
  mesh_client_rest_login_async (self->rest, self->username, self->password, self->cancellable,
                                login_cb, self);
}

/* Runs (again, after a certificate was trusted) the request the user asked for. */
static void
start (MeshSigninPage *self)
{
  if (self->registering)
    mesh_client_rest_register_async (self->rest, self->username, self->password,
                                     self->cancellable, register_cb, self);
  else
    mesh_client_rest_login_async (self->rest, self->username, self->password,
                                  self->cancellable, login_cb, self);
}

static gboolean
timeout_cb (gpointer user_data)
{
  MeshSigninPage *self = user_data;
  g_autoptr(GError) error = NULL;

  self->timeout_id = 0;
  g_cancellable_cancel (self->cancellable);
  g_set_error (&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
               "No answer from %s within %d s", mesh_client_rest_get_base_url (self->rest),
               CONNECT_TIMEOUT_S);
  set_busy (self, FALSE);
  gtk_widget_add_css_class (GTK_WIDGET (self->server_row), "error");
  report (self, error);
  return G_SOURCE_REMOVE;
}

static void
submit (MeshSigninPage *self,
        gboolean        registering)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *saved_url = NULL;
  g_autofree char *pinned = NULL;

  if (self->busy)
    return;

  url = mesh_signin_page_normalize_url (gtk_editable_get_text (GTK_EDITABLE (self->server_row)), &error);
  if (url == NULL) {
    gtk_widget_add_css_class (GTK_WIDGET (self->server_row), "error");
    /* The sentence is already the whole story. */
    show_status (self, error->message, NULL);
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
    return;
  }

  g_clear_object (&self->rest);
  self->rest = mesh_client_rest_new (url);
  /* A pinned certificate belongs to the server it was accepted for. */
  saved_url = g_settings_get_string (self->settings, "server-url");
  pinned = g_settings_get_string (self->settings, "pinned-fingerprint");
  if (g_strcmp0 (saved_url, mesh_client_rest_get_base_url (self->rest)) == 0 && *pinned != '\0')
    mesh_client_rest_set_pinned_fingerprint (self->rest, pinned);
  else if (*pinned != '\0')
    g_settings_reset (self->settings, "pinned-fingerprint");

  g_free (self->username);
  self->username = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->username_row))));
  g_free (self->password);
  self->password = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->password_row)));
  self->registering = registering;

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  set_busy (self, TRUE);
  {
    /* Say which address is tried: the scheme may be one the user did not type. */
    g_autofree char *shown = mesh_escape_for_display (url, -1);
    g_autofree char *status = g_strdup_printf (_("Connecting to %s…"), shown);

    show_status (self, status, NULL);
  }
  self->timeout_id = g_timeout_add_seconds (CONNECT_TIMEOUT_S, timeout_cb, self);
  start (self);
}

static void
cancel_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  MeshSigninPage *self = MESH_SIGNIN_PAGE (widget);

  if (!self->busy)
    return;
  g_cancellable_cancel (self->cancellable);
  set_busy (self, FALSE);
  show_status (self, _("Cancelled."), NULL);
}

static void
sign_in_activated (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  submit (MESH_SIGNIN_PAGE (widget), FALSE);
}

static void
register_activated (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  submit (MESH_SIGNIN_PAGE (widget), TRUE);
}

static void
mesh_signin_page_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MeshSigninPage *self = MESH_SIGNIN_PAGE (object);

  switch (prop_id) {
  case PROP_BUSY:
    g_value_set_boolean (value, self->busy);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_signin_page_dispose (GObject *object)
{
  MeshSigninPage *self = MESH_SIGNIN_PAGE (object);

  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->rest);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_SIGNIN_PAGE);

  G_OBJECT_CLASS (mesh_signin_page_parent_class)->dispose (object);
}

static void
mesh_signin_page_finalize (GObject *object)
{
  MeshSigninPage *self = MESH_SIGNIN_PAGE (object);

  g_free (self->username);
  g_free (self->password);

  G_OBJECT_CLASS (mesh_signin_page_parent_class)->finalize (object);
}

static void
mesh_signin_page_class_init (MeshSigninPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_signin_page_get_property;
  object_class->dispose = mesh_signin_page_dispose;
  object_class->finalize = mesh_signin_page_finalize;

  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNED_IN] =
    g_signal_new ("signed-in", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, MESH_TYPE_CLIENT_REST, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-signin-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, server_row);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, username_row);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, password_row);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, sign_in_stack);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, spinner);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, details_expander);
  gtk_widget_class_bind_template_child (widget_class, MeshSigninPage, details_label);
  gtk_widget_class_bind_template_callback (widget_class, fields_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, entry_activated_cb);

  gtk_widget_class_install_action (widget_class, "signin.sign-in", NULL, sign_in_activated);
  gtk_widget_class_install_action (widget_class, "signin.register", NULL, register_activated);
  gtk_widget_class_install_action (widget_class, "signin.cancel", NULL, cancel_activated);
}

static void
mesh_signin_page_init (MeshSigninPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  update_actions (self);
}

GtkWidget *
mesh_signin_page_new (void)
{
  return g_object_new (MESH_TYPE_SIGNIN_PAGE, NULL);
}

void
mesh_signin_page_set_settings (MeshSigninPage *self,
                               GSettings      *settings)
{
  g_autofree char *server = NULL;
  g_autofree char *username = NULL;

  g_return_if_fail (MESH_IS_SIGNIN_PAGE (self));
  g_return_if_fail (G_IS_SETTINGS (settings));

  g_set_object (&self->settings, settings);
  server = g_settings_get_string (settings, "server-url");
  username = g_settings_get_string (settings, "username");
  gtk_editable_set_text (GTK_EDITABLE (self->server_row), server);
  gtk_editable_set_text (GTK_EDITABLE (self->username_row), username);
}

void
mesh_signin_page_sign_in (MeshSigninPage *self,
                          const char     *server_url,
                          const char     *username,
                          const char     *password)
{
  g_return_if_fail (MESH_IS_SIGNIN_PAGE (self));
  g_return_if_fail (server_url != NULL && username != NULL && password != NULL);

  gtk_editable_set_text (GTK_EDITABLE (self->server_row), server_url);
  gtk_editable_set_text (GTK_EDITABLE (self->username_row), username);
  gtk_editable_set_text (GTK_EDITABLE (self->password_row), password);
  submit (self, FALSE);
}

gboolean
mesh_signin_page_get_busy (MeshSigninPage *self)
{
  g_return_val_if_fail (MESH_IS_SIGNIN_PAGE (self), FALSE);

  return self->busy;
}
