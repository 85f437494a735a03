"""`make bench`: run every benchmark, print one table and write it to bench/results.md.

Each figure is compared with a baseline measured in the same run, on the same machine, so the
ratio means something wherever it runs.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Row, setup_django


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


def main() -> None:
    setup_django()
    from bench import followups, imports

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += imports.run(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        rows += followups.run(Path(tmp))
    output = table(rows)
    notes = "\n".join(f"- {row.name}: {row.unit}" for row in rows)
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    report = f"# Benchmarks\n\nRun {when} on {machine()}.\n\n{output}\n\n{notes}\n"
    (ROOT / "bench" / "results.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
