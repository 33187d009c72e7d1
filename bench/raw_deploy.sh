#!/usr/bin/env bash
# The baseline of bench/overhead.py: the work of `playbooks/deploy.yml` (the demo path, pm2
# strategy) done by hand with raw commands, as an operator's script would do it, with no record
# beyond a small JSON file. Same checks, same waits, same gate window:
#
#   preflight  deploy lock (flock), the running version's /health, SELECT 1, free space
#   backup     pg_dump -Fc -Z1, pg_restore --list, sha256sum, a test restore into a scratch
#              database and a row count of every table in both
#   migrate    each pending migrations/*.sql in one transaction under an advisory lock, tracked
#              in liftoff_schema_migrations (version, name, checksum) like the sql driver
#   rollout    unpack into releases/<version>, switch `current` atomically, pm2 startOrReload,
#              every worker online for pm2_min_uptime (1 s), /version reports the version,
#              keep the last 5 releases
#   smoke      /health (status ok), /version, /api/items, with their latency
#   verify     25 requests/s of load on /api/items and / while both workers' /metrics are read
#              every 2 s, GATE_COUNT times (default 5, the demo's gate_count); the error ratio of
#              each interval against 0.05
#   record     a JSON file with what was done
#
# Usage: raw_deploy.sh ROOT VERSION     (ROOT: a scripts/localenv.py root whose env.yml it reads)
set -euo pipefail
root=$1 version=$2
gate_count=${GATE_COUNT:-5}
envfile="$root/env.yml"
val() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$envfile" "$1"; }
export PGHOST=127.0.0.1 PGUSER=postgres PGDATABASE=demo
PGPORT=$(val pg_port); export PGPORT
PGPASSWORD=$(val db_password); export PGPASSWORD
app_port=$(val app_port)
metrics_base=$(val metrics_port_base)
pm2_bin=$(val pm2_bin)
app="http://127.0.0.1:$app_port"
base="$root/srv/app"
pm2_home="$root/pm2"
src="$root/artifacts/$version"
run="$(date -u +%Y%m%dT%H%M%SZ)-raw$$"
out="$root/records/raw/$run"
mkdir -p "$out" "$root/backups"
t0=$(date +%s.%N)
pm2() { env -i PATH="$PATH" HOME="$HOME" PM2_HOME="$pm2_home" "$pm2_bin" "$@"; }

# preflight
exec 9>"$root/deploy.lock"
flock -n 9
curl -fsS --max-time 5 "$app/health" > /dev/null
psql -Atqc 'SELECT 1' > /dev/null
df -P "$root/backups" > /dev/null

# backup
dump="$root/backups/demo-$run.pgc"
pg_dump -Fc -Z1 -f "$dump" demo
pg_restore --list "$dump" > /dev/null
sha=$(sha256sum "$dump" | cut -d' ' -f1)
scratch=demo_raw_verify
dropdb --if-exists "$scratch" 2> /dev/null
createdb "$scratch"
pg_restore --no-owner -d "$scratch" "$dump"
tables=$(psql -Atqc "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables ORDER BY 1")
for table in $tables; do
  a=$(psql -Atqc "SELECT count(*) FROM $table")
  b=$(psql -d "$scratch" -Atqc "SELECT count(*) FROM $table")
  [ "$a" = "$b" ] || { echo "restore mismatch in $table: $a != $b" >&2; exit 1; }
done
dropdb "$scratch"

# migrate
applied=$(psql -Atqc 'SELECT version FROM liftoff_schema_migrations')
for file in "$src"/migrations/*.sql; do
  name=$(basename "$file" .sql)
  mig_version=${name%%_*}
  grep -qx "$mig_version" <<< "$applied" && continue
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  psql -v ON_ERROR_STOP=1 -1 -q \
    -c "SELECT pg_advisory_xact_lock(4242)" -f "$file" \
    -c "INSERT INTO liftoff_schema_migrations (version, name, checksum, duration_ms, run_id)
        VALUES ('$mig_version', '${name#*_}', '$sum', 0, '$run')" > /dev/null
done

# rollout
previous=$(basename "$(readlink "$base/current")")
mkdir -p "$base/releases/$version"
tar -C "$src" -cf - . | tar -C "$base/releases/$version" -xf -
ln -sfn "$base/releases/$version" "$base/current.next"
mv -T "$base/current.next" "$base/current"
pm2 startOrReload "$base/ecosystem.config.js" --update-env > /dev/null
for _ in $(seq 60); do
  online=$(pm2 jlist | python3 -c '
import json, sys, time
procs = [p for p in json.load(sys.stdin) if p["name"] == "liftoff-demo"]
now = time.time() * 1000
print(sum(1 for p in procs if p["pm2_env"]["status"] == "online" and p["pm2_env"]["pm_uptime"] <= now - 1000))')
  [ "$online" -eq 2 ] && break
  sleep 0.5
done
[ "$online" -eq 2 ] || { echo "workers not online" >&2; exit 1; }
for _ in $(seq 60); do
  curl -fsS --max-time 5 "$app/version" | grep -q "\"version\":\"$version\"" && break
  sleep 0.5
done
curl -fsS --max-time 5 "$app/version" | grep -q "\"version\":\"$version\""
find "$base/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | tail -n +6 | cut -d' ' -f2- |
  xargs -r rm -rf

# smoke
check() {  # URL, pattern, max latency in s
  local timing
  timing=$(curl -fsS --max-time 5 -o "$out/smoke.body" -w '%{time_total}' "$1")
  grep -q "$2" "$out/smoke.body"
  awk -v t="$timing" -v max="$3" 'BEGIN { exit !(t <= max) }'
}
check "$app/health" '"status":"ok"' 0.5
check "$app/version" "\"version\":\"$version\"" 5
check "$app/api/items" '' 1

# verify: load and sample
(
  for i in $(seq $((gate_count * 50))); do
    if ((i % 2)); then path=/api/items; else path=/; fi
    curl -s -o /dev/null --max-time 5 "$app$path" &
    sleep 0.04
  done
  wait
) &
load=$!
counts() {  # total and 5xx requests over both workers
  for port in "$metrics_base" $((metrics_base + 1)); do curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics"; done |
    awk '/^http_requests_total/ { total += $NF; if ($0 ~ /status="5/) errors += $NF } END { print total + 0, errors + 0 }'
}
read -r total0 errors0 < <(counts)
verdict=PROCEED
for _ in $(seq "$gate_count"); do
  sleep 2
  read -r total errors < <(counts)
  if ! awk -v t=$((total - total0)) -v e=$((errors - errors0)) 'BEGIN { exit !(t == 0 || e / t <= 0.05) }'; then
    verdict=ROLLBACK
  fi
  total0=$total errors0=$errors
done
# The load ends with the window, as the gate's own load does (its loop, forking a curl every 0.04 s,
# runs behind 25/s and would stretch a long window by about 5 %).
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true

# record
t1=$(date +%s.%N)
printf '{"run_id": "%s", "version": "%s", "previous": "%s", "backup": "%s", "sha256": "%s", "verdict": "%s", "duration_s": %s}\n' \
  "$run" "$version" "$previous" "$dump" "$sha" "$verdict" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" > "$out/record.json"
[ "$verdict" = PROCEED ]
