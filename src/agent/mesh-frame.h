/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Data-plane frames (protocol §6): u8 type | u32 length (big-endian) | payload. */
#define MESH_FRAME_HEADER_SIZE 5
#define MESH_FRAME_MAX_PAYLOAD (1024 * 1024)
/* A FILE_CHUNK / ZIP_CHUNK payload starts with its u64 offset. */
#define MESH_FRAME_CHUNK_HEADER_SIZE 8
#define MESH_FRAME_CHUNK_MAX_DATA (MESH_FRAME_MAX_PAYLOAD - MESH_FRAME_CHUNK_HEADER_SIZE)

typedef enum {
  MESH_FRAME_CONTROL  = 0x01,
  MESH_FRAME_CHUNK    = 0x02,
  MESH_FRAME_TERM_OUT = 0x03,
  MESH_FRAME_TERM_IN  = 0x04,
} MeshFrameType;

#define MESH_FRAME_ERROR (mesh_frame_error_quark ())

/* Data-plane failures that have no §8 code.  Malformed frames are
 * MESH_ERROR_BAD_REQUEST and oversized ones MESH_ERROR_PAYLOAD_TOO_LARGE. */
typedef enum {
  MESH_FRAME_ERROR_HASH_MISMATCH, /* wire code "HASH_MISMATCH" */
  MESH_FRAME_ERROR_UNSAFE_ENTRY,  /* a folder archive tried to escape its target */
  MESH_FRAME_ERROR_PEER,          /* the peer sent ERROR with a code we do not know */
  MESH_FRAME_ERROR_CANCELLED,     /* wire code "CANCELLED": the other side's user stopped it */
} MeshFrameErrorCode;

GQuark      mesh_frame_error_quark      (void);
const char *mesh_frame_type_to_string   (MeshFrameType  type);

/* Whole frame (header + payload) ready for the wire. */
GBytes     *mesh_frame_encode           (MeshFrameType  type,
                                         GBytes        *payload);
void        mesh_frame_encode_header    (MeshFrameType  type,
                                         gsize          payload_len,
                                         guint8         header[MESH_FRAME_HEADER_SIZE]);

/* Incremental parser: feed bytes as they arrive, take frames out.  Lengths
 * are checked from the header alone, before any payload is buffered. */
typedef struct _MeshFrameParser MeshFrameParser;

MeshFrameParser *mesh_frame_parser_new    (void);
void             mesh_frame_parser_free   (MeshFrameParser  *parser);
gsize            mesh_frame_parser_feed   (MeshFrameParser  *parser,
                                           const guint8     *data,
                                           gsize             len,
                                           GError          **error);
gboolean         mesh_frame_parser_next   (MeshFrameParser  *parser,
                                           MeshFrameType    *type,
                                           GBytes          **payload);
gboolean         mesh_frame_parser_is_idle (MeshFrameParser *parser);
/* Where the rest of the current frame's payload goes, so that a reader can read straight into
 * it (no copy through a buffer); NULL when no payload is expected now.  Then _payload_filled()
 * with what was read there. */
guint8          *mesh_frame_parser_payload_space  (MeshFrameParser  *parser,
                                                   gsize            *len);
void             mesh_frame_parser_payload_filled (MeshFrameParser  *parser,
                                                   gsize             n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeshFrameParser, mesh_frame_parser_free)

/* FILE_CHUNK / ZIP_CHUNK payloads. */
GBytes     *mesh_frame_chunk_new        (guint64        offset,
                                         const void    *data,
                                         gsize          len);
gboolean    mesh_frame_chunk_parse      (GBytes        *payload,
                                         guint64       *offset,
                                         GBytes       **data,
                                         GError       **error);

/* CONTROL payloads: a JSON object whose string member "t" names the message. */
JsonObject *mesh_frame_control_new      (const char    *t);
GBytes     *mesh_frame_control_to_bytes (JsonObject    *control);
JsonObject *mesh_frame_control_parse    (GBytes        *payload,
                                         const char   **t,
                                         GError       **error);
JsonObject *mesh_frame_error_new        (const char    *code,
                                         const char    *message);
JsonObject *mesh_frame_error_new_from_gerror (const GError *error);
void        mesh_frame_error_to_gerror  (JsonObject    *control,
                                         GError       **error);

/* Terminal window size (§6): 1..MESH_FRAME_TERM_MAX_SIZE columns and rows. */
#define MESH_FRAME_TERM_MAX_SIZE 1000

JsonObject *mesh_frame_term_resize_new  (guint          cols,
                                         guint          rows);
gboolean    mesh_frame_term_resize_parse (JsonObject   *control,
                                          guint        *cols,
                                          guint        *rows,
                                          GError      **error);

/* The first exchange on a session stream (§6). */
JsonObject *mesh_frame_p2p_hello_new    (const char    *session_id,
                                         const char    *session_token,
                                         const char    *from_device_id);
gboolean    mesh_frame_p2p_hello_parse  (JsonObject    *control,
                                         const char   **session_id,
                                         const char   **session_token,
                                         const char   **from_device_id,
                                         GError       **error);
JsonObject *mesh_frame_p2p_ok_new       (void);
JsonObject *mesh_frame_p2p_deny_new     (const char    *reason);
gboolean    mesh_frame_p2p_reply_parse  (JsonObject    *control,
                                         GError       **error);

G_END_DECLS
