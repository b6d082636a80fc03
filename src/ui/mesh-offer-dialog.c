/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "mesh-offer-dialog"

#include "config.h"

#include "mesh-offer-dialog.h"

#include <glib/gi18n.h>
#include <string.h>

enum {
  PROP_0,
  PROP_TRANSFER,
  PROP_FOLDER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _MeshOfferDialog {
  AdwMessageDialog      parent_instance;

  /* Owned references */
  MeshTransfer         *transfer;
  GFile                *folder;
  GtkFileChooserNative *chooser;

  /* Borrowed references */
  AdwActionRow         *folder_row;

  /* Answered, or closed because the offer went away: nothing more to do. */
  gboolean              settled;
};

G_DEFINE_FINAL_TYPE (MeshOfferDialog, mesh_offer_dialog, ADW_TYPE_MESSAGE_DIALOG)

/* "~/Downloads" rather than "/home/alice/Downloads". */
static char *
display_folder (GFile *folder)
{
  g_autofree char *path = g_file_get_path (folder);
  const char *home = g_get_home_dir ();
  gsize len = strlen (home);

  if (path == NULL)
    return g_file_get_parse_name (folder);
  if (len > 1 && g_str_has_prefix (path, home) && (path[len] == '\0' || path[len] == '/'))
    return g_strconcat ("~", path + len, NULL);
  return g_steal_pointer (&path);
}

static void
set_folder (MeshOfferDialog *self,
            GFile           *folder)
{
  g_autofree char *text = NULL;

  if (!g_set_object (&self->folder, folder))
    return;
  text = display_folder (folder);
  adw_action_row_set_subtitle (self->folder_row, text);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FOLDER]);
}

static void
chooser_response_cb (MeshOfferDialog *self,
                     int              response,
                     GtkNativeDialog *chooser)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));

    if (folder != NULL)
      set_folder (self, folder);
  }
  gtk_native_dialog_destroy (chooser);
  g_clear_object (&self->chooser);
}

static void
change_clicked_cb (MeshOfferDialog *self)
{
  if (self->chooser != NULL)
    return;
  self->chooser = gtk_file_chooser_native_new (_("Save In"), GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                               _("_Select"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  /* A folder that is gone just leaves the chooser where it would start anyway. */
  gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (self->chooser), self->folder, NULL);
  g_signal_connect_object (self->chooser, "response", G_CALLBACK (chooser_response_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
transfer_state_cb (MeshOfferDialog *self)
{
  if (self->settled || mesh_transfer_get_state (self->transfer) == MESH_TRANSFER_OFFERED)
    return;
  /* Nothing is left to answer; closing would decline, so destroy instead. */
  self->settled = TRUE;
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
mesh_offer_dialog_response (AdwMessageDialog *dialog,
                            const char       *response)
{
  MeshOfferDialog *self = MESH_OFFER_DIALOG (dialog);

  if (self->settled)
    return;
  self->settled = TRUE;
  if (g_strcmp0 (response, "accept") == 0)
    mesh_transfer_accept (self->transfer, self->folder);
  else
    mesh_transfer_decline (self->transfer);
}

static void
mesh_offer_dialog_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  MeshOfferDialog *self = MESH_OFFER_DIALOG (object);

  switch (prop_id) {
  case PROP_TRANSFER:
    g_value_set_object (value, self->transfer);
    break;
  case PROP_FOLDER:
    g_value_set_object (value, self->folder);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_offer_dialog_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  MeshOfferDialog *self = MESH_OFFER_DIALOG (object);

  switch (prop_id) {
  case PROP_TRANSFER:
    self->transfer = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
mesh_offer_dialog_constructed (GObject *object)
{
  MeshOfferDialog *self = MESH_OFFER_DIALOG (object);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (self);
  const char *peer = mesh_transfer_get_peer_name (self->transfer);
  g_autofree char *size = g_format_size (mesh_transfer_get_size (self->transfer));
  g_autoptr(GFile) folder = NULL;
  GtkWidget *list, *button, *icon;

  G_OBJECT_CLASS (mesh_offer_dialog_parent_class)->constructed (object);

  if (peer == NULL || *peer == '\0')
    peer = _("Someone");
  /* Translators: a person's name, then the name of a file or folder. */
  adw_message_dialog_format_heading (dialog, _("%s wants to send you “%s”"), peer,
                                     mesh_transfer_get_name (self->transfer));
  if (mesh_transfer_get_is_folder (self->transfer))
    /* Translators: the size of everything in the folder, as in "1.2 GB". */
    adw_message_dialog_format_body (dialog, _("A folder of %s"), size);
  else
    /* Translators: a file's size, as in "1.2 GB". */
    adw_message_dialog_format_body (dialog, _("A file of %s"), size);

  list = gtk_list_box_new ();
  gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
  gtk_widget_add_css_class (list, "boxed-list");
  self->folder_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->folder_row), _("Save In"));
  icon = gtk_image_new_from_icon_name ("folder-symbolic");
  adw_action_row_add_prefix (self->folder_row, icon);
  button = gtk_button_new_with_mnemonic (_("_Change…"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  g_signal_connect_object (button, "clicked", G_CALLBACK (change_clicked_cb), self,
                           G_CONNECT_SWAPPED);
  adw_action_row_add_suffix (self->folder_row, button);
  gtk_list_box_append (GTK_LIST_BOX (list), GTK_WIDGET (self->folder_row));
  adw_message_dialog_set_extra_child (dialog, list);

  if (mesh_transfer_get_folder (self->transfer) != NULL) {
    folder = g_object_ref (mesh_transfer_get_folder (self->transfer));
  } else {
    const char *downloads = g_get_user_special_dir (G_USER_DIRECTORY_DOWNLOAD);

    folder = g_file_new_for_path (downloads != NULL ? downloads : g_get_home_dir ());
  }
  set_folder (self, folder);

  adw_message_dialog_add_responses (dialog,
                                    "decline", _("_Decline"),
                                    "accept", _("_Accept"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "accept", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "accept");
  adw_message_dialog_set_close_response (dialog, "decline");

  g_signal_connect_object (self->transfer, "notify::state", G_CALLBACK (transfer_state_cb), self,
                           G_CONNECT_SWAPPED);
}

static void
mesh_offer_dialog_dispose (GObject *object)
{
  MeshOfferDialog *self = MESH_OFFER_DIALOG (object);

  if (self->chooser != NULL) {
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
    g_clear_object (&self->chooser);
  }

  G_OBJECT_CLASS (mesh_offer_dialog_parent_class)->dispose (object);
}

static void
mesh_offer_dialog_finalize (GObject *object)
{
  MeshOfferDialog *self = MESH_OFFER_DIALOG (object);

  g_clear_object (&self->transfer);
  g_clear_object (&self->folder);

  G_OBJECT_CLASS (mesh_offer_dialog_parent_class)->finalize (object);
}

static void
mesh_offer_dialog_class_init (MeshOfferDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  AdwMessageDialogClass *dialog_class = ADW_MESSAGE_DIALOG_CLASS (klass);

  object_class->get_property = mesh_offer_dialog_get_property;
  object_class->set_property = mesh_offer_dialog_set_property;
  object_class->constructed = mesh_offer_dialog_constructed;
  object_class->dispose = mesh_offer_dialog_dispose;
  object_class->finalize = mesh_offer_dialog_finalize;

  dialog_class->response = mesh_offer_dialog_response;

  properties[PROP_TRANSFER] =
    g_param_spec_object ("transfer", NULL, NULL, MESH_TYPE_TRANSFER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FOLDER] =
    g_param_spec_object ("folder", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mesh_offer_dialog_init (MeshOfferDialog *self)
{
}

GtkWidget *
mesh_offer_dialog_new (GtkWindow    *parent,
                       MeshTransfer *transfer)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (MESH_IS_TRANSFER (transfer), NULL);

  return g_object_new (MESH_TYPE_OFFER_DIALOG,
                       "transient-for", parent,
                       "modal", TRUE,
                       "transfer", transfer,
                       NULL);
}

MeshTransfer *
mesh_offer_dialog_get_transfer (MeshOfferDialog *self)
{
  g_return_val_if_fail (MESH_IS_OFFER_DIALOG (self), NULL);

  return self->transfer;
}

GFile *
mesh_offer_dialog_get_folder (MeshOfferDialog *self)
{
  g_return_val_if_fail (MESH_IS_OFFER_DIALOG (self), NULL);

  return self->folder;
}
