#!/bin/sh
# build: write the static answers for VERSION (/version, /health unless HEALTHY=0, /docs, /openapi.json)
#   and the content generator's LATENCY for the CGI endpoints.
# serve: every 2 s check Redis (AUTH, PING) and PostgreSQL (it answers its protocol) and write /ready;
#   then busybox httpd on ${BIND:-127.0.0.1}:$PORT (host networking: nothing leaves loopback).
# Settings come from the environment (.env.production through compose's env_file).
set -eu
case "$1" in
  build)
    mkdir -p /www/docs /etc/halcytone /tmp
    chmod 1777 /tmp
    printf '{"version": "%s"}\n' "$VERSION" > /www/version
    if [ "$HEALTHY" != 0 ]; then printf '{"status": "ok"}\n' > /www/health; fi
    printf '%s\n' "$LATENCY" > /etc/halcytone/latency
    printf '%s\n' "$VERSION" > /etc/halcytone/version
    printf '{"openapi": "3.1.0", "info": {"title": "Halcytone Content Generator API", "version": "%s"}, "paths": {"/health": {}, "/ready": {}, "/cgi-bin/generate": {}, "/cgi-bin/cache": {}, "/cgi-bin/crm": {}, "/cgi-bin/platform": {}, "/cgi-bin/email": {}}}\n' "$VERSION" > /www/openapi.json
    printf '<!DOCTYPE html>\n<html><head><title>Halcytone Content Generator API - Swagger UI</title></head>\n<body><div id="swagger-ui" data-url="/openapi.json">Halcytone Content Generator API %s</div></body></html>\n' "$VERSION" > /www/docs/index.html
    chmod 755 /www/cgi-bin/*
    ;;
  serve)
    . /lib/halcytone/cgi.sh
    check_redis() {
      # AUTH (when a password is set), PING, QUIT: the answer holds +PONG when Redis accepted us.
      case "$(redis_say 'PING' | timeout 3 nc "${REDIS_HOST:-127.0.0.1}" "${REDIS_PORT:-6379}" 2>/dev/null)" in
        *PONG*) echo ok ;;
        *) echo fail ;;
      esac
    }
    check_database() {
      # A startup packet of protocol 0.0: PostgreSQL answers an ErrorResponse ('E') and closes.
      case "$(printf '\000\000\000\010\000\000\000\000' | timeout 3 nc "${DB_HOST:-127.0.0.1}" "${DB_PORT:-5432}" 2>/dev/null | head -c 1)" in
        E) echo ok ;;
        *) echo fail ;;
      esac
    }
    ready_loop() {
      last=""
      while :; do
        redis=$(check_redis)
        database=$(check_database)
        status=ready
        if [ "$redis" != ok ] || [ "$database" != ok ]; then status=not_ready; fi
        printf '{"status": "%s", "version": "%s", "environment": "%s", "debug": "%s", "checks": {"redis": "%s", "database": "%s"}}\n' \
          "$status" "$(cat /etc/halcytone/version)" "${ENVIRONMENT:-}" "${DEBUG:-}" "$redis" "$database" > /www/ready.new
        mv /www/ready.new /www/ready
        if [ "$status $redis $database" != "$last" ]; then
          log "ready: status=$status redis=$redis database=$database"
          last="$status $redis $database"
        fi
        sleep 2
      done
    }
    log "halcytone $(cat /etc/halcytone/version) starting: environment=${ENVIRONMENT:-unset} log_level=${LOG_LEVEL:-unset}"
    ready_loop &
    exec httpd -f -p "${BIND:-127.0.0.1}:${PORT}" -h /www
    ;;
  *)
    echo "usage: app.sh build|serve" >&2
    exit 2
    ;;
esac
