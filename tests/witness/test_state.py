"""The witness's state directory and log list (gateway.witness.state, gateway.witness.logs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.kernel.ledger import merkle
from gateway.kernel.ledger.witnessing import WitnessedHead
from gateway.witness.logs import LogConfigError, read_config, trusted_logs
from gateway.witness.state import WitnessDir, WitnessStateError
from tests.witness.logs import Log

ORIGIN = "localhost/enlace/MX/ledger"


@pytest.fixture
def store(tmp_path: Path) -> WitnessDir:
    store = WitnessDir(tmp_path / "w")
    store.init("witness.test/w1")
    return store


def test_init_makes_a_private_key_once(store: WitnessDir) -> None:
    assert (store.path.stat().st_mode & 0o777) == 0o700
    assert (store.path / "witness.key").stat().st_mode & 0o777 == 0o600
    vkey = (store.path / "witness.vkey").read_text().strip()
    assert store.key().verifier().to_vkey() == vkey
    with pytest.raises(WitnessStateError, match="has a key"):
        store.init("witness.test/w1")
    assert store.key().verifier().to_vkey() == vkey


def test_a_directory_without_a_key_is_refused(tmp_path: Path) -> None:
    empty = WitnessDir(tmp_path / "nothing")
    for action in (empty.key, lambda: empty.lock().__enter__()):
        with pytest.raises(WitnessStateError, match="enlace witness init"):
            action()


def test_heads_are_recorded_and_read_back(store: WitnessDir) -> None:
    assert store.heads() == {}
    head = WitnessedHead(7, merkle.leaf_hash(b"root"))
    store.record(ORIGIN, head, b"note\n")
    store.record("other.example/log", WitnessedHead.empty(), b"note\n")
    assert store.heads() == {ORIGIN: head, "other.example/log": WitnessedHead.empty()}
    store.record(ORIGIN, WitnessedHead(9, head.root_hash), b"note\n")
    assert store.heads()[ORIGIN].size == 9
    # Replaced in place: no temporary file is left behind.
    assert sorted(p.suffix for p in (store.path / "heads").iterdir()) == [".json", ".json"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: {**d, "size": "9"},
        lambda d: {**d, "root_hash": "AAAA"},
        lambda d: {**d, "origin": "another.example/log"},
        lambda d: {k: v for k, v in d.items() if k != "size"},
    ],
)
def test_a_damaged_head_stops_the_witness(
    store: WitnessDir, damage: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    store.record(ORIGIN, WitnessedHead(7, merkle.leaf_hash(b"root")), b"note\n")
    (path,) = (store.path / "heads").iterdir()
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    with pytest.raises(WitnessStateError):
        store.heads()


def test_one_process_holds_the_directory(store: WitnessDir) -> None:
    with store.lock(), pytest.raises(WitnessStateError, match="in use"), store.lock():
        pass
    with store.lock():
        pass


def test_trusted_logs_from_entries_and_a_config_file(tmp_path: Path) -> None:
    log, rotated, other = Log(ORIGIN), Log(ORIGIN), Log("other.example/log")
    config = tmp_path / "logs.conf"
    config.write_text(f"# witnessed logs\n\n  {rotated.origin}={rotated.vkey}\n")
    entries = [f"{ORIGIN}={log.vkey}", f"{ORIGIN}={log.vkey}", *read_config(config)]
    logs = trusted_logs([*entries, f"{other.origin}={other.vkey}"])
    assert {o: [k.to_vkey() for k in keys] for o, keys in logs.items()} == {
        ORIGIN: [log.vkey, rotated.vkey],
        "other.example/log": [other.vkey],
    }
    for bad in ("no-equals-sign", f"={log.vkey}", f"{ORIGIN}=not+a+key"):
        with pytest.raises(LogConfigError):
            trusted_logs([bad])
