// SPDX-License-Identifier: GPL-3.0-or-later
//
// Load generator for bench/relay: the v2 signaling relay of mesh-server
// (protocol §3.4 rtc.ice with a capability token), then 10 000 idle sockets.
//
// One coordinator process (`run`) prepares the accounts' rooms over REST,
// forks --procs worker processes (`worker`, over IPC) that hold the sockets,
// tells them when to load, and merges what they measured.  Each pair's caller
// and callee live in the same worker, so one-way latency is read on one clock
// (performance.now()).  The server's and the workers' CPU time are sampled
// over the same steady-state window.
//
// Usage (bench/relay runs it; passwords come from $BENCH_PASSWORD):
//   node relay-load.mjs run --url http://127.0.0.1:PORT --users alice,bob \
//        --server-pid PID [--pairs 500 --rate 90 --window 8 --warmup 2 \
//        --duration 10 --procs 2 --idle 10000 --rate-30k 30000 --loaded-rate 10000 \
//        --probe-seconds 5 --idle-seconds 25 --out FILE]
//
// Phases: the relay at --pairs × --rate (saturation); the pairs cut down to
// offer --rate-30k msg/s (p99_at_30k_ms); then down to offer --loaded-rate,
// the --idle sockets opened, the server's CPU read over --idle-seconds with
// no traffic but the server's pings (idle_10k_cpu_percent), and those pairs run again with the idle sockets
// open (loaded_10k_msgs_per_s, loaded_10k_p99_ms).

import { fork, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const WebSocket = require('./.node/node_modules/ws');

// Latency histogram: 10 µs buckets up to 5 s; the last bucket holds the rest.
const BUCKET_US = 10;
const ncpu = cpus().length;
const N_BUCKETS = 500000;

function log (...args)
{
  console.error(`[relay-load ${process.argv[2] ?? ''} ${process.pid}]`, ...args);
}

function sleep (ms)
{
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepUntilWall (wallMs)
{
  return sleep(Math.max(0, wallMs - Date.now()));
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

// Runs fn over items with at most `limit` in flight, keeping the order.
async function pool (items, limit, fn)
{
  const out = new Array(items.length);
  let next = 0;
  async function lane () {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

async function rest (baseUrl, method, path, token, body)
{
  const headers = { 'Content-Type': 'application/json' };
  if (token)
    headers.Authorization = `Bearer ${token}`;
  const res = await fetch(baseUrl + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok)
    throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// ---------------------------------------------------------------- worker --

// A WebSocket that has said system.hello and got its system.welcome.
function openHelloSocket (wsUrl, token, onMessage, timeoutMs = 30000)
{
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, {
      headers: { Authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      // The server checks UTF-8 itself; a zero mask lets ws skip the XOR.
      // Both only lower the generator's own cost.
      skipUTF8Validation: true,
      generateMask: (mask) => mask.fill(0),
      handshakeTimeout: timeoutMs,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no system.welcome within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('open', () => {
      ws.send('{"type":"system.hello","id":"hello","payload":{"peer_type":"client","version":"2.0.0"}}');
    });
    ws.on('message', function first (data) {
      const msg = JSON.parse(data.toString());
      if (msg.type === 'system.welcome') {
        clearTimeout(timer);
        ws.off('message', first);
        ws.on('error', () => {});
        if (onMessage)
          ws.on('message', onMessage);
        resolve({ ws, peerId: msg.payload.peer_id });
      } else if (msg.type === 'error') {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`hello refused: ${msg.payload.code} ${msg.payload.message}`));
      }
    });
  });
}

function joinRoom (ws, roomId)
{
  return new Promise((resolve, reject) => {
    const ref = `join-${roomId}`;
    const onMsg = (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.payload?.ref !== ref)
        return;
      ws.off('message', onMsg);
      if (msg.type === 'room.joined')
        resolve();
      else
        reject(new Error(`room.join ${roomId}: ${msg.payload.code} ${msg.payload.message}`));
    };
    ws.on('message', onMsg);
    ws.send(JSON.stringify({ type: 'room.join', id: ref, payload: { room_id: roomId } }));
  });
}

const BENCH_MARK = Buffer.from('"bench":"');

class Worker {
  constructor () {
    this.pairs = [];
    this.idle = [];
    this.load = null;
  }

  async setup ({ url, tokenA, tokenB, rooms, index }) {
    const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
    const started = performance.now();

    this.pairs = await pool(rooms, 50, async (roomId, i) => {
      const pair = {
        index: i, roomId, sent: 0, recv: 0, base: 0, lost: 0, phase: 0, prefix: '', middle: '',
        caller: null, callee: null,
      };
      const callee = await openHelloSocket(wsUrl, tokenB, null);
      await joinRoom(callee.ws, roomId);
      callee.ws.on('message', (data) => this.onCallee(pair, data));
      const caller = await openHelloSocket(wsUrl, tokenA, null);
      await joinRoom(caller.ws, roomId);
      caller.ws.on('message', (data) => this.onCaller(pair, data));
      const cap = await rest(url, 'POST', `/api/v1/rooms/${roomId}/caps`, tokenA,
                             { caps: ['call'], target_peer_id: callee.peerId, ttl: 300 });
      pair.caller = caller.ws;
      pair.callee = callee.ws;
      // A typical host candidate; "bench" carries "<seq> <send time µs>".
      const port = 50000 + (i % 15000);
      pair.prefix = `{"type":"rtc.ice","id":"w${index}p${i}s`;
      pair.middle = `","payload":{"room_id":"${roomId}","target_peer_id":"${callee.peerId}",` +
        `"cap_token":"${cap.cap_token}","candidate":{"candidate":"candidate:3442447574 1 udp ` +
        `2122260223 192.0.2.${1 + (i % 250)} ${port} typ host generation 0 ufrag Bn8x ` +
        `network-id 1 network-cost 10","sdpMid":"0","sdpMLineIndex":0},"bench":"`;
      return pair;
    });
    log(`${this.pairs.length} pairs ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return { pairs: this.pairs.length };
  }

  onCaller (pair, data) {
    // Only errors come back to a caller (RATE_LIMITED, CAP_*, UNROUTABLE...).
    const msg = JSON.parse(data.toString());
    if (msg.type === 'error' && this.load) {
      const code = msg.payload?.code ?? 'unknown';
      this.load.errors[code] = (this.load.errors[code] ?? 0) + 1;
    }
  }

  onCallee (pair, data) {
    const at = data.indexOf(BENCH_MARK);
    if (at < 0)
      return;  // room.joined / presence of the caller
    let p = at + BENCH_MARK.length;
    let seq = 0;
    let t = 0;
    let c;
    while ((c = data[p++]) !== 32)
      seq = seq * 10 + (c - 48);
    while ((c = data[p++]) !== 34)
      t = t * 10 + (c - 48);
    const nowUs = performance.now() * 1000;

    // TCP keeps one pair's messages in order: a gap is a dropped message.
    if (seq > pair.recv + 1)
      pair.lost += seq - pair.recv - 1;
    if (seq > pair.recv)
      pair.recv = seq;

    const load = this.load;
    if (!load)
      return;
    load.received++;
    if (nowUs >= load.winStartUs && nowUs < load.winEndUs) {
      load.delivered++;
      const b = Math.floor((nowUs - t) / BUCKET_US);
      load.hist[b < N_BUCKETS ? b : N_BUCKETS - 1]++;
    }
  }

  tick () {
    const load = this.load;
    const now = performance.now();
    if (now - load.lastTick > load.maxGap && now > load.winStartUs / 1000 &&
        now < load.winEndUs / 1000)
      load.maxGap = now - load.lastTick;
    load.lastTick = now;
    if (now >= load.stopMs)
      return;

    const t = Math.round(now * 1000);
    const inWindow = t >= load.winStartUs && t < load.winEndUs;
    const stamp = new Date().toISOString();
    for (let i = 0; i < load.n; i++) {
      const pair = this.pairs[i];
      const elapsed = now - load.startMs - pair.phase;
      if (elapsed < 0)
        continue;
      let due = pair.base + Math.floor(elapsed * load.rate / 1000) + 1;
      // A pair more than a window behind its schedule gives up the excess
      // instead of bursting over the server's per-socket rate limit later.
      if (due - pair.sent > load.window) {
        const slip = due - pair.sent - load.window;
        pair.base -= slip;
        due -= slip;
        if (inWindow)
          load.skipped += slip;
      }
      while (pair.sent < due && pair.sent - pair.recv < load.window) {
        pair.sent++;
        pair.caller.send(`${pair.prefix}${pair.sent}","timestamp":"${stamp}${pair.middle}` +
                         `${pair.sent} ${t}"}}`);
        load.sent++;
        if (inWindow)
          load.sentInWindow++;
      }
    }
  }

  async runLoad ({ startWall, warmupMs, durationMs, rate, window, pairs }) {
    const offset = Date.now() - performance.now();
    const startMs = startWall - offset;
    const n = Math.min(pairs, this.pairs.length);
    const load = {
      n, rate, window, startMs,
      winStartUs: (startMs + warmupMs) * 1000,
      winEndUs: (startMs + warmupMs + durationMs) * 1000,
      stopMs: startMs + warmupMs + durationMs,
      hist: new Uint32Array(N_BUCKETS),
      sent: 0, sentInWindow: 0, skipped: 0, received: 0, delivered: 0, errors: {},
      lastTick: 0, maxGap: 0,
    };
    for (let i = 0; i < n; i++) {
      const pair = this.pairs[i];
      // Spread the pairs' sends over one period instead of a burst per tick.
      pair.phase = Math.random() * 1000 / rate;
      pair.lost = 0;
      // Whatever an earlier phase left unanswered is written off.
      pair.recv = pair.sent;
      pair.base = pair.sent;
    }

    await sleep(Math.max(0, startMs - performance.now()));
    this.load = load;
    load.lastTick = performance.now();
    const timer = setInterval(() => this.tick(), 1);

    await sleep(Math.max(0, startMs + warmupMs - performance.now()));
    const cpu0 = process.cpuUsage();
    await sleep(Math.max(0, load.stopMs - performance.now()));
    const cpu = process.cpuUsage(cpu0);
    clearInterval(timer);

    // Let what is in flight arrive before counting losses.
    const drainUntil = performance.now() + 3000;
    while (performance.now() < drainUntil &&
           this.pairs.slice(0, n).some((p) => p.sent > p.recv))
      await sleep(20);
    this.load = null;

    let lost = 0, inflight = 0;
    for (let i = 0; i < n; i++) {
      lost += this.pairs[i].lost;
      inflight += this.pairs[i].sent - this.pairs[i].recv;
    }
    const hist = [];
    for (let b = 0; b < N_BUCKETS; b++) {
      if (load.hist[b])
        hist.push([b, load.hist[b]]);
    }
    return {
      pairs: n, sent: load.sent, sentInWindow: load.sentInWindow, skipped: load.skipped,
      received: load.received, delivered: load.delivered, lost, undelivered: inflight,
      errors: load.errors, hist,
      cpuUs: cpu.user + cpu.system, maxTickGapMs: load.maxGap,
    };
  }

  async openIdle ({ url, token, count, concurrency, deadlineWall }) {
    const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
    const started = performance.now();
    let failed = 0;
    let skipped = 0;
    let firstError = null;
    await pool(Array.from({ length: count }), concurrency, async () => {
      if (Date.now() >= deadlineWall) {
        skipped++;
        return;
      }
      try {
        const { ws } = await openHelloSocket(wsUrl, token, null, 60000);
        this.idle.push(ws);
      } catch (err) {
        failed++;
        firstError ??= String(err.message ?? err);
      }
    });
    return {
      welcomed: this.idle.length, failed, skipped, firstError,
      seconds: (performance.now() - started) / 1000,
    };
  }

  closeAll () {
    for (const pair of this.pairs) {
      pair.caller?.terminate();
      pair.callee?.terminate();
    }
    for (const ws of this.idle)
      ws.terminate();
  }

  keepPairs (keep) {
    for (const pair of this.pairs.splice(keep)) {
      pair.caller.close();
      pair.callee.close();
    }
    return { pairs: this.pairs.length };
  }
}

function workerMain ()
{
  const worker = new Worker();
  process.on('message', async (msg) => {
    try {
      let result = null;
      if (msg.cmd === 'setup')
        result = await worker.setup(msg);
      else if (msg.cmd === 'load')
        result = await worker.runLoad(msg);
      else if (msg.cmd === 'idle')
        result = await worker.openIdle(msg);
      else if (msg.cmd === 'keep')
        result = worker.keepPairs(msg.keep);
      else if (msg.cmd === 'quit') {
        worker.closeAll();
        process.disconnect();
        setTimeout(() => process.exit(0), 200);
        return;
      }
      process.send({ ok: true, result });
    } catch (err) {
      process.send({ ok: false, error: String(err.stack ?? err) });
    }
  });
  process.on('disconnect', () => {
    worker.closeAll();
    setTimeout(() => process.exit(0), 200);
  });
}

// ----------------------------------------------------------- coordinator --

class WorkerHandle {
  constructor (index) {
    this.index = index;
    // RELAY_NODE_ARGS: options for the workers' node (e.g. --trace-gc).
    const execArgv = (process.env.RELAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
    this.child = fork(fileURLToPath(import.meta.url), ['worker'], { stdio: 'inherit', execArgv });
    this.waiting = null;
    this.child.on('message', (msg) => {
      const waiting = this.waiting;
      this.waiting = null;
      if (!waiting)
        return;
      if (msg.ok)
        waiting.resolve(msg.result);
      else
        waiting.reject(new Error(`worker ${index}: ${msg.error}`));
    });
    this.child.on('exit', (code) => {
      if (this.waiting)
        this.waiting.reject(new Error(`worker ${index} exited (${code})`));
      this.waiting = null;
    });
  }

  call (msg) {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child.send(msg);
    });
  }
}

// utime + stime of a process, in µs.
function procCpuUs (pid)
{
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Linux reports these in USER_HZ, which is 100 on every Linux ABI.
  return (Number(fields[11]) + Number(fields[12])) * 10000;
}

function procStatusKb (pid, key)
{
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')
    .find((l) => l.startsWith(`${key}:`));
  return line ? Number(line.split(/\s+/)[1]) : NaN;
}

// Busy and total jiffies of the whole machine.
function machineCpu ()
{
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

function percentile (hist, total, q)
{
  let seen = 0;
  const want = Math.ceil(total * q);
  for (const [b, n] of hist) {
    seen += n;
    if (seen >= want)
      return (b + 1) * BUCKET_US / 1000;  // upper edge of the bucket, ms
  }
  return NaN;
}

function mergeHist (results)
{
  const map = new Map();
  for (const r of results) {
    for (const [b, n] of r.hist)
      map.set(b, (map.get(b) ?? 0) + n);
  }
  return [...map.entries()].sort((a, b) => a[0] - b[0]);
}

async function loadPhase (workers, serverPid,
                          { pairsPerWorker, rate, window, warmupMs, durationMs, perfFile })
{
  const startWall = Date.now() + 500;
  const pending = workers.map((w) => w.call({
    cmd: 'load', startWall, warmupMs, durationMs, rate, window, pairs: pairsPerWorker,
  }));

  await sleepUntilWall(startWall + warmupMs);
  const s0 = procCpuUs(serverPid), m0 = machineCpu(), t0 = performance.now();
  // A profile of the server over the measured window only.
  // DWARF unwinding: Debian's libraries have no frame pointers.
  const perf = perfFile ? spawn('perf', ['record', '-q', '-F', '499', '--call-graph', 'dwarf,16384',
                                         '-p', String(serverPid), '-o', perfFile,
                                         '--', 'sleep', String(durationMs / 1000)],
                                { stdio: 'inherit' }) : null;
  await sleepUntilWall(startWall + warmupMs + durationMs);
  const s1 = procCpuUs(serverPid), m1 = machineCpu(), t1 = performance.now();
  if (perf && perf.exitCode === null)
    await new Promise((resolve) => perf.once('exit', resolve));

  const results = await Promise.all(pending);
  const hist = mergeHist(results);
  const delivered = results.reduce((a, r) => a + r.delivered, 0);
  const errors = {};
  for (const r of results) {
    for (const [code, n] of Object.entries(r.errors))
      errors[code] = (errors[code] ?? 0) + n;
  }
  const wallUs = (t1 - t0) * 1000;
  const phase = {
    pairs: results.reduce((a, r) => a + r.pairs, 0),
    offeredPerS: results.reduce((a, r) => a + r.pairs, 0) * rate,
    sent: results.reduce((a, r) => a + r.sent, 0),
    delivered,
    msgsPerS: delivered / (durationMs / 1000),
    p50: percentile(hist, delivered, 0.50),
    p90: percentile(hist, delivered, 0.90),
    p99: percentile(hist, delivered, 0.99),
    max: hist.length ? (hist[hist.length - 1][0] + 1) * BUCKET_US / 1000 : NaN,
    lost: results.reduce((a, r) => a + r.lost, 0),
    undelivered: results.reduce((a, r) => a + r.undelivered, 0),
    errors,
    serverCpuPct: 100 * (s1 - s0) / wallUs,
    genCpuPct: results.map((r) => 100 * r.cpuUs / (durationMs * 1000)),
    machineBusyPct: 100 * (m1.busy - m0.busy) / (m1.total - m0.total),
    sentPerS: results.reduce((a, r) => a + r.sentInWindow, 0) / (durationMs / 1000),
    skippedPerS: results.reduce((a, r) => a + r.skipped, 0) / (durationMs / 1000),
    maxTickGapMs: Math.max(...results.map((r) => r.maxTickGapMs)),
  };
  // The server's cost per message holds when others steal its core.
  phase.serverUsPerMsg = delivered ? (s1 - s0) / delivered : NaN;
  // Cores kept busy by processes other than the server and the generator.
  phase.otherCores = phase.machineBusyPct * ncpu / 100 -
    (phase.serverCpuPct + phase.genCpuPct.reduce((a, p) => a + p, 0)) / 100;
  return phase;
}

function describeLoad (name, r)
{
  const gen = r.genCpuPct.map((p) => p.toFixed(0)).join('+');
  const busyCores = r.machineBusyPct * ncpu / 100;
  const others = r.otherCores;
  return [
    `${name}: ${r.pairs} pairs, offered ${r.offeredPerS} msg/s, delivered ${r.msgsPerS.toFixed(0)} msg/s`,
    `  one-way latency ms: p50 ${r.p50.toFixed(3)}  p90 ${r.p90.toFixed(3)}  ` +
      `p99 ${r.p99.toFixed(3)}  max ${r.max.toFixed(1)}`,
    `  lost ${r.lost}, undelivered after drain ${r.undelivered}, errors ${JSON.stringify(r.errors)}`,
    `  server CPU per relayed message ${r.serverUsPerMsg.toFixed(1)} µs ` +
      `(one full core: ~${(1e6 / r.serverUsPerMsg).toFixed(0)} msg/s)`,
    `  CPU (% of one core): server ${r.serverCpuPct.toFixed(0)}, generator ${gen}; ` +
      `whole machine ${busyCores.toFixed(2)} of ${ncpu} cores busy, ${others.toFixed(2)} by ` +
      `other processes${others > 0.2 ? ' (a noisy machine: numbers are low)' : ''}; ` +
      `generator sent ${r.sentPerS.toFixed(0)} msg/s (${r.skippedPerS.toFixed(0)}/s held back by ` +
      `the window), max timer gap ${r.maxTickGapMs.toFixed(1)} ms`,
  ].join('\n');
}

async function runMain (opts)
{
  const url = opts.url;
  const [userA, userB] = (opts.users ?? 'alice,bob').split(',');
  const password = process.env.BENCH_PASSWORD;
  const serverPid = Number(opts['server-pid']);
  const pairs = Number(opts.pairs ?? 500);
  const procs = Number(opts.procs ?? 2);
  const rate = Number(opts.rate ?? 90);
  const window = Number(opts.window ?? 8);
  const warmupMs = 1000 * Number(opts.warmup ?? 2);
  const durationMs = 1000 * Number(opts.duration ?? 10);
  const idleCount = Number(opts.idle ?? 10000);
  const rate30k = Number(opts['rate-30k'] ?? 30000);
  const loadedRate = Number(opts['loaded-rate'] ?? 10000);
  const probePairs = Number(opts['probe-pairs'] ?? Math.ceil(loadedRate / rate));
  const probeMs = 1000 * Number(opts['probe-seconds'] ?? 5);
  const idleConcurrency = Number(opts['idle-concurrency'] ?? 500);
  const idleBudgetMs = 1000 * Number(opts['idle-budget'] ?? 150);
  const idleMs = 1000 * Number(opts['idle-seconds'] ?? 25);
  if (!url || !password || !serverPid)
    throw new Error('need --url, --server-pid and $BENCH_PASSWORD');

  const tokenA = (await rest(url, 'POST', '/api/v1/auth/login', null,
                             { username: userA, password })).access_token;
  const tokenB = (await rest(url, 'POST', '/api/v1/auth/login', null,
                             { username: userB, password })).access_token;

  // Both users are members of every room: user A calls, user B answers.
  let started = performance.now();
  const rooms = await pool(Array.from({ length: pairs }), 4, async (_, i) => {
    const { room_id: roomId } = await rest(url, 'POST', '/api/v1/rooms', tokenA, { name: `bench ${i}` });
    const { code } = await rest(url, 'POST', `/api/v1/rooms/${roomId}/invites`, tokenA);
    await rest(url, 'POST', `/api/v1/invites/${encodeURIComponent(code)}/accept`, tokenB);
    return roomId;
  });
  log(`${rooms.length} rooms created in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const workers = Array.from({ length: procs }, (_, i) => new WorkerHandle(i));
  const summary = {};
  try {
    started = performance.now();
    await Promise.all(workers.map((w, i) => w.call({
      cmd: 'setup', url, tokenA, tokenB, index: i,
      rooms: rooms.filter((_, j) => j % procs === i),
    })));
    log(`${pairs * 2} sockets joined with cap tokens in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `server VmRSS ${(procStatusKb(serverPid, 'VmRSS') / 1024).toFixed(1)} MB`);

    const relay = await loadPhase(workers, serverPid, {
      pairsPerWorker: Math.ceil(pairs / procs), rate, window, warmupMs, durationMs,
      perfFile: process.env.RELAY_PERF,
    });
    console.log(describeLoad(`relay (${warmupMs / 1000} s warm-up, ${durationMs / 1000} s window)`, relay));
    summary.relay = relay;

    // The latency goal's point: 30 000 msg/s offered, fewer pairs at the same rate each.
    const keep30k = Math.ceil(rate30k / rate / procs);
    if (keep30k * procs < pairs) {
      await Promise.all(workers.map((w) => w.call({ cmd: 'keep', keep: keep30k })));
      await sleep(1000);
      const at30k = await loadPhase(workers, serverPid, {
        pairsPerWorker: keep30k, rate, window, warmupMs, durationMs,
      });
      console.log(describeLoad(`at 30k (${keep30k * procs} pairs)`, at30k));
      summary.at30k = at30k;
    }

    // Idle sockets: keep the pairs that offer --loaded-rate, to measure the
    // relay with 10k sockets open.
    const keep = Math.ceil(probePairs / procs);
    await Promise.all(workers.map((w) => w.call({ cmd: 'keep', keep })));
    await sleep(1000);
    const rssBefore = procStatusKb(serverPid, 'VmRSS');
    started = performance.now();
    const idle = await Promise.all(workers.map((w, i) => w.call({
      cmd: 'idle', url, token: i % 2 ? tokenB : tokenA,
      count: Math.floor(idleCount / procs) + (i < idleCount % procs ? 1 : 0),
      concurrency: Math.ceil(idleConcurrency / procs),
      deadlineWall: Date.now() + idleBudgetMs,
    })));
    const openSeconds = (performance.now() - started) / 1000;
    await sleep(1000);
    const rssIdle = procStatusKb(serverPid, 'VmRSS');
    // What holding them costs the server with no traffic at all.
    // Long enough to hold every socket's first ping (sent after 15-20 s of
    // silence, ping_period_for in server/mesh-ws-peer.c): pings are part of
    // what idle sockets cost.
    const c0 = procCpuUs(serverPid), w0 = performance.now();
    await sleep(idleMs);
    const idleCpuPct = 100 * (procCpuUs(serverPid) - c0) / ((performance.now() - w0) * 1000);
    const welcomed = idle.reduce((a, r) => a + r.welcomed, 0);
    const failed = idle.reduce((a, r) => a + r.failed, 0);
    const skipped = idle.reduce((a, r) => a + r.skipped, 0);
    const firstError = idle.find((r) => r.firstError)?.firstError;
    const why = firstError ? `: ${firstError}` : '';
    console.log(`idle: ${welcomed} sockets welcomed (${failed} failed${why}, ` +
                `${skipped} not tried within the ${idleBudgetMs / 1000} s budget) ` +
                `in ${openSeconds.toFixed(1)} s; server VmRSS ${(rssBefore / 1024).toFixed(1)} MB before, ` +
                `${(rssIdle / 1024).toFixed(1)} MB with them ` +
                `(${((rssIdle - rssBefore) / Math.max(1, welcomed)).toFixed(1)} KB/socket); ` +
                `server CPU with no traffic ${idleCpuPct.toFixed(0)}% of one core`);
    summary.idle = {
      welcomed, failed, skipped, openSeconds, idleCpuPct, rssBeforeKb: rssBefore, rssKb: rssIdle,
    };

    const probe = await loadPhase(workers, serverPid, {
      pairsPerWorker: keep, rate, window, warmupMs: 1000, durationMs: probeMs,
    });
    console.log(describeLoad(`loaded: ${probe.pairs} pairs with ${welcomed} idle sockets open`, probe));
    summary.probe = probe;
  } finally {
    await Promise.allSettled(workers.map((w) => {
      if (w.child.exitCode !== null)
        return null;
      return new Promise((resolve) => {
        w.child.once('exit', resolve);
        w.child.send({ cmd: 'quit' });
        setTimeout(() => { w.child.kill('SIGKILL'); resolve(); }, 5000);
      });
    }));
  }

  const r = summary.relay;
  const idleMb = summary.idle.welcomed >= idleCount ? (summary.idle.rssKb / 1024).toFixed(1)
                                                     : `NA(${summary.idle.welcomed}_welcomed)`;
  const full = summary.idle.welcomed >= idleCount;
  const na = `NA(${summary.idle.welcomed}_welcomed)`;
  const line = `relay msgs_per_s=${r.msgsPerS.toFixed(0)} p50_ms=${r.p50.toFixed(3)} ` +
               `p99_ms=${r.p99.toFixed(3)} idle_10k_rss_mb=${idleMb} ` +
               `p99_at_30k_ms=${summary.at30k ? summary.at30k.p99.toFixed(3) : 'NA'} ` +
               `idle_10k_cpu_percent=${full ? summary.idle.idleCpuPct.toFixed(1) : na} ` +
               `loaded_10k_msgs_per_s=${full ? summary.probe.msgsPerS.toFixed(0) : na} ` +
               `loaded_10k_p99_ms=${full ? summary.probe.p99.toFixed(3) : na} ` +
               `open_10k_s=${summary.idle.openSeconds.toFixed(1)}`;
  if (opts.out) {
    writeFileSync(opts.out, `${line}\n`);
    writeFileSync(`${opts.out}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  } else {
    console.log(line);
  }
}

const mode = process.argv[2];
if (mode === 'worker') {
  workerMain();
} else if (mode === 'run') {
  runMain(parseArgs(process.argv.slice(3))).catch((err) => {
    log(err.stack ?? String(err));
    process.exit(1);
  });
} else {
  console.error('usage: relay-load.mjs run --url URL --server-pid PID [options] (see the file head)');
  process.exit(2);
}
