"""Identifiers users give and the paths built from them (samplegen.ids); more hostile ids are
in the bad-input corpus (ARGUMENT_CASES, CONFIG_CASES)."""

import pytest

from samplegen.cli import check_run_paths
from samplegen.config import load_config
from samplegen.ids import (
    IDENTIFIER_PATTERN,
    IdentifierError,
    check_experiment_name,
    check_identifier,
    is_identifier,
    path_under,
)
from samplegen.notebook import notebook_params
from samplegen.runinfo import manifest_path, new_run_id
from tests.conftest import REPO


@pytest.mark.parametrize(
    "value",
    ["r", "nightly-2026-11-28", "20261128T051500-3f9a2c", "a.b_c-d", "7", "x" * 128, "123456789"],
)
def test_identifiers_that_pass(value):
    assert is_identifier(value) and check_identifier(value, "--run-id") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 129,
        "..",
        "a..b",
        "../x",
        "/abs",
        "a/b",
        "a\\b",
        ".x",
        "-x",
        "_x",
        "a b",
        "a'b",
        "a\u202eb",
        "caf\u00e9",
        "a\nb",
        None,
        7,
    ],
)
def test_identifiers_that_are_refused(value):
    assert not is_identifier(value)
    with pytest.raises(IdentifierError, match=r"^--run-id .* is not a valid identifier"):
        check_identifier(value, "--run-id")


def test_the_pattern_is_documented_once_in_the_readme():
    assert f"`{IDENTIFIER_PATTERN}`" in (REPO / "README.md").read_text()


def test_new_run_ids_are_identifiers():
    assert is_identifier(new_run_id())


@pytest.mark.parametrize(
    ("root", "parts", "expected"),
    [
        ("./lakehouse/models", ("multvae", "r1"), "./lakehouse/models/multvae/r1"),
        ("/data/models/", ("cvae", "r1"), "/data/models/cvae/r1"),
        ("s3://bucket/models", ("multvae", "r1"), "s3://bucket/models/multvae/r1"),
        (
            "abfss://c@acct.dfs.core.windows.net/m",
            ("gan", "r"),
            "abfss://c@acct.dfs.core.windows.net/m/gan/r",
        ),
        ("dbfs:/samplegen/reports", ("r1",), "dbfs:/samplegen/reports/r1"),
        ("s3://bucket", ("r1",), "s3://bucket/r1"),
    ],
)
def test_paths_inside_their_root(root, parts, expected):
    assert path_under(root, *parts) == expected


@pytest.mark.parametrize(
    ("root", "parts"),
    [
        ("./lakehouse/models", ("multvae", "../../../tmp/evil")),
        ("./lakehouse/models", ("multvae", "/tmp/evil")),
        ("./lakehouse/models", ("..",)),
        ("./lakehouse/models", ("",)),
        ("./reports", ("r/../../x",)),
        ("/data/models", ("../models-other/x",)),  # a sibling sharing the root's prefix
        ("s3://bucket/models", ("multvae", "../../other")),
        ("dbfs:/samplegen", ("..", "x")),
    ],
)
def test_paths_leaving_their_root_are_refused(root, parts):
    with pytest.raises(IdentifierError, match=r"^--run-id: .* does not stay inside its root"):
        path_under(root, *parts, name="--run-id")


def test_run_paths_and_manifest_paths_are_checked(tmp_path):
    cfg = load_config(None, [f"models_root={tmp_path}/m", f"reports_root={tmp_path}/r"])
    check_run_paths(cfg, "r1")
    with pytest.raises(IdentifierError, match="--run-id"):
        check_run_paths(cfg, "../../escape")
    assert manifest_path(str(tmp_path), "r1") == tmp_path / "r1" / "manifest.json"
    with pytest.raises(IdentifierError, match="run id"):
        manifest_path(str(tmp_path), "../r1")
    assert not (tmp_path.parent / "r1").exists()


@pytest.mark.parametrize(
    "name", ["samplegen-test", "/Users/alice@example.com/samplegen", "/Shared/team+x/exp.v2"]
)
def test_experiment_names_that_pass(name):
    assert check_experiment_name(name, "train.mlflow_experiment") == name
    assert load_config(None, [f"train.mlflow_experiment={name}"]).train.mlflow_experiment == name


@pytest.mark.parametrize("name", ["", "/", "a b", "/Users/../x", "x//y", "exp'1", "x" * 600])
def test_experiment_names_that_are_refused(name):
    with pytest.raises(IdentifierError, match="train.mlflow_experiment"):
        check_experiment_name(name, "train.mlflow_experiment")


def test_notebook_run_id_widget_is_checked(monkeypatch):
    monkeypatch.setenv("SAMPLEGEN_CONF", str(REPO / "conf" / "local.yaml"))
    monkeypatch.setenv("SAMPLEGEN_RUN_ID", "../../../tmp/evil")
    with pytest.raises(ValueError, match=r"run_id widget .* is not a valid identifier"):
        notebook_params({}, require_run_id=True)
