"""The fault table: one row per (check, fault) with the verdict, then the counts and the gaps."""

from __future__ import annotations

from .verdicts import (
    COLLATERAL, CRASHED, ERROR, KILLED, SURVIVED, check_name, collateral, crash_reason, crashes, false_failures,
    killed_checks, survivors, target_result, unknown_targets, verdict,
)


def _status(outcome: dict | None) -> str:
    if outcome is None:
        return "not run"
    return outcome["status"] + (f": {outcome['message'][:60]}" if outcome["status"] == "skipped" else "")


def _problem(run) -> str | None:
    if run.error:
        return run.error
    if run.not_restored:
        return f"not restored: {sorted(map(check_name, run.not_restored))}"
    if run.left_behind:
        return f"checks left data behind: {run.left_behind}"
    return None


def rows(report) -> list[tuple[str, str, str, str]]:
    """(check, step, fault, verdict) in the suites' order; checks no fault kills get a row too."""
    step_of = report.checks
    table = []
    for check, step in step_of.items():
        mine = False
        for run in report.faults:
            if check in run.targets:
                mine = True
                problem = _problem(run)
                result = target_result(run, check)
                if problem:
                    text = "error: " + problem
                elif result == SURVIVED:
                    text = f"survived ({_status(run.outcomes.get(check))})"
                elif result == CRASHED:
                    text = "CRASHED: " + crash_reason(run, check)[:100]
                else:
                    text = KILLED
                table.append((check_name(check), step, run.id, text))
            elif check in collateral(run, step_of):
                table.append((check_name(check), step, run.id, "COLLATERAL: " + run.outcomes[check]["message"][:80]))
        if not mine:
            table.append((check_name(check), step, "-", "NOT KILLED: no fault targets this check"))
    return table


def _detail(run, result: str, step_of) -> str:
    if result == SURVIVED:
        return f"targets not failed: {[check_name(t) for t in survivors(run)]}"
    if result == CRASHED:
        return "; ".join(f"{check_name(t)}: {crash_reason(run, t)}" for t in crashes(run))
    if result == COLLATERAL:
        return f"also broke: {[check_name(c) for c in collateral(run, step_of)]}"
    return _problem(run) or ""


def gaps(report, catalogue_ids: list[str] | None = None) -> list[str]:
    step_of = report.checks
    found = []
    for view, outcomes in report.reference.items():
        for name, outcome in false_failures(outcomes, emulator_limited_ok="aws" not in view).items():
            found.append(f"reference environment ({view}): {check_name(name)} {_status(outcome)}: {outcome['message']}")
        final = report.final.get(view)
        changed = [] if final is None else sorted(
            check_name(n) for n in outcomes if final.get(n, {}).get("status") != outcomes[n]["status"])
        if changed:
            found.append(f"after every fault ({view}) these checks no longer match the reference: {changed}")
    found += [f"a check's message shows a password: {name}" for name in report.secrets_shown]
    for fault_id, missing in unknown_targets(report.faults, step_of).items():
        found.append(f"fault {fault_id} targets unknown checks {missing}")
    for run in report.faults:
        result = verdict(run, step_of)
        if result != KILLED:
            found.append(f"fault {run.id}: {result}: {_detail(run, result, step_of)}")
    for run in getattr(report, "probes", []):
        expected, result = report.probe_verdicts[run.id], verdict(run, step_of)
        if result != expected:
            found.append(f"probe {run.id} must be reported {expected}, was {result}: {_detail(run, result, step_of)}")
    if catalogue_ids is not None:
        killed = killed_checks(report.faults, step_of)
        found += [f"check {check_name(name)} ({step}) is killed by no fault"
                  for name, step in step_of.items() if name not in killed]
        ran = {run.id for run in report.faults}
        found += [f"fault {fault_id} did not run" for fault_id in catalogue_ids if fault_id not in ran]
    return found


def counts(report) -> dict[str, int]:
    verdicts = [verdict(run, report.checks) for run in report.faults]
    return {name: verdicts.count(name) for name in (KILLED, SURVIVED, CRASHED, COLLATERAL, ERROR)}


def render(report, catalogue_ids: list[str] | None = None) -> tuple[str, list[str]]:
    table = rows(report)
    widths = [max([len(header)] + [len(row[i]) for row in table]) for i, header in enumerate(("check", "step", "fault"))]
    lines = [f"{'check':<{widths[0]}}  {'step':<{widths[1]}}  {'fault':<{widths[2]}}  verdict"]
    lines += [f"{c:<{widths[0]}}  {s:<{widths[1]}}  {f:<{widths[2]}}  {v}" for c, s, f, v in table]
    killed = killed_checks(report.faults, report.checks)
    lines.append("")
    lines.append(f"{len(killed)} of {len(report.checks)} checks killed"
                 f"{' (every check re-run under every fault)' if report.all_checks else ''}")
    lines.append(f"{len(report.faults)} faults: " + ", ".join(f"{n} {name}" for name, n in counts(report).items()))
    for run in getattr(report, "probes", []):
        lines.append(f"probe {run.id}: {verdict(run, report.checks)} (must be {report.probe_verdicts[run.id]})")
    lines.append("time: " + ", ".join(f"{k} {v}s" for k, v in report.seconds.items()))
    found = gaps(report, catalogue_ids)
    lines += ["", "GAPS:"] + [f"  {gap}" for gap in found] if found else ["no gaps"]
    return "\n".join(lines), found
