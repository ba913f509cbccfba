"""The lab, replayed literally: its own shell steps, run with the AWS CLI against an emulator.

The bash blocks are extracted from the lab text by code (never copied by hand), so when the
lab changes, the replay changes with it. Only what cannot run against an emulator is
touched, each by one rule below: every `aws` call gets `--endpoint-url`, the web service
that finds the caller's address is replaced by a fixed documentation address, and commands
that need a real host or a real database (ssh, mysql, sleep, chmod) are left out.
Steps whose commands reach the data plane (2.3, 3.2) are skipped whole; replay stops at Lab 6.

The script runs in bash (`run_replay`, one AWS CLI process per command: ~20 s), or in this
process (`run_replay_in_process`): the same script, read by a small interpreter of the few shell
forms it uses (assignments, `NAME=$(aws ...)`, `aws ... > FILE`, echo, `set`, `trap`, `:`),
with the pinned AWS CLI's own driver for every `aws` (~1-2 s). Anything else in the script stops
the in-process replay with a line naming the command, so a new form in the lab text is never
silently mis-read; tests/test_grading_replay.py runs bash on the script to show that both
issue the same AWS CLI calls.

    python -m provisioning.lab_replay --print                   # the script, without running it
    python -m provisioning.lab_replay --endpoint-url URL         # run it against an emulator
    python -m provisioning.lab_replay --endpoint-url URL --in-process
"""

from __future__ import annotations

import argparse
import copy
import io
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

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


PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)


def lab_python(step: str, path: str | os.PathLike | None = None) -> tuple[str, str]:
    """The first Python block under `### Step <step>:` in the lab text, as printed, and where it
    came from (the file the lab has the student write in 3.1, 4.2, 5.3; the scripts of Lab 6)."""
    chosen = lab_file(path)
    text = chosen.read_text()
    heading = re.search(rf"^### Step {re.escape(step)}:.*$", text, flags=re.MULTILINE)
    if heading is None:
        raise LabTextError(f"{chosen}: no heading '### Step {step}:'")
    block = PYTHON_BLOCK.search(text, heading.end())
    if block is None:
        raise LabTextError(f"{chosen}: no Python block after '### Step {step}:'")
    return block.group(1), f"{chosen} (Step {step})"


def cli_environment(endpoint_url: str, credentials: Mapping[str, str], region: str) -> dict[str, str]:
    """What the replayed terminal's environment holds: the account's keys, the region, the
    emulator, and no config or credentials file (the instructor's own profiles play no part)."""
    return {
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata probe for credentials
        "LAB_ENDPOINT_URL": endpoint_url,
        **credentials,
    }


def _replayed_steps(steps: list[LabStep] | None, lab_path) -> list[LabStep]:
    return control_plane_steps(steps if steps is not None else parse_lab(lab_file(lab_path).read_text()))


def run_replay(endpoint_url: str, *, credentials: dict[str, str], region: str = "us-east-1",
               lab_path: str | os.PathLike | None = None, aws_cli: str | None = None,
               workdir: str | os.PathLike | None = None, timeout: float = 300.0,
               steps: list[LabStep] | None = None) -> ReplayResult:
    """Run the lab's control-plane steps (or `steps`, in their order) in bash against
    `endpoint_url` as the account `credentials` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
    optionally AWS_SESSION_TOKEN) act in."""
    replayed_steps = _replayed_steps(steps, lab_path)
    script = replay_script(replayed_steps)
    cli = aws_cli or default_aws_cli()
    env = {
        "PATH": f"{Path(cli).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        **cli_environment(endpoint_url, credentials, region),
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
    replayed = tuple(step.id for step in replayed_steps)
    return ReplayResult(replayed, returncode, stdout, stderr, time.monotonic() - start)


# --- the same script, in this process ---------------------------------------------------------------

class ReplayError(RuntimeError):
    """The script holds a shell form the in-process replay does not read; run it in bash instead."""


VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\?([^}]*))?\}|(\w+))")
# NAME=$(...) where the whole value is one substitution (parentheses only inside quotes)
ASSIGN_SUBSTITUTION = re.compile(r"""^(\w+)=\$\(((?:[^()'"]|'[^']*'|"[^"]*")*)\)$""", re.DOTALL)
ASSIGNMENT = re.compile(r"^(\w+)=(.*)$", re.DOTALL)
OPERATOR = re.compile(r"^[();<>|&]+$")  # an unquoted shell operator, as shlex's punctuation splits it
BUILTINS_IGNORED = {"set", "trap", ":"}  # set -euo pipefail and the ERR trap: stopping at an error is built in


# Set by the AWS CLI itself when imported (where its own data files are): not the student's setting.
CLI_OWN_VARIABLES = {"AWS_DATA_PATH"}


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with every AWS_ variable replaced by `values` for the block, as the bash
    replay's environment would be, then restored."""
    import awscli  # noqa: F401  (sets AWS_DATA_PATH on import: before the environment is saved)

    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("AWS_") and n not in CLI_OWN_VARIABLES]:
            del os.environ[name]
        os.environ.update({k: v for k, v in values.items() if k.startswith("AWS_")})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _quiet_cli_logs() -> Iterator[None]:
    """The AWS CLI process logs nothing below a warning unless asked (--debug); in this process
    its loggers would feed the host's handlers (pytest's capture: a line per command)."""
    loggers = [logging.getLogger(name) for name in ("awscli", "botocore")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class Terminal:
    """One bash session of the replay, in this process: its variables, its working directory,
    and the AWS CLI's driver for `aws`. Reads the generated script's forms only."""

    def __init__(self, variables: Mapping[str, str], workdir: Path,
                 aws: Callable[[list[str]], tuple[int, str, str]] | None = None):
        self.variables = dict(variables)
        self.workdir = workdir
        self.aws_calls: list[list[str]] = []  # every `aws` argv, as bash would have passed it
        self._aws = aws or self._cli  # a stand-in, for a test that compares with bash
        self._template = None  # (the CLI's handlers as a fresh driver has them, the models' loader)

    def _driver(self):
        """A fresh AWS CLI driver per command, as a new `aws` process would be: the CLI's
        customizations leave handlers on its session that break the next command (a reused
        driver fails `create-internet-gateway` after `modify-vpc-attribute --enable-dns-hostnames`).
        Building one costs ~40 ms, mostly registering the CLI's ~400 handlers; so the first is
        built whole, and each later one gets a copy of its untouched handlers and its models' loader."""
        from awscli.clidriver import CLIDriver, EnvironmentVariables, _set_user_agent_for_session, create_clidriver
        from botocore.session import Session

        if self._template is None:
            template = create_clidriver()
            # botocore keeps the emitter the session was built on here; without it, build each driver whole.
            handlers = getattr(template.session, "_original_handler", None)
            self._template = (copy.copy(handlers) if handlers is not None else None,
                              template.session.get_component("data_loader"))
        handlers, loader = self._template
        if handlers is None:
            return create_clidriver()
        session = Session(EnvironmentVariables, event_hooks=copy.copy(handlers), include_builtin_handlers=False)
        _set_user_agent_for_session(session)
        session.register_component("data_loader", loader)
        return CLIDriver(session=session)

    def expand(self, text: str) -> str:
        """`text` with $NAME and ${NAME} replaced as bash would before splitting words: nothing in
        single quotes; in double quotes the value; outside quotes each word of the value, quoted.
        A backslash-newline outside single quotes joins lines. Unset names are errors (set -u)."""
        out: list[str] = []
        quote: str | None = None
        index = 0
        while index < len(text):
            char = text[index]
            if quote == "'":
                quote = None if char == "'" else quote
                out.append(char)
                index += 1
            elif char == "\\" and text.startswith("\\\n", index):
                index += 2
            elif char == "\\":
                out.append(text[index:index + 2])
                index += 2
            elif char == "#" and quote is None and (not out or out[-1].isspace()):
                out.append(text[index:])  # a comment: bash expands nothing in it
                break
            elif char in "'\"" and quote in (None, char):
                quote = None if quote == char else char
                out.append(char)
                index += 1
            elif char == "$" and text.startswith("$(", index):
                raise ReplayError(f"command substitution other than NAME=$(aws ...) in {text.splitlines()[0]!r}")
            elif char == "$" and VARIABLE.match(text, index):
                match = VARIABLE.match(text, index)
                value = self._value(match.group(1) or match.group(3), match.group(2))
                if quote == '"':
                    out.append(value.replace("\\", "\\\\").replace('"', '\\"'))
                else:
                    out.append(" ".join(shlex.quote(word) for word in value.split()))
                index = match.end()
            else:
                out.append(char)
                index += 1
        return "".join(out)

    def _value(self, name: str, required: str | None) -> str:
        value = self.variables.get(name)
        if required is not None and not value:
            raise ReplayError(f"{name}: {required or 'parameter null or not set'}")
        if value is None:
            raise ReplayError(f"{name}: unbound variable")
        return value

    def words(self, text: str) -> list[str]:
        lexer = shlex.shlex(self.expand(text), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commentchars = "#"
        return list(lexer)

    def run(self, text: str) -> tuple[int, str, str]:
        """Run one logical command: (exit status, what it printed, what it printed on stderr)."""
        substitution = ASSIGN_SUBSTITUTION.match(text.strip())
        if substitution:
            status, out, err = self._command(self.words(substitution.group(2)))
            self.variables[substitution.group(1)] = out.rstrip("\n")
            return status, "", err
        words = self.words(text)
        redirect = None
        if len(words) >= 3 and words[-2] == ">":
            words, redirect = words[:-2], words[-1]
        operators = [w for w in words if OPERATOR.match(w)]
        if operators:
            raise ReplayError(f"shell operator {operators[0]!r} in {text.splitlines()[0]!r}: run the replay in bash")
        status, out, err = self._command(words)
        if redirect is not None:
            (self.workdir / redirect).write_text(out)
            out = ""
        return status, out, err

    def _command(self, words: list[str]) -> tuple[int, str, str]:
        if not words:
            return 0, "", ""
        if len(words) == 1 and ASSIGNMENT.match(words[0]):
            name, value = ASSIGNMENT.match(words[0]).groups()
            self.variables[name] = value
            return 0, "", ""
        if words[0] == "echo":
            return 0, " ".join(words[1:]) + "\n", ""
        if words[0] in BUILTINS_IGNORED:
            return 0, "", ""
        if words[0] == "aws":
            self.aws_calls.append(words)
            return self._aws(words)
        raise ReplayError(f"no in-process stand-in for {words[0]!r}: run the replay in bash")

    def _cli(self, words: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = self._driver().main(words[1:])
        return status, out.getvalue(), err.getvalue()


def run_script_in_process(script: str, *, env: Mapping[str, str], workdir: Path, steps: tuple[str, ...] = (),
                          aws: Callable[[list[str]], tuple[int, str, str]] | None = None,
                          ) -> tuple[ReplayResult, Terminal]:
    """Run a generated replay script in this process, stopping at the first failing command
    (set -e), with the bash replay's message for it."""
    start = time.monotonic()
    stdout: list[str] = []
    stderr: list[str] = []
    with _environment(env), _quiet_cli_logs():
        terminal = Terminal(env, workdir, aws)
        returncode = 0
        for command in split_commands(script):
            if command.is_comment:
                continue
            try:
                status, out, err = terminal.run(command.text)
            except ReplayError as exc:
                status, out, err = 2, "", f"{exc}\n"
            stdout.append(out)
            stderr.append(err)
            if status != 0:
                first_line = command.text.strip().splitlines()[0]
                stderr.append(f"lab replay: step {terminal.variables.get('LAB_STEP', '?')} failed: {first_line}\n")
                returncode = status
                break
    return ReplayResult(steps, returncode, "".join(stdout), "".join(stderr), time.monotonic() - start), terminal


def run_replay_in_process(endpoint_url: str, *, credentials: Mapping[str, str], region: str = "us-east-1",
                          lab_path: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None,
                          steps: list[LabStep] | None = None) -> ReplayResult:
    """`run_replay`, with the AWS CLI's driver in this process instead of one process per command.
    The process's AWS_ variables are swapped for the replay's while it runs (not thread-safe)."""
    replayed_steps = _replayed_steps(steps, lab_path)
    with tempfile.TemporaryDirectory(prefix="lab-replay-") as scratch:
        result, _ = run_script_in_process(
            replay_script(replayed_steps), env=cli_environment(endpoint_url, credentials, region),
            workdir=Path(workdir or scratch), steps=tuple(step.id for step in replayed_steps))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.lab_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default=None, help=f"the lab text (default: LAB_TEXT or {DEFAULT_LAB_FILE})")
    parser.add_argument("--print", action="store_true", help="print the script instead of running it")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the emulator (default: AWS_ENDPOINT_URL)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the AWS CLI's driver in this process instead of bash (about 10x faster)")
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
    replay = run_replay_in_process if args.in_process else run_replay
    result = replay(args.endpoint_url, credentials=credentials, lab_path=args.lab)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
