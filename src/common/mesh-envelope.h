/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The frame of protocol §3: {type, id, timestamp, from, to, payload}. */
typedef struct {
  char       *type;
  char       *id;
  char       *timestamp;
  char       *from;
  char       *to;
  JsonObject *payload;
} MeshEnvelope;

#define MESH_ENVELOPE_MAX_ID_LEN 128
#define MESH_ENVELOPE_MAX_TYPE_LEN 64

MeshEnvelope *mesh_envelope_new    (const char    *type,
                                    const char    *from,
                                    const char    *to,
                                    JsonObject    *payload);
MeshEnvelope *mesh_envelope_parse  (const char    *data,
                                    gsize          len,
                                    GError       **error);
/* The same; on failure @ref gets the request's `id` when it was readable. */
MeshEnvelope *mesh_envelope_parse_full (const char  *data,
                                        gsize        len,
                                        char       **ref,
                                        GError     **error);
char         *mesh_envelope_to_string (const MeshEnvelope *self,
                                       gsize              *len);
char         *mesh_envelope_build  (const char    *type,
                                    const char    *from,
                                    const char    *to,
                                    JsonObject    *payload,
                                    gsize         *len);
void          mesh_envelope_free   (MeshEnvelope  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshEnvelope, mesh_envelope_free)

G_END_DECLS
