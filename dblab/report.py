"""`dblab report`: the Allure results of a local or grading run as ONE self-contained HTML file.

  dblab report [--results DIR] [--out FILE] [--reports DIR]

Renders with Allure 3 (npm package `allure`, pinned in package.json, installed in node_modules/
by scripts/ensure-allure; no Java): `allure awesome --single-file`, grouped by the labels
fixtures/allure_labels.py and grading/plugin.py write (parentSuite, suite, subSuite: the lab and
the step, and in grading runs the student first). Allure's page loads an analytics script from
googletagmanager.com; every script or stylesheet that would be fetched from the network is
stripped, so the file opens offline, from disk or as a mail attachment.

Defaults: results in REPORTS/allure-results (pytest --alluredir=reports/allure-results), the page
REPORTS/allure-report.html, REPORTS being reports/ (--reports, LAB_REPORTS_DIR).
Exit codes: 0 written, 2 nothing to render or Allure missing (one line naming the fix).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provisioning import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
ALLURE = REPO_ROOT / "node_modules" / ".bin" / "allure"
RESULTS = "allure-results"
PAGE = "allure-report.html"
GROUP_BY = "parentSuite,suite,subSuite"
FLAGS = {"reports-dir": "--reports"}
RENDER_TIMEOUT = 300.0  # seconds; a whole lab's results render in about 2 s

# A script or stylesheet fetched from the network (http:, https: or protocol-relative), and
# Allure's inline analytics snippet that calls it.
_REMOTE = r"""(?:https?:)?//"""
REMOTE_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?""" + _REMOTE + r"""[^>]*>\s*</script\s*>\s*""",
                           re.IGNORECASE)
REMOTE_LINK = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["']?""" + _REMOTE + r"""[^>]*>\s*""", re.IGNORECASE)
ANALYTICS = re.compile(r"""<script>(?:(?!</script>).)*?\b(?:gtag|dataLayer)\b(?:(?!</script>).)*</script>\s*""",
                       re.IGNORECASE | re.DOTALL)


class ReportError(Exception):
    """Nothing could be rendered; the message is one line naming the fix."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("report", help="render Allure results as one offline HTML file (make report)")
    parser.add_argument("--results", type=Path, default=None,
                        help=f"the Allure results directory (pytest --alluredir) (default: REPORTS/{RESULTS})")
    parser.add_argument("--out", type=Path, default=None, help=f"the HTML file to write (default: REPORTS/{PAGE})")
    parser.add_argument("--name", default="Hands-On Database Lab", help="the report's title")
    settings.add_arguments(parser, FLAGS, {"reports-dir": "reports in the repository"})
    parser.set_defaults(run=run)


def strip_remote(page: str) -> str:
    """The page without anything it would fetch from the network (scripts, stylesheets,
    analytics); data: URIs and inline scripts, which are the report itself, stay."""
    for pattern in (REMOTE_SCRIPT, REMOTE_LINK, ANALYTICS):
        page = pattern.sub("", page)
    return page


def remote_references(page: str) -> list[str]:
    """What in the page would still be fetched from the network (empty for a good report)."""
    return [match.group(0)[:120] for pattern in (REMOTE_SCRIPT, REMOTE_LINK) for match in pattern.finditer(page)]


def result_files(results: Path) -> list[Path]:
    return sorted(results.glob("*-result.json")) if results.is_dir() else []


def render(results: Path, out: Path, *, name: str = "Hands-On Database Lab", allure: Path = ALLURE,
           group_by: str = GROUP_BY, timeout: float = RENDER_TIMEOUT) -> Path:
    """Render `results` into the single file `out`; ReportError says what to fix."""
    results, out = Path(results).resolve(), Path(out).resolve()
    if not Path(allure).exists():
        raise ReportError(f"Allure 3 is not installed ({allure} is missing): run scripts/ensure-allure "
                          "(make report does)")
    if not result_files(results):
        where = f"{results} has no *-result.json" if results.is_dir() else f"{results} does not exist"
        raise ReportError(f"no Allure results to render ({where}): run pytest with --alluredir={results} "
                          "(or give --results DIR)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dblab-report-") as scratch:
        output = Path(scratch, "report")
        command = [str(allure), "awesome", str(results), "--single-file", "--output", str(output),
                   "--report-name", name, "--group-by", group_by]
        # cwd: an allurerc file wherever dblab runs must not change the report.
        environment = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
        try:
            done = subprocess.run(command, cwd=scratch, env=environment, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ReportError(f"allure awesome took longer than {timeout:g}s; try again with fewer results") from None
        except OSError as exc:
            raise ReportError(f"cannot run {allure} ({exc}): run scripts/ensure-allure again") from None
        index = output / "index.html"
        if done.returncode != 0 or not index.exists():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise ReportError(f"allure awesome failed (exit {done.returncode}): "
                              f"{detail[-1] if detail else 'no output'}")
        page = strip_remote(index.read_text(encoding="utf-8"))
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, out)
    return out


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        raw = settings.from_arguments(args, FLAGS)
        reports = settings.resolve_reports_dir(raw, invocation_dir=Path.cwd(), rootdir=REPO_ROOT)
    except settings.SettingsError as exc:
        print(f"dblab report: {exc}", file=sys.stderr)
        return 2
    results = args.results if args.results is not None else reports / RESULTS
    out = args.out if args.out is not None else reports / PAGE
    try:
        path = render(results, out, name=args.name)
    except ReportError as exc:
        print(f"dblab report: {exc}", file=sys.stderr)
        return 2
    print(path)
    print(f"dblab report: {len(result_files(Path(results)))} results rendered in {time.monotonic() - started:.1f}s; "
          "one file, opens offline", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dblab")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
