"""A regrade's polls follow the grade's recorded answers, not a clock (provisioning/polling.py,
grading/evidence_replay.py): a poll asks again, without pausing, exactly while the graded run's
poll did, and ends where it ended. So a busy machine's shorter window cannot turn a pass into a
failure, and no regrade waits."""

from __future__ import annotations

import pytest

from grading.evidence import EvidenceRecorder, read_answers, read_manifest
from grading.evidence_replay import AnswerBook
from provisioning import polling
from provisioning.polling import DeadlineExceeded, wait_until

QUERY = ("aws", "dynamodb:Query", {"TableName": "orders", "IndexName": "status-index"})


def _count(n: int) -> dict:
    return {"status": 200, "response": {"Count": n}}


def _book(tmp_path, asked: list[tuple[str, int]]) -> AnswerBook:
    """Evidence in which each (check, count) is one asking of QUERY, in that order, read back."""
    recorder = EvidenceRecorder()
    for check, count in asked:
        recorder.current = check
        recorder.add(*QUERY, _count(count))
    recorder.write(tmp_path / "alice", {"student": "alice"})
    folder = tmp_path / "alice"
    return AnswerBook(read_answers(folder, read_manifest(folder)))


@pytest.fixture
def replayed(monkeypatch):
    """Polls replayed from a book; sleeping fails the test (a regrade never waits)."""
    def no_sleep(seconds):
        raise AssertionError(f"a regrade's poll slept {seconds}s")

    monkeypatch.setattr(polling.time, "sleep", no_sleep)

    def use(book: AnswerBook):
        polling.replay_polls(lambda: book.asked_again)

    yield use
    polling.replay_polls(None)


def _probe(book: AnswerBook, check: str, want: int, seen: list):
    def probe():
        seen.append(book.next(*QUERY, check).answer["response"]["Count"])
        return seen[-1] >= want
    return probe


def test_the_recorder_keeps_which_check_asked_each_time(tmp_path):
    recorder = EvidenceRecorder()
    for check in ("a", "b", "a"):
        recorder.current = check
        recorder.add(*QUERY, _count(0))
    recorder.write(tmp_path / "alice", {"student": "alice"})
    [answer] = read_answers(tmp_path / "alice", read_manifest(tmp_path / "alice"))
    assert answer.calls == [1, 2, 3] and answer.asked_by == ["a", "b", "a"]


def test_a_poll_that_converged_on_its_third_answer_converges_on_it_however_short_the_window(tmp_path, replayed):
    book = _book(tmp_path, [("gsi", 0), ("gsi", 1), ("gsi", 2)])
    replayed(book)
    seen: list[int] = []
    converged = wait_until(_probe(book, "gsi", 2, seen), timeout=0, what="the second order listed", retry_on=())
    assert seen == [0, 1, 2] and converged.attempts == 3


def test_a_poll_that_ran_out_of_window_ends_at_the_same_answer_however_long_the_window(tmp_path, replayed):
    book = _book(tmp_path, [("gsi", 0), ("gsi", 1)])
    replayed(book)
    seen: list[int] = []
    with pytest.raises(DeadlineExceeded):
        wait_until(_probe(book, "gsi", 2, seen), timeout=3600, what="the second order listed", retry_on=())
    assert seen == [0, 1]


def test_a_later_check_asking_the_same_question_gets_its_own_answers(tmp_path, replayed):
    # The first check's poll gave up after two answers (its window ended); the next check asked once,
    # and by then the account had converged: the first poll must not read the second check's answer.
    book = _book(tmp_path, [("gsi", 0), ("gsi", 1), ("count", 2)])
    replayed(book)
    first: list[int] = []
    with pytest.raises(DeadlineExceeded):
        wait_until(_probe(book, "gsi", 2, first), timeout=3600, what="the second order listed", retry_on=())
    second: list[int] = []
    wait_until(_probe(book, "count", 2, second), timeout=0, what="two orders counted", retry_on=())
    assert first == [0, 1] and second == [2]


def test_a_poll_outside_a_regrade_still_waits_by_the_clock():
    polling.replay_polls(None)
    calls = []
    with pytest.raises(DeadlineExceeded):
        wait_until(lambda: calls.append(1), timeout=0.05, what="never", retry_on=())
    assert len(calls) > 1
