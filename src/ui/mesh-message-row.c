/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-message-row"

#include "config.h"

#include "mesh-escape.h"
#include "mesh-message-row.h"
#include "mesh-ui-util.h"

#include <glib/gi18n.h>
#include <string.h>

/* A new run (with the sender's name) starts after this long a pause. */
#define RUN_GAP_SECONDS (5 * 60)

struct _MeshMessageRow {
  AdwBin           parent_instance;

  /* Template widgets */
  GtkLabel        *day_label;
  GtkLabel        *sender_label;
  GtkBox          *bubble;
  GtkLabel        *content_label;
  GtkLabel        *time_label;
  GtkImage        *state_image;
  GtkWidget       *open_button;

  GCancellable    *cancellable;  /* launching Open; cancelled on dispose */

  /* Owned references */
  MeshChatMessage *message;
  guint            name_color;
  gboolean         show_day;
  gboolean         show_sender;
  int              shown_state;  /* the MeshDeliveryState shown, -1: none */
};

G_DEFINE_FINAL_TYPE (MeshMessageRow, mesh_message_row, ADW_TYPE_BIN)

/* The local time zone, read once: g_date_time_to_local() reads (and stats)
 * it again on every call, several times per row bound. */
static GTimeZone *
local_zone (void)
{
  static GTimeZone *zone;

  if (g_once_init_enter (&zone))
    g_once_init_leave (&zone, g_time_zone_new_local ());
  return zone;
}

static GDateTime *
local_time (MeshChatMessage *message)
{
  GDateTime *utc = message ? mesh_chat_message_get_date_time (message) : NULL;

  return utc != NULL ? g_date_time_to_timezone (utc, local_zone ())
                     : g_date_time_new_now (local_zone ());
}

static char *
format_day (GDateTime *when)
{
  g_autoptr(GDateTime) now = g_date_time_new_now (local_zone ());
  int days_ago;

  days_ago = (g_date_time_get_year (now) - g_date_time_get_year (when)) * 366 +
             g_date_time_get_day_of_year (now) - g_date_time_get_day_of_year (when);
  if (days_ago == 0)
    return g_strdup (_("Today"));
  if (days_ago == 1)
    return g_strdup (_("Yesterday"));
  if (g_date_time_get_year (now) == g_date_time_get_year (when))
    /* Translators: a day in this year, see g_date_time_format(). */
    return g_date_time_format (when, _("%A, %B %e"));
  /* Translators: a day in another year, see g_date_time_format(). */
  return g_date_time_format (when, _("%B %e, %Y"));
}

static void
update_state (MeshMessageRow *self)
{
  const char *icon = NULL;
  const char *tooltip = NULL;
  int state;

  if (self->message == NULL || !mesh_chat_message_get_is_own (self->message) ||
      mesh_chat_message_get_event (self->message) != NULL) {
    self->shown_state = -1;
    gtk_widget_set_visible (GTK_WIDGET (self->state_image), FALSE);
    return;
  }

  /* Setting a tooltip costs a round trip to the X server: only on change. */
  state = mesh_chat_message_get_delivery_state (self->message);
  if (state == self->shown_state)
    return;
  self->shown_state = state;
  switch (state) {
  case MESH_DELIVERY_PENDING:
    icon = "document-open-recent-symbolic";
    tooltip = _("Sending");
    break;
  case MESH_DELIVERY_FAILED:
    icon = "dialog-error-symbolic";
    tooltip = _("Not delivered: the server refused this message");
    break;
  case MESH_DELIVERY_SENT:
  default:
    icon = "emblem-ok-symbolic";
    tooltip = _("Delivered");
    break;
  }
  gtk_image_set_from_icon_name (self->state_image, icon);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->state_image), tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->state_image),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip, -1);
  gtk_widget_set_visible (GTK_WIDGET (self->state_image), TRUE);
  if (mesh_chat_message_get_delivery_state (self->message) == MESH_DELIVERY_FAILED)
    gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "failed");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->bubble), "failed");
}

typedef struct {
  GtkWidget *row;   /* for the toast */
  char      *name;
} LaunchData;

static void
launch_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  LaunchData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    /* Translators: a file's name, then why no application could open it. */
    g_autofree char *message = g_strdup_printf (_("Could not open %s: %s"), data->name,
                                                error->message);

    mesh_ui_toast (data->row, message);
  }
  g_object_unref (data->row);
  g_free (data->name);
  g_free (data);
}

/* A file opens in its application, a folder in the file manager: both are
 * the default handler of their URI, as the transfer list's Open does. */
static void
open_clicked_cb (MeshMessageRow *self)
{
  GFile *file = self->message ? mesh_chat_message_get_file (self->message) : NULL;
  g_autoptr(GdkAppLaunchContext) context = NULL;
  g_autofree char *uri = NULL;
  LaunchData *data;

  if (file == NULL)
    return;
  uri = g_file_get_uri (file);
  context = gdk_display_get_app_launch_context (gtk_widget_get_display (GTK_WIDGET (self)));
  data = g_new0 (LaunchData, 1);
  data->row = g_object_ref (GTK_WIDGET (self));
  data->name = mesh_escape_for_display (mesh_chat_message_get_file_name (self->message), -1);
  g_app_info_launch_default_for_uri_async (uri, G_APP_LAUNCH_CONTEXT (context), self->cancellable,
                                           launch_cb, data);
}

/* The sentence of a "file-sent" / "file-received" item. */
static char *
describe_file (MeshChatMessage *message)
{
  gboolean sent = g_str_equal (mesh_chat_message_get_event (message), "file-sent");
  const char *outcome = mesh_chat_message_get_file_outcome (message);
  g_autofree char *name = mesh_escape_for_display (mesh_chat_message_get_file_name (message), -1);
  g_autofree char *peer = mesh_escape_for_display (mesh_chat_message_get_username (message), -1);
  g_autofree char *size = g_format_size (mesh_chat_message_get_file_size (message));

  if (g_strcmp0 (outcome, "done") == 0) {
    if (sent)
      /* Translators: in the conversation: a file's name, its size, the receiver's name. */
      return g_strdup_printf (_("You sent “%s” (%s) to %s"), name, size, peer);
    /* Translators: a sender's name, a file's name and its size. */
    return g_strdup_printf (_("%s sent you “%s” (%s)"), peer, name, size);
  }
  if (g_strcmp0 (outcome, "cancelled") == 0) {
    if (sent)
      /* Translators: in the conversation: a file's name, the receiver's name. */
      return g_strdup_printf (_("Sending “%s” to %s was cancelled"), name, peer);
    /* Translators: in the conversation: a file's name, the sender's name. */
    return g_strdup_printf (_("Receiving “%s” from %s was cancelled"), name, peer);
  }
  if (sent)
    /* Translators: in the conversation: a file's name, the receiver's name. */
    return g_strdup_printf (_("Sending “%s” to %s failed"), name, peer);
  /* Translators: in the conversation: a file's name, the sender's name. */
  return g_strdup_printf (_("Receiving “%s” from %s failed"), name, peer);
}

static void
mesh_message_row_dispose (GObject *object)
{
  MeshMessageRow *self = MESH_MESSAGE_ROW (object);

  if (self->message != NULL)
    g_signal_handlers_disconnect_by_data (self->message, self);
  g_clear_object (&self->message);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), MESH_TYPE_MESSAGE_ROW);

  G_OBJECT_CLASS (mesh_message_row_parent_class)->dispose (object);
}

static void
mesh_message_row_class_init (MeshMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mesh_message_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/mesh/Mesh/ui/mesh-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, day_label);
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, sender_label);
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, bubble);
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, content_label);
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, state_image);
  gtk_widget_class_bind_template_child (widget_class, MeshMessageRow, open_button);
  gtk_widget_class_bind_template_callback (widget_class, open_clicked_cb);
}

static void
mesh_message_row_init (MeshMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->shown_state = -1;
  self->cancellable = g_cancellable_new ();
}

GtkWidget *
mesh_message_row_new (void)
{
  return g_object_new (MESH_TYPE_MESSAGE_ROW, NULL);
}

void
mesh_message_row_set_message (MeshMessageRow  *self,
                              MeshChatMessage *message,
                              gboolean         show_day,
                              gboolean         show_sender)
{
  g_autoptr(GDateTime) when = NULL;
  g_autofree char *day = NULL;
  g_autofree char *time = NULL;
  g_autofree char *color_class = NULL;
  gboolean own;

  g_return_if_fail (MESH_IS_MESSAGE_ROW (self));
  g_return_if_fail (message == NULL || MESH_IS_CHAT_MESSAGE (message));

  /* Rows are bound again whenever older messages arrive above them. */
  if (self->message == message && message != NULL && self->show_day == show_day &&
      self->show_sender == show_sender)
    return;
  self->show_day = show_day;
  self->show_sender = show_sender;
  if (self->message != message) {
    if (self->message != NULL)
      g_signal_handlers_disconnect_by_data (self->message, self);
    g_set_object (&self->message, message);
    if (message != NULL)
      g_signal_connect_object (message, "notify::delivery-state", G_CALLBACK (update_state),
                               self, G_CONNECT_SWAPPED);
  }
  if (message == NULL)
    return;

  own = mesh_chat_message_get_is_own (message);
  when = local_time (message);
  day = format_day (when);
  /* Translators: the time of a message, see g_date_time_format(). */
  time = g_date_time_format (when, _("%H:%M"));

  gtk_label_set_label (self->day_label, day);
  gtk_widget_set_visible (GTK_WIDGET (self->day_label), show_day);

  if (self->name_color != 0) {
    color_class = g_strdup_printf ("name-color-%u", self->name_color);
    gtk_widget_remove_css_class (GTK_WIDGET (self->sender_label), color_class);
    g_clear_pointer (&color_class, g_free);
  }
  self->name_color = mesh_ui_name_color (mesh_chat_message_get_username (message));
  color_class = g_strdup_printf ("name-color-%u", self->name_color);
  gtk_widget_add_css_class (GTK_WIDGET (self->sender_label), color_class);
  gtk_label_set_label (self->sender_label, mesh_chat_message_get_username (message));
  gtk_widget_set_visible (GTK_WIDGET (self->sender_label), show_sender && !own);

  /* A file item: a bubble on its side with its sentence, and Open when
   * there is something here to open. */
  gtk_widget_set_visible (self->open_button, FALSE);
  if (g_str_has_prefix (mesh_chat_message_get_event (message) ?: "", "file-")) {
    g_autofree char *line = describe_file (message);
    gboolean openable = g_strcmp0 (mesh_chat_message_get_file_outcome (message), "done") == 0 &&
                        mesh_chat_message_get_file (message) != NULL;

    gtk_widget_set_visible (GTK_WIDGET (self->sender_label), FALSE);
    gtk_label_set_text (self->content_label, line);
    gtk_label_set_label (self->time_label, time);
    gtk_widget_set_visible (GTK_WIDGET (self->time_label), TRUE);
    gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "message-bubble");
    gtk_widget_remove_css_class (GTK_WIDGET (self->content_label), "caption");
    gtk_widget_add_css_class (GTK_WIDGET (self->content_label), "dim-label");
    gtk_widget_set_halign (GTK_WIDGET (self->bubble), own ? GTK_ALIGN_END : GTK_ALIGN_START);
    if (own)
      gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "own");
    else
      gtk_widget_remove_css_class (GTK_WIDGET (self->bubble), "own");
    gtk_widget_add_css_class (GTK_WIDGET (self), "run-start");
    if (openable) {
      g_autofree char *name = mesh_escape_for_display (mesh_chat_message_get_file_name (message),
                                                       -1);
      /* Translators: the accessible name of Open on a file in the conversation. */
      g_autofree char *label = g_strdup_printf (_("Open %s"), name);

      gtk_accessible_update_property (GTK_ACCESSIBLE (self->open_button),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
      gtk_widget_set_tooltip_text (self->open_button, label);
      gtk_widget_set_visible (self->open_button, TRUE);
    }
    update_state (self);
    return;
  }

  /* Rows are recycled: a line about a member and a message undo each other. */
  if (mesh_chat_message_get_event (message) != NULL) {
    g_autofree char *name = mesh_escape_for_display (mesh_chat_message_get_username (message), -1);
    g_autofree char *line = NULL;

    if (g_str_equal (mesh_chat_message_get_event (message), "joined"))
      /* Translators: a line in the conversation; %s is a member's name. */
      line = g_strdup_printf (_("%s joined the room"), name);
    else
      /* Translators: a line in the conversation; %s is a member's name. */
      line = g_strdup_printf (_("%s left the room"), name);
    gtk_widget_set_visible (GTK_WIDGET (self->sender_label), FALSE);
    {
      /* One short centered line, its time at its end. */
      g_autofree char *with_time = g_strdup_printf ("%s · %s", line, time);

      gtk_label_set_text (self->content_label, with_time);
    }
    gtk_widget_set_visible (GTK_WIDGET (self->time_label), FALSE);
    gtk_widget_remove_css_class (GTK_WIDGET (self->bubble), "message-bubble");
    gtk_widget_remove_css_class (GTK_WIDGET (self->bubble), "own");
    gtk_widget_add_css_class (GTK_WIDGET (self->content_label), "dim-label");
    gtk_widget_add_css_class (GTK_WIDGET (self->content_label), "caption");
    gtk_widget_set_halign (GTK_WIDGET (self->bubble), GTK_ALIGN_CENTER);
    gtk_widget_add_css_class (GTK_WIDGET (self), "run-start");
    update_state (self);
    return;
  }
  gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "message-bubble");
  gtk_widget_set_visible (GTK_WIDGET (self->time_label), TRUE);
  gtk_widget_remove_css_class (GTK_WIDGET (self->content_label), "dim-label");
  gtk_widget_remove_css_class (GTK_WIDGET (self->content_label), "caption");

  {
    g_autofree char *markup = mesh_message_row_markup (mesh_chat_message_get_content (message));

    gtk_label_set_markup (self->content_label, markup);
  }
  gtk_label_set_label (self->time_label, time);

  gtk_widget_set_halign (GTK_WIDGET (self->bubble), own ? GTK_ALIGN_END : GTK_ALIGN_START);
  if (own)
    gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "own");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->bubble), "own");
  if (show_sender)
    gtk_widget_add_css_class (GTK_WIDGET (self), "run-start");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "run-start");
  update_state (self);
}

MeshChatMessage *
mesh_message_row_get_message (MeshMessageRow *self)
{
  g_return_val_if_fail (MESH_IS_MESSAGE_ROW (self), NULL);

  return self->message;
}

gboolean
mesh_message_row_starts_day (MeshChatMessage *message,
                             MeshChatMessage *previous)
{
  g_autoptr(GDateTime) a = NULL;
  g_autoptr(GDateTime) b = NULL;

  if (previous == NULL)
    return TRUE;
  a = local_time (message);
  b = local_time (previous);
  return g_date_time_get_year (a) != g_date_time_get_year (b) ||
         g_date_time_get_day_of_year (a) != g_date_time_get_day_of_year (b);
}

gboolean
mesh_message_row_starts_run (MeshChatMessage *message,
                             MeshChatMessage *previous)
{
  g_autoptr(GDateTime) a = NULL;
  g_autoptr(GDateTime) b = NULL;

  if (previous == NULL || mesh_message_row_starts_day (message, previous))
    return TRUE;
  /* After a line about a member, the next message names its sender again. */
  if (mesh_chat_message_get_event (message) != NULL ||
      mesh_chat_message_get_event (previous) != NULL)
    return TRUE;
  if (g_strcmp0 (mesh_chat_message_get_user_id (message),
                 mesh_chat_message_get_user_id (previous)) != 0)
    return TRUE;
  a = local_time (message);
  b = local_time (previous);
  return g_date_time_difference (a, b) > (GTimeSpan) RUN_GAP_SECONDS * G_TIME_SPAN_SECOND;
}

/* A web address in a message: http(s), up to a space or a character that
 * cannot be in one; closing punctuation at its end is the sentence's. */
#define LINK_PATTERN "\\bhttps?://[^\\s<>\"]+"

char *
mesh_message_row_markup (const char *content)
{
  static gsize link_regex_once;
  static GRegex *link_regex;
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GString) markup = g_string_new (NULL);
  gsize done = 0;

  g_return_val_if_fail (content != NULL, NULL);

  if (g_once_init_enter (&link_regex_once)) {
    link_regex = g_regex_new (LINK_PATTERN, G_REGEX_OPTIMIZE | G_REGEX_CASELESS, 0, NULL);
    g_once_init_leave (&link_regex_once, 1);
  }

  g_regex_match (link_regex, content, 0, &match);
  while (g_match_info_matches (match)) {
    gint start, end;
    g_autofree char *before = NULL;
    g_autofree char *url = NULL;
    g_autofree char *escaped = NULL;

    g_match_info_fetch_pos (match, 0, &start, &end);
    while (end > start && strchr (".,;:!?)]}'", content[end - 1]) != NULL)
      end--;
    before = g_markup_escape_text (content + done, start - (gint) done);
    g_string_append (markup, before);
    url = g_strndup (content + start, end - start);
    escaped = g_markup_escape_text (url, -1);
    g_string_append_printf (markup, "<a href=\"%s\">%s</a>", escaped, escaped);
    done = (gsize) end;
    g_match_info_next (match, NULL);
  }
  {
    g_autofree char *rest = g_markup_escape_text (content + done, -1);

    g_string_append (markup, rest);
  }
  return g_string_free (g_steal_pointer (&markup), FALSE);
}
