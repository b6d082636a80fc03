/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A real coturn (`turnserver`, Debian's coturn) for tests: TURN REST API
 * credentials (use-auth-secret with @secret), listening and relaying on
 * one address only (127.0.0.1 or a test's veth address), loopback peers
 * allowed, no TLS/DTLS, no CLI, its log in a temporary folder (printed
 * on failure), killed when freed. */
typedef struct _MeshTestCoturn MeshTestCoturn;

/* NULL with G_IO_ERROR_NOT_FOUND when `turnserver` is not installed. */
MeshTestCoturn *mesh_test_coturn_start    (const char      *address,
                                           const char      *secret,
                                           GError         **error);
void            mesh_test_coturn_free     (MeshTestCoturn  *self);
guint16         mesh_test_coturn_get_port (MeshTestCoturn  *self);
/* "turn:ADDRESS:PORT?transport=udp" */
char           *mesh_test_coturn_get_uri  (MeshTestCoturn  *self);
/* Lines of the log that mention @needle (tests look for auth failures). */
guint           mesh_test_coturn_count_log (MeshTestCoturn *self,
                                            const char     *needle);
/* Runs `turnutils_uclient -y` (two clients relaying to each other)
 * with @username/@password; TRUE when both allocations worked and the
 * messages came back.  @output (optional) gets what it printed. */
gboolean        mesh_test_coturn_try_allocate (MeshTestCoturn *self,
                                               const char     *username,
                                               const char     *password,
                                               char          **output);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshTestCoturn, mesh_test_coturn_free)

G_END_DECLS
