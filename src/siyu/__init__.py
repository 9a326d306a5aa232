"""siyu (私域): self-hosted private-domain customer operations."""

__version__ = "0.1.0"
