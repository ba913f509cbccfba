"""The answers a grade rests on, saved with it: reports/evidence/<student>/.

Every AWS answer a grading run's checks read (the request's parameters, the HTTP status, the
parsed answer, an error included) and every data-plane answer (a MySQL query's rows, a Redis
command's reply) is kept, secrets redacted, one file per distinct question and answer, with the
checks that asked it and when. `manifest.json` lists every file with its SHA-256, so a regrade
(`dblab regrade`, grading/evidence_replay.py) can refuse evidence changed since. A scorecard
links each check to the answers it used: a student sees what the grader saw.

Answers are caught where the clients already expose them, never by changing what a check does:
botocore's own events for AWS (before-parameter-build keeps the parameters the check passed,
after-call sees the answer, errors included), and thin wrappers of the pymysql cursor and the
redis client for the data plane (grading/evidence_dataplane.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from provisioning.call_events import call_params, keep_params, service_event

FORMAT = 1
MANIFEST = "manifest.json"
SESSION = "session"  # asked outside any check: the preflight, the account, the census

# Never written down: a key whose name says it holds a secret (a password, a key, a token that
# signs), in a request or an answer. Pagination tokens and shard iterators are not secrets and
# stay: a regrade asks with them again.
SECRET_KEY = re.compile(r"(?i)password|secret|privatekey|keymaterial|sessiontoken|authtoken|^token$|credentials")
REDACTED = "<redacted>"


def evidence_dir(reports: Path, student: str) -> Path:
    return Path(reports) / "evidence" / student


class EvidenceError(ValueError):
    """Evidence that cannot be trusted or read; the message is one line naming the file."""


# --- the file format -------------------------------------------------------------------------

def encode(value):
    """A JSON-able copy of an answer: what JSON has no type for is tagged, so decode() gives it back."""
    if isinstance(value, dict):
        return {str(key): REDACTED if SECRET_KEY.search(str(key)) and value[key] not in (None, "")
                else encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):  # a Redis reply's (member, score), a row: compared as tuples
        return {"$tuple": [encode(item) for item in value]}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):  # a MySQL DATE column
        return {"$date": value.isoformat()}
    if isinstance(value, timedelta):  # a MySQL TIME column
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((encode(item) for item in value), key=repr)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return {"$repr": repr(value)}  # a type no check compares; shown, never served back as itself


def decode(value):
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag == "$datetime":
                return datetime.fromisoformat(inner)
            if tag == "$tuple":
                return tuple(decode(item) for item in inner)
            if tag == "$date":
                return date.fromisoformat(inner)
            if tag == "$timedelta":
                return timedelta(seconds=inner)
            if tag == "$bytes":
                return base64.b64decode(inner)
            if tag == "$decimal":
                return Decimal(inner)
            if tag == "$set":
                return {decode(item) for item in inner}
        return {key: decode(item) for key, item in value.items()}
    return value


# Opaque tokens an earlier answer handed out (a shard iterator, a page's token): AWS makes a new
# one on every call, so a question is known by the token's presence, not its value; its answers
# are served in the order they were given.
TOKENS = frozenset({"ShardIterator", "NextToken", "Marker", "NextMarker", "PaginationToken"})


def _without_tokens(answer) -> str:
    """An answer as text, its fresh tokens (a next shard iterator, a page token) left out: what
    orders the answers to one question the same way in every grading of the same account."""
    def strip(value):
        if isinstance(value, dict):
            return {key: "<token>" if key in TOKENS or key == "NextShardIterator" else strip(item)
                    for key, item in value.items()}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value
    return json.dumps(strip(answer), sort_keys=True)


def question_key(kind: str, subject: str, request) -> str:
    """One question, however often it was asked: what was asked of what, canonically."""
    request = encode(request)
    if isinstance(request, dict):
        request = {key: "<token>" if key in TOKENS else value for key, value in request.items()}
    return json.dumps([kind, subject, request], sort_keys=True, separators=(",", ":"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --- recording -------------------------------------------------------------------------------

@dataclass
class Answer:
    kind: str  # "aws", "mysql" or "redis"
    subject: str  # aws: "service:Operation"; mysql: the instance; redis: primary or replica
    request: object  # aws: the parameters; mysql: the query as sent; redis: the command
    answer: object  # aws: {"status", "response"}; mysql: rows and cursor facts; redis: {"reply"} or {"error"}
    at: str  # when it was first given
    calls: list[int] = field(default_factory=list)  # its places in the run's order of questions
    # The check that asked (nodeid, or SESSION), call by call beside `calls`: a regrade's poll asks
    # again exactly where the grade's did (grading/evidence_replay.py).
    asked_by: list[str] = field(default_factory=list)
    path: str = ""  # relative to the student's evidence folder, once written
    # Evidence written before `asked_by` was kept has only the checks that read it.
    recorded_checks: list[str] = field(default_factory=list)

    @property
    def checks(self) -> list[str]:
        """The checks that read it, each once, in the order they first asked."""
        return list(dict.fromkeys(self.asked_by)) if self.asked_by else self.recorded_checks

    def document(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "request": self.request, "answer": self.answer,
                "at": self.at, "calls": self.calls, "checks": self.checks, "asked_by": self.asked_by}


class EvidenceRecorder:
    """Keeps every answer of one grading run, attributed to the check running when it came."""

    def __init__(self):
        self.current = SESSION
        self.dataplane: dict = {}  # each bound server's description, for the manifest
        self._answers: dict[tuple[str, str], Answer] = {}  # (question, answer) -> its file
        self._count = 0
        self._lock = threading.Lock()  # the checks' clients may answer from helper threads

    # -- AWS: botocore's events ------------------------------------------------------------
    def attach(self, client) -> None:
        keep_params(client)  # the parameters as the check passed them (provisioning/call_events.py)
        # First among the service's own after-call handlers: the answer as it came off the wire,
        # before a DynamoDB resource turns it into Python values in place. That same conversion
        # turns it into Python again when a regrade serves it.
        client.meta.events.register_first(f"after-call.{service_event(client)}", self._aws_answered,
                                          unique_id="dblab-evidence-answer")

    def _aws_answered(self, http_response, parsed, model, context, **_):
        answer = {key: value for key, value in (parsed or {}).items() if key != "ResponseMetadata"}
        status = getattr(http_response, "status_code", None)
        self.add("aws", f"{model.service_model.service_name}:{model.name}", call_params(context),
                 {"status": status, "response": answer})

    # -- any kind ------------------------------------------------------------------------
    def add(self, kind: str, subject: str, request, answer) -> None:
        request, answer = encode(request), encode(answer)
        key = (question_key(kind, subject, request), json.dumps(answer, sort_keys=True))
        with self._lock:
            self._count += 1
            found = self._answers.get(key)
            if found is None:
                found = self._answers[key] = Answer(kind, subject, request, answer, now_utc())
            found.calls.append(self._count)
            found.asked_by.append(self.current)

    # -- the data plane (grading/evidence_dataplane.py) ---------------------------------------
    def wrap_dataplane(self, dataplane):
        """The bindings the checks get, recording; what they were goes into the manifest."""
        from .evidence_dataplane import bindings, recording_dataplane

        self.dataplane = bindings(dataplane)
        return recording_dataplane(dataplane, self)

    def answers(self) -> list[Answer]:
        """By what was asked and answered, not by when: the same account graded twice gives the same
        files under the same names, though the preflight's parallel probes come in any order (the
        order of the questions is each answer's `calls`)."""
        with self._lock:
            return sorted(self._answers.values(), key=lambda answer: (
                question_key(answer.kind, answer.subject, answer.request), _without_tokens(answer.answer),
                answer.calls[0]))

    # -- writing ---------------------------------------------------------------------------
    def write(self, directory: Path, about: dict) -> dict:
        """Write every answer and the manifest into `directory` (replacing an earlier grade's),
        and return {check nodeid: [files it used]} plus the manifest's own digest under None."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        files: dict[str, str] = {}
        answers = self.answers()
        for number, answer in enumerate(answers, 1):
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", answer.subject).strip("-")[:60]
            answer.path = f"{answer.kind}/{number:04d}-{name}.json"
            target = scratch / answer.path
            target.parent.mkdir(exist_ok=True)
            target.write_text(json.dumps(answer.document(), indent=1, sort_keys=True) + "\n")
            files[answer.path] = sha256_file(target)
        manifest = {"format": FORMAT, **about, "dataplane": self.dataplane, "recorded_at": now_utc(), "files": files}
        (scratch / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(scratch, directory)
        return {"manifest_sha256": sha256_file(directory / MANIFEST), "by_check": files_by_check(answers)}


def files_by_check(answers: list[Answer]) -> dict[str, list[str]]:
    """{check nodeid (or SESSION): the written files of the answers it read}: a scorecard's links."""
    by_check: dict[str, list[str]] = {}
    for answer in answers:
        for check in answer.checks:
            by_check.setdefault(check, []).append(answer.path)
    return by_check


# --- reading back ----------------------------------------------------------------------------

def read_manifest(directory: Path) -> dict:
    """The manifest of a student's evidence, every file checked against its digest; EvidenceError
    (one line naming the file) for a missing, changed or unlisted file."""
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvidenceError(f"{path}: no manifest here; give a student's evidence folder "
                            "(reports/evidence/STUDENT) or the folder that holds them") from None
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise EvidenceError(f"{path}: not a dblab evidence manifest of format {FORMAT}")
    listed = manifest["files"]
    for relative, digest in listed.items():
        file = directory / relative
        if not file.is_file():
            raise EvidenceError(f"{file}: listed in the manifest but missing: the evidence is incomplete")
        if sha256_file(file) != digest:
            raise EvidenceError(f"{file}: its SHA-256 does not match the manifest: the evidence was changed "
                                "after the grade; refusing to regrade from it")
    for file in directory.rglob("*"):
        if file.is_file() and file.name != MANIFEST and file.relative_to(directory).as_posix() not in listed:
            raise EvidenceError(f"{file}: not in the manifest: the evidence was changed after the grade; "
                                "refusing to regrade from it")
    return manifest


def read_answers(directory: Path, manifest: dict) -> list[Answer]:
    answers = []
    for relative in manifest["files"]:
        document = json.loads((Path(directory) / relative).read_text())
        answers.append(Answer(document["kind"], document["subject"], document["request"], document["answer"],
                              document["at"], document["calls"], document.get("asked_by", []), relative,
                              document["checks"]))
    return answers


def write_not_gradable(directory: Path, about: dict, reason: str) -> str:
    """The evidence of a student nothing could be asked of (credentials that do not work): no
    answers, and why; its manifest's SHA-256. A regrade gives the same not_gradable grade from it,
    under any rubric."""
    return EvidenceRecorder().write(directory, {**about, "not_gradable": reason})["manifest_sha256"]


def grade_link(folder: str, manifest_sha256: str, session=()) -> dict:
    """A grade's `evidence`: its folder (relative to the reports when inside them), the manifest's
    digest a regrade checks, and the answers asked outside any check."""
    return {"folder": folder, "manifest_sha256": manifest_sha256, "session": list(session)}
