"""Tests of the support matrix that need the network or another environment.

They run in ``make test-compat`` (which sets ``SAMPLEGEN_COMPAT=1``), not in ``make test``:
the install check downloads a few hundred MB of wheels from PyPI per runtime.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this folder's tests unless ``make test-compat`` runs them."""
    if os.environ.get("SAMPLEGEN_COMPAT") == "1":
        return
    skip = pytest.mark.skip(reason="runs in make test-compat (SAMPLEGEN_COMPAT=1)")
    for item in items:
        if "tests/compat/" in item.nodeid:
            item.add_marker(skip)
