"""The ``enlace`` command line."""

from gateway.cli.main import app, main

__all__ = ["app", "main"]
