"""``python -m gateway`` is the ``enlace`` command."""

from gateway.cli.main import main

main()
