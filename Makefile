# make local: install what is missing, then run the whole lab locally.
# make test:  the suite's own tests.
# make bench: the Lab 6 benchmarks on the local lab, saved as reports/benchmarks/$(BENCH_NAME).{json,md,html}.
PYTHON ?= python3
VENV   := .venv
PYTEST := $(VENV)/bin/pytest
STAMP  := $(VENV)/.installed

.PHONY: local test install servers sshd sweep clean bench code-faults aws-proof report allure chromium

local: install
	$(PYTEST) -m local --alluredir=reports/allure-results --clean-alluredir $(PYTEST_ARGS)

test: install sshd allure chromium
	$(PYTEST) tests -n 2 --dist loadfile -m "not corpus and not aws_proof and not fault_table and not class_proof" --junitxml=reports/selftest-junit.xml $(PYTEST_ARGS)

# make code-faults: the lab's apps as printed and fixed, misbehaving code, and every seeded fault of
#                   the app classes, each graded as a student's code (tests/test_student_code.py,
#                   marker corpus; about 3 minutes).
code-faults: install
	$(PYTEST) tests -m corpus -p no:xdist --junitxml=reports/code-faults-junit.xml $(PYTEST_ARGS)

# A run's name (BENCH_NAME=baseline make bench); fixed once so every use below agrees.
ifeq ($(origin BENCH_NAME),undefined)
BENCH_NAME := $(shell date +%Y%m%d-%H%M%S)-local
endif
BENCH_RUN  := reports/benchmarks/$(BENCH_NAME).json
# 2 s per benchmark gives the slowest (DynamoDB on the emulator) enough calls for a p99.
BENCH_ARGS ?= --benchmark-max-time 2

# pytest-benchmark is disabled under xdist, hence -p no:xdist. The report is written whenever
# the run wrote its JSON, also when a benchmark failed; make still fails then.
bench: install
	@mkdir -p reports/benchmarks
	@rm -f $(BENCH_RUN)
	$(PYTEST) -m "local and bench" --lab-bench -p no:xdist --benchmark-json $(BENCH_RUN) \
	  --junitxml=reports/bench-junit.xml $(BENCH_ARGS) $(PYTEST_ARGS); \
	status=$$?; \
	if [ -f $(BENCH_RUN) ]; then $(VENV)/bin/python -m dblab bench report $(BENCH_RUN) || status=$$?; fi; \
	exit $$status

install: $(STAMP) servers

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dblab needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt -e .
	@touch $(STAMP)

servers:
	@scripts/ensure-servers

# make report: the Allure results of the last local or grading run (reports/allure-results) as one
#              self-contained HTML file, reports/allure-report.html (Allure 3 from npm, no Java).
report: install allure
	$(VENV)/bin/dblab report $(REPORT_ARGS)

# Allure 3 from npm (package.json pins it), for make report and the report's self-test.
allure:
	@scripts/ensure-allure

# A headless Chromium: the report's self-test opens the rendered page in it, offline.
chromium:
	@scripts/ensure-chromium

# A real sshd (Debian's openssh-server) for the tunnel's self-tests; never started as a service.
sshd:
	@scripts/ensure-sshd

# make aws-proof: issue 10's acceptance against moto's server behind the AWS-realism proxy, as
#                 `pytest -m aws --lab-provision` runs it (tests/aws_proof, marker aws_proof;
#                 about 20 minutes): the parallel plan's wall time against its critical path,
#                 AWS_PROOF_RUNS runs in a row, SIGINT/SIGTERM/SIGKILL at several moments then
#                 the sweeper, and --lab-keep, a check of the kept lab, deletion by run id.
AWS_PROOF_RUNS ?= 10
aws-proof: install
	AWS_PROOF_RUNS=$(AWS_PROOF_RUNS) $(PYTEST) tests -m aws_proof -p no:xdist \
	  --junitxml=reports/aws-proof-junit.xml $(PYTEST_ARGS)

sweep: install
	$(VENV)/bin/dblab sweep $(SWEEP_ARGS)

clean:
	rm -rf $(VENV) reports/*.xml reports/allure-results .pytest_cache

# make faults: every seeded fault against one local lab, then the table (check, fault, verdict);
#              fails on a check no fault kills or a fault that breaks an unrelated check.
#              FAULTS_ARGS="--fault 1.2" runs some; "--all-checks" re-runs every check under every fault.
# make soak:   the whole local lab SOAK_RUNS times in a row; fails on the first run that does not pass.
.PHONY: faults soak fault-table class-proof
SOAK_RUNS ?= 10

faults: install
	$(VENV)/bin/python -m tests.faults.runner $(FAULTS_ARGS)

# make fault-table: the same table as a self-test that fails on any survivor, crash or collateral
#                   (tests/test_fault_catalogue.py, marker fault_table; about 7 minutes; .ci/run runs it).
fault-table: install
	$(PYTEST) tests -m fault_table -p no:xdist --junitxml=reports/fault-table-junit.xml $(PYTEST_ARGS)

# make class-proof: a class graded whole and as 3 shards merged, compared row for row
#                   (tests/test_grading_shards.py), and issue 11's acceptance: 30 accounts and a bad
#                   profile graded against one alone, then regraded offline from their evidence
#                   (tests/test_grading_class_acceptance.py); marker class_proof, about 4 minutes;
#                   .ci/run runs it.
class-proof: install
	$(PYTEST) tests -m class_proof -p no:xdist --junitxml=reports/class-proof-junit.xml $(PYTEST_ARGS)

soak: install
	$(VENV)/bin/python -m tests.soak --runs $(SOAK_RUNS)
