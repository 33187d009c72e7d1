#!/bin/sh
# build: write the static answers for VERSION (and /health unless HEALTHY=0). HEALTHY=NAME (an
#   environment variable's name) builds an image that is unhealthy only where NAME is set at run
#   time: a fault that shows on some hosts only (a canary's later batch, say).
# serve: busybox httpd on ${BIND:-127.0.0.1}:$PORT (host networking: nothing leaves loopback
#   unless BIND says so, as on a test host in its own network namespace).
set -eu
case "$1" in
  build)
    mkdir -p /www
    printf '{"version": "%s"}\n' "$VERSION" > /www/version
    if [ "$HEALTHY" != 0 ]; then printf '{"status": "ok"}\n' > /www/health; fi
    case "$HEALTHY" in 0|1) ;; *) printf '%s\n' "$HEALTHY" > /unhealthy_if ;; esac
    ;;
  serve)
    if [ -f /unhealthy_if ]; then
      name=$(cat /unhealthy_if)
      eval "value=\${${name}:-}"
      if [ -n "$value" ]; then rm -f /www/health; fi
    fi
    exec httpd -f -p "${BIND:-127.0.0.1}:${PORT}" -h /www
    ;;
  *)
    echo "usage: app.sh build|serve" >&2
    exit 2
    ;;
esac
