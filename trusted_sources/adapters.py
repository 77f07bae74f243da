"""The adapters that can run in process, by the name a source is registered with."""

from __future__ import annotations

from gateway.kernel.sources import AdapterFactory
from trusted_sources import registro_civil, renapo
from trusted_sources.sat import service as sat


def adapter_factories() -> dict[str, AdapterFactory]:
    """Adapter name → factory taking the source's registered options."""
    return {
        "renapo": renapo.RenapoAdapter.from_options,
        "registro-civil": registro_civil.RegistroCivilAdapter.from_options,
        "sat": sat.SatAdapter.from_options,
    }
