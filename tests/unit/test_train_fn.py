import json

import pytest
import torch

from samplegen.models import make_generator
from samplegen.train.distributed import _append_history
from samplegen.train.loop import train_loop


def test_history_keeps_one_record_per_epoch_across_resumes(tmp_path):
    path = tmp_path / "history.json"
    _append_history(path, [{"epoch": 0, "loss": 3.0}, {"epoch": 1, "loss": 2.0}])
    _append_history(path, [{"epoch": 1, "loss": 1.9}, {"epoch": 2, "loss": 1.5}])
    _append_history(path, [])
    assert json.loads(path.read_text()) == [
        {"epoch": 0, "loss": 3.0},
        {"epoch": 1, "loss": 1.9},
        {"epoch": 2, "loss": 1.5},
    ]


def test_checkpoint_of_another_vocabulary_is_a_clear_error(tmp_path):
    def batches(n_items):
        while True:
            yield (torch.rand(8, n_items) > 0.7).float()

    small = make_generator("multvae", {"n_items": 20, "hidden_dims": [8, 4]})
    train_loop(small, batches(20), epochs=1, steps_per_epoch=2, checkpoint_dir=tmp_path)
    other = make_generator("multvae", {"n_items": 30, "hidden_dims": [8, 4]})
    with pytest.raises(ValueError, match="new run id"):
        train_loop(other, batches(30), epochs=2, steps_per_epoch=2, checkpoint_dir=tmp_path)


def test_spec_round_trips_through_json_and_knows_its_family():
    from samplegen.train.spec import TrainSpec, ValidationSpec

    common = {
        "files": ["/lake/a.parquet"],
        "loader": "arrow",
        "batch_size": 64,
        "epochs": 3,
        "steps_per_epoch": 7,
        "learning_rate": 1e-3,
        "weight_decay": 0.0,
        "seed": 42,
        "use_gpu": False,
        "allow_tf32": True,
        "output_dir": "/models/multvae/run",
    }
    validation = ValidationSpec(["/lake/a.parquet"], ["/lake/v.parquet"], 100, 10)
    items = TrainSpec(model="multvae", params={"n_items": 5}, validation=validation, **common)
    rows = TrainSpec(
        model="tabular",
        params={"pac": 10},
        columns=["label", "price"],
        where=("split", "train"),
        n_rows=900,
        **common,
    )
    for spec in (items, rows):
        assert TrainSpec.from_json(spec.to_json()) == spec
    assert not items.tabular and rows.tabular
    assert "validation" not in items.settings() and "columns" not in items.settings()
    assert rows.settings()["where"] == ("split", "train")


def test_model_folder_layout_and_missing_model(tmp_path):
    from samplegen.config import Config
    from samplegen.models import store

    cfg = Config()
    cfg.models_root = str(tmp_path)
    folder = store.model_dir(cfg, "r1")
    assert folder == tmp_path / cfg.train.model / "r1"
    with pytest.raises(FileNotFoundError, match="run `samplegen train` first"):
        store.require_model(folder, "r1")
    make_generator("multvae", {"n_items": 6, "hidden_dims": [4, 2]}).save(folder)
    store.require_model(folder, "r1")
    assert {p.name for p in folder.iterdir()} == {store.MODEL_FILE, store.CONFIG_FILE}
    assert store.read_generator(folder).n_items == 6


@pytest.mark.parametrize("run_id", ["../../../tmp/evil", "..", "/abs", ""])
def test_a_model_folder_never_leaves_the_models_root(tmp_path, run_id):
    from samplegen.config import Config
    from samplegen.ids import IdentifierError
    from samplegen.models import store

    cfg = Config()
    cfg.models_root = str(tmp_path / "models")
    with pytest.raises(IdentifierError, match="run id"):
        store.model_dir(cfg, run_id)
