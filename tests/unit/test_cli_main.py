"""``enlace``'s error line: any catalogued error escaping a command is one line with its code."""

from __future__ import annotations

import importlib

import pytest

from gateway.cli.common import CliError
from gateway.kernel.efirma.ocsp import OcspError
from gateway.kernel.errors import CodedError
from gateway.storage.registry import RegistryError
from trusted_sources.dataset import DatasetError

cli = importlib.import_module("gateway.cli.main")  # the package exports main() by that name


def _run(monkeypatch, capsys, error: CodedError) -> tuple[int, str]:
    def command(**_options: object) -> None:
        raise error

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert captured.out == ""
    return int(exited.value.code or 0), captured.err


@pytest.mark.parametrize(
    "error",
    [
        CliError("cli.bad_option", "option 'x' must be KEY=VALUE"),
        RegistryError("registry.exists", "member MX/GOB/SEP is already registered"),
    ],
)
def test_usage_errors_exit_2(monkeypatch, capsys, error):
    status, err = _run(monkeypatch, capsys, error)
    assert status == 2
    assert err == f"error [{error.code}]: {error.message}\n"


@pytest.mark.parametrize(
    "error",
    [
        DatasetError("dataset.missing", "no dataset file at x.db"),
        OcspError("responder answered HTTP 500", code="ocsp.http_error"),
    ],
)
def test_other_catalogued_errors_exit_1_without_a_traceback(monkeypatch, capsys, error):
    status, err = _run(monkeypatch, capsys, error)
    assert status == 1
    assert err == f"error [{error.code}]: {error.message}\n"
    assert "Traceback" not in err
