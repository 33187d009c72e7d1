// EventsPanel (seed 001: operator-frontend's EventsPanel.tsx, plain JavaScript in this stand-in).
// Asks the gateway for an ephemeral SSE token with the operator's principal token, opens the event
// stream with it as ?token= (EventSource cannot send headers), and asks for a fresh token before
// each reconnect: a token lives 60 s.
(function () {
  'use strict';
  var panel = document.getElementById('events-panel');
  var gateway = window.VX11_GATEWAY_URL || '';
  var principal = window.VX11_PRINCIPAL_TOKEN || '';
  var list = panel.querySelector('.events');
  var status = panel.querySelector('.status');

  function connect() {
    fetch(gateway + '/operator/api/events/sse-token', { method: 'POST', headers: { 'X-VX11-Token': principal } })
      .then(function (reply) {
        if (!reply.ok) throw new Error('sse-token: HTTP ' + reply.status);
        return reply.json();
      })
      .then(function (body) {
        var source = new EventSource(gateway + '/operator/api/events/stream?token=' + encodeURIComponent(body.sse_token));
        source.addEventListener('open', function () { status.textContent = 'connected'; });
        source.addEventListener('tick', function (event) {
          var item = document.createElement('li');
          item.textContent = event.data;
          list.insertBefore(item, list.firstChild);
        });
        source.addEventListener('error', function () {
          source.close();
          status.textContent = 'reconnecting...';
          setTimeout(connect, 1000);
        });
      })
      .catch(function (err) {
        status.textContent = String(err);
        setTimeout(connect, 5000);
      });
  }
  connect();
}());
