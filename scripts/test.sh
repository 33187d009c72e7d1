#!/usr/bin/env bash
# Every test, in the order that fails fastest: lint, unit, integration, molecule.
# `scripts/test.sh PART` runs one part. Exits non-zero when any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# molecule finds ansible-playbook and ansible-config on PATH.
export PATH="$PWD/$BIN:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1
parts=("${@:-lint unit integration molecule}")
read -r -a parts <<< "${parts[*]}"
failed=()
run() {
  local name=$1; shift
  echo "==> $name: $*"
  local start=$SECONDS
  if "$@"; then echo "<== $name passed in $((SECONDS - start)) s"; else echo "<== $name FAILED"; failed+=("$name"); fi
}
for part in "${parts[@]}"; do
  case $part in
    lint)
      run yamllint $BIN/yamllint -s .
      run ansible-lint $BIN/ansible-lint --offline
      run ruff $BIN/ruff check plugins tests scripts examples bench
      run mypy $BIN/mypy plugins/action plugins/filter plugins/plugin_utils plugins/module_utils
      ;;
    unit) run unit $BIN/pytest -q -p no:cacheprovider tests/unit ;;
    integration) run integration $BIN/pytest -q -p no:cacheprovider tests/integration ;;
    molecule) run molecule $BIN/molecule test --all ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "all parts passed: ${parts[*]}"
