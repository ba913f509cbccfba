"""A class roster: who to grade, with which credentials, where.

CSV, one student a row, an optional header row, `#` comments and blank lines ignored:

    student,credentials,region,bastion_key,code
    alice,arn:aws:iam::111111111111:role/dblab-grader,us-east-1,keys/alice.pem,code/alice
    bob,bob-profile,us-east-1,,

`credentials` is a role ARN in the student's account (the grader assumes it) or the name of a
profile in the instructor's AWS config. `bastion_key` (optional) is the private key of the
student's bastion, relative to the roster file: with it the grader reaches RDS and
ElastiCache through an SSH tunnel. `code` (optional) is the folder of the student's app.py,
dynamodb_app.py and cache_app.py, relative to the roster file: the checks that exercise the apps
then grade that code (issue 13) and its outcomes join the account's grade. A malformed roster
raises RosterError: one line that names the row and the problem.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from .gradebook import valid_student

COLUMNS = ("student", "credentials", "region", "bastion_key", "code")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")
PROFILE = re.compile(r"[\w+=,.@-]{1,128}")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")


class RosterError(ValueError):
    """One line: which row of which file, and what is wrong with it."""


@dataclass(frozen=True)
class RosterEntry:
    row: int  # line number in the file, for messages
    student: str
    region: str
    role_arn: str | None = None
    profile: str | None = None
    bastion_key: Path | None = None
    code: Path | None = None  # the student's submitted code (a folder of the lab's files)

    @property
    def account_hint(self) -> str | None:
        """The account a role ARN names (known before any call is made)."""
        match = ROLE_ARN.fullmatch(self.role_arn or "")
        return match.group(1) if match else None

    @property
    def credentials_label(self) -> str:
        return f"role {self.role_arn}" if self.role_arn else f"profile {self.profile}"


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].strip().lower() == COLUMNS[0]


def parse_roster(text: str, *, source: str = "roster", base_dir: Path | None = None) -> list[RosterEntry]:
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    rows = csv.reader(text.splitlines())
    first = True
    for cells in rows:
        row = rows.line_num
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first and _is_header(cells):
            first = False
            continue
        first = False
        entries.append(_entry(cells, row, source, base_dir, seen))
    if not entries:
        raise RosterError(f"{source}: no students (expected rows of {','.join(COLUMNS)})")
    return entries


def _entry(cells: list[str], row: int, source: str, base_dir: Path | None, seen: dict[str, int]) -> RosterEntry:
    def problem(message: str) -> RosterError:
        return RosterError(f"{source} row {row}: {message}")

    while len(cells) > 3 and not cells[-1]:
        cells = cells[:-1]  # trailing empty optional columns
    if len(cells) not in (3, 4, 5):
        raise problem(f"expected {','.join(COLUMNS[:3])}[,{COLUMNS[3]}[,{COLUMNS[4]}]], got {len(cells)} column(s)")
    student, credentials, region = cells[:3]
    if not valid_student(student):
        raise problem(f"student {student!r}: use letters, digits and . _ @ + - only (it names the report files)")
    if student in seen:
        raise problem(f"student {student} is already on row {seen[student]}")
    seen[student] = row
    if not credentials:
        raise problem(f"{student}: no credentials (a role ARN arn:aws:iam::ACCOUNT:role/NAME or a profile name)")
    role_arn = profile = None
    if credentials.startswith("arn:"):
        if not ROLE_ARN.fullmatch(credentials):
            raise problem(f"{student}: {credentials!r} is not a role ARN (arn:aws:iam::<12 digits>:role/NAME)")
        role_arn = credentials
    elif PROFILE.fullmatch(credentials):
        profile = credentials
    else:
        raise problem(f"{student}: {credentials!r} is neither a role ARN nor a profile name")
    if not REGION.fullmatch(region):
        raise problem(f"{student}: region {region!r} is not an AWS region (e.g. us-east-1)")
    def path(cell: str) -> Path:
        found = Path(cell).expanduser()
        return base_dir / found if not found.is_absolute() and base_dir is not None else found

    key = path(cells[3]) if len(cells) >= 4 and cells[3] else None
    code = path(cells[4]) if len(cells) == 5 and cells[4] else None
    if code is not None and not code.is_dir():
        raise problem(f"{student}: code {code} is not a folder (the one holding app.py, dynamodb_app.py, cache_app.py)")
    return RosterEntry(row, student, region, role_arn=role_arn, profile=profile, bastion_key=key, code=code)


def load_roster(path: str | Path) -> list[RosterEntry]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV export may start with a BOM
    except OSError as exc:
        raise RosterError(f"{path}: cannot read the roster ({exc.strerror or exc})") from None
    return parse_roster(text, source=str(path), base_dir=path.parent)
