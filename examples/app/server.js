'use strict';
// liftoff demo app: a tiny pm2-native HTTP service using only the Node standard library.
//
// Behaviour comes from release.json next to this file:
//   {"version": "v2", "error_ratio": 0.0, "latency_ms": 5}
// Environment: HOST (default 127.0.0.1), PORT (default 3000),
//   METRICS_PORT_BASE (optional): each pm2 cluster worker also serves /metrics on
//   METRICS_PORT_BASE + NODE_APP_INSTANCE so a scraper can sum all workers.

const fs = require('fs');
const http = require('http');
const path = require('path');

const release = JSON.parse(fs.readFileSync(path.join(__dirname, 'release.json'), 'utf8'));
const VERSION = String(release.version);
// error_ratio_env (optional): the error ratio applies only where this environment variable is
// set, a fault that shows on some hosts only (a canary's later batch, say).
const ERROR_RATIO = release.error_ratio_env && !process.env[release.error_ratio_env]
  ? 0
  : Number(release.error_ratio || 0);
const LATENCY_MS = Number(release.latency_ms || 0);
// crash_env (optional): the release cannot start where this environment variable is set, as a
// release that needs a setting one host lacks; each worker says why and exits without serving
// (a moment later: under pm2 a worker's output reaches its log asynchronously).
const CRASH = Boolean(release.crash_env && process.env[release.crash_env]);
if (CRASH) {
  console.error(`release ${VERSION} cannot start here: ${release.crash_env} is set`);
  setTimeout(() => process.exit(1), 300);
}

const HOST = process.env.HOST || '127.0.0.1';
const PORT = parseInt(process.env.PORT || '3000', 10);
const INSTANCE = parseInt(process.env.NODE_APP_INSTANCE || '0', 10) || 0;
const METRICS_PORT = process.env.METRICS_PORT_BASE
  ? parseInt(process.env.METRICS_PORT_BASE, 10) + INSTANCE
  : null;

const SHUTDOWN_GRACE_MS = parseInt(process.env.SHUTDOWN_GRACE_MS || '500', 10);

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

// Per-process metric state.
const requestsTotal = new Map(); // key "route\0status" -> count
const durations = new Map(); // route -> {buckets: number[], sum, count}
let appRequests = 0; // n for deterministic error injection

function observe(route, status, seconds) {
  const key = route + '\0' + status;
  requestsTotal.set(key, (requestsTotal.get(key) || 0) + 1);
  let h = durations.get(route);
  if (!h) {
    h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    durations.set(route, h);
  }
  BUCKETS.forEach((le, i) => {
    if (seconds <= le) h.buckets[i] += 1;
  });
  h.sum += seconds;
  h.count += 1;
}

function esc(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function renderMetrics() {
  const out = [];
  out.push('# HELP http_requests_total Total HTTP requests handled (excluding /metrics and /health).');
  out.push('# TYPE http_requests_total counter');
  for (const [key, n] of [...requestsTotal.entries()].sort()) {
    const [route, status] = key.split('\0');
    out.push(`http_requests_total{route="${esc(route)}",status="${esc(status)}"} ${n}`);
  }
  out.push('# HELP http_request_duration_seconds HTTP request duration in seconds.');
  out.push('# TYPE http_request_duration_seconds histogram');
  for (const [route, h] of [...durations.entries()].sort()) {
    const r = esc(route);
    BUCKETS.forEach((le, i) => {
      out.push(`http_request_duration_seconds_bucket{route="${r}",le="${le}"} ${h.buckets[i]}`);
    });
    out.push(`http_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.count}`);
    out.push(`http_request_duration_seconds_sum{route="${r}"} ${h.sum}`);
    out.push(`http_request_duration_seconds_count{route="${r}"} ${h.count}`);
  }
  out.push('# HELP app_info Static information about the running release.');
  out.push('# TYPE app_info gauge');
  out.push(`app_info{version="${esc(VERSION)}"} 1`);
  return out.join('\n') + '\n';
}

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

function sendMetrics(res) {
  const data = renderMetrics();
  res.writeHead(200, {
    'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
    'Content-Length': Buffer.byteLength(data),
  });
  res.end(data);
}

function shouldFail() {
  appRequests += 1;
  const n = appRequests;
  return Math.floor(n * ERROR_RATIO) > Math.floor((n - 1) * ERROR_RATIO);
}

const ITEMS = [
  { id: 1, name: 'alpha' },
  { id: 2, name: 'beta' },
  { id: 3, name: 'gamma' },
];

function handle(req, res) {
  const started = process.hrtime.bigint();
  const route = (req.url || '/').split('?')[0];

  if (req.method === 'GET' && route === '/health') {
    return sendJson(res, 200, { status: 'ok', version: VERSION, pid: process.pid });
  }
  if (req.method === 'GET' && route === '/metrics') {
    return sendMetrics(res);
  }

  const finish = (status, body) => {
    sendJson(res, status, body);
    observe(route, status, Number(process.hrtime.bigint() - started) / 1e9);
  };

  if (req.method !== 'GET') {
    return finish(405, { error: 'method not allowed' });
  }
  if (route === '/version') {
    return finish(200, { version: VERSION });
  }
  if (route === '/' || route === '/api/items') {
    const fail = shouldFail();
    setTimeout(() => {
      if (fail) {
        finish(500, { error: 'injected failure', version: VERSION });
      } else if (route === '/') {
        finish(200, { app: 'liftoff-demo-app', version: VERSION });
      } else {
        finish(200, { version: VERSION, items: ITEMS });
      }
    }, LATENCY_MS);
    return undefined;
  }
  return finish(404, { error: 'not found' });
}

const servers = [];
const server = http.createServer(handle);
server.keepAliveTimeout = 1000;
servers.push(server);

let metricsServer = null;
if (METRICS_PORT !== null) {
  metricsServer = http.createServer((req, res) => {
    const route = (req.url || '/').split('?')[0];
    if (route === '/metrics') return sendMetrics(res);
    if (route === '/health') return sendJson(res, 200, { status: 'ok', version: VERSION, pid: process.pid });
    return sendJson(res, 404, { error: 'not found' });
  });
  servers.push(metricsServer);
}

let pending = servers.length;
function listening() {
  pending -= 1;
  if (pending === 0) {
    console.log(
      `liftoff-demo-app ${VERSION} pid ${process.pid} listening on ${HOST}:${PORT}` +
        (METRICS_PORT !== null ? ` (metrics on ${HOST}:${METRICS_PORT})` : ''),
    );
    if (typeof process.send === 'function') process.send('ready');
  }
}

if (!CRASH) {
  server.listen(PORT, HOST, listening);
  if (metricsServer) metricsServer.listen(METRICS_PORT, HOST, listening);
}

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`liftoff-demo-app ${VERSION} pid ${process.pid} got ${signal}, shutting down`);
  // In pm2 cluster mode the master (pm2 daemon) accepts connections and hands them to
  // workers over IPC. A handle sent just before our close() reached the master is only
  // re-dispatched if this worker is still alive to answer "not accepted"; exiting at
  // once loses it (the client hangs). So linger SHUTDOWN_GRACE_MS after closing.
  let open = servers.length;
  const done = () => {
    open -= 1;
    if (open === 0) setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS);
  };
  for (const s of servers) {
    s.close(done);
    if (typeof s.closeIdleConnections === 'function') s.closeIdleConnections();
  }
  // Do not hang on lingering keep-alive connections.
  setTimeout(() => process.exit(0), 3000 + SHUTDOWN_GRACE_MS).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('message', (msg) => {
  if (msg === 'shutdown') shutdown('shutdown message');
});
