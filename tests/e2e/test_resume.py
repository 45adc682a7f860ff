"""A pipeline killed mid-training resumes from its last finished stage and checkpoint."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import SUBPROCESS_JVM, small_config

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.drill]


def start(conf, run_id):
    return subprocess.Popen(
        [sys.executable, "-m", "samplegen.cli", "run", "--conf", str(conf), "--run-id", run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def test_killed_pipeline_resumes(tmp_path):
    cfg = small_config(
        tmp_path,
        [
            "spark.master=local[2]",
            "data.max_users=60",
            "aggregate.top_n_items=300",
            "aggregate.samples_ctr=false",
            "train.num_processes=1",
            "train.local_mode=true",
            "train.epochs=12",
            "evaluate.recommenders=[popularity]",
            "evaluate.dose_ratios=[]",
            *[f"spark.conf.{key}='{value}'" for key, value in SUBPROCESS_JVM.items()],
        ],
    )
    conf = tmp_path / "local.yaml"
    conf.write_text(yaml.safe_dump(cfg.to_dict()))

    first = start(conf, "killed")
    seen = []
    deadline = time.monotonic() + 600
    for line in first.stdout:
        seen.append(line)
        if "epoch=2 " in line or time.monotonic() > deadline:
            break
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert any("epoch=2 " in line for line in seen), "".join(seen[-30:])

    second = start(conf, "killed")
    output, _ = second.communicate(timeout=900)
    assert second.returncode == 0, output[-3000:]
    assert "stage=aggregate run_id=killed event=skip" in output
    assert "event=resume" in output
    assert "epoch=0 " not in output.split("event=resume", 1)[1]
    assert "run killed finished" in output
