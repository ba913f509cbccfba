"""The sandbox a student's code runs in (submissions/): what it contains and how each kind of
misbehaviour becomes the check's failure with a reason, never the grader's crash or hang.
No servers needed: these submissions use none."""

from __future__ import annotations

import os
import textwrap
from datetime import datetime
from decimal import Decimal
from concurrent.futures import ThreadPoolExecutor

import pytest

from submissions import wire
from tests.conftest import REPO_ROOT
from submissions.sandbox import Bindings, Sandbox, SubmissionDefect

CANARY = "dblab-canary-secret-7f3a"


def submission(tmp_path, body: str, name: str = "cache_app.py", limit: float = 2.0) -> Sandbox:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / name).write_text(textwrap.dedent(body))
    sandbox = Sandbox(code / name, Bindings(), tmp_path / "run", call_time_limit=limit)
    return sandbox


@pytest.fixture
def sandboxes():
    made = []
    yield made.append
    for sandbox in made:
        sandbox.close()


def test_the_wire_gives_back_the_types_the_apps_use():
    value = {"price": Decimal("1199.99"), "at": datetime(2026, 12, 1, 4, 5, 6), "top": [("player2", 2300.0)],
             "$odd": 1, "raw": b"\x00\x01", "tags": {"a"}, 3: "int key", "none": None}
    assert wire.decode(wire.loads(wire.dumps({"v": wire.encode(value)}))["v"]) == value


def test_a_method_that_never_returns_is_stopped_at_its_time_limit_and_the_next_call_starts_afresh(tmp_path, sandboxes):
    sandbox = submission(tmp_path, """
        class RateLimiter:
            @staticmethod
            def is_allowed(user_id, max_requests=10, window_seconds=60):
                while True:
                    pass
            @staticmethod
            def ping():
                return "pong"
    """, limit=1.0)
    sandboxes(sandbox)
    limiter = sandbox.new("RateLimiter")
    with pytest.raises(SubmissionDefect, match=r"is_allowed\('u'\) did not return within 1 s"):
        limiter.is_allowed("u")
    process_gone = sandbox._process is None
    assert process_gone
    with pytest.raises(SubmissionDefect, match="stopped by an earlier call"):
        limiter.ping()
    assert sandbox.new("RateLimiter").ping() == "pong"


@pytest.mark.parametrize("body, reason", [
    ("import no_such_module_anywhere\n", "raised ModuleNotFoundError"),
    ("def broken(:\n", "raised SyntaxError"),
    ("import sys\nsys.exit(3)\n", "raised SystemExit.*exit code 3"),
])
def test_a_file_that_cannot_be_imported_fails_with_the_reason(tmp_path, sandboxes, body, reason):
    sandbox = submission(tmp_path, body)
    sandboxes(sandbox)
    with pytest.raises(SubmissionDefect, match=reason):
        sandbox.new("RateLimiter")


def test_a_missing_class_or_method_names_it(tmp_path, sandboxes):
    sandbox = submission(tmp_path, "class Limiter:\n    pass\nclass Leaderboard:\n    pass\n")
    sandboxes(sandbox)
    with pytest.raises(SubmissionDefect, match="cache_app.py has no class RateLimiter"):
        sandbox.new("RateLimiter")
    with pytest.raises(SubmissionDefect, match="Leaderboard has no method get_top"):
        sandbox.new("Leaderboard").get_top(5)


def test_an_exception_in_the_students_code_says_where(tmp_path, sandboxes):
    sandbox = submission(tmp_path, """
        class Leaderboard:
            @staticmethod
            def get_rank(player_id):
                return {}[player_id]
    """)
    sandboxes(sandbox)
    with pytest.raises(SubmissionDefect, match=r"raised KeyError at cache_app.py:5 in get_rank"):
        sandbox.new("Leaderboard").get_rank("p1")


def test_the_process_ending_mid_call_is_the_checks_failure(tmp_path, sandboxes):
    sandbox = submission(tmp_path, """
        import os
        class Leaderboard:
            @staticmethod
            def get_top(n=10):
                print("bye")
                os._exit(4)
    """)
    sandboxes(sandbox)
    with pytest.raises(SubmissionDefect, match=r"process ended \(exit code 4\).*bye"):
        sandbox.new("Leaderboard").get_top()


def test_no_credential_reaches_the_code_and_reading_one_fails_the_check(tmp_path, sandboxes, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARY)
    monkeypatch.setenv("LAB_MYSQL_PASSWORD", CANARY)
    sandbox = submission(tmp_path, """
        import os
        class SessionStore:
            @staticmethod
            def environment():
                return dict(os.environ)
            @staticmethod
            def create_session(user_id, user_data):
                return os.environ.get("AWS_SECRET_ACCESS_KEY") or "nothing"
    """)
    sandboxes(sandbox)
    store = sandbox.new("SessionStore")
    seen = store.environment()
    assert CANARY not in repr(seen) and not any(name.startswith("AWS_") for name in seen), seen
    with pytest.raises(SubmissionDefect, match="read the credential variable AWS_SECRET_ACCESS_KEY") as failure:
        store.create_session("u", {})
    assert CANARY not in str(failure.value)


@pytest.mark.parametrize("module, call, reason", [
    ("socket", "socket.create_connection(('192.0.2.1', 80), timeout=2)", "opened a connection to 192.0.2.1:80"),
    # The machine's own Redis on its standard port is not the stand-in: refused too.
    ("socket", "socket.create_connection(('127.0.0.1', 6379), timeout=2)", "opened a connection to 127.0.0.1:6379"),
    ("subprocess", "subprocess.run(['true'])", "started a process"),
    ("os", "os.system('true')", "started a process"),
])
def test_the_code_reaches_nothing_but_the_lab_servers(tmp_path, sandboxes, module, call, reason):
    sandbox = submission(tmp_path, f"""
        import {module}
        class Leaderboard:
            @staticmethod
            def add_score(player_id, score):
                {call}
    """)
    sandboxes(sandbox)
    with pytest.raises(SubmissionDefect, match=reason):
        sandbox.new("Leaderboard").add_score("p", 1)


def test_concurrent_calls_run_concurrently_in_the_submission(tmp_path, sandboxes):
    # Each call waits until 20 calls are inside at once: it can only return if they run together.
    sandbox = submission(tmp_path, """
        import threading
        together = threading.Barrier(20, timeout=5)
        class RateLimiter:
            @staticmethod
            def is_allowed(user_id, max_requests=10, window_seconds=60):
                together.wait()
                return True, 0
    """, limit=10.0)
    sandboxes(sandbox)
    limiter = sandbox.new("RateLimiter")
    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(lambda i: limiter.is_allowed(f"u{i}"), range(20))) == [(True, 0)] * 20


def test_the_code_runs_in_a_directory_of_its_own(tmp_path, sandboxes):
    sandbox = submission(tmp_path, """
        import os
        class Leaderboard:
            @staticmethod
            def get_top(n=10):
                open("scratch.txt", "w").write("x")
                return os.getcwd()
    """)
    sandboxes(sandbox)
    cwd = sandbox.new("Leaderboard").get_top()
    assert cwd == str(tmp_path / "run") and (tmp_path / "run" / "scratch.txt").exists()
    assert not (tmp_path / "code" / "scratch.txt").exists()


def test_closing_leaves_no_process(tmp_path):
    sandbox = submission(tmp_path, "class Leaderboard:\n    pass\n")
    sandbox.new("Leaderboard")
    pid = sandbox._process.pid
    sandbox.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_submission_dies_with_its_grader_even_while_it_loops(tmp_path):
    """The grader killed by SIGKILL (no teardown runs): the submission, stuck importing, goes too."""
    import subprocess
    import sys

    code = tmp_path / "code"
    code.mkdir()
    (code / "cache_app.py").write_text("while True:\n    pass\n")
    grader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from pathlib import Path
        from submissions.sandbox import Bindings, Sandbox
        sandbox = Sandbox(Path({str(code / "cache_app.py")!r}), Bindings(), Path({str(tmp_path / "run")!r}),
                          load_time_limit=600)
        sandbox.new("RateLimiter")
    """)])
    pid_file = tmp_path / "run" / "output.txt"
    from provisioning.polling import wait_until

    wait_until(lambda: pid_file.exists(), timeout=30, what="the submission's process to start")
    child = _child_of(grader.pid)
    grader.kill()
    grader.wait()
    wait_until(lambda: not _alive(child), timeout=30, what=f"submission process {child} to end with its grader")


def _child_of(pid: int) -> int:
    from provisioning.polling import wait_until

    def find():
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    return int(entry)
        return None
    return wait_until(find, timeout=30, what=f"a child of {pid}").value


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
