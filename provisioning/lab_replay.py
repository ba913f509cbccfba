"""The lab, replayed literally: its own shell steps, run with the AWS CLI against an emulator.

The bash blocks are extracted from the lab text by code (never copied by hand), so when the
lab changes, the replay changes with it. Only what cannot run against an emulator is
touched, each by one rule below: every `aws` call gets `--endpoint-url`, the web service
that finds the caller's address is replaced by a fixed documentation address, and commands
that need a real host or a real database (ssh, mysql, sleep, chmod) are left out.
Steps whose commands reach the data plane (2.3, 3.2) are skipped whole; replay stops at Lab 6.

    python -m provisioning.lab_replay --print                   # the script, without running it
    python -m provisioning.lab_replay --endpoint-url URL         # run it against an emulator
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# In CI the lab sits next to the repository; LAB_TEXT overrides it.
DEFAULT_LAB_FILE = REPO_ROOT.parent / "shared" / "lab" / "hands-on-database-lab.md"
STOP_AT_LAB = 6  # Lab 6 benchmarks the data plane; Lab 7 deletes what the grader has to see

# The address the lab's ingress rule gets instead of `curl -s https://checkip.amazonaws.com`
# (no network here; 198.51.100.0/24 is reserved for documentation, as --lab-ssh-cidr's default).
FIXED_CALLER_ADDRESS = "198.51.100.10"
CHECKIP = re.compile(r"\$\(\s*curl\s+(?:-\w+\s+)*https?://checkip\.amazonaws\.com/?\s*\)")

# Commands that need a real host, a real database or wall-clock time: left out of the replay.
SKIPPED_COMMANDS = {"ssh", "mysql", "sleep", "chmod"}
# A step with one of these reaches the data plane (a server in a private subnet): skipped whole.
DATA_PLANE_COMMANDS = {"ssh", "mysql", "python", "python3", "redis-cli"}
# `aws ... wait ...` calls the emulator cannot satisfy quickly, with the reason; none so far:
# moto makes RDS instances, EC2 instances, tables and replication groups available at once.
EMULATOR_SKIPPED_WAITERS: dict[str, str] = {}

HEADING_LAB = re.compile(r"^## Lab (\d+):")
HEADING_STEP = re.compile(r"^### Step (\d+\.\d+):\s*(.+?)\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
AWS_CALL = re.compile(r"(^\s*|\$\(\s*)aws(?=\s)")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


@dataclass(frozen=True)
class Command:
    """One logical shell command: continuation lines, multi-line quotes and heredocs joined."""

    text: str

    @property
    def word(self) -> str:
        """The program it runs (`VAR=$(aws ...)` runs aws)."""
        first = self.text.split(None, 1)[0] if self.text.strip() else ""
        match = re.match(r"^\w+=\$\(\s*([\w.-]+)", self.text.strip())
        return match.group(1) if match else first

    @property
    def is_comment(self) -> bool:
        return self.text.lstrip().startswith("#") or not self.text.strip()


@dataclass
class LabStep:
    id: str
    title: str
    lab: int
    commands: list[Command] = field(default_factory=list)

    @property
    def data_plane(self) -> bool:
        return any(c.word in DATA_PLANE_COMMANDS for c in self.commands if not c.is_comment)

    @property
    def control_plane(self) -> bool:
        """Runs shell commands, none of which reaches the data plane."""
        return bool(self.commands) and not self.data_plane


class LabTextError(ValueError):
    """The lab text does not look like the lab (moved, renamed, restructured)."""


def split_commands(block: str) -> list[Command]:
    """Split a bash block into logical commands, tracking quotes, `\\` continuations and heredocs."""
    commands: list[Command] = []
    current: list[str] = []
    quote: str | None = None
    heredoc: str | None = None
    for line in block.splitlines():
        current.append(line)
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
                commands.append(Command("\n".join(current)))
                current = []
            continue
        quote, comment = _scan(line, quote)
        if quote is None and not comment:
            match = HEREDOC.search(line)
            if match:
                heredoc = match.group(2)
                continue
        if quote is None and not line.rstrip().endswith("\\"):
            commands.append(Command("\n".join(current)))
            current = []
    if current:
        commands.append(Command("\n".join(current)))
    return commands


def _scan(line: str, quote: str | None) -> tuple[str | None, bool]:
    """The quote still open at the end of `line`, and whether a comment ended it."""
    escaped = False
    at_word_start = True
    for char in line:
        if quote == "'":
            if char == "'":
                quote = None
        elif escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote == '"':
            if char == '"':
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and at_word_start:
            return None, True
        at_word_start = char.isspace() or char in "(;|&"
    return quote, False


def parse_lab(text: str, *, stop_at_lab: int = STOP_AT_LAB) -> list[LabStep]:
    """Every `### Step X.Y` before Lab `stop_at_lab`, with the commands of its bash blocks."""
    steps: list[LabStep] = []
    lab = 0
    fence: str | None = None
    block: list[str] = []
    for line in text.splitlines():
        if fence is not None:
            if line.strip() == "```":
                if fence == "bash" and steps:
                    steps[-1].commands += split_commands("\n".join(block))
                fence, block = None, []
            else:
                block.append(line)
            continue
        opening = FENCE.match(line)
        if opening:
            fence = opening.group(1) or "text"
            continue
        lab_heading = HEADING_LAB.match(line)
        if lab_heading:
            lab = int(lab_heading.group(1))
            if lab >= stop_at_lab:
                break
            continue
        step_heading = HEADING_STEP.match(line)
        if step_heading:
            steps.append(LabStep(step_heading.group(1), step_heading.group(2), lab))
    if not steps:
        raise LabTextError("no '### Step X.Y: title' headings found: is this the Hands-On Database Lab?")
    return steps


def control_plane_steps(steps: list[LabStep]) -> list[LabStep]:
    return [step for step in steps if step.control_plane]


def rewrite(command: Command) -> str | None:
    """The command as the replay runs it, or None when it is left out."""
    if command.is_comment:
        return command.text
    if command.word in SKIPPED_COMMANDS:
        return "# left out of the replay: " + command.text.replace("\n", "\n# ")
    text = CHECKIP.sub(FIXED_CALLER_ADDRESS, command.text)
    waiter = _waiter(text)
    if waiter in EMULATOR_SKIPPED_WAITERS:
        return f"# left out ({EMULATOR_SKIPPED_WAITERS[waiter]}): " + text.replace("\n", "\n# ")
    return AWS_CALL.sub(lambda m: f'{m.group(1)}aws --endpoint-url "$LAB_ENDPOINT_URL"', text)


def _waiter(text: str) -> str | None:
    match = re.search(r"\baws\s+([\w-]+)\s+wait\s+([\w-]+)", text)
    return f"{match.group(1)} wait {match.group(2)}" if match else None


def replay_script(steps: list[LabStep]) -> str:
    """A bash script that runs the control-plane steps in the lab's order, in one shell
    (later steps use the variables earlier ones set, as a student's terminal would)."""
    lines = [
        "#!/usr/bin/env bash",
        "# Generated by provisioning/lab_replay.py from the lab text: the lab's own commands.",
        "set -euo pipefail",
        'LAB_STEP="(start)"',
        "trap 'echo \"lab replay: step $LAB_STEP failed at line $LINENO: $BASH_COMMAND\" >&2' ERR",
        ': "${LAB_ENDPOINT_URL:?set LAB_ENDPOINT_URL to the emulator endpoint}"',
    ]
    for step in control_plane_steps(steps):
        lines += ["", f"# --- Step {step.id}: {step.title}", f'LAB_STEP="{step.id}"',
                  f'echo "=== step {step.id}: {step.title}"']
        lines += [text for text in (rewrite(c) for c in step.commands) if text is not None]
    lines.append('echo "=== replay complete"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ReplayResult:
    steps: tuple[str, ...]  # the step ids replayed, in order
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def failed_step(self) -> str | None:
        match = re.search(r"lab replay: step (\S+) failed", self.stderr)
        return match.group(1) if match else None

    def summary(self) -> str:
        if self.ok:
            return f"replayed steps {', '.join(self.steps)} in {self.seconds:.1f}s"
        tail = self.stderr.strip().splitlines()[-3:]
        return f"replay failed in step {self.failed_step or '?'} after {self.seconds:.1f}s: " + " | ".join(tail)


def default_aws_cli() -> str:
    """The AWS CLI next to this Python (the pinned one in .venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("aws")
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if found is None:
        raise FileNotFoundError("the AWS CLI is not installed: .venv/bin/pip install -r requirements.txt")
    return found


def lab_file(path: str | os.PathLike | None = None) -> Path:
    chosen = Path(path or os.environ.get("LAB_TEXT") or DEFAULT_LAB_FILE)
    if not chosen.is_file():
        raise FileNotFoundError(f"lab text {chosen} not found; pass its path (or set LAB_TEXT)")
    return chosen


def run_replay(endpoint_url: str, *, credentials: dict[str, str], region: str = "us-east-1",
               lab_path: str | os.PathLike | None = None, aws_cli: str | None = None,
               workdir: str | os.PathLike | None = None, timeout: float = 300.0) -> ReplayResult:
    """Run the lab's control-plane steps against `endpoint_url` as the account `credentials`
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN) act in."""
    steps = parse_lab(lab_file(lab_path).read_text())
    script = replay_script(steps)
    cli = aws_cli or default_aws_cli()
    env = {
        "PATH": f"{Path(cli).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,  # the instructor's own profiles play no part
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LAB_ENDPOINT_URL": endpoint_url,
        **credentials,
    }
    with tempfile.TemporaryDirectory(prefix="lab-replay-") as scratch:
        cwd = Path(workdir or scratch)  # the lab writes database-lab-key.pem into the working directory
        script_path = Path(scratch) / "lab-replay.sh"
        script_path.write_text(script)
        start = time.monotonic()
        try:
            done = subprocess.run(["bash", str(script_path)], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=timeout)
            returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            returncode = -1
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr = f"lab replay: step ? failed: timed out after {timeout:g}s"
    replayed = tuple(step.id for step in control_plane_steps(steps))
    return ReplayResult(replayed, returncode, stdout, stderr, time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.lab_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default=None, help=f"the lab text (default: LAB_TEXT or {DEFAULT_LAB_FILE})")
    parser.add_argument("--print", action="store_true", help="print the script instead of running it")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the emulator (default: AWS_ENDPOINT_URL)")
    args = parser.parse_args(argv)
    try:
        steps = parse_lab(lab_file(args.lab).read_text())
    except (FileNotFoundError, LabTextError) as exc:
        print(f"lab replay: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(replay_script(steps), end="")
        return 0
    if not args.endpoint_url:
        print("lab replay: pass --endpoint-url (an emulator; the replay never runs against real AWS)", file=sys.stderr)
        return 2
    # Fake credentials: the emulator's default account.
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = run_replay(args.endpoint_url, credentials=credentials, lab_path=args.lab)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
