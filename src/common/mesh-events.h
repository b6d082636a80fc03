/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The WebSocket event types of protocol v2 (docs/protocol.md), one name
 * each, for the clients' handler tables and what they send. */

#define MESH_EVENT_ERROR                      "error"

#define MESH_EVENT_SYSTEM_HELLO               "system.hello"
#define MESH_EVENT_SYSTEM_WELCOME             "system.welcome"

#define MESH_EVENT_ROOM_JOIN                  "room.join"
#define MESH_EVENT_ROOM_JOINED                "room.joined"
#define MESH_EVENT_ROOM_LEAVE                 "room.leave"
#define MESH_EVENT_ROOM_LEFT                  "room.left"
#define MESH_EVENT_ROOM_DELETED               "room.deleted"
#define MESH_EVENT_ROOM_MEMBER_JOINED         "room.member.joined"
#define MESH_EVENT_ROOM_MEMBER_LEFT           "room.member.left"
#define MESH_EVENT_PRESENCE_UPDATE            "presence.update"

#define MESH_EVENT_CHAT_MESSAGE_SEND          "chat.message.send"
#define MESH_EVENT_CHAT_MESSAGE_CREATED       "chat.message.created"

#define MESH_EVENT_P2P_SESSION_REQUEST        "p2p.session.request"
#define MESH_EVENT_P2P_SESSION_CREATED        "p2p.session.created"
#define MESH_EVENT_P2P_SESSION_ACCEPT         "p2p.session.accept"
#define MESH_EVENT_P2P_SESSION_REJECT         "p2p.session.reject"
#define MESH_EVENT_P2P_SESSION_COMPLETED      "p2p.session.completed"

#define MESH_EVENT_TERMINAL_SHARE_START       "terminal.share.start"
#define MESH_EVENT_TERMINAL_SHARE_STARTED     "terminal.share.started"
#define MESH_EVENT_TERMINAL_SHARE_STOP        "terminal.share.stop"
#define MESH_EVENT_TERMINAL_SHARE_STOPPED     "terminal.share.stopped"
#define MESH_EVENT_TERMINAL_CONTROL_TAKE      "terminal.control.take"
#define MESH_EVENT_TERMINAL_CONTROL_REQUEST   "terminal.control.request"
#define MESH_EVENT_TERMINAL_CONTROL_GRANT     "terminal.control.grant"
#define MESH_EVENT_TERMINAL_CONTROL_GRANTED   "terminal.control.granted"
#define MESH_EVENT_TERMINAL_CONTROL_DENY      "terminal.control.deny"
#define MESH_EVENT_TERMINAL_CONTROL_DENIED    "terminal.control.denied"
#define MESH_EVENT_TERMINAL_CONTROL_RELEASE   "terminal.control.release"
#define MESH_EVENT_TERMINAL_CONTROL_RELEASED  "terminal.control.released"

#define MESH_EVENT_RTC_OFFER                  "rtc.offer"
#define MESH_EVENT_RTC_ANSWER                 "rtc.answer"
#define MESH_EVENT_RTC_ICE                    "rtc.ice"
#define MESH_EVENT_RTC_HANGUP                 "rtc.hangup"
#define MESH_EVENT_CALL_MISSED                "call.missed"
