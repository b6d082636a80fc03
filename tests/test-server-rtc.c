/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server"

#include "config.h"

#include "test-server-private.h"

#include "mesh-cap-token.h"
#include "mesh-ids.h"

#include <string.h>

/* Capability tokens (protocol §4): issued over REST, checked by the hub on
 * the rtc.* signalling it relays between the members of a room. */

#define SDP          "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

static MeshTestResponse *
request_caps (int         user,
              const char *room_id,
              const char *body)
{
  MeshTestServer *server = main_server ();
  g_autofree char *path = g_strdup_printf ("/api/v1/rooms/%s/caps", room_id);

  return mesh_test_request (server, "POST", path, shared.token[user], body);
}

/* @fields: JSON members after "caps" (may be ""). */
static char *
issue_cap (int         user,
           const char *room_id,
           const char *caps,
           const char *fields)
{
  g_autofree char *body = g_strdup_printf ("{\"caps\":%s%s%s}", caps, *fields ? "," : "", fields);
  g_autoptr(MeshTestResponse) r = request_caps (user, room_id, body);
  JsonObject *obj;

  g_assert_cmpuint (r->status, ==, 200);
  obj = mesh_test_response_object (r);
  g_assert_cmpstr (get_str (obj, "cap_token"), !=, NULL);
  return g_strdup (get_str (obj, "cap_token"));
}

static char *
peer_id_of (JsonObject *welcome)
{
  return g_strdup (get_str (welcome, "peer_id"));
}

/* A JWT with the given header and claims and @signature (base64url). */
static char *
forge_token (const char *header,
             const char *claims,
             const char *signature)
{
  g_autofree char *h = g_base64_encode ((const guchar *) header, strlen (header));
  g_autofree char *c = g_base64_encode ((const guchar *) claims, strlen (claims));
  GString *out = g_string_new (NULL);
  const char *parts[] = { h, ".", c, ".", signature };

  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    for (const char *p = parts[i]; *p != '\0'; p++) {
      if (*p == '+')
        g_string_append_c (out, '-');
      else if (*p == '/')
        g_string_append_c (out, '_');
      else if (*p != '=')
        g_string_append_c (out, *p);
    }
  }
  return g_string_free (out, FALSE);
}

static void
test_rest_caps (void)
{
  MeshTestServer *server = main_server ();
  g_autofree char *room_id = room_with (ALICE, "Caps", BOB, -1);
  g_autoptr(MeshTestResponse) r = NULL;
  g_autoptr(MeshTestResponse) keys = NULL;
  g_autoptr(MeshTestResponse) longer = NULL;
  g_autoptr(MeshCapKey) public_key = NULL;
  g_autoptr(MeshCapClaims) claims = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *obj;
  static const struct {
    const char *body;
    guint       status;
    const char *code;
  } refusals[] = {
    { "{\"caps\":[\"teleport\"]}", 400, "BAD_REQUEST" },
    { "{\"caps\":[]}", 400, "BAD_REQUEST" },
    { "{}", 400, "BAD_REQUEST" },
    { "{\"caps\":\"call\"}", 400, "BAD_REQUEST" },
    { "{\"caps\":[\"call\"],\"ttl\":0}", 400, "BAD_REQUEST" },
    { "{\"caps\":[\"call\"],\"max_size\":\"big\"}", 400, "BAD_REQUEST" },
    /* §4: only the holder of terminal control gets this one. */
    { "{\"caps\":[\"terminal:view\",\"terminal:control\"]}", 403, "FORBIDDEN" },
  };

  r = request_caps (BOB, room_id,
                    "{\"caps\":[\"call\",\"file\"],\"target_device_id\":\"dev-1\","
                    "\"max_size\":1000,\"max_rate\":500}");
  g_assert_cmpuint (r->status, ==, 200);
  obj = mesh_test_response_object (r);
  g_assert_cmpint (json_object_get_int_member (obj, "expires_in"), ==, MESH_CAP_DEFAULT_TTL);

  /* The token verifies offline with the key GET /keys serves. */
  keys = mesh_test_request_expect (server, "GET", "/api/v1/keys", shared.token[EVE], NULL, 200);
  g_assert_cmpstr (get_str (mesh_test_response_object (keys), "alg"), ==, "ES256");
  g_assert_true (g_str_has_prefix (get_str (mesh_test_response_object (keys), "public_key_pem"),
                                   "-----BEGIN PUBLIC KEY-----"));
  public_key = mesh_cap_key_new_public (get_str (mesh_test_response_object (keys),
                                                 "public_key_pem"), &error);
  g_assert_no_error (error);
  claims = mesh_cap_key_verify (public_key, get_str (obj, "cap_token"), 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claims->sub, ==, shared.user_id[BOB]);
  g_assert_cmpstr (claims->room_id, ==, room_id);
  g_assert_cmpuint (g_strv_length (claims->caps), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) claims->caps, "call"));
  g_assert_true (g_strv_contains ((const char * const *) claims->caps, "file"));
  g_assert_cmpint (claims->exp - claims->iat, ==, MESH_CAP_DEFAULT_TTL);
  g_assert_cmpstr (claims->target_device_id, ==, "dev-1");
  g_assert_null (claims->target_peer_id);
  g_assert_cmpint (claims->max_size, ==, 1000);
  g_assert_cmpint (claims->max_rate, ==, 500);
  assert_uuid4 (claims->jti);

  /* A longer TTL is cut to the 300 s ceiling, and says so. */
  longer = request_caps (ALICE, room_id, "{\"caps\":[\"screenshare\"],\"ttl\":3600}");
  g_assert_cmpuint (longer->status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (mesh_test_response_object (longer), "expires_in"),
                   ==, MESH_CAP_MAX_TTL);

  for (guint i = 0; i < G_N_ELEMENTS (refusals); i++) {
    g_autoptr(MeshTestResponse) refused = request_caps (ALICE, room_id, refusals[i].body);

    g_test_message ("caps body %s", refusals[i].body);
    mesh_test_response_assert_error (refused, refusals[i].status, refusals[i].code);
  }
  {
    g_autoptr(MeshTestResponse) outsider = request_caps (EVE, room_id, "{\"caps\":[\"call\"]}");
    g_autoptr(MeshTestResponse) unknown = request_caps (ALICE, UNKNOWN_ID,
                                                        "{\"caps\":[\"call\"]}");

    mesh_test_response_assert_error (outsider, 403, "FORBIDDEN");
    mesh_test_response_assert_error (unknown, 404, "ROOM_NOT_FOUND");
  }
}

typedef struct {
  char           *room_id;
  char           *other_room_id;
  MeshTestClient *a;        /* alice */
  MeshTestClient *b;        /* bob */
  MeshTestClient *c;        /* carol, in the other room only */
  char           *a_peer;
  char           *b_peer;
  char           *c_peer;
} Call;

static void
call_set_up (Call *call)
{
  g_autoptr(JsonObject) wa = NULL;
  g_autoptr(JsonObject) wb = NULL;
  g_autoptr(JsonObject) wc = NULL;
  g_autoptr(JsonObject) j1 = NULL;
  g_autoptr(JsonObject) j2 = NULL;
  g_autoptr(JsonObject) j3 = NULL;
  g_autoptr(JsonObject) j4 = NULL;

  call->room_id = room_with (ALICE, "Call", BOB, -1);
  call->other_room_id = room_with (ALICE, "Elsewhere", CAROL, -1);
  call->a = client_for (ALICE, &wa);
  call->b = client_for (BOB, &wb);
  call->c = client_for (CAROL, &wc);
  call->a_peer = peer_id_of (wa);
  call->b_peer = peer_id_of (wb);
  call->c_peer = peer_id_of (wc);
  j1 = ws_join (call->a, call->room_id);
  j2 = ws_join (call->b, call->room_id);
  j3 = ws_join (call->a, call->other_room_id);
  j4 = ws_join (call->c, call->other_room_id);
  mesh_test_client_clear (call->a);
  mesh_test_client_clear (call->b);
  mesh_test_client_clear (call->c);
}

static void
call_tear_down (Call *call)
{
  g_clear_pointer (&call->a, mesh_test_client_free);
  g_clear_pointer (&call->b, mesh_test_client_free);
  g_clear_pointer (&call->c, mesh_test_client_free);
  g_free (call->room_id);
  g_free (call->other_room_id);
  g_free (call->a_peer);
  g_free (call->b_peer);
  g_free (call->c_peer);
}

static char *
offer_payload (const char *room_id,
               const char *target,
               const char *media,
               const char *cap_token)
{
  g_autoptr(JsonObject) p = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (p, "room_id", room_id);
  json_object_set_string_member (p, "target_peer_id", target);
  json_object_set_string_member (p, "sdp", SDP);
  json_object_set_string_member (p, "media", media);
  if (cap_token != NULL)
    json_object_set_string_member (p, "cap_token", cap_token);
  json_node_set_object (node, p);
  return json_to_string (node, FALSE);
}

/* Sends an offer from alice to @target and expects error @code. */
static void
offer_refused (Call       *call,
               const char *room_id,
               const char *target,
               const char *media,
               const char *cap_token,
               const char *code)
{
  g_autofree char *payload = offer_payload (room_id, target, media, cap_token);
  const char *id = mesh_test_client_send (call->a, "rtc.offer", payload);

  g_test_message ("offer expecting %s", code);
  mesh_test_client_expect_error (call->a, code, id);
}

static void
test_ws_rtc_relay (void)
{
  Call call = { 0 };
  g_autofree char *a_token = NULL;
  g_autofree char *b_token = NULL;
  g_autofree char *offer = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *ice = NULL;
  g_autofree char *hangup = NULL;
  g_autoptr(JsonObject) got_offer = NULL;
  g_autoptr(JsonObject) got_answer = NULL;
  g_autoptr(JsonObject) got_ice = NULL;
  g_autoptr(JsonObject) got_hangup = NULL;
  JsonObject *payload;
  JsonObject *candidate;

  call_set_up (&call);
  a_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "");
  b_token = issue_cap (BOB, call.room_id, "[\"call\"]", "");

  /* A forged `from` is overwritten with the sender's real peer_id. */
  offer = offer_payload (call.room_id, call.b_peer, "call", a_token);
  mesh_test_client_send_from (call.a, "rtc.offer", call.c_peer, offer);
  got_offer = mesh_test_client_expect_type (call.b, "rtc.offer");
  g_assert_cmpstr (get_str (got_offer, "from"), ==, call.a_peer);
  g_assert_cmpstr (get_str (got_offer, "to"), ==, call.b_peer);
  payload = mesh_test_frame_payload (got_offer);
  g_assert_cmpstr (get_str (payload, "sdp"), ==, SDP);
  g_assert_cmpstr (get_str (payload, "media"), ==, "call");
  g_assert_cmpstr (get_str (payload, "room_id"), ==, call.room_id);
  g_assert_cmpstr (get_str (payload, "target_peer_id"), ==, call.b_peer);
  g_assert_false (json_object_has_member (payload, "cap_token"));

  answer = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"sdp\":\"v=0\","
                            "\"cap_token\":\"%s\"}", call.room_id, call.a_peer, b_token);
  mesh_test_client_send_from (call.b, "rtc.answer", "server", answer);
  got_answer = mesh_test_client_expect_type (call.a, "rtc.answer");
  g_assert_cmpstr (get_str (got_answer, "from"), ==, call.b_peer);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (got_answer), "sdp"), ==, "v=0");
  g_assert_false (json_object_has_member (mesh_test_frame_payload (got_answer), "cap_token"));

  ice = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"candidate\":"
                         "{\"candidate\":\"candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host\","
                         "\"sdpMid\":\"0\",\"sdpMLineIndex\":0},\"cap_token\":\"%s\"}",
                         call.room_id, call.b_peer, a_token);
  mesh_test_client_send (call.a, "rtc.ice", ice);
  got_ice = mesh_test_client_expect_type (call.b, "rtc.ice");
  g_assert_cmpstr (get_str (got_ice, "from"), ==, call.a_peer);
  candidate = json_object_get_object_member (mesh_test_frame_payload (got_ice), "candidate");
  g_assert_cmpstr (get_str (candidate, "sdpMid"), ==, "0");
  g_assert_cmpint (json_object_get_int_member (candidate, "sdpMLineIndex"), ==, 0);
  g_assert_false (json_object_has_member (mesh_test_frame_payload (got_ice), "cap_token"));

  /* Hanging up needs no token. */
  hangup = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\",\"reason\":\"bye\"}",
                            call.room_id, call.a_peer);
  mesh_test_client_send (call.b, "rtc.hangup", hangup);
  got_hangup = mesh_test_client_expect_type (call.a, "rtc.hangup");
  g_assert_cmpstr (get_str (got_hangup, "from"), ==, call.b_peer);
  g_assert_cmpstr (get_str (mesh_test_frame_payload (got_hangup), "reason"), ==, "bye");

  /* A screenshare offer with a screenshare token goes through too. */
  {
    g_autofree char *share_token = issue_cap (ALICE, call.room_id, "[\"screenshare\"]", "");
    g_autofree char *share = offer_payload (call.room_id, call.b_peer, "screenshare", share_token);
    g_autoptr(JsonObject) got_share = NULL;

    mesh_test_client_send (call.a, "rtc.offer", share);
    got_share = mesh_test_client_expect_type (call.b, "rtc.offer");
    g_assert_cmpstr (get_str (mesh_test_frame_payload (got_share), "media"), ==, "screenshare");
  }
  /* Carol, in another room, heard nothing of it. */
  g_assert_cmpuint (mesh_test_client_get_n_queued (call.c), ==, 0);
  call_tear_down (&call);
}

static void
test_ws_rtc_refusals (void)
{
  Call call = { 0 };
  g_autofree char *call_token = NULL;
  g_autofree char *short_token = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *other_room_token = NULL;
  g_autofree char *share_token = NULL;
  g_autofree char *targeted_elsewhere = NULL;
  g_autofree char *targeted_b = NULL;
  g_autofree char *bobs_token = NULL;
  g_autofree char *none_token = NULL;
  g_autofree char *claims = NULL;
  g_autofree char *fields = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *last_dot;
  gsize mid;

  call_set_up (&call);
  call_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "");
  short_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "\"ttl\":1");
  other_room_token = issue_cap (ALICE, call.other_room_id, "[\"call\"]", "");
  share_token = issue_cap (ALICE, call.room_id, "[\"screenshare\"]", "");
  fields = g_strdup_printf ("\"target_peer_id\":\"%s\"", call.c_peer);
  targeted_elsewhere = issue_cap (ALICE, call.room_id, "[\"call\"]", fields);
  g_free (fields);
  fields = g_strdup_printf ("\"target_peer_id\":\"%s\"", call.b_peer);
  targeted_b = issue_cap (ALICE, call.room_id, "[\"call\"]", fields);
  bobs_token = issue_cap (BOB, call.room_id, "[\"call\"]", "");

  /* One character of the signature changed. */
  tampered = g_strdup (call_token);
  last_dot = strrchr (tampered, '.');
  g_assert_nonnull (last_dot);
  mid = (last_dot - tampered) + (strlen (last_dot) / 2);
  tampered[mid] = tampered[mid] == 'A' ? 'B' : 'A';

  claims = g_strdup_printf ("{\"sub\":\"%s\",\"room_id\":\"%s\",\"caps\":[\"call\"],"
                            "\"iat\":%" G_GINT64_FORMAT ",\"exp\":%" G_GINT64_FORMAT ","
                            "\"jti\":\"00000000-0000-4000-8000-000000000001\"}",
                            shared.user_id[ALICE], call.room_id, now, now + 100);
  none_token = forge_token ("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");

  offer_refused (&call, call.room_id, call.b_peer, "call", NULL, "CAP_REQUIRED");
  offer_refused (&call, call.room_id, call.b_peer, "call", "", "CAP_REQUIRED");
  offer_refused (&call, call.room_id, call.b_peer, "call", tampered, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", "not.a.jwt", "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", none_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", other_room_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", share_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "screenshare", call_token, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", targeted_elsewhere, "CAP_INVALID");
  offer_refused (&call, call.room_id, call.b_peer, "call", bobs_token, "CAP_INVALID");

  /* A valid token, but the target is not reachable in that room. */
  offer_refused (&call, call.room_id, call.c_peer, "call", call_token, "UNROUTABLE");
  offer_refused (&call, call.room_id, UNKNOWN_ID, "call", call_token,
                 "UNROUTABLE");
  offer_refused (&call, call.room_id, call.a_peer, "call", call_token, "UNROUTABLE");

  /* Malformed offers and rooms one has not joined. */
  offer_refused (&call, call.room_id, call.b_peer, "video", call_token, "BAD_REQUEST");
  offer_refused (&call, UNKNOWN_ID, call.b_peer, "call", call_token,
                 "ROOM_NOT_FOUND");
  {
    const char *id;
    g_autofree char *no_sdp = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\","
                                               "\"media\":\"call\",\"cap_token\":\"%s\"}",
                                               call.room_id, call.b_peer, call_token);
    g_autofree char *carol_offer = offer_payload (call.room_id, call.a_peer, "call", call_token);
    g_autofree char *bad_ice = g_strdup_printf ("{\"room_id\":\"%s\",\"target_peer_id\":\"%s\","
                                                "\"candidate\":\"x\",\"cap_token\":\"%s\"}",
                                                call.room_id, call.b_peer, call_token);
    g_autofree char *no_target = g_strdup_printf ("{\"room_id\":\"%s\",\"sdp\":\"v=0\","
                                                  "\"cap_token\":\"%s\"}",
                                                  call.room_id, call_token);

    id = mesh_test_client_send (call.a, "rtc.offer", no_sdp);
    mesh_test_client_expect_error (call.a, "BAD_REQUEST", id);
    id = mesh_test_client_send (call.a, "rtc.ice", bad_ice);
    mesh_test_client_expect_error (call.a, "BAD_REQUEST", id);
    id = mesh_test_client_send (call.a, "rtc.answer", no_target);
    mesh_test_client_expect_error (call.a, "BAD_REQUEST", id);
    /* Carol is not in the call's room. */
    id = mesh_test_client_send (call.c, "rtc.offer", carol_offer);
    mesh_test_client_expect_error (call.c, "FORBIDDEN", id);
  }

  /* The token naming B does work for B. */
  {
    g_autofree char *ok = offer_payload (call.room_id, call.b_peer, "call", targeted_b);
    g_autoptr(JsonObject) got = NULL;

    mesh_test_client_send (call.a, "rtc.offer", ok);
    got = mesh_test_client_expect_type (call.b, "rtc.offer");
  }

  /* The 1-second token, once past its exp. */
  mesh_test_pump (2100);
  offer_refused (&call, call.room_id, call.b_peer, "call", short_token, "CAP_EXPIRED");

  /* None of the refused offers reached B; the one good offer did. */
  g_assert_cmpuint (mesh_test_client_count_type (call.b, "rtc.offer"), ==, 0);
  g_assert_cmpuint (mesh_test_client_count_type (call.b, "error"), ==, 0);
  g_assert_true (mesh_test_client_is_open (call.a));
  call_tear_down (&call);
}

/* rtc.ice is relayed from its text (the hub's fast path): whatever the
 * token's place and the spacing, the callee gets the payload less the
 * token, every other member as sent, and the frame is valid JSON.  Frames
 * the fast path does not take (a duplicate token) are relayed the same. */
static void
test_ws_rtc_ice_forms (void)
{
  Call call = { 0 };
  g_autofree char *a_token = NULL;
  const char *forms[] = {
    "{\"cap_token\":\"%3$s\",\"room_id\":\"%1$s\",\"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c1\"},\"extra\":[1,{\"cap_token\":\"kept\"}]}",
    "{ \"room_id\" : \"%1$s\" , \"cap_token\" : \"%3$s\" , \"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c2\"},\"extra\":[1,{\"cap_token\":\"kept\"}] }",
    "{\"room_id\":\"%1$s\",\"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c3\"},\"extra\":[1,{\"cap_token\":\"kept\"}],\n \"cap_token\":\"%3$s\"\n}",
    "{\"cap_token\":\"x\",\"room_id\":\"%1$s\",\"target_peer_id\":\"%2$s\",\"candidate\":{\"candidate\":\"c4\"},\"extra\":[1,{\"cap_token\":\"kept\"}],\"cap_token\":\"%3$s\"}",
  };

  call_set_up (&call);
  a_token = issue_cap (ALICE, call.room_id, "[\"call\"]", "");

  for (guint i = 0; i < G_N_ELEMENTS (forms); i++) {
    g_autofree char *payload_text = NULL;
    g_autofree char *want = g_strdup_printf ("c%u", i + 1);
    g_autoptr(JsonObject) got = NULL;
    JsonObject *payload;
    JsonArray *extra;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    payload_text = g_strdup_printf (forms[i], call.room_id, call.b_peer, a_token);
#pragma GCC diagnostic pop
    g_test_message ("form %u", i);
    mesh_test_client_send (call.a, "rtc.ice", payload_text);
    got = mesh_test_client_expect_type (call.b, "rtc.ice");
    g_assert_cmpstr (get_str (got, "from"), ==, call.a_peer);
    g_assert_cmpstr (get_str (got, "to"), ==, call.b_peer);
    g_assert_true (mesh_id_is_valid (get_str (got, "id")));
    payload = mesh_test_frame_payload (got);
    g_assert_false (json_object_has_member (payload, "cap_token"));
    g_assert_cmpstr (get_str (payload, "room_id"), ==, call.room_id);
    g_assert_cmpstr (get_str (payload, "target_peer_id"), ==, call.b_peer);
    g_assert_cmpstr (get_str (json_object_get_object_member (payload, "candidate"), "candidate"), ==, want);
    extra = json_object_get_array_member (payload, "extra");
    g_assert_cmpuint (json_array_get_length (extra), ==, 2);
    g_assert_cmpstr (get_str (json_array_get_object_element (extra, 1), "cap_token"), ==, "kept");
    g_assert_cmpuint (json_object_get_size (payload), ==, 4);
  }
  call_tear_down (&call);
}

void
test_server_add_rtc_tests (void)
{
  g_test_add_func ("/mesh/server/rest/caps", test_rest_caps);
  g_test_add_func ("/mesh/server/ws/rtc-relay", test_ws_rtc_relay);
  g_test_add_func ("/mesh/server/ws/rtc-refusals", test_ws_rtc_refusals);
  g_test_add_func ("/mesh/server/ws/rtc-ice-forms", test_ws_rtc_ice_forms);
}
