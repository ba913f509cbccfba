"""A grading run served the recorded answers instead of the account (`dblab regrade`).

The checks run as they always do; their clients never send a request: botocore's before-call
event, whose first answer botocore takes instead of sending anything, gives each question the
answer recorded for it (in the recorded order, when a poll asked it several times, the last one
again after that). A question nothing was recorded for raises NotInEvidence, which grading turns
into not_gradable (provisioning/errors.caller_problem), never a failure.

A poll (provisioning/polling.wait_until) asks again without pausing exactly while the grade's poll
did: as long as a probe is served an answer that the same check was recorded asking after. Then it
ends as the grade's ended, at the same answer: the regrade's own clock (a window that ends sooner
on a busy machine) never changes a verdict, and no regrade waits.
"""

from __future__ import annotations

import threading
from pathlib import Path

from provisioning.call_events import UnsentHttp, call_params, keep_params, service_event
from provisioning.errors import NotInEvidence

from .evidence import SESSION, Answer, decode, files_by_check, question_key, read_answers, read_manifest


class AnswerBook:
    """The recorded answers of one student, by question, each question's in the order given."""

    def __init__(self, answers: list[Answer]):
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.asked_again = 0  # answers served that their check was recorded asking for again after
        by_call: dict[str, list[tuple[int, str | None, Answer]]] = {}
        for answer in answers:
            key = question_key(answer.kind, answer.subject, answer.request)
            askers = answer.asked_by if len(answer.asked_by) == len(answer.calls) else [None] * len(answer.calls)
            by_call.setdefault(key, []).extend(zip(answer.calls, askers, [answer] * len(answer.calls)))
        self._book = {key: [(asker, answer) for _, asker, answer in sorted(calls, key=lambda entry: entry[0])]
                      for key, calls in by_call.items()}

    def next(self, kind: str, subject: str, request, asker: str | None = None) -> Answer:
        key = question_key(kind, subject, request)
        with self._lock:
            answers = self._book.get(key)
            if not answers:
                raise NotInEvidence(f"no recorded answer to {subject} {_short(request)}")
            index = self._served.get(key, 0)
            self._served[key] = index + 1
            if index + 1 < len(answers) and answers[index + 1][0] in (asker, None):
                self.asked_again += 1  # evidence without askers: any later call counts
            return answers[min(index, len(answers) - 1)][1]


def _short(request) -> str:
    text = repr(request)
    return text if len(text) <= 160 else text[:157] + "..."


class EvidenceReplay:
    """Serves a student's evidence folder to a grading run's AWS clients (attach) and data plane."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)  # refuses changed evidence before anything runs
        self.answers = read_answers(self.directory, self.manifest)
        self.book = AnswerBook(self.answers)

    current = SESSION  # the check running, set by the grading plugin as for the recorder (its polls)

    def files_by_check(self) -> dict[str, list[str]]:
        """{check nodeid: the recorded files it used}, as the grade that recorded them links them."""
        return files_by_check(self.answers)

    def attach(self, client) -> None:
        keep_params(client)  # as the recorder keeps them (provisioning/call_events.py)
        client.meta.events.register_first(f"before-call.{service_event(client)}", self._serve,
                                          unique_id="dblab-evidence-serve")

    def _serve(self, model, context, **_):
        subject = f"{model.service_model.service_name}:{model.name}"
        recorded = self.book.next("aws", subject, call_params(context), self.current).answer
        status = recorded["status"] or 200
        response = decode(recorded["response"])
        response["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
        return UnsentHttp(status, {}), response

    def wrap_dataplane(self, dataplane):
        """The servers the grade reached, answering from the evidence (none of the given ones)."""
        from .evidence_dataplane import replay_dataplane

        return replay_dataplane(self, self.manifest)

    def data_answer(self, kind: str, subject: str, request) -> object:
        """A data-plane answer (grading/evidence_dataplane.py)."""
        return decode(self.book.next(kind, subject, request, self.current).answer)
