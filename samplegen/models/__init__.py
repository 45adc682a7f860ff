"""Generators behind one interface, found by name in :data:`samplegen.registry.GENERATORS`."""

from typing import Any

from samplegen.models.base import Generator, InteractionGenerator
from samplegen.models.cvae import ConditionalVAE
from samplegen.models.gan import ConditionalWGAN
from samplegen.models.multvae import MultVAE
from samplegen.models.tabular import TabularGAN
from samplegen.registry import GENERATORS, generator

#: Each registered generator's class, by ``train.model`` name.
REGISTRY: dict[str, type[Generator]] = {
    name: spec.generator_class() for name, spec in GENERATORS.items()
}


def make_generator(name: str, params: dict[str, Any]) -> Generator:
    """Build the generator called ``name`` from its plain ``params``."""
    cls: type[Generator] = generator(name).generator_class()
    return cls(params=params)


__all__ = [
    "REGISTRY",
    "ConditionalVAE",
    "ConditionalWGAN",
    "Generator",
    "InteractionGenerator",
    "MultVAE",
    "TabularGAN",
    "make_generator",
]
