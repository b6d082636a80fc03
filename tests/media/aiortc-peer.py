#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""An independent WebRTC peer for Mesh's call tests (python3-aiortc 1.4).

Signs in to mesh-server over REST, opens the WebSocket, says hello, joins a
room, then either answers the first rtc.offer (--mode answer) or calls a peer
of the room (--mode call).  It sends aiortc's own test tracks (video frames and
audio), counts the frames it decodes, and prints one JSON line:

  {"event": "result", "ok": true, "video_frames": N, "audio_frames": N, ...}

Before that, once joined: {"event": "ready", "peer_id": ..., "user_id": ...}.

Signalling as the call engine speaks it (docs/protocol.md §3.4 and "Calls"):
rtc.offer {room_id, target_peer_id, sdp, cap_token, media, call_id, scope},
rtc.answer/ice/hangup with media and call_id; rtc.ice carries
{candidate: "candidate:…", sdpMid, sdpMLineIndex}.

aiortc does not trickle (its candidates are in its SDP): they are also sent as
rtc.ice, read from the local description.  It never uses loopback addresses,
so tests run it in a network namespace.
"""

import argparse
import asyncio
import json
import ssl
import sys
import time
import urllib.request
import uuid

import websockets.client

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.codecs import HEADER_EXTENSIONS
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

# aiortc 1.4 numbers ssrc-audio-level 2 like abs-send-time on video: with one
# BUNDLEd transport the first audio packet is parsed with the video map and
# kills the receive loop (research/webrtc.md §6).  Give it an id of its own.
for _ext in HEADER_EXTENSIONS["audio"]:
    if _ext.uri == "urn:ietf:params:rtp-hdrext:ssrc-audio-level":
        _ext.id = 3

PROTOCOL_VERSION = "2.0.0"


def log(*args):
    print("aiortc-peer:", *args, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


class Peer:
    def __init__(self, args):
        self.args = args
        self.base = args.url.rstrip("/")
        self.ssl = None
        if self.base.startswith("https://"):
            self.ssl = ssl.create_default_context(cafile=args.cafile)
            # The test certificate names the host by IP; trust it as given.
            self.ssl.check_hostname = False
            if args.cafile is None:
                self.ssl.verify_mode = ssl.CERT_NONE
        self.token = None
        self.user_id = None
        self.peer_id = None
        self.ws = None
        self.pc = None
        self.remote_peer = None
        self.call_id = None
        self.media = "call"
        self.cap_token = None
        self.counts = {"video": 0, "audio": 0}
        self.sent_ice = 0
        self.received_ice = 0
        self.pending_ice = []
        self.remote_set = False
        self.connected_at = None
        self.offer_sent_at = None
        self.first_video_at = None
        self.hangup_reason = None
        self.done = asyncio.Event()
        self.errors = []
        self.waiters = {}
        self.members = {}
        self.tasks = []

    # REST -----------------------------------------------------------------

    def _rest_sync(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + "/api/v1/" + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, context=self.ssl, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    async def rest(self, method, path, body=None):
        return await asyncio.get_running_loop().run_in_executor(
            None, self._rest_sync, method, path, body)

    async def login(self):
        status, body = await self.rest("POST", "auth/login",
                                       {"username": self.args.user, "password": self.args.password})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body}")
        self.token = body["access_token"]
        self.user_id = body["user_id"]

    async def fetch_cap(self, target):
        status, body = await self.rest("POST", f"rooms/{self.args.room}/caps",
                                       {"caps": [self.media], "target_peer_id": target})
        if status != 200:
            raise RuntimeError(f"caps refused: {status} {body}")
        return body["cap_token"]

    async def ice_servers(self):
        if not self.args.turn:
            return []
        status, body = await self.rest("GET", "turn")
        if status == 404:
            return []
        if status != 200:
            raise RuntimeError(f"/turn failed: {status} {body}")
        # aioice takes only stun: and turn: over UDP/TCP.
        uris = [u for u in body["uris"] if u.startswith(("stun:", "turn:"))]
        return [RTCIceServer(urls=uris, username=body.get("username"),
                             credential=body.get("password"))]

    # WebSocket ------------------------------------------------------------

    async def send(self, type_, payload):
        frame = {"type": type_, "id": str(uuid.uuid4()), "payload": payload}
        await self.ws.send(json.dumps(frame))
        return frame["id"]

    async def request(self, type_, payload, answer_type):
        ref = await self.send(type_, payload)
        future = asyncio.get_running_loop().create_future()
        self.waiters[ref] = future
        frame = await asyncio.wait_for(future, 10)
        if frame["type"] == "error":
            raise RuntimeError(f"{type_} refused: {frame['payload']}")
        if frame["type"] != answer_type:
            raise RuntimeError(f"{type_}: unexpected {frame['type']}")
        return frame

    async def connect(self):
        ws_url = ("wss://" if self.base.startswith("https://") else "ws://") + \
            self.base.split("://", 1)[1] + "/ws"
        self.ws = await websockets.client.connect(
            ws_url, ssl=self.ssl, extra_headers={"Authorization": "Bearer " + self.token},
            max_size=256 * 1024)
        self.tasks.append(asyncio.ensure_future(self.reader()))
        welcome = await self.request("system.hello",
                                     {"peer_type": "client", "version": PROTOCOL_VERSION},
                                     "system.welcome")
        self.peer_id = welcome["payload"]["peer_id"]
        joined = await self.request("room.join", {"room_id": self.args.room}, "room.joined")
        for member in joined["payload"].get("members", []):
            self.members[member["peer_id"]] = member

    async def reader(self):
        try:
            async for text in self.ws:
                frame = json.loads(text)
                ref = frame.get("payload", {}).get("ref")
                if ref in self.waiters:
                    self.waiters.pop(ref).set_result(frame)
                    continue
                try:
                    await self.on_frame(frame)
                except Exception as error:  # a bad frame must not stop the peer
                    self.errors.append(f"{frame.get('type')}: {error!r}")
                    log("error handling", frame.get("type"), repr(error))
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self.done.set()

    async def on_frame(self, frame):
        type_ = frame["type"]
        payload = frame.get("payload", {})
        if type_ == "room.joined":
            self.members[payload["peer_id"]] = payload
        elif type_ == "room.left":
            self.members.pop(payload.get("peer_id"), None)
            if payload.get("peer_id") == self.remote_peer:
                self.hangup_reason = "left"
                self.done.set()
        elif type_ == "rtc.offer":
            await self.on_offer(frame["from"], payload)
        elif type_ == "rtc.answer":
            if frame["from"] != self.remote_peer or payload.get("call_id") != self.call_id:
                log("ignoring an answer of another call")
                return
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=payload["sdp"], type="answer"))
            await self.remote_description_set()
        elif type_ == "rtc.ice":
            if frame["from"] != self.remote_peer:
                return
            self.received_ice += 1
            if self.remote_set:
                await self.add_candidate(payload["candidate"])
            else:
                self.pending_ice.append(payload["candidate"])
        elif type_ == "rtc.hangup":
            if frame["from"] == self.remote_peer and \
                    payload.get("call_id", self.call_id) == self.call_id:
                self.hangup_reason = payload.get("reason", "hung_up")
                self.done.set()
        elif type_ == "error":
            self.errors.append(f"server error: {payload}")
            log("server error", payload)

    # WebRTC ---------------------------------------------------------------

    async def make_pc(self):
        # aiortc 1.4 has no iceTransportPolicy: --relay-only filters what we
        # announce instead (filter_sdp, local_candidates).
        config = RTCConfiguration(iceServers=await self.ice_servers())
        self.pc = RTCPeerConnection(configuration=config)

        @self.pc.on("track")
        def on_track(track):
            log("receiving", track.kind)
            self.tasks.append(asyncio.ensure_future(self.count(track)))

        @self.pc.on("connectionstatechange")
        async def on_state():
            state = self.pc.connectionState
            log("connection", state)
            if state == "connected" and self.connected_at is None:
                self.connected_at = time.monotonic()
            elif state == "failed":
                self.errors.append("connection failed")
                self.done.set()

        if not self.args.receive_only:
            self.pc.addTrack(VideoStreamTrack())
            self.pc.addTrack(AudioStreamTrack())

    async def count(self, track):
        try:
            while True:
                await track.recv()
                self.counts[track.kind] += 1
                if track.kind == "video" and self.first_video_at is None:
                    self.first_video_at = time.monotonic()
        except MediaStreamError:
            pass

    def local_candidates(self):
        """The a=candidate lines of our first m-line (BUNDLE: one transport)."""
        sdp = self.pc.localDescription.sdp
        mid, index, found = None, -1, []
        for line in sdp.splitlines():
            if line.startswith("m="):
                index += 1
                if index > 0:
                    break
            elif line.startswith("a=mid:"):
                mid = line[len("a=mid:"):]
            elif line.startswith("a=candidate:") and index == 0:
                found.append(line[len("a="):])
        if self.args.relay_only:
            found = [c for c in found if " typ relay" in c]
        return mid, found

    def filter_sdp(self, sdp):
        if not self.args.relay_only:
            return sdp
        return "\r\n".join(line for line in sdp.split("\r\n")
                           if not line.startswith("a=candidate:") or " typ relay" in line)

    @staticmethod
    def bundle_offer(sdp):
        """aiortc 1.4 offers one ICE transport per m-line, each with its own
        ufrag, under a BUNDLE group; webrtcbin refuses that ("different
        ice-ufrag values in bundle").  Every m-line after the first gets the
        first one's ICE credentials and no candidates of its own: once the
        answer accepts BUNDLE, aiortc itself moves them to the first
        transport."""
        sections, current = [[]], 0
        for line in sdp.split("\r\n"):
            if line.startswith("m="):
                sections.append([])
                current += 1
            sections[current].append(line)
        if len(sections) < 3:
            return sdp
        first = {}
        for line in sections[1]:
            for key in ("a=ice-ufrag:", "a=ice-pwd:"):
                if line.startswith(key):
                    first[key] = line
        out = sections[0] + sections[1]
        for section in sections[2:]:
            for line in section:
                if line.startswith(("a=candidate:", "a=end-of-candidates")):
                    continue
                for key, value in first.items():
                    if line.startswith(key):
                        line = value
                out.append(line)
        return "\r\n".join(out)

    async def send_candidates(self):
        mid, candidates = self.local_candidates()
        for candidate in candidates:
            await self.send("rtc.ice", {
                "room_id": self.args.room, "target_peer_id": self.remote_peer,
                "cap_token": self.cap_token, "media": self.media, "call_id": self.call_id,
                "candidate": {"candidate": candidate, "sdpMid": mid, "sdpMLineIndex": 0},
            })
            self.sent_ice += 1

    async def add_candidate(self, candidate):
        text = candidate.get("candidate", "")
        if text.startswith("a="):
            text = text[2:]
        if not text.startswith("candidate:"):
            return  # end-of-candidates or junk: aioice keeps checking anyway
        parsed = candidate_from_sdp(text[len("candidate:"):])
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex", 0)
        if parsed.sdpMid is None and parsed.sdpMLineIndex is not None:
            transceivers = self.pc.getTransceivers()
            if parsed.sdpMLineIndex < len(transceivers):
                parsed.sdpMid = transceivers[parsed.sdpMLineIndex].mid
        await self.pc.addIceCandidate(parsed)

    async def remote_description_set(self):
        self.remote_set = True
        pending, self.pending_ice = self.pending_ice, []
        for candidate in pending:
            await self.add_candidate(candidate)

    async def on_offer(self, sender, payload):
        if self.args.mode != "answer" or self.pc is not None:
            await self.send("rtc.hangup", {
                "room_id": self.args.room, "target_peer_id": sender,
                "media": payload.get("media", "call"), "call_id": payload.get("call_id"),
                "reason": "busy"})
            return
        self.remote_peer = sender
        self.media = payload.get("media", "call")
        self.call_id = payload.get("call_id")
        log("offer from", sender, "call_id", self.call_id)
        if self.args.verbose:
            log("remote offer:\n" + payload["sdp"])
        self.cap_token = await self.fetch_cap(sender)
        await self.make_pc()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=payload["sdp"], type="offer"))
        await self.remote_description_set()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        if self.args.verbose:
            log("local answer:\n" + self.pc.localDescription.sdp)
        await self.send("rtc.answer", {
            "room_id": self.args.room, "target_peer_id": sender, "cap_token": self.cap_token,
            "media": self.media, "call_id": self.call_id,
            "sdp": self.filter_sdp(self.pc.localDescription.sdp)})
        await self.send_candidates()

    async def call(self):
        target = self.args.target_peer
        deadline = time.monotonic() + self.args.timeout
        while target is None:
            for peer_id, member in self.members.items():
                if peer_id != self.peer_id and member.get("peer_type") == "client" and \
                        (self.args.target_user is None or
                         member.get("username") == self.args.target_user):
                    target = peer_id
                    break
            if target is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("nobody to call")
                await asyncio.sleep(0.1)
        self.remote_peer = target
        self.call_id = "aiortc-" + uuid.uuid4().hex[:16]
        self.cap_token = await self.fetch_cap(target)
        await self.make_pc()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.offer_sent_at = time.monotonic()
        await self.send("rtc.offer", {
            "room_id": self.args.room, "target_peer_id": target, "cap_token": self.cap_token,
            "media": self.media, "call_id": self.call_id, "scope": "direct",
            "sdp": self.bundle_offer(self.filter_sdp(self.pc.localDescription.sdp))})
        await self.send_candidates()

    def selected_pair(self):
        try:
            transport = self.pc.getTransceivers()[0].receiver.transport.transport
            pair = transport._connection._nominated.get(1)
            if pair is None:
                return None
            return {"local": pair.local_candidate.type, "remote": pair.remote_candidate.type,
                    "local_host": pair.local_candidate.host,
                    "remote_host": pair.remote_candidate.host}
        except Exception:
            return None

    async def run(self):
        await self.login()
        await self.connect()
        emit({"event": "ready", "peer_id": self.peer_id, "user_id": self.user_id})
        if self.args.mode == "call":
            await self.call()
        # Wait to be connected, then count for --duration seconds (or until
        # the other side hangs up).
        deadline = time.monotonic() + self.args.timeout
        while not self.done.is_set():
            now = time.monotonic()
            if self.connected_at is not None and now - self.connected_at >= self.args.duration:
                break
            if self.connected_at is None and now > deadline:
                self.errors.append("not connected in time")
                break
            try:
                await asyncio.wait_for(self.done.wait(), 0.2)
            except asyncio.TimeoutError:
                pass
        result = {
            "event": "result",
            "peer_id": self.peer_id,
            "call_id": self.call_id,
            "connected": self.connected_at is not None,
            "video_frames": self.counts["video"],
            "audio_frames": self.counts["audio"],
            "ice_sent": self.sent_ice,
            "ice_received": self.received_ice,
            "selected_pair": self.selected_pair() if self.pc else None,
            "hangup_reason": self.hangup_reason,
            "errors": self.errors,
        }
        if self.offer_sent_at is not None and self.first_video_at is not None:
            result["setup_ms"] = round((self.first_video_at - self.offer_sent_at) * 1000)
        result["ok"] = result["connected"] and not self.errors
        if self.remote_peer is not None and self.hangup_reason is None and not self.args.no_hangup:
            await self.send("rtc.hangup", {
                "room_id": self.args.room, "target_peer_id": self.remote_peer,
                "media": self.media, "call_id": self.call_id, "reason": "hung_up"})
        emit(result)
        await self.close()
        return result["ok"]

    async def close(self):
        for task in self.tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        if self.ws is not None:
            await self.ws.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="https://HOST:PORT of mesh-server")
    parser.add_argument("--cafile", help="the server's (self-signed) certificate; "
                        "without it the certificate is not checked")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--mode", choices=["answer", "call"], default="answer")
    parser.add_argument("--target-peer", help="call this peer_id")
    parser.add_argument("--target-user", help="call the first client of this username")
    parser.add_argument("--duration", type=float, default=5,
                        help="seconds to count media once connected")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds to wait for an offer/connection")
    parser.add_argument("--turn", action="store_true", help="use GET /api/v1/turn")
    parser.add_argument("--relay-only", action="store_true",
                        help="announce relayed candidates only")
    parser.add_argument("--receive-only", action="store_true", help="send no media")
    parser.add_argument("--verbose", action="store_true", help="log the SDPs")
    parser.add_argument("--no-hangup", action="store_true",
                        help="leave without rtc.hangup (the other side hangs up)")
    args = parser.parse_args()

    peer = Peer(args)
    try:
        ok = asyncio.run(peer.run())
    except Exception as error:
        emit({"event": "result", "ok": False, "errors": peer.errors + [repr(error)],
              "video_frames": peer.counts["video"], "audio_frames": peer.counts["audio"]})
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
