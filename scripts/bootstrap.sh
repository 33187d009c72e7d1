#!/usr/bin/env bash
# Installs what the demo and the tests need, idempotently: a Python >= 3.12 venv with the pinned
# requirements, pm2 (npm), and, when root on Debian, PostgreSQL, Prometheus and Node from apt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
TOOLS=$ROOT/.tools
PM2_VERSION=7.0.4

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }

# apt_install [APT-GET-OPTION...] PACKAGE...: arguments starting with "-" (e.g.
# --no-install-recommends) go to apt-get install as options, the rest are package names.
apt_install() {
  local arg opts=() pkgs=()
  for arg in "$@"; do
    case $arg in -*) opts+=("$arg") ;; *) pkgs+=("$arg") ;; esac
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${pkgs[*]} with apt-get${opts[*]:+ (${opts[*]})}"
    if [ ! -f /tmp/.liftoff-apt-updated ]; then
      apt-get update -qq && touch /tmp/.liftoff-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${opts[@]}" "${pkgs[@]}" >/dev/null
  else
    die "missing ${pkgs[*]}: install the Debian package(s) ${pkgs[*]} (needs root)"
  fi
}

# Debian's prometheus postinst enables the system service and starts it on :9090 wherever
# services may start (systemd, or sysv-init without a policy-rc.d that forbids it). The
# tests start their own throwaway servers (tests/support/prometheus.py), so stop that one,
# by the package's own pid file, and keep it from starting at boot.
pid_running() {  # a zombie left to a non-reaping pid 1 counts as gone
  [ -e "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]
}
stop_packaged_prometheus() {
  local pid_file=/run/prometheus/prometheus.pid pid
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/bin/prometheus ]; then
    log "stopping the packaged prometheus (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do pid_running "$pid" || break; sleep 0.2; done
    if pid_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$pid_file"
  fi
}

find_python() {
  local c
  for c in "${LIFTOFF_PYTHON:-}" python3.13 python3.12 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do
      if [ -x "$c" ] && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
        echo "$c"; return 0
      fi
    done
  fi
  for c in /usr/bin/python3.1[2-9] /usr/local/bin/python3.1[2-9]; do
    [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

# Python venv with pinned requirements.
if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || die "ansible 14 (ansible-core 2.21) needs Python >= 3.12 and none was found. Install python3.12 (or set LIFTOFF_PYTHON=/path/to/python3.12)."
  log "creating $VENV with $PY ($("$PY" --version))"
  "$PY" -m venv "$VENV"
fi
STAMP=$VENV/.requirements.sha256
WANT=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  log "installing Python requirements (first time: about a minute)"
  # (some machines' pip configuration lists local index folders that may not exist: not our concern)
  pipq() { "$VENV/bin/pip" install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
  pipq --upgrade pip
  pipq -r requirements-test.txt
  echo "$WANT" > "$STAMP"
fi

# Checkout as a collection: liftoff.release.* resolves from here (ansible.cfg collections_path).
mkdir -p .collections/ansible_collections/liftoff
ln -sfn ../../.. .collections/ansible_collections/liftoff/release
# awx/configure.yml (AWX / AAP configuration as code) uses awx.awx. The `ansible` package stopped shipping
# it after ansible 11 and Galaxy is not reachable here: take awx.awx 24.6.1 (its last release) out of the
# ansible 11.13.0 wheel on PyPI, checked by its sha256, and put it beside the collections the `ansible` package
# installed in the venv, where Ansible finds it from any directory (awx/requirements.yml is for those who
# reach Galaxy).
SITE_PACKAGES=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ ! -f "$SITE_PACKAGES/ansible_collections/awx/awx/MANIFEST.json" ]; then
  log "installing the awx.awx collection (from the ansible 11.13.0 wheel) into $VENV"
  AWX_WHEEL_DIR=$(mktemp -d)
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$AWX_WHEEL_DIR" ansible==11.13.0 \
    2> >(grep -v "^WARNING: Location '" >&2)
  echo "7f1c9c6a6026ff214d9240647e4d2b019b2a9d4c7a2bc733932bcf92af80ab04  $AWX_WHEEL_DIR/ansible-11.13.0-py3-none-any.whl" \
    | sha256sum -c --quiet - || die "the ansible 11.13.0 wheel does not have the expected sha256"
  "$VENV/bin/python" - "$AWX_WHEEL_DIR/ansible-11.13.0-py3-none-any.whl" "$SITE_PACKAGES" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith("ansible_collections/awx/awx/")])
EOF
  rm -rf "$AWX_WHEEL_DIR"
fi
# The backup and cdn roles use amazon.aws and community.aws (S3, CloudFront): the `ansible` package from PyPI
# ships them (requirements.yml lists them for those who install from Galaxy).
for c in amazon/aws community/aws; do
  compgen -G "$VENV/lib/python3*/site-packages/ansible_collections/$c/MANIFEST.json" >/dev/null \
    || die "collection ${c/\//.} is missing from $VENV: reinstall requirements.txt (the ansible package ships it) or run ansible-galaxy collection install -r requirements.yml"
done

# PostgreSQL server binaries (initdb, pg_ctl) for throwaway clusters.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  apt_install postgresql
fi
# Prometheus (the deploy gate's metric provider) for throwaway servers; without the recommended
# prometheus-node-exporter, which would be one more system service.
if ! command -v prometheus >/dev/null; then
  apt_install --no-install-recommends prometheus
  stop_packaged_prometheus
fi
# The compose strategy's tests: a throwaway Docker engine (dockerd, started by the tests on
# their own socket, never the system service), the Compose v1 CLI (Compose v2 is in no
# registry these machines reach; see roles/compose/README.md) and busybox-static to build
# images FROM scratch (no registry can be pulled from).
command -v dockerd >/dev/null || apt_install docker.io
command -v docker-compose >/dev/null || apt_install docker-compose
if ! { [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q "not a dynamic"; }; then apt_install busybox-static; fi
# ansible-test sanity's shellcheck test (scripts/referee.py sanity) needs shellcheck, or it skips the test.
command -v shellcheck >/dev/null || apt_install shellcheck
# Rolling and canary tests across hosts: sshd in network namespaces (ip netns).
[ -x /usr/sbin/sshd ] || apt_install openssh-server
command -v ip >/dev/null || apt_install iproute2
# The HTML record's browser test: headless Chromium (only when root; the test skips without it otherwise).
if [ "$(id -u)" = 0 ]; then command -v chromium >/dev/null || apt_install chromium; fi
# Node and pm2.
command -v node >/dev/null || apt_install nodejs npm
if [ ! -x "$TOOLS/node_modules/.bin/pm2" ]; then
  log "installing pm2 $PM2_VERSION with npm"
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "pm2@$PM2_VERSION" >/dev/null
fi
ANSIBLE_VERSION=$("$VENV/bin/ansible" --version 2>/dev/null || true)
log "ready: ${ANSIBLE_VERSION%%$'\n'*}, pm2 $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$TOOLS/node_modules/pm2/package.json" | head -1)"
