"""`make bench`: run every benchmark, print one table and write it to bench/results.md.

`python bench/run.py reports followups` runs only the benchmarks named (in the order of MODULES)
and writes bench/results-followups-reports.md instead, so that a partial run never replaces the
full table.

Each figure is compared with a baseline measured in the same run, on the same machine, so the
ratio means something wherever it runs.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Row, setup_django

# The benchmarks by name, in the order `make bench` runs them (see main()).
MODULES = ("imports", "followups", "reports", "web")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def table(rows: list[Row]) -> str:
    lines = [
        "| name | workload | figure | baseline | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.workload} | {row.figure:,.1f} {row.unit.split(' ')[0]} | "
            f"{row.baseline:,.1f} | {row.ratio:.2f}× |"
        )
    return "\n".join(lines)


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}: choose among {', '.join(MODULES)}")
    selected = [name for name in MODULES if not names or name in names]
    setup_django()
    from bench import followups, imports, reports, web

    runners: dict[str, Callable[[Path], list[Row]]] = {
        "imports": imports.run,
        "followups": followups.run,
        "reports": reports.run,
        "web": web.run,
    }
    rows: list[Row] = []
    for name in selected:
        with tempfile.TemporaryDirectory() as tmp:
            rows += runners[name](Path(tmp))
    output = table(rows)
    notes = "\n".join(f"- {row.name}: {row.unit}" for row in rows)
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    title = "Benchmarks" if len(selected) == len(MODULES) else f"Benchmarks: {', '.join(selected)}"
    report = f"# {title}\n\nRun {when} on {machine()}.\n\n{output}\n\n{notes}\n"
    drills = ROOT / "bench" / "drills.md"
    if len(selected) == len(MODULES) and drills.exists():
        # `make drills` writes its table there; kept beside the figures, with its own date.
        report += "\n#" + drills.read_text()
    # Only a full run replaces results.md; a partial one keeps a file of its own.
    suffix = "" if len(selected) == len(MODULES) else "-" + "-".join(selected)
    (ROOT / "bench" / f"results{suffix}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main(sys.argv[1:])
