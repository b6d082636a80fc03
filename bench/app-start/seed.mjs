// SPDX-License-Identifier: GPL-3.0-or-later
//
// Seeds a mesh-server for bench/app-start through the real protocol: the
// first user creates --rooms rooms over REST (the big one last, so that the
// app does not open it by itself at start), the second user joins the big
// one with an invite, and both write --messages chat messages there over
// their WebSockets (chat.message.send), one at a time, each waiting for its
// chat.message.created, so the history is the same on every run.
//
// Usage (bench/app-start/run runs it; the password comes from $BENCH_PASSWORD):
//   node seed.mjs --url http://127.0.0.1:PORT --users alice,bob \
//        [--rooms 50 --messages 10000] --out FILE
// FILE gets {"room_id": <the big room>, "rooms": N, "messages": N}.

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const WebSocket = require('../.node/node_modules/ws');

function log (...args)
{
  console.error('[app-start seed]', ...args);
}

function parseArgs (argv)
{
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--'))
      throw new Error(`unexpected argument ${argv[i]}`);
    opts[argv[i].slice(2)] = argv[++i];
  }
  return opts;
}

async function rest (baseUrl, method, path, token, body)
{
  const headers = { 'Content-Type': 'application/json' };
  if (token)
    headers.Authorization = `Bearer ${token}`;
  const res = await fetch(baseUrl + '/api/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok)
    throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A socket that said system.hello and joined @roomId; answers to requests
// with an id are matched by payload.ref.
async function openRoomSocket (url, token, roomId)
{
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, {
    headers: { Authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  const waiting = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const ref = msg.payload?.ref;
    if (ref === undefined || !waiting.has(ref))
      return;
    const { resolve, reject } = waiting.get(ref);
    waiting.delete(ref);
    if (msg.type === 'error')
      reject(new Error(`${ref}: ${msg.payload.code} ${msg.payload.message}`));
    else
      resolve(msg);
  });
  const closed = new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('close', (code, reason) => {
      for (const { reject: r } of waiting.values())
        r(new Error(`socket closed: ${code} ${reason}`));
      waiting.clear();
      resolve();
    });
  });
  closed.catch(() => {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const request = (type, id, payload) => new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    ws.send(JSON.stringify({ type, id, payload }));
  });
  await request('system.hello', 'hello', { peer_type: 'client', version: '2.0.0' });
  await request('room.join', 'join', { room_id: roomId });
  return { ws, request };
}

// A fixed pseudo-random sequence (xorshift32): every seed writes the same chat.
function generator (seed)
{
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const WORDS = ('the build is green again after we moved the relay tests to loopback only and the ' +
  'flaky timer went away please review the patch for the room list before lunch I will ' +
  'deploy the server tonight does anyone know why the agent keeps reconnecting on wifi ' +
  'screenshot attached looks fine here thanks for the quick fix meeting moved to three ' +
  'o clock remember to update the translations').split(' ');

// Chat-like lengths: mostly one line, some a few lines, a few paragraphs.
function messageText (rand, i)
{
  const kind = rand(20);
  let words;
  if (kind < 11)
    words = 2 + rand(10);
  else if (kind < 17)
    words = 12 + rand(25);
  else
    words = 40 + rand(80);
  const out = [];
  for (let w = 0; w < words; w++)
    out.push(WORDS[rand(WORDS.length)]);
  if (kind === 19)
    out.splice(Math.floor(words / 2), 0, '\n\n');
  return `#${i + 1} ${out.join(' ')}`;
}

async function main ()
{
  const opts = parseArgs(process.argv.slice(2));
  const url = opts.url;
  const [owner, other] = (opts.users ?? 'alice,bob').split(',');
  const nRooms = Number(opts.rooms ?? 50);
  const nMessages = Number(opts.messages ?? 10000);
  const password = process.env.BENCH_PASSWORD;
  if (!url || !password || !opts.out || nRooms < 1)
    throw new Error('needs --url, --out, --rooms ≥ 1 and $BENCH_PASSWORD');

  const started = performance.now();
  const login = (username) => rest(url, 'POST', '/auth/login', null, { username, password });
  const a = await login(owner);
  const b = await login(other);

  let roomId = null;
  for (let i = 1; i <= nRooms; i++) {
    const name = i === nRooms ? 'History' : `Room ${String(i).padStart(2, '0')}`;
    const room = await rest(url, 'POST', '/rooms', a.access_token, { name });
    roomId = room.room_id;
  }
  const invite = await rest(url, 'POST', `/rooms/${roomId}/invites`, a.access_token);
  await rest(url, 'POST', `/invites/${invite.code}/accept`, b.access_token);
  log(`${nRooms} rooms in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const sockets = [await openRoomSocket(url, a.access_token, roomId),
                   await openRoomSocket(url, b.access_token, roomId)];
  const rand = generator(20240601);
  let author = 0;
  const sendStarted = performance.now();
  for (let i = 0; i < nMessages; i++) {
    // Runs of one to five messages by the same person.
    if (rand(3) === 0)
      author = 1 - author;
    await sockets[author].request('chat.message.send', `m${i}`,
                                  { room_id: roomId, content: messageText(rand, i),
                                    client_msg_id: `bench-${i}` });
    if ((i + 1) % 2000 === 0)
      log(`${i + 1} messages`);
  }
  const seconds = (performance.now() - sendStarted) / 1000;
  log(`${nMessages} messages in ${seconds.toFixed(1)} s (${Math.round(nMessages / seconds)}/s)`);
  for (const s of sockets)
    s.ws.close(1000);

  const history = await rest(url, 'GET', `/rooms/${roomId}/messages?limit=1`, a.access_token);
  if (nMessages > 0 && (history.length !== 1 || !history[0].content.startsWith(`#${nMessages} `)))
    throw new Error('the newest stored message is not the last one sent');
  writeFileSync(opts.out, JSON.stringify({ room_id: roomId, rooms: nRooms, messages: nMessages }));
}

main().catch((err) => {
  log(err.stack ?? String(err));
  process.exit(1);
});
