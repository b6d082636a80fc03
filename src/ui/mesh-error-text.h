/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* A translated sentence for @error that says what happened and what to do,
 * for people, never the protocol's codes or a library's wording.  Those go
 * to @details (may be NULL): the error's own message with its domain and
 * code, for a "Details" expander or the log. */
char *mesh_error_text_describe (const GError  *error,
                                char         **details);

/* A toast showing all of @text: a sentence of what happened and what to do
 * is longer than the one line a toast gives its title. */
AdwToast *mesh_error_text_toast_new (const char *text);

G_END_DECLS
