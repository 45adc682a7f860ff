"""Tracking is optional: configured without mlflow installed, training refuses to start."""

import pytest


def test_tracking_configured_without_mlflow_fails_before_training(monkeypatch):
    import builtins

    from samplegen.train.tracking import require_mlflow

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow":
            raise ImportError("No module named 'mlflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(RuntimeError, match=r"samplegen\[tracking\]"):
        require_mlflow("exp")
    require_mlflow(None)
