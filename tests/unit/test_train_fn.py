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
