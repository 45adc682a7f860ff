"""Generators behind one interface, found by name in :data:`REGISTRY`."""

from samplegen.models.base import Generator
from samplegen.models.multvae import MultVAE

REGISTRY: dict[str, type[Generator]] = {MultVAE.name: MultVAE}


def make_generator(name: str, n_items: int, params: dict) -> Generator:
    """Build the generator called ``name`` for ``n_items`` items."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r} (train.model); known: {', '.join(REGISTRY)}")
    return REGISTRY[name](n_items=n_items, params=params)


__all__ = ["Generator", "MultVAE", "REGISTRY", "make_generator"]
