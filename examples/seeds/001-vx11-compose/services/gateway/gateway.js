'use strict';
// Stand-in for VX11's gateway, tentaculo_link (seed 001: service vx11-tentaculo-link, port 8000).
// Node standard library only. It proxies the operator API to the operator backend (the liftoff demo
// app, examples/app/server.js) the way the seed describes it:
//   GET  /health                              {"status": "ok", "module": "tentaculo_link", ...}
//   GET|POST /operator/api/events/sse-token   the principal token (X-VX11-Token, or Authorization:
//                                             Bearer) -> the backend's POST /api/token; answers
//                                             {"sse_token": ..., "expires_in": ...}
//   GET  /operator/api/events/stream?token=   the SSE stream (the backend's /api/events), an ephemeral
//                                             token as ?token= or the principal in a header
//   GET  /operator/api/<path>                 the backend's /api/<path> (legacy polling clients)
//   GET  /metrics                             Prometheus text: vx11_gateway_requests_total,
//                                             vx11_gateway_latency_ms (histogram, per route) and
//                                             vx11_sse_active_connections (streams open now)
// The operator routes answer only when VX11_OPERATOR_PROXY_ENABLED is 1 (404 otherwise), as the seed's
// compose flag. The access log masks every token query value (token=***).
// Environment: PORT (8000), HOST (127.0.0.1), BACKEND_URL (http://127.0.0.1:8001),
// VX11_OPERATOR_PROXY_ENABLED (0 or 1). The release (its version) is release.json beside this file.

const fs = require('fs');
const http = require('http');
const path = require('path');

const release = JSON.parse(fs.readFileSync(path.join(__dirname, 'release.json'), 'utf8'));
const VERSION = String(release.version);
const HOST = process.env.HOST || '127.0.0.1';
const PORT = parseInt(process.env.PORT || '8000', 10);
const BACKEND = new URL(process.env.BACKEND_URL || 'http://127.0.0.1:8001');
const PROXY_ENABLED = process.env.VX11_OPERATOR_PROXY_ENABLED === '1';
const BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 200, 500, 1000, 2500];

const requests = new Map(); // "route\0status" -> count
const latency = new Map(); // route -> {buckets, sum, count}
let activeStreams = 0;

function observe(route, status, ms) {
  const key = route + '\0' + status;
  requests.set(key, (requests.get(key) || 0) + 1);
  let h = latency.get(route);
  if (!h) {
    h = { buckets: BUCKETS_MS.map(() => 0), sum: 0, count: 0 };
    latency.set(route, h);
  }
  BUCKETS_MS.forEach((le, i) => {
    if (ms <= le) h.buckets[i] += 1;
  });
  h.sum += ms;
  h.count += 1;
}

function metrics() {
  const out = [
    '# HELP vx11_gateway_requests_total Requests the gateway answered, by route and status.',
    '# TYPE vx11_gateway_requests_total counter',
  ];
  for (const [key, n] of [...requests.entries()].sort()) {
    const [route, status] = key.split('\0');
    out.push(`vx11_gateway_requests_total{route="${route}",status="${status}"} ${n}`);
  }
  out.push('# HELP vx11_gateway_latency_ms Time to the response headers, in milliseconds.');
  out.push('# TYPE vx11_gateway_latency_ms histogram');
  for (const [route, h] of [...latency.entries()].sort()) {
    BUCKETS_MS.forEach((le, i) => out.push(`vx11_gateway_latency_ms_bucket{route="${route}",le="${le}"} ${h.buckets[i]}`));
    out.push(`vx11_gateway_latency_ms_bucket{route="${route}",le="+Inf"} ${h.count}`);
    out.push(`vx11_gateway_latency_ms_sum{route="${route}"} ${h.sum}`);
    out.push(`vx11_gateway_latency_ms_count{route="${route}"} ${h.count}`);
  }
  out.push('# HELP vx11_sse_active_connections SSE streams open through the gateway now.');
  out.push('# TYPE vx11_sse_active_connections gauge');
  out.push(`vx11_sse_active_connections ${activeStreams}`);
  out.push('# HELP vx11_gateway_info The running release.');
  out.push('# TYPE vx11_gateway_info gauge');
  out.push(`vx11_gateway_info{version="${VERSION}",proxy_enabled="${PROXY_ENABLED ? 1 : 0}"} 1`);
  return out.join('\n') + '\n';
}

function masked(url) {
  return String(url).replace(/([?&]token=)[^&]*/g, '$1***');
}

function send(res, status, body, type) {
  const data = type ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': type || 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

// The principal as the backend expects it: X-VX11-Token (the seed's header) becomes a bearer token.
function principalHeaders(req) {
  const given = req.headers['x-vx11-token'];
  if (given) return { Authorization: `Bearer ${given}` };
  return req.headers.authorization ? { Authorization: req.headers.authorization } : {};
}

function handle(req, res) {
  const started = process.hrtime.bigint();
  const route = (req.url || '/').split('?')[0];
  const query = (req.url || '').includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  const done = (status) => {
    observe(route, status, elapsed());
    console.log(`gateway ${req.method} ${masked(req.url)} ${status} ${elapsed().toFixed(1)}ms`);
  };

  if (route === '/metrics') return send(res, 200, metrics(), 'text/plain; version=0.0.4');
  if (route === '/health') {
    return send(res, 200, { status: 'ok', module: 'tentaculo_link', version: VERSION, proxy_enabled: PROXY_ENABLED });
  }
  if (!route.startsWith('/operator/api/')) {
    send(res, 404, { error: 'not found' });
    return done(404);
  }
  if (!PROXY_ENABLED) {
    send(res, 404, { error: 'operator proxy disabled (VX11_OPERATOR_PROXY_ENABLED=0)' });
    return done(404);
  }

  let upstreamPath = '/api/' + route.slice('/operator/api/'.length) + query;
  let method = req.method;
  const issuing = route === '/operator/api/events/sse-token';
  if (issuing) {
    if (method !== 'GET' && method !== 'POST') {
      send(res, 405, { error: 'method not allowed' });
      return done(405);
    }
    upstreamPath = '/api/token';
    method = 'POST';
  } else if (route === '/operator/api/events/stream') {
    upstreamPath = '/api/events' + query;
  }

  const upstream = http.request(
    { host: BACKEND.hostname, port: BACKEND.port, path: upstreamPath, method,
      headers: { ...principalHeaders(req), Accept: req.headers.accept || '*/*' } },
    (answer) => {
      const streaming = String(answer.headers['content-type'] || '').startsWith('text/event-stream');
      if (issuing) {
        const chunks = [];
        answer.on('data', (c) => chunks.push(c));
        answer.on('end', () => {
          let body;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch (err) {
            body = { error: 'bad answer from operator-backend' };
          }
          if (answer.statusCode === 200) {
            body = { sse_token: body.token, expires_in: body.expires_in, token_type: body.token_type };
          }
          send(res, answer.statusCode, body);
          done(answer.statusCode);
        });
        return;
      }
      res.writeHead(answer.statusCode, answer.headers);
      done(answer.statusCode);
      if (streaming && answer.statusCode === 200) {
        activeStreams += 1;
        let open = true;
        const close = () => {
          if (!open) return;
          open = false;
          activeStreams -= 1;
          upstream.destroy();
        };
        res.on('close', close);
        answer.on('end', close);
        answer.on('error', close);
      }
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) {
      send(res, 502, { error: `operator-backend unreachable: ${err.code || err.message}` });
      done(502);
    } else {
      res.destroy();
    }
  });
  // The client went away (a closed EventSource): stop the backend's side too.
  res.on('close', () => upstream.destroy());
  upstream.end();
  return undefined;
}

const server = http.createServer(handle);
server.keepAliveTimeout = 1000;
server.listen(PORT, HOST, () => {
  console.log(`tentaculo_link ${VERSION} listening on ${HOST}:${PORT}, operator proxy ` +
    `${PROXY_ENABLED ? 'enabled' : 'disabled'} -> ${BACKEND.origin}`);
});

function shutdown(signal) {
  console.log(`tentaculo_link ${VERSION} got ${signal}, shutting down`);
  server.close(() => process.exit(0));
  if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
