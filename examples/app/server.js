'use strict';
// liftoff demo app: a tiny pm2-native HTTP service using only the Node standard library.
//
// Behaviour comes from release.json next to this file:
//   {"version": "v2", "error_ratio": 0.0, "latency_ms": 5}
// Environment: HOST (default 127.0.0.1), PORT (default 3000),
//   METRICS_PORT_BASE (optional): each pm2 cluster worker also serves /metrics on
//   METRICS_PORT_BASE + NODE_APP_INSTANCE so a scraper can sum all workers.

const crypto = require('crypto');
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

// Ephemeral tokens (seeds 000/001): POST /api/token with the principal token returns a token that
// /api/protected and /api/events accept for TOKEN_TTL_S seconds (env, else release.json
// token_ttl_s, else 60). A token is stateless (nonce, expiry and an HMAC keyed by the principal
// token), so every pm2 worker accepts a token another worker issued. Without PRINCIPAL_TOKEN the
// token endpoints answer 503 and /api/events is open.
const PRINCIPAL = process.env.PRINCIPAL_TOKEN || '';
const TOKEN_TTL_S = Number(process.env.TOKEN_TTL_S || release.token_ttl_s || 60);
// The access log masks token query values as token=***; release.json log_tokens_raw: true logs
// them raw (a leak, for the log sanitisation check to find).
const LOG_TOKENS_RAW = Boolean(release.log_tokens_raw);
const SSE_INTERVAL_MS = Number(release.sse_interval_ms || 100);
const streams = new Set();

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

function sign(body) {
  return crypto.createHmac('sha256', PRINCIPAL).update(body).digest('hex').slice(0, 32);
}

function issueToken() {
  const body = crypto.randomBytes(8).toString('hex') + (Date.now() + TOKEN_TTL_S * 1000).toString(16).padStart(12, '0');
  return body + sign(body);
}

function sameText(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// 'principal' | 'ephemeral' | 'expired' | 'invalid' | 'missing'
function authOf(req, query) {
  const header = req.headers.authorization || '';
  const given = header.startsWith('Bearer ') ? header.slice(7) : query.get('token') || '';
  if (!given) return 'missing';
  if (sameText(given, PRINCIPAL)) return 'principal';
  if (!/^[0-9a-f]{60}$/.test(given) || !sameText(given.slice(28), sign(given.slice(0, 28)))) return 'invalid';
  return parseInt(given.slice(16, 28), 16) > Date.now() ? 'ephemeral' : 'expired';
}

const AUTH_FAILURE = { missing: [401, 'token required'], invalid: [403, 'invalid token'], expired: [403, 'token expired'] };

function accessLog(req, status) {
  const url = LOG_TOKENS_RAW ? req.url : String(req.url).replace(/([?&]token=)[^&]*/g, '$1***');
  console.log(`access ${req.method} ${url} ${status}`);
}

function openStream(req, res, query) {
  const count = parseInt(query.get('count') || '0', 10) || 0;
  const interval = parseInt(query.get('interval_ms') || '', 10) || SSE_INTERVAL_MS;
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.write(': stream open\n\n');
  accessLog(req, 200);
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    res.write(`event: tick\nid: ${n}\ndata: ${JSON.stringify({ n, version: VERSION })}\n\n`);
    if (count && n >= count) close();
  }, interval);
  function close() {
    clearInterval(timer);
    streams.delete(res);
    res.end();
  }
  streams.add(res);
  res.on('close', () => {
    clearInterval(timer);
    streams.delete(res);
  });
}

function handleAuth(req, res, route, query, finish) {
  const respond = (status, body) => {
    finish(status, body);
    accessLog(req, status);
  };
  if (!PRINCIPAL) return respond(503, { error: 'no principal token configured' });
  if (route === '/api/token') {
    if (req.method !== 'POST') return respond(405, { error: 'method not allowed' });
    if (authOf(req, new URLSearchParams()) !== 'principal') return respond(401, { error: 'principal token required' });
    return respond(200, { token: issueToken(), token_type: 'ephemeral', expires_in: TOKEN_TTL_S });
  }
  if (req.method !== 'GET') return respond(405, { error: 'method not allowed' });
  const auth = authOf(req, query);
  if (AUTH_FAILURE[auth]) {
    const [status, error] = AUTH_FAILURE[auth];
    return respond(status, { error });
  }
  if (route === '/api/events') return openStream(req, res, query);
  return respond(200, { auth, version: VERSION });
}

function handle(req, res) {
  const started = process.hrtime.bigint();
  const route = (req.url || '/').split('?')[0];
  const query = new URLSearchParams((req.url || '').split('?')[1] || '');

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

  if (route === '/api/token' || route === '/api/protected' || (route === '/api/events' && PRINCIPAL)) {
    return handleAuth(req, res, route, query, finish);
  }
  if (req.method === 'GET' && route === '/api/events') {
    return openStream(req, res, query);
  }
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
  for (const stream of streams) stream.end();
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
