/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* A sentence for an error a person can act on (the server's codes and the
 * transport's failures in words); never NULL. */
char     *mesh_ui_describe_error     (const GError *error);
/* "AB:CD:…" in groups of 16 bytes per line, for reading aloud. */
char     *mesh_ui_format_fingerprint (const char   *hex);
/* Shows @message as a toast of the window holding @widget (a main window or a
 * preferences window); logs it when there is none. */
void      mesh_ui_toast              (GtkWidget    *widget,
                                      const char   *message);
void      mesh_ui_toast_error        (GtkWidget    *widget,
                                      const GError *error);
/* A question over @parent with two answers: "cancel" (also what closing it
 * gives) and @response, labelled @label and shown with @appearance; Enter
 * gives @default_response. */
AdwMessageDialog *mesh_ui_question_new (GtkWindow             *parent,
                                        const char            *heading,
                                        const char            *body,
                                        const char            *response,
                                        const char            *label,
                                        AdwResponseAppearance  appearance,
                                        const char            *default_response);
/* A stable colour 1..8 for a user name (the .name-color-N style classes),
 * so that the same person always has the same colour. */
guint     mesh_ui_name_color         (const char   *name);

G_END_DECLS
