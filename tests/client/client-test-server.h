/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A real mesh-server for the client tests: temporary data folder, users
 * added with `mesh-server user add`, 127.0.0.1 only.  Unlike the shared
 * harness it restarts on the same port and can serve TLS. */
typedef struct _ClientTestServer ClientTestServer;

ClientTestServer *client_test_server_new          (void);
void              client_test_server_free         (ClientTestServer *self);
const char       *client_test_server_get_data_dir (ClientTestServer *self);
void              client_test_server_set_tls      (ClientTestServer *self,
                                                   const char       *cert_path,
                                                   const char       *key_path);
void              client_test_server_set_open_registration (ClientTestServer *self,
                                                            gboolean          open);
char             *client_test_server_add_user     (ClientTestServer *self,
                                                   const char       *username,
                                                   const char       *password);
/* Starts it (on the port of the previous start, if any) and waits for it. */
void              client_test_server_start        (ClientTestServer *self);
/* SIGTERM and wait for a clean exit. */
void              client_test_server_stop         (ClientTestServer *self);
/* "http://127.0.0.1:PORT" or "https://…" */
const char       *client_test_server_get_url      (ClientTestServer *self);

/* A self-signed certificate for 127.0.0.1 written to @dir; returns the
 * SHA-256 fingerprint of its DER form (hex). */
char             *client_test_make_certificate    (const char       *dir,
                                                   char            **cert_path,
                                                   char            **key_path);

/* Iterates the main context until *@flag or @timeout_s; returns *@flag. */
gboolean          client_test_wait_flag           (const gboolean   *flag,
                                                   guint             timeout_s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClientTestServer, client_test_server_free)

G_END_DECLS
