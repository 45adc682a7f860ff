"""Loading a config: a YAML file plus ``--set key=value`` overrides, typed and checked.

An unknown key anywhere is an error that names the key and the file, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from samplegen.config.checks import validate
from samplegen.config.fields import ConfigError
from samplegen.config.sections import Config
from samplegen.redact import MASK, is_secret_key, mask_config


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    recipe: str | Path | None = None,
) -> Config:
    """Load a YAML file (optional), lay a recipe over it, then apply ``key.sub=value`` overrides.

    A recipe (``samplegen tune`` writes them, ``samplegen run --recipe`` reads them) is a YAML
    overlay of the same sections: its keys replace the file's, and ``--set`` still wins.

    Raises:
        ConfigError: on unknown keys (naming the recipe file when they are in it), wrong types
            or impossible values, naming the key.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        raw = _read_mapping(path, "config file")
    if recipe:  # None or "" (a scheduler's empty parameter): no recipe
        overlay = _read_mapping(recipe, "recipe")
        _build(Config, overlay, prefix="", source=f"recipe {recipe}")  # names its unknown keys
        raw = _merged(raw, overlay)
        source = f"{source} + recipe {recipe}"
    for item in overrides or []:
        _apply_override(raw, item)
    config = _build(Config, raw, prefix="", source=source)
    validate(config)
    return config


def _read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty file: empty mapping)."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{what} not found: {path}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not YAML ({err})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return raw


def _merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay``'s keys laid over it, section by section."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Rebuild a Config from :meth:`Config.to_dict` output (e.g. on a worker)."""
    return _build(Config, raw, prefix="", source="dict")


def _apply_override(raw: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, value = item.split("=", 1)
    parts = _mapping_key_kept(key.strip().split("."))
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(value)


def _mapping_key_kept(parts: list[str]) -> list[str]:
    """Keys of a mapping keep their dots: ``spark.conf.spark.hadoop.x`` sets ``spark.hadoop.x``."""
    cls: Any = Config
    for i, part in enumerate(parts[:-1]):
        hint = typing.get_type_hints(cls).get(part)
        if typing.get_origin(hint) is dict:
            return [*parts[: i + 1], ".".join(parts[i + 1 :])]
        if not dataclasses.is_dataclass(hint):
            return parts
        cls = hint
    return parts


def _build(cls: type, raw: dict[str, Any], prefix: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'} must be a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"known keys here: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, prefix=key + ".", source=source)
        else:
            kwargs[name] = _coerce(hint, value, key, source)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return [_coerce(args[0], v, key, source) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", source) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            shown = MASK if is_secret_key(key) else repr(mask_config(value))  # no credential
            raise ConfigError(f"{source}: {key} must be a string, got {shown}")
        return value
    raise ConfigError(f"{source}: {key} has an unsupported type {hint}")
