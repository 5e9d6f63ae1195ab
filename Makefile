# teachkit: `make teachers && make student` runs the demo; `make test` runs the tests.
# Every target that runs Python depends on the venv, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CPU machines get the CPU torch that installs offline; GPU users: TORCH_SPEC= make setup
# after installing their CUDA torch into the venv (see README).
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= configs/demo.toml
STUDENT_CONFIG ?= configs/student_demo.toml

.PHONY: setup test test-slow teachers student audit student-audit bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_SPEC),$(PY) -m pip install -q "$(TORCH_SPEC)")
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -q

test-slow: setup
	TEACHKIT_SLOW=1 $(PY) -m pytest -q -m slow

teachers: setup
	$(VENV)/bin/teachkit teachers run --config $(CONFIG)

student: setup
	$(VENV)/bin/teachkit student demo --config $(STUDENT_CONFIG)

# the caption audit (after `make teachers`): cross-fitted judges, the audit, its figures
audit: setup
	$(VENV)/bin/teachkit teachers run --config configs/demo_judges.toml
	$(VENV)/bin/teachkit captions audit --config configs/audit_demo.toml
	$(VENV)/bin/teachkit captions measure --truth data/demo/ground_truth.json

# distilled students on all captions, without the audit's flagged ones, without the wrong ones
student-audit: setup
	$(VENV)/bin/teachkit student demo --config $(STUDENT_CONFIG) --ablation audit --out runs/demo-audit

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) store runs data artifacts bench/results.json .pytest_cache
