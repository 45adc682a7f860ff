"""Generators behind one interface, found by name in :data:`REGISTRY`."""

from typing import Any

from samplegen.models.base import Generator, InteractionGenerator
from samplegen.models.cvae import ConditionalVAE
from samplegen.models.gan import ConditionalWGAN
from samplegen.models.multvae import MultVAE
from samplegen.models.tabular import TabularGAN

REGISTRY: dict[str, type[Generator]] = {
    cls.name: cls for cls in (MultVAE, ConditionalVAE, ConditionalWGAN, TabularGAN)
}


def make_generator(name: str, params: dict[str, Any]) -> Generator:
    """Build the generator called ``name`` from its plain ``params``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r} (train.model); known: {', '.join(REGISTRY)}")
    return REGISTRY[name](params=params)


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
