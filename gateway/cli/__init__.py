"""The ``enlace`` command line: ``gateway.cli.main`` composes one module per command group."""
