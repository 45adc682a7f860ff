"""The offline dependency check: every locked version against security/advisories.yaml.

``make audit`` (pip-audit) needs PyPI's advisory API; this check runs anywhere, in ``make
test``: a locked package inside an advisory's affected range must carry a judgement in the
advisory list and a row in SECURITY.md, so a new pin cannot slip into a known hole unnoticed.
"""

from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.conftest import REPO

LOCKS = [REPO / "constraints" / "dev-py311.txt", REPO / "constraints" / "compat-py312-spark35.txt"]
ADVISORIES = REPO / "security" / "advisories.yaml"


def locked(path: Path) -> dict[str, str]:
    """``name -> version`` of a ``pip freeze``-style lock file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def hits(pins: dict[str, str], advisories: list[dict]) -> list[tuple[str, str, str]]:
    """``(advisory id, package, locked version)`` for every locked version an advisory affects."""
    found = []
    for advisory in advisories:
        version = pins.get(canonicalize_name(advisory["package"]))
        affected = SpecifierSet(advisory["affected"])
        if version is not None and affected.contains(version, prereleases=True):
            found.append((advisory["id"], advisory["package"], version))
    return found


def advisories() -> list[dict]:
    return yaml.safe_load(ADVISORIES.read_text())


def test_every_advisory_is_well_formed_and_in_security_md():
    security = (REPO / "SECURITY.md").read_text()
    for advisory in advisories():
        assert set(advisory) >= {"id", "package", "affected", "summary", "judgement"}, advisory
        SpecifierSet(advisory["affected"])  # raises on a malformed range
        assert advisory["judgement"].strip()
        assert advisory["id"] in security, f"{advisory['id']} has no row in SECURITY.md"


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_locked_versions_inside_a_known_hole_are_judged(lock):
    pins = locked(lock)
    assert len(pins) > 50  # the whole environment, not an empty file
    judged = {a["id"] for a in advisories() if a["judgement"].strip()}
    for advisory_id, package, version in hits(pins, advisories()):
        assert advisory_id in judged, f"{lock.name}: {package}=={version} is hit by {advisory_id}"


def test_the_check_finds_a_planted_hole_and_passes_a_fixed_version():
    pins = locked(LOCKS[0])
    planted = [{"id": "TEST-1", "package": "Torch", "affected": "<99"}]
    assert hits(pins, planted) == [("TEST-1", "Torch", pins["torch"])]
    fixed = [{"id": "TEST-2", "package": "torch", "affected": f"<{pins['torch']}"}]
    assert hits(pins, fixed) == []
    # The torch pin of the primary environment is inside CVE-2025-32434's range today.
    assert ("CVE-2025-32434", "torch", "2.5.1") in hits(pins, advisories())
