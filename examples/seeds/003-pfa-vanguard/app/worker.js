'use strict';
// Stand-in of seed 003's pems-write-sync-worker: a pm2 fork-mode process of the same release as the
// backend (pm2_workers). It serves GET /health ({status, worker, version, queue}) and POST /sync (a
// manual sync trigger, counted) on WORKER_PORT, and /metrics with the triggers it accepted. Node's
// standard library only, like the demo backend.
const fs = require('fs');
const http = require('http');
const path = require('path');

const release = JSON.parse(fs.readFileSync(path.join(__dirname, 'release.json'), 'utf8'));
const VERSION = String(release.version);
const HOST = process.env.HOST || '127.0.0.1';
const PORT = parseInt(process.env.WORKER_PORT || '3100', 10);
let triggers = 0;

function send(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

const server = http.createServer((req, res) => {
  const route = (req.url || '/').split('?')[0];
  if (req.method === 'GET' && route === '/health') {
    return send(res, 200, { status: 'ok', worker: 'pems-write-sync', version: VERSION, queue: 'initialized' });
  }
  if (req.method === 'POST' && route === '/sync') {
    triggers += 1;
    return send(res, 202, { accepted: true, trigger: triggers });
  }
  if (req.method === 'GET' && route === '/metrics') {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    return res.end(`# TYPE sync_manual_triggers_total counter\nsync_manual_triggers_total ${triggers}\n`);
  }
  return send(res, 404, { error: 'not found' });
});

server.listen(PORT, HOST, () => console.log(`pems-write-sync-worker ${VERSION} pid ${process.pid} on ${HOST}:${PORT}`));
function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
