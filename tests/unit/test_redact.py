"""Credentials stay out of the manifest and the log lines (samplegen.redact)."""

import io
import json
import logging
import re

import pytest

from samplegen.config import load_config
from samplegen.redact import is_secret_key, mask_config, mask_override, mask_text
from samplegen.runinfo import LOG, StageResult, configure_logging, update_manifest

SECRETS = {
    "spark.hadoop.fs.s3a.secret.key": "S3-SECRET-value-1",
    "spark.hadoop.fs.s3a.access.key": "AKIA-ACCESS-2",
    "spark.hadoop.fs.s3a.session.token": "SESSION-TOKEN-3",
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "AZURE-KEY-4",
    "spark.hadoop.fs.azure.account.oauth2.client.secret": "OAUTH-SECRET-5",
    "spark.ssl.keyStorePassword": "KEYSTORE-PW-6",
}
OVERRIDES = [f"spark.conf.{key}={value}" for key, value in SECRETS.items()] + [
    "spark.conf.spark.hadoop.fs.s3a.endpoint=s3.eu-west-1.amazonaws.com",
    "train.tabular.discrete_columns=[department, brand, label]",
    "data.events_path=s3a://AKIAURL:URL-PASSWORD-7@bucket/events",
    "data.source=files",
]


def secret_values() -> list[str]:
    return [*SECRETS.values(), "URL-PASSWORD-7"]


@pytest.mark.parametrize("key", [*SECRETS, "password", "api_key", "apiKey", "sas", "private_key"])
def test_keys_naming_credentials(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "discrete_columns",
        "keep_indices",
        "columns",
        "key",
        "spark.hadoop.fs.s3a.endpoint",
        "spark.sql.shuffle.partitions",
        "event_weights",
        "csv_options",
        "datasets",
        "monkey",
    ],
)
def test_ordinary_keys(key):
    assert not is_secret_key(key)


def test_manifest_holds_no_credential(tmp_path):
    cfg = load_config(None, OVERRIDES)
    assert cfg.spark.conf["spark.hadoop.fs.s3a.secret.key"] == "S3-SECRET-value-1"  # unmasked
    path = update_manifest(str(tmp_path), "r1", cfg.to_dict(), StageResult("train", "r1"))
    text = path.read_text()
    assert not [value for value in secret_values() if value in text]
    conf = json.loads(text)["config"]
    assert {conf["spark"]["conf"][key] for key in SECRETS} == {"***"}
    assert conf["spark"]["conf"]["spark.hadoop.fs.s3a.endpoint"] == "s3.eu-west-1.amazonaws.com"
    assert conf["train"]["tabular"]["discrete_columns"] == ["department", "brand", "label"]
    assert conf["data"]["events_path"] == "s3a://AKIAURL:***@bucket/events"


def test_log_lines_hold_no_credential():
    from samplegen.redact import remember_secrets

    configure_logging()
    handler = LOG.handlers[0]
    stream = io.StringIO()
    # Swapped by hand: setStream() flushes the old stream, which an earlier test's captured
    # stdout may have closed.
    previous, handler.stream = handler.stream, stream
    cfg = load_config(None, OVERRIDES)
    remember_secrets(cfg.to_dict())
    try:
        LOG.info("event=start conf=%s", cfg.spark.conf)
        LOG.info("event=read path=%s", cfg.data.events_path)
        logging.getLogger("samplegen.generate").info("fs.s3a.secret.key=%s", "UNSEEN-8")
        try:
            raise RuntimeError(f"cannot reach the store with {cfg.spark.conf}")
        except RuntimeError:
            LOG.exception("run_id=r1 event=failed")
    finally:
        handler.stream = previous
    logged = stream.getvalue()
    assert "event=start" in logged and "RuntimeError" in logged and "Traceback" in logged
    assert not [value for value in [*secret_values(), "UNSEEN-8"] if value in logged], logged
    assert "s3.eu-west-1.amazonaws.com" in logged  # ordinary values stay readable


def test_overrides_and_free_text():
    assert mask_override("spark.conf.spark.hadoop.fs.s3a.secret.key=abc") == (
        "spark.conf.spark.hadoop.fs.s3a.secret.key=***"
    )
    assert mask_override("train.epochs=5") == "train.epochs=5"
    assert mask_text("wasbs://c@acct.blob.core.windows.net/x") == (
        "wasbs://c@acct.blob.core.windows.net/x"
    )
    assert mask_text("password: hunter22 and token=abc") == "password: *** and token=***"
    assert mask_config({"x": {"api_key": "", "token": None, "n": 1}}) == {
        "x": {"api_key": "", "token": None, "n": 1}
    }


def test_no_config_key_is_taken_for_a_credential():
    from samplegen.config import config_reference

    keys = re.findall(r"^\| `([^`]+)` \|", config_reference(), re.M)
    assert len(keys) > 100
    assert [key for key in keys if is_secret_key(key)] == []


def test_a_misplaced_secret_is_not_echoed_in_the_config_error():
    from samplegen.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        load_config(None, ['spark.conf={"x": {"secret": {"key": "NESTED-SECRET-9"}}}'])
    assert "spark.conf.x must be a string" in str(refused.value)
    assert "NESTED-SECRET-9" not in str(refused.value)
