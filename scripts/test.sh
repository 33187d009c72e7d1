#!/usr/bin/env bash
# Every test, in the order that fails fastest: lint, unit, integration, molecule.
# `scripts/test.sh PART` runs one part. Exits non-zero when any part fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
BIN=.venv/bin
# molecule finds ansible-playbook and ansible-config on PATH.
export PATH="$PWD/$BIN:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1
parts=("${@:-lint unit integration molecule}")
read -r -a parts <<< "${parts[*]}"
failed=()
# A private pytest base temp dir per run: concurrent pytest sessions on one machine share
# /tmp/pytest-of-$USER and prune each other's dirs (and the PostgreSQL clusters in them).
# Kept when a part failed (its logs and data), removed otherwise.
TMP_BASE=$(mktemp -d "${TMPDIR:-/tmp}/liftoff-test.XXXXXX")
trap '[ ${#failed[@]} -gt 0 ] || rm -rf "$TMP_BASE"' EXIT
# Parallel workers (pytest-xdist); LIFTOFF_TEST_WORKERS=N overrides both counts, 0 runs serially
# (one ansible-test units worker).
# Integration tests wait often (gate sampling intervals, holds, pm2 reloads, PostgreSQL), so they
# run on more workers than cores; each test module stays on one worker (--dist loadfile: its tests
# share one environment and run in file order) and the longest modules start first
# (--no-loadscope-reorder keeps the order tests/integration/conftest.py gives them).
# Three, not more: on 2 cores the integration tests keep the CPU busy (vmstat: 1-2 % idle), and four
# workers took 1985 s where the last CI run's three took 1727 s (2026-12-08): less CPU per deploy is what
# shortens them.
UNIT_WORKERS=${LIFTOFF_TEST_WORKERS:-2}
INTEGRATION_WORKERS=${LIFTOFF_TEST_WORKERS:-3}
integration_xdist=()
[ "$INTEGRATION_WORKERS" -gt 0 ] && integration_xdist=(-n "$INTEGRATION_WORKERS" --dist loadfile --no-loadscope-reorder)
run() {
  local name=$1; shift
  echo "==> $name: $*"
  local start=$SECONDS
  if "$@"; then echo "<== $name passed in $((SECONDS - start)) s"; else echo "<== $name FAILED"; failed+=("$name"); fi
}
for part in "${parts[@]}"; do
  case $part in
    lint)
      # Two lanes at once (each referee is mostly one core; ansible-test sanity alone takes about as long
      # as all the others): each lane's output is printed when both are done.
      (
        run yamllint $BIN/yamllint -s .
        run ansible-lint $BIN/ansible-lint --offline
        run ruff $BIN/ruff check plugins tests scripts examples bench
        run mypy $BIN/mypy plugins/action plugins/callback plugins/filter plugins/plugin_utils plugins/module_utils \
          scripts/referee.py scripts/role_docs.py scripts/seed_coverage.py
        run role-docs $BIN/python scripts/role_docs.py --check
        # docs/seed-coverage.md: every seed checklist item mapped by an example, resolved to its code, current
        run seed-coverage $BIN/python scripts/seed_coverage.py --check
        run changelog $BIN/python scripts/referee.py changelog
        run ansible-doc $BIN/python scripts/referee.py ansible-doc
      ) > "$TMP_BASE/lint-1.log" 2>&1 &
      lane1=$!
      # The Ansible project's referees (scripts/referee.py says how each runs here, offline).
      (
        run galaxy-importer $BIN/python scripts/referee.py galaxy-importer
        run sanity $BIN/python scripts/referee.py sanity
      ) > "$TMP_BASE/lint-2.log" 2>&1 &
      lane2=$!
      wait $lane1 $lane2
      for log in "$TMP_BASE/lint-1.log" "$TMP_BASE/lint-2.log"; do
        cat "$log"
        while read -r name; do failed+=("$name"); done < <(sed -n 's/^<== \(.*\) FAILED$/\1/p' "$log")
      done
      ;;
    # ansible-test units: tests/unit on a copy of the checkout under ansible_collections/liftoff/release,
    # module_utils tests with only the module side of ansible importable, with pytest-xdist workers.
    unit) run unit $BIN/python scripts/referee.py units --workers "$UNIT_WORKERS" ;;
    integration)
      run integration $BIN/pytest -q -p no:cacheprovider --basetemp="$TMP_BASE/integration" --durations=40 \
        "${integration_xdist[@]}" tests/integration
      ;;
    molecule) run molecule $BIN/molecule test --all ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]} (pytest's temp files: $TMP_BASE)"; exit 1; fi
echo "all parts passed: ${parts[*]}"
