"""The wheel installs over each Databricks Runtime ML without replacing what the runtime ships.

For every ``constraints/dbr-*.txt`` the built wheel's requirements (with the ``tracking`` extra)
are resolved by ``pip install --dry-run`` for that runtime's Python on Linux, under the
runtime's versions as constraints, and the resolution must keep every pinned version. Two kinds
of pin are compared with the wheel's declared ranges instead of asked of pip: torch (resolving
it means downloading ~4 GB of CUDA wheels for metadata; the runtime ships torch, so its own
dependencies are the runtime's) and versions Databricks builds itself (``# no-pypi-wheel``).
What this cannot prove: that the code runs on those versions (``make test-compat`` runs it on
Python 3.12, Spark 3.5 and numpy 2; the primary suite on Python 3.11 and Spark 4.0).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = sorted((REPO / "constraints").glob("dbr-*.txt"))
EXTRAS = {"tracking"}
#: Checked against the wheel's range, not resolved by pip (see the module docstring).
BY_RANGE = {"torch"}
#: Wheels built for manylinux up to glibc 2.28 (what PyPI's torch, numpy and pyarrow carry).
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def parse_runtime(path: Path) -> tuple[str, dict[str, str], set[str]]:
    """(python version, {name: pinned version}, names pip cannot fetch) of a ``dbr-*.txt``."""
    python, pins, unfetchable = "", {}, set()
    for raw in path.read_text().splitlines():
        line, _, comment = raw.partition("#")
        if "python:" in comment:
            python = comment.split("python:", 1)[1].strip()
        if not line.strip():
            continue
        name, version = (part.strip() for part in line.split("=="))
        pins[canonicalize_name(name)] = version
        if "no-pypi-wheel" in comment:
            unfetchable.add(canonicalize_name(name))
    assert python, f"{path.name} names no python version"
    return python, pins, unfetchable


def wheel_metadata(wheel: Path) -> tuple[SpecifierSet, list[Requirement]]:
    """Requires-Python and the Requires-Dist entries of ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(name).decode())
    return SpecifierSet(meta["Requires-Python"]), [
        Requirement(text) for text in meta.get_all("Requires-Dist")
    ]


def wanted(requirements: list[Requirement], python: str) -> list[Requirement]:
    """The requirements a cluster install of ``samplegen[tracking]`` pulls in on ``python``."""
    chosen = []
    for req in requirements:
        env = {"python_version": python, "python_full_version": f"{python}.0"}
        if req.marker is None or any(
            req.marker.evaluate({**env, "extra": extra}) for extra in ("", *EXTRAS)
        ):
            chosen.append(req)
    return chosen


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
    )
    return next(out.glob("samplegen-*.whl"))


def test_every_runtime_has_a_constraint_file():
    assert [p.name for p in RUNTIMES] == ["dbr-15.4-ml.txt", "dbr-16.4-ml.txt", "dbr-17.3-ml.txt"]


def test_wheel_leaves_spark_to_the_cluster(wheel):
    _, requirements = wheel_metadata(wheel)
    base = {canonicalize_name(r.name) for r in requirements if r.marker is None}
    assert not base & {"pyspark", "delta-spark", "petastorm"}


@pytest.mark.parametrize("runtime", RUNTIMES, ids=lambda p: p.stem)
def test_wheel_resolves_over_the_runtime(wheel, runtime, tmp_path):
    python, pins, unfetchable = parse_runtime(runtime)
    requires_python, requirements = wheel_metadata(wheel)
    assert requires_python.contains(python), f"python_requires refuses {runtime.stem}'s {python}"
    requirements = wanted(requirements, python)
    by_range = unfetchable | BY_RANGE
    for req in requirements:
        name = canonicalize_name(req.name)
        if name in by_range and name in pins:
            assert req.specifier.contains(
                pins[name], prereleases=True
            ), f"{req} excludes {runtime.stem}'s {name}=={pins[name]}"
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(
        "".join(f"{name}=={v}\n" for name, v in pins.items() if name not in by_range)
    )
    # A version pip cannot fetch is stood in for by samplegen's range (pip picks some wheel in
    # it); every requirement on it in the resolution is then checked against the pin below.
    asked = [str(r) for r in requirements if canonicalize_name(r.name) not in BY_RANGE]
    report = tmp_path / "report.json"
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), "--python-version", python, *platforms,
         "--only-binary=:all:", "-c", str(constraints), *asked],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"{runtime.stem}: pip cannot resolve:\n{done.stderr[-3000:]}"
    installs = json.loads(report.read_text())["install"]
    chosen = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    for item in installs:
        for text in item["metadata"].get("requires_dist", []):
            req = Requirement(text)
            name = canonicalize_name(req.name)
            env = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
            if name in by_range and (req.marker is None or req.marker.evaluate(env)):
                assert req.specifier.contains(
                    pins[name], prereleases=True
                ), f"{item['metadata']['name']} needs {req}, {runtime.stem} has {pins[name]}"
    changed = {
        n: (pins[n], v)
        for n, v in chosen.items()
        if n in pins and n not in by_range and v != pins[n]
    }
    assert not changed, f"{runtime.stem}: the install would replace {changed}"
    assert "pyspark" not in chosen and "torch" not in chosen
