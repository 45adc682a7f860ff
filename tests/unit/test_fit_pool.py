"""``fit_pool``: fits started ahead never hold back an error, and are awaited otherwise."""

from __future__ import annotations

import threading

import pytest

from samplegen.evaluate.utility import fit_pool


def test_an_error_is_not_held_back_by_a_running_fit_and_pending_fits_are_cancelled():
    release = threading.Event()
    with pytest.raises(RuntimeError, match="scoring failed"), fit_pool(1) as pool:
        running = pool.submit(release.wait, 30)
        pending = pool.submit(lambda: "never run")
        raise RuntimeError("scoring failed")
    assert not running.done()  # the error came back while the first fit still ran
    assert pending.cancelled()
    release.set()
    assert running.result(timeout=30) is True


def test_leaving_normally_awaits_every_fit():
    done = []
    with fit_pool(2) as pool:
        for n in range(4):
            pool.submit(done.append, n)
    assert sorted(done) == [0, 1, 2, 3]
