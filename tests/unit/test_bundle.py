"""The Databricks Asset Bundle (databricks.yml + resources/*.yml): structure, not deployment."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from samplegen.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
JOB_FILE = REPO / "resources" / "samplegen_pipeline.job.yml"
STAGES = ["aggregate", "train", "generate", "evaluate"]
REQUIRED_VARIABLES = {"events_path"}
VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def bundle() -> dict:
    return yaml.safe_load((REPO / "databricks.yml").read_text())


@pytest.fixture(scope="module")
def job() -> dict:
    resources = yaml.safe_load(JOB_FILE.read_text())["resources"]
    assert list(resources["jobs"]) == ["samplegen_pipeline"]
    return resources["jobs"]["samplegen_pipeline"]


@pytest.fixture(scope="module")
def tasks(job) -> dict:
    return {task["task_key"]: task for task in job["tasks"]}


def quartz_is_valid(expression: str) -> bool:
    """Quartz cron: seconds minutes hours day-of-month month day-of-week [year]."""
    fields = expression.split()
    if len(fields) not in (6, 7):
        return False
    if not all(re.fullmatch(r"[0-9A-Z*?/,\-LW#]+", f) for f in fields):
        return False
    for value, high in zip(fields[:3], (59, 59, 23), strict=True):
        numbers = [int(n) for n in re.findall(r"\d+", value)]
        if any(n > high for n in numbers):
            return False
    # exactly one of day-of-month and day-of-week is "?"
    return (fields[3] == "?") != (fields[5] == "?")


def test_quartz_checker_itself():
    assert quartz_is_valid("0 0 2 * * ?")
    assert quartz_is_valid("0 30 4 ? * MON-FRI 2030")
    assert not quartz_is_valid("0 2 * * *")  # unix cron, 5 fields
    assert not quartz_is_valid("0 0 25 * * ?")
    assert not quartz_is_valid("0 0 2 * * *")  # needs one "?"


def test_bundle_header_include_and_artifact(bundle):
    assert bundle["bundle"]["name"] == "samplegen"
    matched = {path for pattern in bundle["include"] for path in REPO.glob(pattern)}
    assert JOB_FILE in matched
    wheels = [a for a in bundle["artifacts"].values() if a.get("type") == "whl"]
    assert len(wheels) == 1
    assert wheels[0]["build"] == "python -m build --wheel"
    assert (REPO / wheels[0].get("path", ".") / "setup.py").exists()


def test_targets_dev_is_default_and_prod_is_production(bundle):
    targets = bundle["targets"]
    assert set(targets) == {"dev", "prod"}
    assert targets["dev"]["mode"] == "development"
    assert targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    assert not targets["prod"].get("default", False)


def test_variables_have_defaults(bundle):
    variables = bundle["variables"]
    assert variables["node_type_id"]["default"] == "i3.xlarge"
    assert variables["gpu_node_type_id"]["default"] == "g5.4xlarge"
    assert variables["lakehouse"]["default"]
    for name, spec in variables.items():
        assert spec.get("description"), f"variable {name} has no description"
        if name not in REQUIRED_VARIABLES:
            assert "default" in spec, f"variable {name} has no default"


def test_the_nightly_job_reads_your_data_not_the_demo(bundle, tasks):
    # No default: a deploy without --var events_path fails instead of training on demo data.
    assert "default" not in bundle["variables"]["events_path"]
    for stage, task in tasks.items():
        params = task["python_wheel_task"]["parameters"]
        sets = [params[i + 1] for i, p in enumerate(params) if p == "--set"]
        assert "data.source=files" in sets, stage
        assert "data.events_path=${var.events_path}" in sets, stage
        args = build_parser().parse_args(params)
        assert "data.source=files" in args.set


def test_clusters_are_single_user_with_an_optional_policy(bundle, job):
    assert bundle["variables"]["policy_id"]["default"] == ""
    for cluster in job["job_clusters"]:
        new = cluster["new_cluster"]
        assert new["data_security_mode"] == "SINGLE_USER", cluster["job_cluster_key"]
        assert new["policy_id"] == "${var.policy_id}"
        assert "-ml-" in new["spark_version"]


def test_prod_runs_as_a_service_principal_with_permissions(bundle):
    prod = bundle["targets"]["prod"]
    assert prod["run_as"] == {"service_principal_name": "${var.service_principal}"}
    assert "user_name" not in prod["run_as"]
    levels = {
        (p["level"], next(v for k, v in p.items() if k != "level")) for p in prod["permissions"]
    }
    assert ("CAN_MANAGE", "${var.admins_group}") in levels
    assert ("CAN_MANAGE", "${var.service_principal}") in levels
    assert {level for level, _ in levels} <= {"CAN_VIEW", "CAN_RUN", "CAN_MANAGE"}
    assert "run_as" not in bundle["targets"]["dev"]


def test_every_var_reference_is_declared(bundle):
    declared = set(bundle["variables"])
    used = set()
    for path in (REPO / "databricks.yml", JOB_FILE):
        in_file = set(VAR_REF.findall(path.read_text()))
        assert in_file <= declared, f"{path.name} uses undeclared {sorted(in_file - declared)}"
        used |= in_file
    assert {"lakehouse", "node_type_id", "gpu_node_type_id"} <= used


def test_nightly_schedule(bundle, job):
    schedule = job["schedule"]
    assert schedule["quartz_cron_expression"] == "0 0 2 * * ?"
    assert quartz_is_valid(schedule["quartz_cron_expression"])
    assert schedule["timezone_id"] == "UTC"
    assert schedule["pause_status"] == "UNPAUSED"
    # a developer's copy keeps the same schedule, paused
    dev_job = bundle["targets"]["dev"]["resources"]["jobs"]["samplegen_pipeline"]
    assert dev_job["schedule"]["pause_status"] == "PAUSED"
    assert dev_job["schedule"]["quartz_cron_expression"] == schedule["quartz_cron_expression"]


def test_failure_emails_come_from_a_list_variable(bundle, job):
    on_failure = job["email_notifications"]["on_failure"]
    [name] = VAR_REF.findall(on_failure)
    variable = bundle["variables"][name]
    assert variable["type"] == "complex"
    assert isinstance(variable["default"], list) and variable["default"]


def test_four_tasks_chained_in_stage_order(tasks):
    assert list(tasks) == STAGES
    assert "depends_on" not in tasks["aggregate"]
    for before, stage in zip(STAGES, STAGES[1:], strict=False):
        assert tasks[stage]["depends_on"] == [{"task_key": before}]


@pytest.mark.parametrize("stage", STAGES)
def test_task_runs_the_wheel_entry_point(tasks, stage):
    task = tasks[stage]
    wheel = task["python_wheel_task"]
    assert wheel["package_name"] == "samplegen"
    assert wheel["entry_point"] == "samplegen"
    params = wheel["parameters"]
    assert params[0] == stage
    assert params[params.index("--conf") + 1].endswith("conf/databricks.yaml")
    assert params[params.index("--run-id") + 1] == "{{job.run_id}}"
    # the real CLI accepts them
    args = build_parser().parse_args(params)
    assert args.command == stage
    assert (REPO / "conf" / "databricks.yaml").exists()
    assert task["libraries"] == [{"whl": "../dist/*.whl"}]
    assert (JOB_FILE.parent / "../dist").resolve() == REPO / "dist"
    assert isinstance(task["max_retries"], int) and task["max_retries"] >= 0
    assert isinstance(task["timeout_seconds"], int) and task["timeout_seconds"] > 0


def test_train_runs_on_the_gpu_cluster_and_the_rest_on_cpu(job, tasks):
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    for task in tasks.values():
        assert task["job_cluster_key"] in clusters, task["task_key"]
    for stage, task in tasks.items():
        spark_version = clusters[task["job_cluster_key"]]["spark_version"]
        assert ("gpu" in spark_version) == (stage == "train"), stage
    gpu = clusters[tasks["train"]["job_cluster_key"]]
    cpu = clusters[tasks["aggregate"]["job_cluster_key"]]
    assert gpu["node_type_id"] == "${var.gpu_node_type_id}"
    assert cpu["node_type_id"] == "${var.node_type_id}"
    for cluster in clusters.values():
        assert isinstance(cluster["num_workers"], int) and cluster["num_workers"] >= 1


def test_entry_point_is_a_console_script_in_setup_py():
    tree = ast.parse((REPO / "setup.py").read_text())
    [call] = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    ]
    [entry_points] = [k.value for k in call.keywords if k.arg == "entry_points"]
    scripts = dict(item.split("=", 1) for item in ast.literal_eval(entry_points)["console_scripts"])
    assert "samplegen" in scripts
    module, function = scripts["samplegen"].split(":")
    assert (module, function) == ("samplegen.cli", "run")  # exits with main()'s code


def test_every_task_lays_the_recipe_variable_over_the_conf(bundle, tasks):
    assert bundle["variables"]["recipe"]["default"] == ""  # no recipe unless deployed with one
    for stage, task in tasks.items():
        params = task["python_wheel_task"]["parameters"]
        assert params[params.index("--recipe") + 1] == "${var.recipe}", stage
    # git ignores recipes/, so only an explicit sync rule puts them in the workspace
    assert "recipes/*.yaml" in bundle["sync"]["include"]
