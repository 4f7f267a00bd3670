"""The report of ``racer validate``: what was found, the verdict, and the text for the terminal.

`racer.lab.validate` fills a `ValidationReport`; this module turns it into the verdict (`ok`:
racer would run a whole training; `console_ok`: the DeepRacer console would accept the file too)
and the text that `racer validate` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from racer.reward.console import ERROR, Finding
from racer.track import Track


@dataclass
class CallFailure:
    """Failing calls that share one problem.

    Attributes:
        problem: what went wrong (``raised ZeroDivisionError: ...``).
        case: where the first one happened (``sweep, reversed``).
        message: the full error of the first one, with the user's traceback.
        count: how many calls failed this way.
        params_file: the first failing call's params, replayable with ``--params``.
        cases: how many failed in each case.
    """

    problem: str
    case: str
    message: str
    count: int = 1
    params_file: Path | None = None
    cases: dict[str, int] = field(default_factory=dict)


@dataclass
class ValidationReport:
    """Everything `validate_reward_function` found. ``ok`` is the verdict.

    Attributes:
        path: the reward file.
        track: the track it was checked on.
        findings: static findings (`check_source`).
        load_error: why the file could not be loaded, if it could not.
        console_cars: (car, result) for the console's five cars; the result is the returned
            value or the failure's problem.
        failures: failing calls grouped by problem.
        stopped_early: the sweep stopped after a time-out or too many failures.
        calls: reward calls made.
        rewards: (M,) rewards of the sweep's calls that succeeded.
        on_track: (M,) whether that call's car had all wheels on the track.
        off_track: (M,) whether that call's car was off the track (DeepRacer's ``is_offtrack``).
        episodes: (case, final status, steps) of the real episodes.
        printed: the lines the function printed.
        seconds: wall time of the whole validation.
        heatmap: the written heat map, if one was asked for.
        sandbox: the calls ran in the sandbox (`racer.reward.sandbox`).
        sandbox_missing: the sandbox layers this machine did not allow, as sentences.
        failure_dir: the folder holding the saved params of failing calls, if any were saved.
    """

    path: Path
    track: Track | None = None
    findings: list[Finding] = field(default_factory=list)
    load_error: str = ""
    console_cars: list[tuple[str, str]] = field(default_factory=list)
    failures: dict[str, CallFailure] = field(default_factory=dict)
    stopped_early: bool = False
    calls: int = 0
    rewards: np.ndarray = field(default_factory=lambda: np.zeros(0))
    on_track: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    off_track: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    episodes: list[tuple[str, str, int]] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    heatmap: Path | None = None
    sandbox: bool = False
    sandbox_missing: list[str] = field(default_factory=list)
    failure_dir: Path | None = None

    @property
    def ok(self) -> bool:
        """True when nothing would make a training run fail (console-only findings allowed)."""
        return (
            not self.load_error
            and not self.failures
            and not any(f.severity == ERROR for f in self.findings)
        )

    @property
    def console_ok(self) -> bool:
        """True when the DeepRacer console would accept the file too."""
        return (
            self.ok
            and not self.findings
            and all(result.startswith("float") for _, result in self.console_cars)
        )

    def format(self, lenient: bool = False) -> str:
        """The report as text for the terminal.

        Args:
            lenient: the verdict passes what only the DeepRacer console would reject.
        """
        return _format(self, lenient)


# ---------------------------------------------------------------------------------- report
def _stats(values: np.ndarray) -> str:
    if len(values) == 0:
        return "no samples"
    p = np.percentile(values, [0, 5, 50, 95, 100])
    return (f"n={len(values):,}  min {p[0]:.4g}  p5 {p[1]:.4g}  median {p[2]:.4g}  "
            f"p95 {p[3]:.4g}  max {p[4]:.4g}  mean {values.mean():.4g}")  # fmt: skip


def _histogram(values: np.ndarray, bins: int = 8, width: int = 40) -> list[str]:
    if len(values) == 0 or np.ptp(values) == 0:
        return []
    counts, edges = np.histogram(values, bins=bins)
    top = counts.max()
    rows = []
    for i, count in enumerate(counts):
        bar = "#" * int(round(width * count / top))
        rows.append(f"  {edges[i]:>10.4g} .. {edges[i + 1]:<10.4g} {bar:<{width}} {count:,}")
    return rows


def _format(report: ValidationReport, lenient: bool) -> str:  # noqa: C901
    lines = []
    track = report.track
    where = f" on {track.name} ({track.length:.2f} m)" if track is not None else ""
    lines.append(f"racer validate {report.path}{where}")
    lines.append("")
    lines.append("DeepRacer console checks")
    if report.findings:
        lines += [f"  {f}" for f in report.findings]
    elif not report.load_error:
        lines.append("  ok: syntax, names, imports, forbidden builtins, one parameter")
    if report.load_error:
        lines.append("")
        lines.append("cannot load the reward function:")
        lines.append(f"  {report.load_error}")
        lines.append("")
        lines.append("result: FAIL. Fix the file and run racer validate again.")
        return "\n".join(lines)
    if report.console_cars:
        cars = "; ".join(f"{name}: {result}" for name, result in report.console_cars)
        lines.append(f"  five synthetic cars: {cars}")
        not_float = [name for name, result in report.console_cars
                     if not result.startswith("float") and result != "failed"]  # fmt: skip
        if not_float:
            lines.append(f"  [console would reject] the {', '.join(not_float)} car got no "
                         "float: the console wants float(reward) (racer converts)")  # fmt: skip
    lines.append("")
    lines.append("racer checks")
    lines.append(f"  {report.calls:,} reward calls: the whole track both ways, on and off the "
                 "road, every action, the lap wrap-around, and real episodes")  # fmt: skip
    for case, status, steps in report.episodes:
        lines.append(f"  {case}: {status} after {steps} steps")
    lines += _format_failures(report)
    if len(report.rewards):
        lines.append("")
        lines.append("reward distribution over the sweep")
        on = report.rewards[report.on_track]
        off = report.rewards[report.off_track]
        lines.append(f"  all wheels on track: {_stats(on)}")
        lines.append(f"  off track:           {_stats(off)}")
        lines += _histogram(report.rewards)
        lines += _hints(report, on, off)
    if report.sandbox:
        lines.append("")
        lines.append("sandbox: no network, no writes, no programs, bounded files and memory"
                     if not report.sandbox_missing else "sandbox, except:")  # fmt: skip
        lines += [f"  {note}" for note in report.sandbox_missing]
    if report.printed:
        lines.append("")
        lines.append(f"printed {len(report.printed):,} lines (training sends them to the run's "
                     "log), the first:")  # fmt: skip
        lines += [f"  | {line}" for line in report.printed[:3]]
    if report.heatmap is not None:
        lines.append("")
        lines.append(f"heat map: {report.heatmap}")
    lines.append("")
    lines.append(f"result: {_verdict(report, lenient)} ({report.seconds:.1f} s)")
    return "\n".join(lines)


def _verdict(report: ValidationReport, lenient: bool) -> str:
    if not report.ok:
        return "FAIL: a training run would stop on the errors above"
    if report.console_ok:
        return "OK: it would run a whole training without failing"
    if lenient:
        return ("OK (--lenient): it would run a whole training without failing; the DeepRacer "
                "console would reject it as it is, see above")  # fmt: skip
    return ("FAIL: the DeepRacer console would reject it (the [console would reject] notes "
            "above); racer itself would run it: --lenient accepts that")  # fmt: skip


def _format_failures(report: ValidationReport) -> list[str]:
    if not report.failures:
        return []
    lines = ["", f"ERRORS ({sum(f.count for f in report.failures.values()):,} failing calls"
             f"{', stopped early' if report.stopped_early else ''}):"]  # fmt: skip
    for failure in report.failures.values():
        where = ", ".join(f"{case} ({n:,})" for case, n in failure.cases.items())
        lines.append(f"- {failure.count:,} x {failure.problem}; in {where}; the first:")
        lines += [f"    {line}" for line in failure.message.splitlines()]
        if failure.params_file is not None:
            lines.append(f"    params: {failure.params_file}")
            lines.append(f"    replay: racer validate {report.path} --params "
                         f"{failure.params_file}")  # fmt: skip
    saved = sum(f.params_file is not None for f in report.failures.values())
    if report.failure_dir is not None:
        lines.append(f"The params of the first failing call of {saved} problem(s) are saved in "
                     f"{report.failure_dir}"
                     + (f" ({len(report.failures) - saved:,} more problem(s) not saved)."
                        if saved < len(report.failures) else "."))  # fmt: skip
    return lines


def _hints(report: ValidationReport, on: np.ndarray, off: np.ndarray) -> list[str]:
    out = []
    if np.ptp(report.rewards) == 0:
        out.append("  note: the reward is the same everywhere: the car cannot learn from it")
    elif len(on) and len(off) and off.mean() >= on.mean():
        out.append("  note: off-track cars earn as much as on-track ones on average: the car "
                   "may learn to leave the road")  # fmt: skip
    return out
