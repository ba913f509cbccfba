"""A run's timeline: when each step started and ended, and what that says about the plan.

From the plan's own results (provisioning/plan.py): the wall time (first start to last end),
the sequential sum (what one step after another would have taken), and the critical path (the
longest chain of steps that wait for each other, by their measured durations): the best any
parallel plan could do with these steps. Written as reports/runs/<run-id>/timeline.json and
drawn in timeline.html (provisioning/timeline_html.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .plan import TaskResult

TIMELINE_JSON = "timeline.json"
TIMELINE_HTML = "timeline.html"


@dataclass(frozen=True)
class PhaseTimeline:
    phase: str  # provisioning, teardown
    steps: list[dict]  # step, title, started, ended, seconds, waits_for, outcome
    wall: float
    sequential_sum: float
    critical_path: float
    critical_steps: list[str]

    @property
    def ratio_to_critical_path(self) -> float | None:
        return self.wall / self.critical_path if self.critical_path > 0 else None


def _outcome(result: TaskResult) -> str:
    return "ok" if result.ok else ("skipped: " + result.skipped if result.skipped else "failed: " + (result.error or ""))


def phase_timeline(phase: str, results: list[TaskResult]) -> PhaseTimeline:
    by_step = {r.step: r for r in results}
    longest: dict[str, tuple[float, list[str]]] = {}

    def chain(step: str) -> tuple[float, list[str]]:
        # The longest chain of waits ending with `step`: its duration plus its slowest dependency's.
        if step not in longest:
            result = by_step[step]
            before = [chain(other) for other in result.waits_for if other in by_step]
            best = max(before, default=(0.0, []), key=lambda found: found[0])
            longest[step] = (best[0] + result.seconds, best[1] + [step])
        return longest[step]

    paths = [chain(step) for step in by_step]
    critical = max(paths, default=(0.0, []), key=lambda found: found[0])
    wall = (max(r.ended for r in results) - min(r.started for r in results)) if results else 0.0
    steps = [{"step": r.step, "title": r.title, "started": round(r.started, 4), "ended": round(r.ended, 4),
              "seconds": round(r.seconds, 4), "waits_for": list(r.waits_for), "outcome": _outcome(r)}
             for r in sorted(results, key=lambda r: (r.started, r.step))]
    return PhaseTimeline(phase, steps, round(wall, 4), round(sum(r.seconds for r in results), 4),
                         round(critical[0], 4), critical[1])


@dataclass
class RunTimeline:
    run_id: str
    target: str  # where the run went: "emulator at http://…", "AWS (profile)"
    realism: float  # the emulator's scale of AWS's durations (0: none)
    phases: list[PhaseTimeline] = field(default_factory=list)

    def add(self, phase: str, results: list[TaskResult]) -> PhaseTimeline:
        timeline = phase_timeline(phase, results)
        self.phases = [p for p in self.phases if p.phase != phase] + [timeline]
        return timeline

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "target": self.target, "aws_realism": self.realism,
                "phases": [dict(asdict(p), ratio_to_critical_path=p.ratio_to_critical_path) for p in self.phases]}

    def write(self, directory: Path) -> Path:
        """timeline.json and timeline.html in `directory`; returns the JSON's path."""
        from .timeline_html import render

        directory.mkdir(parents=True, exist_ok=True)
        data = self.as_dict()
        (directory / TIMELINE_JSON).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        (directory / TIMELINE_HTML).write_text(render(data), encoding="utf-8")
        return directory / TIMELINE_JSON


def summary(timeline: PhaseTimeline) -> str:
    ratio = timeline.ratio_to_critical_path
    return (f"{timeline.phase}: wall {timeline.wall:.1f}s, critical path {timeline.critical_path:.1f}s "
            f"({' > '.join(timeline.critical_steps) or 'none'}), sequential sum {timeline.sequential_sum:.1f}s"
            + (f", wall/critical path {ratio:.2f}" if ratio else ""))
