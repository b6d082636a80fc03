/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-gotify-page"

#include "config.h"

#include "mesh-gotify-page.h"

#include "mesh-error.h"
#include "mesh-error-text.h"
#include "mesh-escape.h"
#include "mesh-json.h"
#include "mesh-ui-util.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#define GOTIFY_PATH "me/gotify"
/* The spin button's value that stands for "the server's default per kind". */
#define PRIORITY_DEFAULT -1

/* The kinds of protocol §9, in the order of the rows. */
static const char *event_kinds[] = {
  "chat.message.created",
  "call.missed",
  "share.completed",
  "terminal.share.started",
  "agent.offline",
};

#define N_EVENTS G_N_ELEMENTS (event_kinds)

struct _MeshGotifyPage {
  AdwPreferencesPage  parent_instance;

  /* Template widgets */
  AdwEntryRow        *url_row;
  AdwPasswordEntryRow *token_row;
  GtkSpinButton      *priority_spin;
  AdwActionRow       *chat_row;
  AdwActionRow       *call_row;
  AdwActionRow       *share_row;
  AdwActionRow       *terminal_row;
  AdwActionRow       *agent_row;
  GtkSwitch          *chat_switch;
  GtkSwitch          *call_switch;
  GtkSwitch          *share_switch;
  GtkSwitch          *terminal_switch;
  GtkSwitch          *agent_switch;
  AdwActionRow       *status_row;
  GtkButton          *save_button;
  GtkButton          *test_button;
  GtkButton          *remove_button;

  MeshClientRest     *rest;
  GCancellable       *cancellable;
  gboolean            busy;
  gboolean            has_target;   /* the server holds a target */
};

G_DEFINE_FINAL_TYPE (MeshGotifyPage, mesh_gotify_page, ADW_TYPE_PREFERENCES_PAGE)

enum {
  PROP_0,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static GtkSwitch *
event_switch (MeshGotifyPage *self,
              guint           i)
{
  GtkSwitch *switches[N_EVENTS] = {
    self->chat_switch, self->call_switch, self->share_switch, self->terminal_switch,
    self->agent_switch,
  };

  return switches[i];
}

static AdwActionRow *
event_row (MeshGotifyPage *self,
           guint           i)
{
  AdwActionRow *rows[N_EVENTS] = {
    self->chat_row, self->call_row, self->share_row, self->terminal_row, self->agent_row,
  };

  return rows[i];
}

static void
update_sensitivity (MeshGotifyPage *self)
{
  gtk_widget_set_sensitive (GTK_WIDGET (self->save_button), !self->busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->test_button), !self->busy && self->has_target);
  gtk_widget_set_sensitive (GTK_WIDGET (self->remove_button), !self->busy && self->has_target);
}

static void
set_busy (MeshGotifyPage *self,
          gboolean        busy)
{
  if (self->busy == busy)
    return;
  self->busy = busy;
  update_sensitivity (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
set_token_placeholder (MeshGotifyPage *self,
                       const char     *text)
{
  GtkEditable *delegate = gtk_editable_get_delegate (GTK_EDITABLE (self->token_row));

  if (GTK_IS_TEXT (delegate))
    gtk_text_set_placeholder_text (GTK_TEXT (delegate), text);
}

/* Back to an empty form: nothing is set on the server. */
static void
clear_form (MeshGotifyPage *self)
{
  self->has_target = FALSE;
  gtk_editable_set_text (GTK_EDITABLE (self->url_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), "");
  set_token_placeholder (self, NULL);
  gtk_spin_button_set_value (self->priority_spin, PRIORITY_DEFAULT);
  for (guint i = 0; i < N_EVENTS; i++) {
    gtk_switch_set_active (event_switch (self, i), TRUE);
    adw_action_row_set_subtitle (event_row (self, i), "");
  }
  adw_action_row_set_subtitle (self->status_row, _("Not set up"));
  update_sensitivity (self);
}

/* Fills the form from the server's view of the target (protocol §9). */
static gboolean
apply_view (MeshGotifyPage *self,
            JsonNode       *node,
            GError        **error)
{
  JsonObject *view = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node)
                                                                   : NULL;
  const char *url = NULL;
  const char *last_error = NULL;
  const char *retry_error = NULL;
  gboolean token_set = FALSE;
  gint64 priority = PRIORITY_DEFAULT;
  gint64 pending = 0;
  g_auto(GStrv) events = NULL;
  JsonObject *priorities = NULL;
  g_autofree char *pending_text = NULL;
  g_autofree char *status = NULL;

  if (view == NULL) {
    g_set_error_literal (error, MESH_ERROR, MESH_ERROR_INTERNAL,
                         _("The server sent Gotify settings that are not an object"));
    return FALSE;
  }
  if (!mesh_json_get_string (view, "url", TRUE, &url, error) ||
      !mesh_json_get_bool (view, "token_set", FALSE, &token_set, error) ||
      !mesh_json_get_int (view, "priority", FALSE, &priority, error) ||
      !mesh_json_get_strv (view, "events", FALSE, &events, error) ||
      !mesh_json_get_object (view, "priorities", FALSE, &priorities, error) ||
      !mesh_json_get_int (view, "pending", FALSE, &pending, error) ||
      !mesh_json_get_string (view, "last_error", FALSE, &last_error, error) ||
      !mesh_json_get_string (view, "retry_error", FALSE, &retry_error, error))
    return FALSE;

  self->has_target = TRUE;
  gtk_editable_set_text (GTK_EDITABLE (self->url_row), url);
  /* The token is never sent back: an empty field keeps the stored one. */
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), "");
  set_token_placeholder (self, token_set ? _("set") : NULL);
  gtk_spin_button_set_value (self->priority_spin, CLAMP (priority, PRIORITY_DEFAULT, 10));
  for (guint i = 0; i < N_EVENTS; i++) {
    gint64 kind_priority = -1;
    g_autofree char *subtitle = NULL;

    gtk_switch_set_active (event_switch (self, i),
                           events == NULL || g_strv_contains ((const char * const *) events,
                                                              event_kinds[i]));
    if (priorities != NULL &&
        mesh_json_get_int (priorities, event_kinds[i], FALSE, &kind_priority, NULL) &&
        kind_priority >= 0)
      subtitle = g_strdup_printf (_("Priority %d"), (int) kind_priority);
    adw_action_row_set_subtitle (event_row (self, i), subtitle ? subtitle : "");
  }

  pending_text = g_strdup_printf (ngettext ("%d message waiting", "%d messages waiting",
                                            (gulong) pending),
                                  (int) pending);
  if (last_error != NULL)
    /* Translators: the first %s is why the server stopped delivering. */
    status = g_strdup_printf (_("Stopped: %s (%s)"), last_error, pending_text);
  else if (retry_error != NULL)
    status = g_strdup_printf (_("Retrying: %s (%s)"), retry_error, pending_text);
  else if (pending > 0)
    status = g_strdup_printf (_("Delivering (%s)"), pending_text);
  else
    status = g_strdup (_("Delivering, nothing waiting"));
  adw_action_row_set_subtitle (self->status_row, status);
  gtk_widget_remove_css_class (GTK_WIDGET (self->status_row), "error");
  update_sensitivity (self);
  return TRUE;
}

/* What to do with the server's answer (@node) or failure (@error) to a
 * request of the page. */
typedef void (*Answered) (MeshGotifyPage *self,
                          JsonNode       *node,
                          const GError   *error);

typedef struct {
  MeshGotifyPage *self;
  Answered        answered;
} Request;

static void
request_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Request *request = user_data;
  g_autoptr(MeshGotifyPage) self = request->self;
  Answered answered = request->answered;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = mesh_client_rest_call_finish (MESH_CLIENT_REST (source), result,
                                                          &error);

  g_free (request);
  /* Cancelled: the page is going away. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  set_busy (self, FALSE);
  answered (self, node, error);
}

/* The page is busy from a request to its answer. */
static void
request (MeshGotifyPage *self,
         const char     *method,
         const char     *path,
         JsonNode       *body,
         Answered        answered)
{
  Request *request = g_new0 (Request, 1);

  request->self = g_object_ref (self);
  request->answered = answered;
  set_busy (self, TRUE);
  mesh_client_rest_call_async (self->rest, method, path, body, self->cancellable, request_done,
                               request);
}

static void
load_cb (MeshGotifyPage *self,
         JsonNode       *node,
         const GError   *error)
{
  g_autoptr(GError) local_error = NULL;

  if (g_error_matches (error, MESH_ERROR, MESH_ERROR_NOT_FOUND)) {
    clear_form (self);
    return;
  }
  if (error == NULL && !apply_view (self, node, &local_error))
    error = local_error;
  if (error != NULL) {
    g_autofree char *details = NULL;
    g_autofree char *text = mesh_error_text_describe (error, &details);

    g_message ("Loading the Gotify settings failed: %s", details);
    adw_action_row_set_subtitle (self->status_row, text);
    mesh_ui_toast (GTK_WIDGET (self), text);
  }
}

static void
load (MeshGotifyPage *self)
{
  request (self, "GET", GOTIFY_PATH, NULL, load_cb);
}

static void
save_cb (MeshGotifyPage *self,
         JsonNode       *node,
         const GError   *error)
{
  g_autoptr(GError) local_error = NULL;

  if (error == NULL && !apply_view (self, node, &local_error))
    error = local_error;
  if (error == NULL) {
    mesh_ui_toast (GTK_WIDGET (self), _("Gotify settings saved"));
  } else {
    g_autofree char *details = NULL;
    g_autofree char *text = mesh_error_text_describe (error, &details);

    g_message ("Saving the Gotify settings failed: %s", details);
    /* What the server refuses here is the address or the token typed. */
    if (g_error_matches (error, MESH_ERROR, MESH_ERROR_BAD_REQUEST))
      mesh_ui_toast (GTK_WIDGET (self), _("The Gotify address or token was refused. Enter your Gotify server’s address, as in https://gotify.example.org, and an application token."));
    else
      mesh_ui_toast (GTK_WIDGET (self), text);
  }
}

static void
save_clicked_cb (MeshGotifyPage *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) body = NULL;
  const char *token = gtk_editable_get_text (GTK_EDITABLE (self->token_row));
  int priority = gtk_spin_button_get_value_as_int (self->priority_spin);

  if (self->busy)
    return;
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "url");
  json_builder_add_string_value (builder, gtk_editable_get_text (GTK_EDITABLE (self->url_row)));
  /* Left out, the server keeps the token it has. */
  if (*token != '\0') {
    json_builder_set_member_name (builder, "token");
    json_builder_add_string_value (builder, token);
  }
  json_builder_set_member_name (builder, "priority");
  if (priority == PRIORITY_DEFAULT)
    json_builder_add_null_value (builder);
  else
    json_builder_add_int_value (builder, priority);
  json_builder_set_member_name (builder, "events");
  json_builder_begin_array (builder);
  for (guint i = 0; i < N_EVENTS; i++) {
    if (gtk_switch_get_active (event_switch (self, i)))
      json_builder_add_string_value (builder, event_kinds[i]);
  }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  body = json_builder_get_root (builder);

  request (self, "PUT", GOTIFY_PATH, body, save_cb);
}

static void
test_cb (MeshGotifyPage *self,
         JsonNode       *node,
         const GError   *error)
{
  JsonObject *answer = NULL;
  gboolean ok = FALSE;
  gint64 status = 0;
  const char *reason = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) local_error = NULL;

  if (error == NULL) {
    answer = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    if (answer == NULL)
      g_set_error_literal (&local_error, MESH_ERROR, MESH_ERROR_INTERNAL,
                           _("The server sent a test result that is not an object"));
    else if (mesh_json_get_bool (answer, "ok", TRUE, &ok, &local_error)) {
      /* Both are optional: a wrong type only loses detail in the toast. */
      mesh_json_get_int (answer, "status", FALSE, &status, NULL);
      mesh_json_get_string (answer, "error", FALSE, &reason, NULL);
    }
    error = local_error;
  }
  if (error != NULL) {
    g_autofree char *details = NULL;

    text = mesh_error_text_describe (error, &details);
    g_message ("Testing Gotify failed: %s", details);
  } else if (ok) {
    text = g_strdup (_("Gotify answered: delivered"));
  } else {
    g_autofree char *shown = mesh_escape_for_display (reason != NULL ? reason : "", -1);

    /* The server's reason is English and technical: it goes to the log. */
    g_message ("Gotify test failed: HTTP %d: %s", (int) status, shown);
    if (status == 401 || status == 403)
      text = g_strdup (_("Gotify refused the application token. Copy the token of an application in Gotify and save it again."));
    else if (status == 404)
      text = g_strdup (_("There is no Gotify server at that address. Check the address."));
    else if (status > 0)
      text = g_strdup_printf (_("Gotify answered with an error (%d). Check the Gotify server."),
                              (int) status);
    else if (reason != NULL && strstr (reason, "private targets") != NULL)
      /* The server's guard against reaching into its own network (its
       * wording, mesh-gotify.c). */
      text = g_strdup (_("The Mesh server does not send to addresses on a private network unless its operator allows it. Use your Gotify server’s public address."));
    else
      text = g_strdup (_("The Mesh server could not reach Gotify at that address. Check the address and that Gotify is running."));
  }
  mesh_ui_toast (GTK_WIDGET (self), text);

  /* The status row must not keep saying all is well after a failed test;
   * the next load or save shows the delivery status again. */
  if (ok && error == NULL) {
    adw_action_row_set_subtitle (self->status_row, _("The test message was delivered"));
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_row), "error");
  } else {
    g_autofree char *sentence = NULL;

    /* Translators: %s says why (from the server, or Gotify's answer). */
    sentence = g_strdup_printf (_("The test message was not delivered: %s"), text);
    adw_action_row_set_subtitle (self->status_row, sentence);
    gtk_widget_add_css_class (GTK_WIDGET (self->status_row), "error");
  }
}

static void
test_clicked_cb (MeshGotifyPage *self)
{
  if (self->busy)
    return;
  request (self, "POST", GOTIFY_PATH "/test", NULL, test_cb);
}

static void
remove_cb (MeshGotifyPage *self,
           JsonNode       *node,
           const GError   *error)
{
  if (error != NULL) {
    mesh_ui_toast (GTK_WIDGET (self), error->message);
    return;
  }
  clear_form (self);
  mesh_ui_toast (GTK_WIDGET (self), _("Gotify notifications removed"));
}

static void
remove_clicked_cb (MeshGotifyPage *self)
{
  if (self->busy)
    return;
  request (self, "DELETE", GOTIFY_PATH, NULL, remove_cb);
}

/* The lowest value reads "Default": the server's priority for each kind. */
static gboolean
priority_output_cb (GtkSpinButton *spin)
{
  int value = gtk_spin_button_get_value_as_int (spin);
  g_autofree char *text = NULL;

  if (value == PRIORITY_DEFAULT)
    text = g_strdup (C_("priority", "Default"));
  else
    text = g_strdup_printf ("%d", value);
  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (spin)), text) != 0)
    gtk_editable_set_text (GTK_EDITABLE (spin), text);
  return TRUE;
}

static int
priority_input_cb (GtkSpinButton *spin,
                   double        *new_value)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));
  char *end = NULL;
  long value;

  if (g_utf8_collate (text, C_("priority", "Default")) == 0 || *text == '\0') {
    *new_value = PRIORITY_DEFAULT;
    return TRUE;
  }
  value = strtol (text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 10)
    return GTK_INPUT_ERROR;
  *new_value = value;
  return TRUE;
}

static void
mesh_gotify_page_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MeshGotifyPage *self = MESH_GOTIFY_PAGE (object);

  switch (prop_id) {
  case PROP_BUSY:
    g_value_set_boolean (value, self->busy);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_gotify_page_dispose (GObject *object)
{
  MeshGotifyPage *self = MESH_GOTIFY_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_GOTIFY_PAGE);

  G_OBJECT_CLASS (mesh_gotify_page_parent_class)->dispose (object);
}

static void
mesh_gotify_page_finalize (GObject *object)
{
  MeshGotifyPage *self = MESH_GOTIFY_PAGE (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->rest);

  G_OBJECT_CLASS (mesh_gotify_page_parent_class)->finalize (object);
}

static void
mesh_gotify_page_class_init (MeshGotifyPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = mesh_gotify_page_get_property;
  object_class->dispose = mesh_gotify_page_dispose;
  object_class->finalize = mesh_gotify_page_finalize;

  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-gotify-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, url_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, token_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, priority_spin);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, chat_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, call_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, share_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, terminal_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, agent_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, chat_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, call_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, share_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, terminal_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, agent_switch);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, status_row);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, save_button);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, test_button);
  gtk_widget_class_bind_template_child (widget_class, MeshGotifyPage, remove_button);
  gtk_widget_class_bind_template_callback (widget_class, save_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, test_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, remove_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, priority_input_cb);
  gtk_widget_class_bind_template_callback (widget_class, priority_output_cb);
}

static void
mesh_gotify_page_init (MeshGotifyPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
  clear_form (self);
}

GtkWidget *
mesh_gotify_page_new (MeshClientRest *rest)
{
  MeshGotifyPage *self;

  g_return_val_if_fail (MESH_IS_CLIENT_REST (rest), NULL);

  self = g_object_new (MESH_TYPE_GOTIFY_PAGE, NULL);
  self->rest = g_object_ref (rest);
  load (self);
  return GTK_WIDGET (self);
}

gboolean
mesh_gotify_page_get_busy (MeshGotifyPage *self)
{
  g_return_val_if_fail (MESH_IS_GOTIFY_PAGE (self), FALSE);

  return self->busy;
}
