"""A student's lab, built the way one student typed it: the lab's own commands (extracted from
the lab text, replayed in this process by provisioning/lab_replay.py), edited where the
variation's student did something else, and Lab 4.2's app run afterwards (its Python, with the
errata fixed, is what provisioning runs).

An edit names the text it replaces and fails when the lab text no longer holds it: a variation
that silently stopped varying would prove nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from provisioning import lab, naming
from provisioning.context import ProvisionContext
from provisioning.dataplane import DataPlane
from provisioning.lab_replay import (
    Command, LabStep, ReplayResult, control_plane_steps, lab_file, parse_lab, run_replay_in_process,
    split_commands,
)
from provisioning.passwords import generate_password

from .accounts import Account


@functools.lru_cache(maxsize=1)
def _lab_steps() -> tuple[LabStep, ...]:
    return tuple(control_plane_steps(parse_lab(lab_file().read_text())))


def lab_order() -> tuple[str, ...]:
    """The control-plane steps the replay runs, in the lab's order."""
    return tuple(step.id for step in _lab_steps())


def typed(*order: str) -> list[LabStep]:
    """The lab's steps in `order` (a step may come twice: run again); the lab's order by default."""
    by_id = {step.id: step for step in _lab_steps()}
    unknown = [step for step in order if step not in by_id]
    assert not unknown, f"no replayed step {unknown} in the lab text (replayed: {', '.join(by_id)})"
    return [replace(by_id[step], commands=list(by_id[step].commands)) for step in (order or by_id)]


def edit(steps: list[LabStep], step_id: str, old: str, new: str) -> list[LabStep]:
    """`steps` with `old` replaced by `new` in every command of `step_id` (each copy of it)."""
    found = False
    edited = []
    for step in steps:
        if step.id == step_id:
            commands = []
            for command in step.commands:
                found |= old in command.text
                # Re-split: `new` may add commands of its own.
                commands += split_commands(command.text.replace(old, new)) if old in command.text else [command]
            step = replace(step, commands=commands)
        edited.append(step)
    assert found, f"the lab text's step {step_id} no longer holds {old!r}: update this variation"
    return edited


def edit_everywhere(steps: list[LabStep], old: str, new: str) -> list[LabStep]:
    """`old` replaced by `new` in every step that holds it (at least one must)."""
    holding = sorted({s.id for s in steps if any(old in c.text for c in s.commands)})
    assert holding, f"the lab text no longer holds {old!r}: update this variation"
    for step_id in holding:
        steps = edit(steps, step_id, old, new)
    return steps


def assigned_variables(step: LabStep) -> list[str]:
    return sorted({m.group(1) for c in step.commands for m in re.finditer(r"^\s*(\w+)=", c.text, re.MULTILINE)})


def rerun_in_another_terminal(steps: list[LabStep], step_id: str) -> list[LabStep]:
    """The second copy of `step_id` run in a terminal of its own: what it assigns is never used
    by the steps after it (they keep the first run's ids)."""
    copies = [i for i, s in enumerate(steps) if s.id == step_id]
    assert len(copies) == 2, f"step {step_id} must come twice to be re-run, not {len(copies)} time(s)"
    second = steps[copies[1]]
    names = assigned_variables(second)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    commands = [Command(pattern.sub(r"\1_OTHER_TERMINAL", c.text)) for c in second.commands]
    return steps[:copies[1]] + [replace(second, commands=commands)] + steps[copies[1] + 1:]


@dataclass(frozen=True)
class Built:
    account: Account
    region: str
    replay: ReplayResult


def build(account: Account, steps: list[LabStep] | None = None, *, region: str = naming.REGION,
          orders_app: bool = True) -> Built:
    """Replay `steps` (the lab's, by default) in `account`, then run Lab 4.2's app."""
    result = run_replay_in_process(account.endpoint_url, credentials=account.keys, region=region,
                                   steps=steps if steps is not None else typed())
    assert result.ok, f"{result.summary()}\n{result.stderr[-2000:]}"
    if orders_app:
        run_steps(account, region, ("4.2",))
    return Built(account, region, result)


def run_steps(account: Account, region: str, step_ids: tuple[str, ...], dataplane: DataPlane | None = None,
              master_password=None) -> None:
    """Provisioning's functions for `step_ids` (the lab's Python steps), in the student's account."""
    ctx = ProvisionContext(clients=account.clients(region), run_id="student", dataplane=dataplane or DataPlane(),
                           master_password=master_password or generate_password(), log=lambda message: None)
    steps = [step for step in lab.provisioning_steps() if step.step in step_ids]
    assert {s.step for s in steps} == set(step_ids), f"no provisioning for {set(step_ids) - {s.step for s in steps}}"
    failed = [r for r in lab.provision(ctx, steps) if not r.ok]
    assert not failed, failed
