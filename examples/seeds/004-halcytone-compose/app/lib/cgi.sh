# shellcheck shell=sh
# Shared by app.sh and the CGI endpoints: answers, log lines, Redis commands.
# log MESSAGE [LEVEL]: one line on stderr (the container's log), level INFO unless given.
log() { printf '%s %s\n' "${2:-INFO}" "$1" >&2; }

# answer STATUS JSON: a CGI response.
answer() {
  printf 'Status: %s\r\nContent-Type: application/json\r\n\r\n%s\n' "$1" "$2"
}

# redis_say COMMAND...: the commands (one per argument) after AUTH when REDIS_PASSWORD is set, then QUIT,
# as Redis inline commands; the password never reaches a command line (printf is a shell builtin).
redis_say() {
  if [ -n "${REDIS_PASSWORD:-}" ]; then printf 'AUTH %s\r\n' "$REDIS_PASSWORD"; fi
  for command in "$@"; do printf '%s\r\n' "$command"; done
  printf 'QUIT\r\n'
}

# call NAME URL [wget options...]: GET (or POST with --post-data) URL; the body on stdout. On failure
# logs "ERROR NAME: ..." (an authentication refusal as such) and returns 1 for the caller to answer 502.
call() {
  name=$1
  url=$2
  shift 2
  body=/tmp/call.$$
  # timeout, not wget -T: the static busybox 1.35 wget crashes with -T when the connection is refused.
  if err=$(timeout 10 wget -q -O "$body" "$@" "$url" 2>&1); then
    cat "$body"
    rm -f "$body"
    return 0
  fi
  rm -f "$body"
  case "$err" in
    *" 401 "*|*" 403 "*) log "$name: authentication refused by the upstream (${err##*HTTP/1.? })" ERROR ;;
    *) log "$name: the upstream refused or did not answer" ERROR ;;
  esac
  return 1
}
