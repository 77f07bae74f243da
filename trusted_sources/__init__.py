"""trusted_sources package."""
