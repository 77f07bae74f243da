"""``python -m gateway`` is the ``enlace`` command."""

from gateway.cli import main

main()
