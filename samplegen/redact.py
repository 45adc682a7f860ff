"""Keep credentials out of logs, error lines and run manifests.

A config value is a secret when its leaf key names one (judged on the key's words, so
``train.tabular.discrete_columns`` is not, while ``spark.hadoop.fs.s3a.secret.key``,
``spark.hadoop.fs.azure.account.key.<account>.dfs.core.windows.net``,
``spark.hadoop.fs.s3a.session.token`` and ``spark.ssl.keyStorePassword`` are): a word containing
token, secret, password, passwd or credential; the word sas, pwd or jaas; or access, private,
api or account followed by key. Secrets are written as ``***`` in the manifest
(:func:`mask_config`) and in every samplegen log line (:class:`RedactingFilter`, which also
masks ``key=value`` text with such a key and the password of ``scheme://user:password@host``).

Spark's own log4j output is Spark's: it masks keys matching ``spark.redaction.regex``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_WORDS = re.compile(r"token|secret|passw(?:or)?d|credential")
_EXACT = {"sas", "pwd", "jaas", "apikey", "accesskey", "privatekey", "accountkey", "secretkey"}
_KEY_OWNERS = {"access", "private", "api", "account"}
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>[\w.\-]*(?:token|secret|passw(?:or)?d|credential|(?:access|private|api|account)"
    r"[._-]?key|\bsas\b)[\w.\-]*)(?P<sep>\s*[=:]\s*|'?\s*:\s*')(?P<value>[^\s,;'\"}\]]+)"
)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@")
_MIN_REMEMBERED = 4  # shorter values would mask ordinary text everywhere
_remembered: set[str] = set()


def _words(key: str) -> list[str]:
    """``spark.ssl.keyStorePassword`` -> ``[spark, ssl, key, store, password]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def is_secret_key(key: str) -> bool:
    """Whether a config key (its leaf name, or a whole ``spark.conf`` key) names a credential."""
    words = _words(key)
    if any(_WORDS.search(word) or word in _EXACT for word in words):
        return True
    return any(a in _KEY_OWNERS and b == "key" for a, b in zip(words, words[1:], strict=False))


def mask_text(text: str) -> str:
    """``text`` with remembered secret values, ``secret_key=value`` and URL passwords masked."""
    for value in sorted(_remembered, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _KEY_VALUE.sub(lambda m: m["key"] + m["sep"] + MASK, text)
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", text)


def mask_config(value: Any, key: str = "") -> Any:
    """A copy of a nested config dict with every secret value (non-empty) replaced by ``***``.

    A value is judged on its dotted key path, so ``{"secret": {"key": ...}}`` (a Spark key
    split at its dots) is masked as ``secret.key`` would be; no config section's name names a
    credential, so for the config this is the leaf key's judgement. Strings elsewhere keep
    their text but lose URL passwords (``s3a://id:secret@bucket``).
    """
    if isinstance(value, dict):
        return {k: mask_config(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_config(v, key) for v in value]
    if is_secret_key(key) and value not in (None, ""):
        return MASK
    return mask_text(value) if isinstance(value, str) else value


def mask_override(item: str) -> str:
    """A ``--set key=value`` item with the value masked when the key names a secret."""
    key, sep, value = item.partition("=")
    return key + sep + MASK if sep and is_secret_key(key.strip()) else mask_text(item)


def remember_secrets(config: dict[str, Any], key: str = "") -> None:
    """Remember the secret values of a config dict, so log lines never show them."""
    if isinstance(config, dict):
        for k, v in config.items():
            remember_secrets(v, f"{key}.{k}" if key else str(k))
    elif isinstance(config, list):
        for v in config:
            remember_secrets(v, key)
    elif is_secret_key(key) and config is not None and len(str(config)) >= _MIN_REMEMBERED:
        _remembered.add(str(config))


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message and the traceback of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's text in place; never drops a record."""
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return True
