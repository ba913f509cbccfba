"""The fault table: one row per (check, fault) with the verdict, then the gaps."""

from __future__ import annotations

from .verdicts import (
    KILLED, broken, collateral, false_failures, killed_checks, survivors, unknown_targets, verdict,
)


def _status(outcome: dict | None) -> str:
    if outcome is None:
        return "not run"
    return outcome["status"] + (f": {outcome['message'][:60]}" if outcome["status"] == "skipped" else "")


def rows(report) -> list[tuple[str, str, str, str]]:
    """(check, step, fault, verdict) in the suites' order; checks no fault kills get a row too."""
    step_of = report.checks
    table = []
    for check, step in step_of.items():
        mine = False
        for run in report.faults:
            if check in run.targets:
                mine = True
                if run.error or run.not_restored or run.left_behind:
                    result = "error: " + (run.error or (f"not restored: {sorted(run.not_restored)}" if run.not_restored
                                                        else f"checks left data behind: {run.left_behind}"))
                else:
                    result = KILLED if broken(run.outcomes.get(check)) else "survived (" + _status(run.outcomes.get(check)) + ")"
                table.append((check, step, run.id, result))
            elif check in collateral(run, step_of):
                table.append((check, step, run.id, "collateral: " + run.outcomes[check]["message"][:80]))
        if not mine:
            table.append((check, step, "-", "NOT KILLED: no fault targets this check"))
    return table


def gaps(report, catalogue_ids: list[str] | None = None) -> list[str]:
    step_of = report.checks
    found = []
    for view, outcomes in report.reference.items():
        for name, outcome in false_failures(outcomes, emulator_limited_ok="aws" not in view).items():
            found.append(f"reference environment ({view}): {name} {_status(outcome)}: {outcome['message']}")
        final = report.final.get(view)
        changed = [] if final is None else sorted(
            n for n in outcomes if final.get(n, {}).get("status") != outcomes[n]["status"])
        if changed:
            found.append(f"after every fault ({view}) these checks no longer match the reference: {changed}")
    found += [f"a check's message shows a password: {name}" for name in report.secrets_shown]
    for fault_id, missing in unknown_targets(report.faults, step_of).items():
        found.append(f"fault {fault_id} targets unknown checks {missing}")
    for run in report.faults:
        result = verdict(run, step_of)
        if result != KILLED:
            detail = {"survived": lambda: f"targets not failed: {survivors(run)}",
                      "collateral": lambda: f"also failed: {collateral(run, step_of)}"}.get(
                result, lambda: run.error or (f"targets still failing after the revert: {sorted(run.not_restored)}"
                                              if run.not_restored else f"checks left data behind: {run.left_behind}"))()
            found.append(f"fault {run.id}: {result}: {detail}")
    if catalogue_ids is not None:
        killed = killed_checks(report.faults, step_of)
        found += [f"check {name} ({step}) is killed by no fault" for name, step in step_of.items() if name not in killed]
        ran = {run.id for run in report.faults}
        found += [f"fault {fault_id} did not run" for fault_id in catalogue_ids if fault_id not in ran]
    return found


def render(report, catalogue_ids: list[str] | None = None) -> tuple[str, list[str]]:
    table = rows(report)
    widths = [max([len(header)] + [len(row[i]) for row in table]) for i, header in enumerate(("check", "step", "fault"))]
    lines = [f"{'check':<{widths[0]}}  {'step':<{widths[1]}}  {'fault':<{widths[2]}}  verdict"]
    lines += [f"{c:<{widths[0]}}  {s:<{widths[1]}}  {f:<{widths[2]}}  {v}" for c, s, f, v in table]
    killed = killed_checks(report.faults, report.checks)
    verdicts = [verdict(run, report.checks) for run in report.faults]
    lines.append("")
    lines.append(f"{len(killed)} of {len(report.checks)} checks killed; {verdicts.count(KILLED)} of "
                 f"{len(report.faults)} faults killed their targets with no collateral damage"
                 f"{' (every check re-run under every fault)' if report.all_checks else ''}")
    lines.append("time: " + ", ".join(f"{k} {v}s" for k, v in report.seconds.items()))
    found = gaps(report, catalogue_ids)
    lines += ["", "GAPS:"] + [f"  {gap}" for gap in found] if found else ["no gaps"]
    return "\n".join(lines), found
