/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of MeshClientRest share: mesh-client-rest.c (the object,
 * its TLS checks, sending a request and reading the answer, sign-in),
 * mesh-client-rest-rooms.c (rooms, invites, messages) and
 * mesh-client-rest-devices.c (devices, keys, capability tokens). */

#include "mesh-client-rest.h"
#include "mesh-client-private.h"
#include "mesh-chat-message.h"
#include "mesh-room.h"

#include "mesh-error.h"
#include "mesh-ids.h"
#include "mesh-json.h"
#include "mesh-property.h"

#include <string.h>

G_BEGIN_DECLS

struct _MeshClientRest {
  GObject      parent_instance;

  char        *base_url;
  SoupSession *session;
  char        *access_token;
  char        *user_id;
  char        *pinned_fingerprint;
  char        *presented_fingerprint;
};

typedef gpointer (*ItemFromJson) (MeshClientRest  *self,
                                  JsonObject      *object,
                                  GError         **error);

void rest_send (MeshClientRest      *self,
                const char          *method,
                const char          *path,
                JsonNode            *body,
                gpointer             source_tag,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data);
JsonNode *rest_finish (MeshClientRest  *self,
                       GAsyncResult    *result,
                       gpointer         source_tag,
                       GError         **error);
char *rest_finish_string (MeshClientRest  *self,
                          GAsyncResult    *result,
                          gpointer         source_tag,
                          const char      *field,
                          const char      *int_field,
                          gint64          *int_value,
                          GError         **error);
JsonNode *rest_finish_strings (MeshClientRest  *self,
                               GAsyncResult    *result,
                               gpointer         source_tag,
                               GError         **error,
                               const char      *first_member,
                               ...);
GPtrArray *rest_finish_list (MeshClientRest  *self,
                             GAsyncResult    *result,
                             gpointer         source_tag,
                             ItemFromJson     from_json,
                             GDestroyNotify   free_item,
                             GError         **error);
JsonNode *rest_strings_body (const char *first_member,
                             ...);
char *rest_segment_path (const char *prefix,
                         const char *segment,
                         const char *after);
void rest_segment_send (MeshClientRest      *self,
                        const char          *method,
                        const char          *prefix,
                        const char          *segment,
                        const char          *after,
                        JsonNode            *body,
                        gpointer             source_tag,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data);

G_END_DECLS
