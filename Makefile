# Two commands on a fresh machine with Python 3.11: `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests get 8 host CPU devices (tests/xla_env.py, tests/conftest.py) so sharding runs on a real
# mesh; the demo uses the machine's real devices.
TEST_ENV := $(shell cd tests && $(PYTHON) -c 'import xla_env; print(" ".join(f"{k}=\"{v}\"" for k, v in xla_env.env(8).items()))')
# Test files run in parallel over this many pytest-xdist workers (one file stays on one worker:
# its module fixtures are built once), in collection order: tests/conftest.py puts the longest
# file (the learning runs) first. 2 fits the 2-core CI machine; raise it on bigger ones.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-learning test-slow test-all mutants demo peers bench-peers clean

# --no-compile: pip would byte-compile every installed module (TensorFlow's thousands among
# them); Python compiles the few a run imports on first import instead. 43 s instead of 70 s
# for this install on a 2-core CPU.
$(VENV)/.installed: setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	$(TEST_ENV) $(PY) -m pytest -q --durations=15 $(XDIST) -m "not slow" tests

test-learning: install
	$(TEST_ENV) $(PY) -m pytest -q -m learning tests

test-slow: install
	$(TEST_ENV) $(PY) -m pytest -q $(XDIST) -m slow tests

test-all: install
	$(TEST_ENV) $(PY) -m pytest -q $(XDIST) tests

# Mutation testing of the RL maths, the trainer's step and the math grader (setup.cfg; not CI).
# Results and reviewed survivors: tests/MUTANTS.md. MUTANTS limits the run to some mutants by
# name or pattern, e.g. make mutants MUTANTS='r1jax.rl.kl.x_kl_estimate*'.
MUTANTS ?=
mutants: install
	$(TEST_ENV) $(PY) -m mutmut run --max-children 2 $(MUTANTS)
	$(PY) -m mutmut results

# Peer benchmarks (TRL, HF generate) in their own environment; never part of install or CI.
PEERS_VENV ?= .venv-peers
peers: $(PEERS_VENV)/.installed
$(PEERS_VENV)/.installed: benchmarks/peers/requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install -q -r benchmarks/peers/requirements.txt
	touch $@

bench-peers: install peers
	$(PY) benchmarks/peers/run.py --peers_python $(PEERS_VENV)/bin/python

# The tiny end-to-end run: SFT warm start on arithmetic traces, then GRPO, on CPU.
DEMO_DIR ?= workdir/demo
demo: install
	rm -rf $(DEMO_DIR)
	$(PY) experiments/grpo_main.py --config=experiments/configs/arith_tiny.py --workdir=$(DEMO_DIR)
	@echo "Table: $(DEMO_DIR)/summary.md  Curves: $(DEMO_DIR)/curves.png  TensorBoard: $(DEMO_DIR)/tensorboard"

clean:
	rm -rf $(VENV) *.egg-info
