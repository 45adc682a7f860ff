"""What every stage returns and records: StageResult, run ids, log lines and the manifest.

A manifest that is not a JSON object (truncated by a full disk, hand-edited) is damaged state:
reading it raises :class:`~samplegen.state.DamagedStateError` naming the file, and
``--force`` repairs it (:func:`set_aside_damaged_manifest` renames it and the stage reruns,
writing a new one); ``samplegen runs`` lists such a run as ``manifest=damaged``.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samplegen.ids import check_identifier, path_under
from samplegen.locations import local_folder
from samplegen.redact import RedactingFilter, mask_config
from samplegen.state import DamagedStateError

if TYPE_CHECKING:
    from samplegen.config import Config

LOG = logging.getLogger("samplegen")


@dataclass
class StageResult:
    """Outcome of one stage: row counts, duration, outputs and headline figures."""

    stage: str
    run_id: str
    status: str = "done"
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def declined(cfg: Config, result: StageResult) -> bool:
    """Whether ``cfg``'s recipe declines the stage of ``result``; if so, ``result`` says why.

    The stage then ends with status ``declined`` and nothing written: its verdict is the
    recipe's reason (:meth:`samplegen.config.RecipeConfig.declines`), logged once. A declined
    stage is not finished, so a rerun (e.g. with ``recipe.force``) runs it.
    """
    reason = cfg.recipe.declines()
    if reason is None:
        return False
    LOG.info("stage=%s run_id=%s event=declined %s", result.stage, result.run_id, reason)
    result.status = "declined"
    result.metrics = {"declined": reason, "verdict": [reason]}
    return True


def result_lines(result: StageResult) -> list[str]:
    """A stage result as a few readable lines (the CLI's summary and the notebooks' output)."""
    lines = [f"{result.stage}: {result.status} in {result.seconds:.1f}s, rows: {result.rows}"]
    lines += [f"  {name}: {location}" for name, location in result.outputs.items()]
    lines += [f"  verdict: {line}" for line in result.metrics.get("verdict", [])]
    return lines


def configure_logging(level: int = logging.INFO) -> None:
    """One line per event with a UTC timestamp, usable by schedulers and humans alike."""
    if LOG.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("%(asctime)s samplegen %(levelname)s %(message)s")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())  # credentials never reach a log line
    LOG.addHandler(handler)
    LOG.setLevel(level)
    LOG.propagate = False


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261128T051500-3f9a2c``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


@contextmanager
def stage_timer(result: StageResult) -> Iterator[StageResult]:
    """Log the stage's start and end lines and fill in its duration."""
    LOG.info("stage=%s run_id=%s event=start", result.stage, result.run_id)
    started = time.perf_counter()
    yield result
    result.seconds = round(time.perf_counter() - started, 2)
    rows = " ".join(f"{name}={count}" for name, count in result.rows.items())
    LOG.info(
        "stage=%s run_id=%s event=end seconds=%.1f %s",
        result.stage,
        result.run_id,
        result.seconds,
        rows,
    )


class Progress:
    """Progress of a step that a person waits for.

    In a terminal it redraws one bar on stderr; elsewhere (schedulers, log files) it writes
    one plain log line per step, so logs stay one line per event.
    """

    def __init__(self, total: int, label: str, stream: Any = None) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, note: str = "") -> None:
        """Count one step as finished; ``note`` says which."""
        self.done += 1
        if self.interactive:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            end = "\n" if self.done >= self.total else ""
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {note:<30}{end}")
            self.stream.flush()
        else:
            LOG.info("progress=%s step=%d/%d %s", self.label, self.done, self.total, note)


def package_versions() -> dict[str, str]:
    """Versions of the stack, for the manifest."""
    from importlib.metadata import PackageNotFoundError, version

    import samplegen

    versions = {"python": platform.python_version(), "samplegen_from": str(samplegen.__file__)}
    for name in ("samplegen", "pyspark", "delta-spark", "torch", "petastorm", "pyarrow", "numpy"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def report_dir(reports_root: str, run_id: str) -> Path:
    """``<reports_root>/<run_id>``, where the run's manifest and report are written.

    ``reports_root`` may be a local or mounted folder (``/Volumes/...``) or ``dbfs:/...``,
    written through the ``/dbfs`` mount (:func:`samplegen.locations.local_folder`).

    Raises:
        IdentifierError: if ``run_id`` is not an identifier or the path would leave the root.
    """
    check_identifier(run_id, "run id")
    return Path(local_folder(path_under(reports_root, run_id, name="run id"), "reports_root"))


def manifest_path(reports_root: str, run_id: str) -> Path:
    """``reports/<run_id>/manifest.json``.

    Raises:
        IdentifierError: if ``run_id`` is not an identifier or the path would leave the root.
    """
    return report_dir(reports_root, run_id) / "manifest.json"


def _read_json_object(path: Path, repair: str) -> dict[str, Any]:
    """The JSON object in ``path``; anything else is damaged state."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedStateError(path, f"is not JSON ({err})", repair) from err
    if not isinstance(content, dict):
        problem = f"holds a JSON {type(content).__name__}, not a manifest object"
        raise DamagedStateError(path, problem, repair)
    return content


def read_manifest(reports_root: str, run_id: str) -> dict[str, Any]:
    """The run's manifest, or an empty dict for a run that has not started.

    Raises:
        DamagedStateError: the manifest is not a JSON object; the repair is ``--force``.
    """
    path = manifest_path(reports_root, run_id)
    if not path.exists():
        return {}
    repair = (
        f"rerun the stage with `--run-id {run_id} --force` (the damaged file is kept beside it "
        "as manifest.json.damaged-<time> and the stage writes a new manifest)"
    )
    return _read_json_object(path, repair)


def set_aside_damaged_manifest(reports_root: str, run_id: str) -> Path | None:
    """Rename a damaged manifest of ``run_id`` to ``manifest.json.damaged-<UTC time>``.

    Called by a forced run: the stages it redoes write a fresh manifest, and the damaged one
    stays for inspection. Returns the new path, or None when the manifest is absent or sound.
    """
    try:
        read_manifest(reports_root, run_id)
    except DamagedStateError as err:
        path = manifest_path(reports_root, run_id)
        aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        path.replace(aside)
        LOG.warning("run_id=%s event=manifest_set_aside %s; kept as %s", run_id, err, aside)
        return aside
    return None


def finished_stage(reports_root: str, run_id: str, stage: str) -> StageResult | None:
    """The recorded result of ``stage`` if it finished for ``run_id``, else None.

    A recorded stage whose local outputs have since disappeared does not count as finished.
    """
    record = read_manifest(reports_root, run_id).get("stages", {}).get(stage)
    if not record or record.get("status") != "done":
        return None
    missing = [
        location
        for location in record.get("outputs", {}).values()
        # Local paths only: not URIs, not catalog names (identifiers hold no '/').
        if "/" in str(location) and ":/" not in str(location) and not Path(location).exists()
    ]
    if missing:
        LOG.info("stage=%s run_id=%s outputs missing, rerunning: %s", stage, run_id, missing)
        return None
    return StageResult(**record)


def update_manifest(
    reports_root: str, run_id: str, config: dict[str, Any], result: StageResult
) -> Path:
    """Merge ``result`` into ``reports/<run_id>/manifest.json`` and return its path."""
    path = manifest_path(reports_root, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(reports_root, run_id)
    manifest.update(
        {
            "run_id": run_id,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": mask_config(config),  # no credentials on disk
            "versions": package_versions(),
        }
    )
    manifest.setdefault("stages", {})[result.stage] = asdict(result)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(manifest, indent=2, default=str))
    partial.replace(path)
    return path


def list_runs(reports_root: str) -> list[dict[str, Any]]:
    """Every run with a manifest under ``reports_root``, newest first."""
    runs = []
    for path in Path(local_folder(reports_root, "reports_root")).glob("*/manifest.json"):
        try:
            manifest = _read_json_object(path, "rerun the run's stage with --force")
        except DamagedStateError as err:
            LOG.warning("event=manifest_damaged %s", err)
            runs.append(
                {"run_id": path.parent.name, "updated_at": "", "stages": {"manifest": "damaged"}}
                | {"verdict": []}
            )
            continue
        stages = manifest.get("stages", {})
        runs.append(
            {
                "run_id": manifest.get("run_id", path.parent.name),
                "updated_at": manifest.get("updated_at", ""),
                "stages": {name: record.get("status") for name, record in stages.items()},
                "verdict": stages.get("evaluate", {}).get("metrics", {}).get("verdict", []),
            }
        )
    return sorted(runs, key=lambda run: run["updated_at"], reverse=True)
