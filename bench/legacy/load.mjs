// SPDX-License-Identifier: GPL-3.0-or-later
//
// The load generator of bench/legacy-vs-peerjs: the same code drives
// mesh-server's TEMPORARY legacy relay and a PeerJS server, so that the two
// are compared like for like.  Only the framing of "register" and "signal"
// differs between them(see PROTOCOLS).
//
//   node load.mjs throughput --server mesh|peerjs --url ws://127.0.0.1:PORT/ --pid PID
//        [--workers 2] [--pairs 8] [--window 1000] [--warmup 2] [--seconds 10]
//   node load.mjs idle --server mesh|peerjs --url ... --pid PID [--workers 2] [--sockets 10000]
//
// It prints one JSON object on stdout.  The coordinator forks --workers
// copies of itself(each owns whole pairs, so that the payload timestamps
// compare clocks of one process) and samples the server's CPU time and
// VmRSS from /proc.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(new URL('../.node/node_modules/', import.meta.url));
const WebSocket = require('ws');

const ACK_EVERY = 50;
const CLK_TCK = 100;

// A trickled ICE candidate, the bulk of real signaling traffic(~200 bytes).
const CANDIDATE = '"candidate":"candidate:842163049 1 udp 1677729535 192.168.1.20 56143 ' +
                  'typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXhT network-cost 999",' +
                  '"sdpMid":"0","sdpMLineIndex":0';

const PROTOCOLS = {
  mesh: {
    url: (base, id) => base,
    hello: (ws, id) => ws.send(JSON.stringify({ type: 'register', nodeId: id, username: id })),
    isReady: (text) => text.includes('"participants"'),
    signal: (from, to, payload) =>
      `{"type":"signal","from":"${from}","to":"${to}","payload":${payload}}`,
  },
  peerjs: {
    url: (base, id) => `${base}peerjs?key=peerjs&id=${id}&token=t-${id}`,
    hello: () => {},
    isReady: (text) => text.includes('"OPEN"'),
    signal: (from, to, payload) => `{"type":"CANDIDATE","dst":"${to}","payload":${payload}}`,
  },
};

function parseArgs(argv) {
  const args = { mode: argv[0] };

  for (let i = 1; i < argv.length; i += 2)
    args[argv[i].replace(/^--/, '')] = argv[i + 1];
  return args;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Opens one socket and resolves once the server has accepted it: after the
// registration for mesh(`participants` came back), after OPEN for PeerJS.
// Idle mesh sockets do not register(see bench/README.md).
function openSocket(proto, base, id, register) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(proto.url(base, id),
                             { perMessageDeflate: false, skipUTF8Validation: true });

    ws.on('error', reject);
    if (!register && proto === PROTOCOLS.mesh) {
      ws.once('open', () => resolve(ws));
      return;
    }
    ws.once('open', () => proto.hello(ws, id));
    const onReady = (data) => {
      if (proto.isReady(data.toString())) {
        ws.off('message', onReady);
        resolve(ws);
      }
    };
    ws.on('message', onReady);
  });
}

function cpuSeconds() {
  const usage = process.cpuUsage();

  return (usage.user + usage.system) / 1e6;
}

// A worker: --pairs A→B streams, each with --window signals in flight.
async function workerThroughput(args, send) {
  const proto = PROTOCOLS[args.server];
  const window = Number(args.window);
  const ackEvery = Math.min(ACK_EVERY, window);
  const tag = `w${args.worker}`;
  const pairs = [];
  let measuring = false;
  let received = 0;
  let errors = 0;
  const latencies = [];

  for (let i = 0; i < Number(args.pairs); i++) {
    const a = `${tag}-a${i}`, b = `${tag}-b${i}`;
    pairs.push({ a, b, wsA: await openSocket(proto, args.url, a, true),
                 wsB: await openSocket(proto, args.url, b, true), sent: 0, acked: 0 });
  }

  let running = true;
  const fill = (pair) => {
    const socket = pair.wsA._socket;

    socket.cork();
    while (running && pair.sent - pair.acked < window) {
      const payload = `{"seq":${pair.sent},"ts":${performance.now().toFixed(3)},${CANDIDATE}}`;

      pair.wsA.send(proto.signal(pair.a, pair.b, payload));
      pair.sent++;
    }
    socket.uncork();
  };

  for (const pair of pairs) {
    let count = 0;

    pair.wsB.on('message', (data) => {
      const text = data.toString();
      const at = text.indexOf('"ts":');

      if (at < 0)
        return;
      count++;
      if (measuring) {
        received++;
        latencies.push(performance.now() - parseFloat(text.slice(at + 5)));
      }
      if (count % ackEvery === 0)
        pair.wsB.send(proto.signal(pair.b, pair.a, `{"ack":${count}}`));
    });
    pair.wsA.on('message', (data) => {
      const text = data.toString();
      const at = text.indexOf('"ack":');

      if (at < 0) {
        // Refusals(e.g. the rate limit) would stall the window: count them.
        if (text.includes('"error"') || text.includes('"ERROR"'))
          errors++;
        return;
      }
      pair.acked = parseInt(text.slice(at + 6), 10);
      fill(pair);
    });
  }

  send({ ready: true });
  await new Promise((resolve) => process.once('message', resolve));
  for (const pair of pairs)
    fill(pair);

  await sleep(Number(args.warmup) * 1000);
  const cpu0 = cpuSeconds(), t0 = performance.now();
  measuring = true;
  await sleep(Number(args.seconds) * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds() - cpu0) / elapsed;

  running = false;
  for (const pair of pairs) {
    pair.wsA.terminate();
    pair.wsB.terminate();
  }
  await send({ received, errors, elapsed, cpu, latencies: Float64Array.from(latencies) });
}

// A worker: --sockets idle sockets, opened --concurrency at a time.
async function workerIdle(args, send) {
  const proto = PROTOCOLS[args.server];
  const total = Number(args.sockets);
  const sockets = [];
  let next = 0;

  const opener = async () => {
    while (next < total) {
      const id = `w${args.worker}-idle${next++}`;

      sockets.push(await openSocket(proto, args.url, id, false));
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Number(args.concurrency) }, opener));
  send({ opened: sockets.length, seconds: (performance.now() - t0) / 1000 });

  await new Promise((resolve) => process.once('message', resolve));
  const closed = sockets.map((ws) => new Promise((resolve) => {
    ws.once('close', resolve);
    ws.close();
  }));
  await Promise.race([Promise.all(closed), sleep(3000)]);
  sockets.forEach((ws) => ws.terminate());
  await send({ closed: true });
}

function serverCpuSeconds(pid) {
  // Fields after the command name, which is in parentheses.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');

  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function serverRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');

  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

function percentile(sorted, p) {
  if (sorted.length === 0)
    return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function spawnWorkers(args, extra) {
  const n = Number(args.workers);

  return Array.from({ length: n }, (_, i) => {
    const argv = [args.mode, '--worker', String(i)];

    for (const [key, value] of Object.entries({ ...args, ...extra }))
      if (key !== 'mode' && key !== 'worker')
        argv.push(`--${key}`, String(value));
    const child = fork(new URL(import.meta.url).pathname, argv,
                        { serialization: 'advanced', env: { ...process.env, LOAD_WORKER: '1' } });
    const replies = [];
    const waiters = [];

    child.on('message', (message) => {
      const waiter = waiters.shift();

      if (waiter)
        waiter(message);
      else
        replies.push(message);
    });
    child.next = () => replies.length ? Promise.resolve(replies.shift())
                                      : new Promise((resolve) => waiters.push(resolve));
    return child;
  });
}

async function coordinateThroughput(args) {
  const pid = Number(args.pid);
  const workers = spawnWorkers(args, {});

  await Promise.all(workers.map((w) => w.next()));
  workers.forEach((w) => w.send('go'));
  await sleep(Number(args.warmup) * 1000);
  const cpu0 = serverCpuSeconds(pid), t0 = performance.now();
  await sleep(Number(args.seconds) * 1000);
  const serverCpu = (serverCpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000);

  const results = await Promise.all(workers.map((w) => w.next()));
  let received = 0;
  let count = 0;
  for (const r of results) {
    received += r.received / r.elapsed;
    count += r.latencies.length;
  }
  const all = new Float64Array(count);
  let offset = 0;
  for (const r of results) {
    all.set(r.latencies, offset);
    offset += r.latencies.length;
  }
  all.sort();
  return {
    server: args.server,
    msgs_per_s: Math.round(received),
    p50_ms: percentile(all, 0.50),
    p99_ms: percentile(all, 0.99),
    server_cpu: serverCpu,
    generator_cpu: results.map((r) => r.cpu),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    pairs_total: Number(args.pairs) * workers.length,
    window: Number(args.window),
  };
}

async function coordinateIdle(args) {
  const pid = Number(args.pid);
  const perWorker = Math.ceil(Number(args.sockets) / Number(args.workers));
  const before = serverRssMb(pid);
  const workers = spawnWorkers(args, { sockets: perWorker });
  const opened = await Promise.all(workers.map((w) => w.next()));

  await sleep(3000);
  const rss = serverRssMb(pid);
  workers.forEach((w) => w.send('close'));
  await Promise.all(workers.map((w) => w.next()));
  return {
    server: args.server,
    sockets: opened.reduce((sum, r) => sum + r.opened, 0),
    open_seconds: Math.max(...opened.map((r) => r.seconds)),
    rss_before_mb: before,
    rss_mb: rss,
  };
}

const args = { workers: 2, pairs: 4, window: 1000, warmup: 2, seconds: 10, sockets: 10000,
               concurrency: 100, ...parseArgs(process.argv.slice(2)) };

if (!PROTOCOLS[args.server]) {
  console.error('usage: load.mjs throughput|idle --server mesh|peerjs --url URL --pid PID ...');
  process.exit(2);
}

if (process.env.LOAD_WORKER) {
  // Resolves once the message is out: a big one would be lost to an early
  // disconnect.
  const send = (message) => new Promise((resolve) => process.send(message, resolve));
  const work = args.mode === 'idle' ? workerIdle : workerThroughput;

  work(args, send).then(() => process.disconnect()).catch ((error) => {
    console.error(`worker ${args.worker}: ${error.message}`);
    process.exit(1);
  });
} else {
  const run = args.mode === 'idle' ? coordinateIdle : coordinateThroughput;

  run(args).then((result) => console.log(JSON.stringify(result))).catch ((error) => {
    console.error(error);
    process.exit(1);
  });
}
