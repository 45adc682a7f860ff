"""Damaged checkpoints, model folders and manifests (the corpus's STATE_CASES, without Spark).

Each case writes sound state the way samplegen does (a real training run's checkpoints, a saved
generator, a manifest), damages it as the case says and reads it back the way a resume, a
generate or a rerun does: the error must be a DamagedStateError naming the file and the repair.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from samplegen.config import Config
from samplegen.models import make_generator, store
from samplegen.pipeline import run_stages
from samplegen.runinfo import StageResult, list_runs, read_manifest, update_manifest
from samplegen.state import DamagedStateError
from samplegen.train.distributed import _append_history
from samplegen.train.loop import CHECKSUM_KEY, train_loop
from tests.corpus.bad_input import STATE_CASES, StateCase
from tests.unit.test_multvae import block_batches, small_vae

LOCAL_CASES = [c for c in STATE_CASES if not c.damage.startswith("delta_")]


def _damage(path: Path, how: str) -> None:
    """Damage the file ``path`` as the corpus says (``how`` is the part before the colon)."""
    if how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink()
    elif how == "garble":
        path.write_text('{"run_id": "r1", "stages": {', encoding="utf-8")
    elif how == "list":
        path.write_text('["not", "a", "manifest"]', encoding="utf-8")
    elif how in ("edit", "strip_checksum"):
        state = torch.load(path, weights_only=True)
        if how == "edit":
            first = next(iter(state["model"]))
            state["model"][first] = state["model"][first] + 1e-3
        else:
            del state[CHECKSUM_KEY]
        torch.save(state, path)
    else:  # pragma: no cover - a corpus typo
        raise ValueError(f"unknown damage {how!r}")


def _train(folder: Path, epochs: int) -> list[dict]:
    torch.manual_seed(3)
    scores = iter([0.1, 0.2, 0.3, 0.4])
    return train_loop(
        small_vae(),
        block_batches(3),
        epochs=epochs,
        steps_per_epoch=2,
        checkpoint_dir=folder,
        validate=lambda generator: next(scores),
    )


def _config(tmp_path: Path) -> Config:
    cfg = Config()
    cfg.models_root = str(tmp_path / "models")
    cfg.reports_root = str(tmp_path / "reports")
    return cfg


def _read_back(case: StateCase, tmp_path: Path) -> None:
    """Write sound state, damage it and read it back as samplegen does (raises for the case)."""
    how, name = case.damage.split(":")
    cfg = _config(tmp_path)
    if name in (store.CHECKPOINT_FILE, store.BEST_FILE):
        folder = store.checkpoints_dir(store.model_dir(cfg, "r1"))
        _train(folder, epochs=1)
        _damage(folder / name, how)
        _train(folder, epochs=2)  # the resume
    elif name == store.HISTORY_FILE:
        path = store.model_dir(cfg, "r1") / name
        path.parent.mkdir(parents=True)
        _append_history(path, [{"epoch": 0, "loss": 1.0}])  # what a training's rank 0 writes
        _damage(path, how)
        _append_history(path, [{"epoch": 1, "loss": 0.5}])  # what a resumed training appends
    elif name in (store.MODEL_FILE, store.CONFIG_FILE):
        folder = store.model_dir(cfg, "r1")
        make_generator("multvae", {"n_items": 6, "hidden_dims": [4, 2]}).save(folder)
        _damage(folder / name, how)
        store.require_model(folder, "r1")  # what generate checks first
        store.read_generator(folder)  # what generate and evaluate load
    else:
        path = update_manifest(cfg.reports_root, "r1", {}, StageResult("aggregate", "r1"))
        _damage(path, how)
        run_stages(None, cfg, "r1", ["aggregate"])  # skips finished stages: reads the manifest


@pytest.mark.parametrize("case", LOCAL_CASES, ids=lambda c: c.name)
def test_damaged_state_names_the_file_and_the_repair(case: StateCase, tmp_path):
    with pytest.raises(DamagedStateError, match=case.error) as caught:
        _read_back(case, tmp_path)
    assert Path(caught.value.path).name == case.damage.split(":")[1]
    assert "\n" not in str(caught.value)  # one line for a scheduler


def test_sound_checkpoints_resume_and_carry_their_checksum(tmp_path):
    assert [r["epoch"] for r in _train(tmp_path, epochs=1)] == [0]
    for name in (store.CHECKPOINT_FILE, store.BEST_FILE):
        assert len(torch.load(tmp_path / name, weights_only=True)[CHECKSUM_KEY]) == 64
    assert [r["epoch"] for r in _train(tmp_path, epochs=3)] == [1, 2]


def test_a_refused_checkpoint_leaves_the_folder_untouched(tmp_path):
    _train(tmp_path, epochs=1)
    _damage(tmp_path / store.CHECKPOINT_FILE, "edit")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(DamagedStateError):
        _train(tmp_path, epochs=2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    for path in tmp_path.iterdir():  # the repair the message gives: restart from epoch 0
        path.unlink()
    assert [r["epoch"] for r in _train(tmp_path, epochs=2)] == [0, 1]


def test_force_sets_a_damaged_manifest_aside(tmp_path):
    cfg = _config(tmp_path)
    path = update_manifest(cfg.reports_root, "r1", {}, StageResult("aggregate", "r1"))
    path.write_text("{oops", encoding="utf-8")
    assert list_runs(cfg.reports_root)[0]["stages"] == {"manifest": "damaged"}
    assert run_stages(None, cfg, "r1", [], force=True) == []
    assert read_manifest(cfg.reports_root, "r1") == {}
    (aside,) = path.parent.glob("manifest.json.damaged-*")
    assert aside.read_text(encoding="utf-8") == "{oops"


def test_a_model_folder_with_both_files_is_sound(tmp_path):
    folder = store.model_dir(_config(tmp_path), "r1")
    make_generator("multvae", {"n_items": 6, "hidden_dims": [4, 2]}).save(folder)
    store.require_model(folder, "r1")
    assert json.loads((folder / store.CONFIG_FILE).read_text())["name"] == "multvae"
    assert store.read_generator(folder).n_items == 6
