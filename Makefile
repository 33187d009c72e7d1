# liftoff.release: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_NOCOLOR := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help bootstrap demo test unit integration molecule lint sanity clean bench bench-overhead bench-pm2-rollback bench-gate bench-backup bench-fleet

help:
	@echo "make demo   - deploy v1, v2 and a bad v3 (auto rollback) on a throwaway local environment"
	@echo "make test   - every test: lint, unit, integration (real PostgreSQL, pm2, ansible-playbook), molecule"
	@echo "make lint | unit | integration | molecule - one part of make test"
	@echo "make sanity - ansible-test sanity alone (part of make lint, with galaxy-importer, ansible-doc and the changelog)"
	@echo "make bench  - every benchmark below (never part of make test); results go to bench/RESULTS.md"
	@echo "make bench-overhead - the full local pipeline v1 -> v2 against a raw shell script doing the same work"
	@echo "make bench-pm2-rollback - the application rollback of one pm2 batch against a raw switch and reload (target 3 s)"
	@echo "make bench-backup - the backup phase (and a verified backup) against raw pg_dump on a 1 GB database"
	@echo "make bench-gate - breach -> verdict and breach -> old version serving, against interval x (failure_limit + 1)"
	@echo "make bench-fleet - a canary deploy over real SSH to 1, 10, 50 and 100 hosts (netns): wall time against 1 host (target 3x)"

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@$(BIN)/python scripts/demo.py

test: bootstrap
	@bash scripts/test.sh

lint: bootstrap
	@bash scripts/test.sh lint

unit: bootstrap
	@bash scripts/test.sh unit

integration: bootstrap
	@bash scripts/test.sh integration

molecule: bootstrap
	@bash scripts/test.sh molecule

sanity: bootstrap
	@$(BIN)/python scripts/referee.py sanity

bench: bench-overhead bench-pm2-rollback bench-gate bench-backup bench-fleet

bench-overhead: bootstrap
	@$(BIN)/python bench/overhead.py

bench-pm2-rollback: bootstrap
	@$(BIN)/python bench/pm2_rollback.py

bench-backup: bootstrap
	@$(BIN)/python bench/backup.py

bench-gate: bootstrap
	@$(BIN)/python bench/gate_detection.py engine
	@$(BIN)/python bench/gate_detection.py deploy

bench-fleet: bootstrap
	@$(BIN)/python bench/fleet.py

clean:
	@$(BIN)/python scripts/localenv.py stop --root .demo 2>/dev/null || true
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
