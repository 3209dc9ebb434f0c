"""Shared by the benchmark scripts: is anything else using the machine while they measure?

Figures taken while other processes load the 2 cores are not comparable, so each script reports
how much CPU the rest of the machine took during its run.
"""

from __future__ import annotations

import os


def machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used (``/proc/stat``), None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have exited."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def report_machine(label: str, busy_before: float | None, own_before: float, wall: float) -> None:
    """How much CPU other processes took while the benchmark ran: they disturb the figures."""
    busy_after = machine_busy_seconds()
    if busy_before is None or busy_after is None or wall <= 0:
        return
    foreign = max(0.0, (busy_after - busy_before) - (own_cpu_seconds() - own_before))
    cores = os.cpu_count() or 1
    share = foreign / (wall * cores)
    note = "quiet enough" if share < 0.05 else "figures disturbed: rerun on a quiet machine"
    print(
        f"{label}: other processes used {foreign:.1f} CPU-s in {wall:.0f} s "
        f"({share:.0%} of {cores} cores): {note}"
    )
