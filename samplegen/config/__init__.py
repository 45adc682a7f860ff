"""Typed configuration loaded from YAML plus ``--set key=value`` overrides.

Every default is written once, in the dataclasses of :mod:`samplegen.config.sections` and
:mod:`~samplegen.config.evaluation` (stage 4 and tune); a YAML file only overrides them
(:mod:`~samplegen.config.loading`), impossible values are refused with the key named
(:mod:`~samplegen.config.checks`), and the README's reference is generated from the same
dataclasses (:mod:`~samplegen.config.reference`).
"""

from samplegen.config.evaluation import EvaluateConfig, RecipeConfig, TuneConfig
from samplegen.config.fields import ConfigError
from samplegen.config.loading import config_from_dict, load_config
from samplegen.config.reference import config_reference
from samplegen.config.sections import (
    AggregateConfig,
    Config,
    DataConfig,
    GanConfig,
    GenerateConfig,
    SparkConfig,
    TablesConfig,
    TabularConfig,
    TrainConfig,
)

__all__ = [
    "AggregateConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvaluateConfig",
    "GanConfig",
    "GenerateConfig",
    "RecipeConfig",
    "SparkConfig",
    "TablesConfig",
    "TabularConfig",
    "TrainConfig",
    "TuneConfig",
    "config_from_dict",
    "config_reference",
    "load_config",
]
