/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-rooms-ui"

/* Renaming, leaving and deleting a room from the Room Menu (issue 11, item
 * 13), and the line saying a member joined, against a real mesh-server
 * under Xvfb: alice in the window, bob through the client library. */

#include "config.h"

#include "mesh-test-server.h"
#include "mesh-application.h"
#include "mesh-room-view.h"
#include "mesh-window.h"
#include "ui-test-session.h"
#include "ui-test-util.h"

#include <glib/gi18n.h>

static MeshApplication *app;

typedef struct {
  MeshWindow *window;
  const char *room_id;
  const char *name;      /* NULL: the room must be gone */
} RoomWait;

static gboolean
room_in_list (gpointer user_data)
{
  RoomWait *wait = user_data;
  MeshRoom *room = mesh_room_list_find (mesh_window_get_room_list (wait->window), wait->room_id,
                                        NULL);

  if (wait->name == NULL)
    return room == NULL;
  return room != NULL && g_strcmp0 (mesh_room_get_name (room), wait->name) == 0;
}

static gboolean
view_is_empty (gpointer window)
{
  return mesh_room_view_get_room (mesh_window_get_room_view (window)) == NULL;
}

/* The rooms of @peer as the server lists them: the name of @room_id, or
 * NULL when @peer is no longer in it. */
static char *
peer_room_name (UiTestPeer *peer,
                const char *room_id,
                guint      *n_members)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  GAsyncResult *result = NULL;

  mesh_client_rest_list_rooms_async (peer->rest, NULL, ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "the peer's rooms");
  rooms = mesh_client_rest_list_rooms_finish (peer->rest, result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  for (guint i = 0; i < rooms->len; i++) {
    if (g_str_equal (mesh_room_get_room_id (rooms->pdata[i]), room_id)) {
      if (n_members != NULL)
        *n_members = mesh_room_get_n_members (rooms->pdata[i]);
      return g_strdup (mesh_room_get_name (rooms->pdata[i]));
    }
  }
  return NULL;
}

static gboolean
is_joined_line (GtkWidget     *widget,
                gconstpointer  data)
{
  return gtk_widget_is_visible (widget) &&
         g_str_has_prefix (gtk_label_get_text (GTK_LABEL (widget)), "bob joined the room · ");
}

/* The line, with the time it came at its end. */
static gboolean
joined_line_shown (gpointer window)
{
  return ui_test_find_widget (window, GTK_TYPE_LABEL, is_joined_line, NULL) != NULL;
}

static void
open_room (MeshWindow *window,
           const char *room_id)
{
  g_assert_true (mesh_window_open_room (window, room_id));
  ui_test_wait_room_open (window, room_id, "the room to open");
}

/* Activates a room action as the Room Menu does; returns the dialog it
 * opened, or NULL when it opened none (the item is hidden then). */
static AdwMessageDialog *
activate (MeshWindow *window,
          const char *action)
{
  GtkWidget *view = GTK_WIDGET (mesh_window_get_room_view (window));

  gtk_widget_activate_action (view, action, NULL);
  return ADW_MESSAGE_DIALOG (ui_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
}

/* As a click on @response would: the answer, then the dialog goes. */
static void
respond (AdwMessageDialog *dialog,
         const char       *response)
{
  adw_message_dialog_response (dialog, response);
  ui_test_destroy_window (GTK_WINDOW (dialog));
}

static void
test_room_menu (void)
{
  UiTestScene scene = { NULL };
  g_autoptr(MeshRoom) attic = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *kitchen_id = NULL;
  g_autofree char *garden_id = NULL;
  g_autofree char *attic_invite = NULL;
  g_autofree char *name = NULL;
  g_autofree char *shot = NULL;
  UiTestPeer *bob;
  GAsyncResult *result = NULL;
  AdwMessageDialog *dialog;
  MeshClientRest *alice_rest;
  MeshWindow *window;
  RoomWait wait;
  guint n_members = 0;

  ui_test_scene_start (&scene, app, 1000, 700);
  window = scene.window;
  bob = &scene.bob;
  kitchen_id = ui_test_scene_add_room (&scene, "Kitchen");
  garden_id = ui_test_scene_add_room (&scene, "Garden");

  /* A member may leave but neither rename nor delete bob's room. */
  open_room (window, kitchen_id);
  g_assert_null (activate (window, "room.rename"));
  g_assert_null (activate (window, "room.delete"));

  /* Leaving asks first; Cancel keeps the room. */
  dialog = activate (window, "room.leave");
  g_assert_nonnull (dialog);
  respond (dialog, "cancel");
  g_assert_nonnull (mesh_room_list_find (mesh_window_get_room_list (window), kitchen_id, NULL));

  dialog = activate (window, "room.leave");
  g_assert_nonnull (dialog);
  respond (dialog, "leave");
  wait = (RoomWait) { window, kitchen_id, NULL };
  ui_test_wait_until (room_in_list, &wait, UI_TEST_WAIT_S, "the left room to leave the list");
  ui_test_wait_until (view_is_empty, window, UI_TEST_WAIT_S, "the room view to let it go");
  name = peer_room_name (bob, kitchen_id, &n_members);
  g_assert_cmpstr (name, ==, "Kitchen");
  g_assert_cmpuint (n_members, ==, 1);
  g_clear_pointer (&name, g_free);

  /* Alice's own room: she renames it, and bob sees the new name. */
  mesh_room_list_create_room_async (mesh_window_get_room_list (window), "Attic", NULL,
                                    ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "alice's room");
  attic = mesh_room_list_create_room_finish (mesh_window_get_room_list (window), result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  alice_rest = mesh_client_session_get_rest (mesh_window_get_session (window));
  mesh_client_rest_create_invite_async (alice_rest, mesh_room_get_room_id (attic), NULL,
                                        ui_test_store_result_cb, &result);
  ui_test_wait_result (&result, "an invite to alice's room");
  attic_invite = mesh_client_rest_create_invite_finish (alice_rest, result, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  open_room (window, mesh_room_get_room_id (attic));
  /* Bob joins while alice has the room open: a line says so. */
  ui_test_rest_accept_invite (bob->rest, attic_invite);
  ui_test_wait_until (joined_line_shown, window, UI_TEST_WAIT_S, "the line about bob");
  ui_test_wait_drawn (GTK_WIDGET (window));
  shot = ui_test_screenshot (GTK_WIDGET (window), "room-member-joined");
  g_test_message ("screenshot: %s", shot);
  g_clear_pointer (&shot, g_free);
  dialog = activate (window, "room.rename");
  g_assert_nonnull (dialog);
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), "");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "rename"));
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog)), "Loft");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "rename"));
  respond (dialog, "rename");
  wait = (RoomWait) { window, mesh_room_get_room_id (attic), "Loft" };
  ui_test_wait_until (room_in_list, &wait, UI_TEST_WAIT_S, "the new name in the list");
  name = peer_room_name (bob, mesh_room_get_room_id (attic), NULL);
  g_assert_cmpstr (name, ==, "Loft");
  g_clear_pointer (&name, g_free);

  /* Deleting asks, naming the room; it goes for both. */
  dialog = activate (window, "room.delete");
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Delete “Loft”?");
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "cancel");
  ui_test_wait_drawn (GTK_WIDGET (dialog));
  shot = ui_test_screenshot (GTK_WIDGET (dialog), "room-delete-dialog");
  g_test_message ("screenshot: %s", shot);
  respond (dialog, "delete");
  wait = (RoomWait) { window, mesh_room_get_room_id (attic), NULL };
  ui_test_wait_until (room_in_list, &wait, UI_TEST_WAIT_S, "the deleted room to leave the list");
  ui_test_wait_until (view_is_empty, window, UI_TEST_WAIT_S, "the room view to let it go");
  name = peer_room_name (bob, mesh_room_get_room_id (attic), NULL);
  g_assert_null (name);

  /* Bob deletes the room alice has open: it closes, and she is told. */
  open_room (window, garden_id);
  mesh_client_rest_delete_room_async (bob->rest, garden_id, NULL, ui_test_store_result_cb,
                                      &result);
  ui_test_wait_result (&result, "bob to delete his room");
  g_assert_true (mesh_client_rest_change_room_finish (bob->rest, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  wait = (RoomWait) { window, garden_id, NULL };
  ui_test_wait_until (room_in_list, &wait, UI_TEST_WAIT_S, "bob's deleted room to go");
  ui_test_wait_until (view_is_empty, window, UI_TEST_WAIT_S, "the room view to let it go");
  ui_test_wait_label_shown (GTK_WIDGET (window), "“Garden” was deleted by its owner",
                            "the toast about the deleted room");

  ui_test_scene_stop (&scene);
}

/* The Room Menu and its dialogs in French, from the build's translations. */
static void
test_room_menu_french (void)
{
  g_setenv ("LANGUAGE", "fr", TRUE);
  textdomain (GETTEXT_PACKAGE);
  g_assert_cmpstr (_("Re_name…"), ==, "Re_nommer…");
  g_assert_cmpstr (_("_Leave Room…"), ==, "_Quitter le salon…");
  g_assert_cmpstr (_("_Delete Room…"), ==, "_Supprimer le salon…");
  g_assert_cmpstr (_("Delete “%s”?"), ==, "Supprimer « %s » ?");
  g_assert_cmpstr (_("“%s” was deleted by its owner"), ==,
                   "« %s » a été supprimé par son propriétaire");
  g_assert_cmpstr (_("%s joined the room"), ==, "%s a rejoint le salon");
  g_assert_cmpstr (_("%s left the room"), ==, "%s a quitté le salon");
  g_unsetenv ("LANGUAGE");
  textdomain (GETTEXT_PACKAGE);
}

int
main (int   argc,
      char *argv[])
{
  char *home = ui_test_init_with_home (&argc, &argv, "mesh-rooms-ui-test-XXXXXX");

  mesh_application_bind_text_domain ();
  textdomain (GETTEXT_PACKAGE);
  app = ui_test_app_new ("test");

  g_test_add_func ("/mesh/rooms-ui/room-menu", test_room_menu);
  g_test_add_func ("/mesh/rooms-ui/room-menu-french", test_room_menu_french);
  return ui_test_run (&app, home);
}
