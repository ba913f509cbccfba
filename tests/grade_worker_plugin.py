"""A pytest plugin for tests/test_grade_workers.py's grading runs
(`dblab grade ... -- -p tests.grade_worker_plugin`).

Each grading run writes down what it saw (its pid, its worker's, the AWS_ and LAB_ variables of
its environment, a variable the run before it may have left, the botocore models already loaded),
then does to itself what the test's plan (a JSON file named by DBLAB_TEST_GRADE_PLAN) says for its
student: crash with SIGSEGV, exit at once, kill its worker, or hang and ignore SIGTERM.
"""

from __future__ import annotations

import json
import os
import select
import signal
from pathlib import Path

PLAN = "DBLAB_TEST_GRADE_PLAN"
LEFT_BEHIND = "DBLAB_TEST_LEFT_BEHIND"


MODELS: list[str] = []


def pytest_configure(config):
    # Before the run makes any client: the service models a new botocore session finds loaded.
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    MODELS[:] = sorted({key[1] for key in loader._cache if key[0] == "load_service_model"})


def pytest_sessionstart(session):
    student = session.config.getoption("--lab-student")
    if not os.environ.get(PLAN) or not student:
        return
    plan = json.loads(Path(os.environ[PLAN]).read_text())
    seen = {"pid": os.getpid(), "worker": os.getppid(), "cwd": os.getcwd(),
            "aws": {k: v for k, v in os.environ.items() if k.startswith("AWS_")},
            "lab": sorted(k for k in os.environ if k.startswith("LAB_")),
            "left_behind": os.environ.get(LEFT_BEHIND), "models_loaded": MODELS}
    os.environ[LEFT_BEHIND] = student  # the next run must not see it
    record = Path(plan["records"]) / f"{student}.json"
    partial = record.with_suffix(".part")
    partial.write_text(json.dumps(seen))
    partial.rename(record)  # whole, for a test polling for it
    action = plan["actions"].get(student)
    if action == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif action == "exit":
        os._exit(3)
    elif action == "kill-worker":
        os.kill(os.getppid(), signal.SIGKILL)
        _hang()  # until dblab grade kills what is left of the worker's group
    elif action == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it
        _hang()


def _hang():
    while True:
        select.select([], [], [])
