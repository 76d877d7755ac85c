"""Figures, their statistics, the table and the JSON file of `pyvs bench`.

Every benchmark section returns Figures: the raw samples of one quantity
(one per repetition) and, unless it is a baseline itself, the name of the
baseline measured in the same run that it is compared with. The ratio is
median(figure) / median(baseline), in the figure's own unit.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Options:
    """How hard the sections work. `smoke` is CI's: one short repetition of each."""

    reps: int = 5
    seconds: float = 5.0  # duration of each timed traffic run
    repeat: int = 1_000_000  # BPF_PROG_TEST_RUN repetitions per sample
    smoke: bool = False

    @classmethod
    def for_smoke(cls) -> Options:
        return cls(reps=1, seconds=1.0, repeat=10_000, smoke=True)


@dataclass
class Figure:
    section: str
    name: str
    unit: str
    samples: list[float]
    baseline: str | None = None  # name of the figure (same section) this one is compared with
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # what a reader may want beside the samples

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def ratio(figure: Figure, figures: Sequence[Figure]) -> float | None:
    if figure.baseline is None:
        return None
    for other in figures:
        if other.section == figure.section and other.name == figure.name:
            continue
        if other.section == figure.section and other.name == figure.baseline:
            return figure.median / other.median if other.median else None
    raise ValueError(f"{figure.section}: baseline {figure.baseline!r} of {figure.name!r} was not measured")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    clang = subprocess.run(["clang", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "clang": clang.stdout.splitlines()[0] if clang.returncode == 0 and clang.stdout else "",
    }


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(figures: Sequence[Figure], header: dict[str, Any]) -> str:
    """The figures as a Markdown table, under a line naming the machine."""
    lines = [
        f"machine: {header['machine']['cpu']}, {header['machine']['cores']} cores, "
        f"kernel {header['machine']['kernel']}; {header['reps']} repetitions each"
        + (" (smoke run)" if header.get("smoke") else ""),
        "",
        "| section | figure | unit | min | median | max | vs baseline |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for fig in figures:
        r = ratio(fig, figures)
        against = "baseline" if fig.baseline is None else f"{r:.2f}x {fig.baseline}" if r else "-"
        name = fig.name + (f" ({fig.note})" if fig.note else "")
        lines.append(f"| {fig.section} | {name} | {fig.unit} | {_fmt(fig.min)} | {_fmt(fig.median)} | "
                     f"{_fmt(fig.max)} | {against} |")
    return "\n".join(lines)


def document(figures: Sequence[Figure], options: Options, command: str) -> dict[str, Any]:
    return {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "reps": options.reps,
        "smoke": options.smoke,
        "figures": [
            {**asdict(fig), "min": fig.min, "median": fig.median, "max": fig.max,
             "ratio_to_baseline": ratio(fig, figures)}
            for fig in figures
        ],
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
