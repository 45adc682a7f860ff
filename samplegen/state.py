"""Damaged state on disk: one error that names the file and what to run to repair it.

State that samplegen wrote earlier and reads back (a training checkpoint, a model folder, a
run's manifest, a Delta table's data files) can be damaged by a kill in the middle of a copy, a
full disk, a hand edit or a cleanup script. Reading it then fails deep inside torch, json or
Spark with a message that names neither the file nor the way out. Every reader of such state
raises :class:`DamagedStateError` instead: one line that says which file, what is wrong with it
and the command (or action) that repairs it, e.g. ``samplegen train --run-id r1 --force``.
This module imports nothing heavy, so any layer may use it.
"""

from __future__ import annotations

from pathlib import Path


class DamagedStateError(RuntimeError):
    """A file samplegen wrote earlier cannot be used as it is.

    Attributes:
        path: the damaged file (or folder).
        problem: what is wrong with it, e.g. ``"is not JSON (line 1, column 1)"``.
        repair: what the user should run or do, e.g. ``"samplegen aggregate --force"``.
    """

    def __init__(self, path: str | Path, problem: str, repair: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.repair = repair
        super().__init__(f"{self.path} {problem}; to repair: {repair}")


def short_reason(err: BaseException, limit: int = 160) -> str:
    """The first line of ``err``'s message, at most ``limit`` characters, for a message."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
