import re
import subprocess
import sys
from pathlib import Path

import pytest

from samplegen.cli import build_parser, main
from samplegen.config import config_reference

REPO = Path(__file__).resolve().parents[2]


def test_readme_config_reference_matches_the_code():
    readme = (REPO / "README.md").read_text()
    section = re.search(
        r"<!-- config-reference:start -->\n(.*)<!-- config-reference:end -->", readme, re.S
    )
    assert section, "README.md lost its config-reference markers"
    assert (
        section.group(1) == config_reference()
    ), "README config reference is stale: run `samplegen config-reference` and paste it"


def test_reference_lists_every_key_once():
    reference = config_reference()
    for key in ("spark.master", "train.loader", "generate.max_user_items", "evaluate.k"):
        assert reference.count(f"| `{key}` |") == 1


@pytest.mark.parametrize(
    "command", ["run", "aggregate", "train", "generate", "evaluate", "runs", "tune"]
)
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    assert "example" in capsys.readouterr().out


def test_config_error_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trian: {}\n")
    assert main(["run", "--conf", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trian" in err[0]


def test_generate_without_run_id_is_refused(capsys):
    assert main(["generate", "--conf", str(REPO / "conf" / "local.yaml")]) == 2
    assert "--run-id" in capsys.readouterr().err


def test_console_script_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "samplegen.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "samplegen run --conf conf/local.yaml" in out.stdout


def test_runs_lists_manifests(tmp_path, capsys):
    from samplegen.runinfo import StageResult, update_manifest

    result = StageResult(stage="evaluate", run_id="r1", metrics={"verdict": ["ease: better"]})
    update_manifest(str(tmp_path), "r1", {}, result)
    conf = tmp_path / "c.yaml"
    conf.write_text(f"reports_root: {tmp_path}\n")
    assert main(["runs", "--conf", str(conf)]) == 0
    out = capsys.readouterr().out
    assert "r1" in out and "evaluate=done" in out and "ease: better" in out


def test_finished_stage_needs_its_outputs(tmp_path):
    from samplegen.runinfo import StageResult, finished_stage, update_manifest

    output = tmp_path / "table"
    output.mkdir()
    result = StageResult(stage="aggregate", run_id="r", outputs={"t": str(output)})
    update_manifest(str(tmp_path), "r", {}, result)
    assert finished_stage(str(tmp_path), "r", "aggregate").outputs == {"t": str(output)}
    assert finished_stage(str(tmp_path), "r", "train") is None
    output.rmdir()
    assert finished_stage(str(tmp_path), "r", "aggregate") is None
    failed = StageResult(stage="train", run_id="r", status="failed")
    update_manifest(str(tmp_path), "r", {}, failed)
    assert finished_stage(str(tmp_path), "r", "train") is None


def test_console_entry_point_exits_with_the_code(monkeypatch):
    from samplegen.cli import run

    monkeypatch.setattr(
        sys, "argv", ["samplegen", "generate", "--conf", str(REPO / "conf" / "local.yaml")]
    )
    with pytest.raises(SystemExit) as done:
        run()
    assert done.value.code == 2
