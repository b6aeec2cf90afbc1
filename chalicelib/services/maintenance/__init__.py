"""The maintenance sweeps: one loop (``_sweep``) and three policies on it: the zombie killer
(``_zombies``), Lazarus (``_lazarus``) and the late-runs marker (``_late_runs``).
"""

from chalicelib.services.maintenance._late_runs import mark_late_runs
from chalicelib.services.maintenance._lazarus import revive_crashed_runs
from chalicelib.services.maintenance._sweep import (
    Budget,
    SweepReport,
    transition,
)
from chalicelib.services.maintenance._zombies import kill_zombies

__all__ = [
    "Budget",
    "SweepReport",
    "kill_zombies",
    "mark_late_runs",
    "revive_crashed_runs",
    "transition",
]
