#!/bin/sh
# build: write the static answers for VERSION (and /health unless HEALTHY=0).
# serve: busybox httpd on 127.0.0.1:$PORT (host networking: nothing leaves loopback).
set -eu
case "$1" in
  build)
    mkdir -p /www
    printf '{"version": "%s"}\n' "$VERSION" > /www/version
    if [ "$HEALTHY" = 1 ]; then printf '{"status": "ok"}\n' > /www/health; fi
    ;;
  serve)
    exec httpd -f -p "127.0.0.1:${PORT}" -h /www
    ;;
  *)
    echo "usage: app.sh build|serve" >&2
    exit 2
    ;;
esac
