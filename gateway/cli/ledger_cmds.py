"""``enlace ledger``: reading, auditing, checkpointing, witnessing and proving the audit ledger.

Exit status: 0 when all is well, 1 when ``verify`` finds a discrepancy or a proof does not
verify, 2 for usage errors (``error [code]: message``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli import common
from gateway.kernel import pki
from gateway.kernel.ledger import bundle, checkpoint, trust
from gateway.storage.db import Database
from gateway.storage.ledger import audit, proofs, publisher, queries, witness
from gateway.storage.ledger.errors import LedgerCorrupt

ledger_app = typer.Typer(help="The audit ledger.", no_args_is_help=True)

VkeyOpt = Annotated[
    Path | None,
    typer.Option("--vkey", help="Gateway checkpoint verifier key file (default: the PKI's)."),
]


@ledger_app.command("tail")
def ledger_tail(
    count: Annotated[int, typer.Option("-n", min=1, help="How many entries (at least 1).")] = 20,
    database_url: common.DatabaseOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """The newest ledger entries."""
    with common.existing_database(common.settings(database_url)).read.connect() as conn:
        entries = queries.tail(conn, count)
    if as_json:
        typer.echo(
            json.dumps([{"index": i, "entry": e} for i, e in entries], ensure_ascii=False, indent=2)
        )
        return
    for index, entry in entries:
        typer.echo(describe_entry(index, entry))


def describe_entry(index: int, entry: dict[str, Any]) -> str:
    """One line for a ledger entry, for people (no personal data: subjects are pseudonyms)."""
    if entry.get("kind") == "admin":
        return (
            f"#{index:<5} {entry['recorded_at']}  admin     {entry['action']:<18} "
            f"{entry['target']}  by {entry['actor']}"
        )
    if entry.get("kind") == "flood":
        return (
            f"#{index:<5} {entry['recorded_at']}  flood     {entry['error']:<18} "
            f"{entry['count']} unverified requests from {entry['address']} since {entry['since']}"
        )
    if entry.get("kind") == "undelivered":
        return (
            f"#{index:<5} {entry['recorded_at']}  undelivered exchange {entry['exchange_id']} "
            f"of #{entry['corrects']}: its answer was {entry['error']}, no data"
        )
    if entry.get("kind") == "map_head":
        return (
            f"#{index:<5} {entry['recorded_at']}  map head  covers {entry['covers']:<11} "
            f"{entry['keys']} subject keys, root {entry['root']}"
        )
    subject = (entry.get("subjects") or ["-"])[0][:12]
    if entry.get("kind") == "citizen":
        return f"#{index:<5} {entry['recorded_at']}  citizen   {entry['action']:<18} {subject}…"
    outcome = entry["outcome"] + (f" ({entry['error']})" if entry.get("error") else "")
    return (
        f"#{index:<5} {entry['responded_at']}  exchange  {outcome:<18} "
        f"{entry.get('client')} -> {entry.get('service')}  purpose={entry.get('purpose')} "
        f"basis={entry.get('legal_basis')} official={entry.get('user_id')} "
        f"case={entry.get('issue')} "
        f"subject={subject}…"
    )


#: A key file holds one short line; anything longer is another file, never echoed.
_MAX_KEY_TEXT = 300


def _read_key(path: Path, what: str) -> str:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise common.CliError("ledger.key", f"cannot read {what} {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        text = "\n"  # binary: refused below
    if len(text) > _MAX_KEY_TEXT or "\n" in text:
        raise common.CliError("ledger.key", f"{path} is not a {what} file (one line NAME+ID+KEY)")
    return text


def _verifier(path: Path) -> checkpoint.NoteVerifier:
    try:
        return checkpoint.NoteVerifier.from_vkey(_read_key(path, "verifier key"))
    except checkpoint.KeyFormatError as exc:
        raise common.CliError("ledger.key", f"{path}: {exc}") from exc


def _log_verifier(vkey: Path | None, pki_dir: Path | None) -> checkpoint.NoteVerifier:
    """The gateway's checkpoint key: from ``--vkey``, else the PKI directory's."""
    if vkey is not None:
        return _verifier(vkey)
    default = pki.PkiDir(common.settings(pki_dir=pki_dir).pki_dir).checkpoint_vkey
    if not default.exists():
        raise common.CliError(
            "ledger.key",
            f"no checkpoint verifier key at {default}: give --vkey (or --pki-dir), or "
            "--no-signatures to verify the tree without checking checkpoint signatures",
        )
    return _verifier(default)


def _snapshot_verify(
    database: Database,
    verifier: checkpoint.NoteVerifier | None,
    trusted: list[checkpoint.Checkpoint],
    covert_key: bytes | None = None,
) -> audit.Report:
    with database.read.connect() as conn:
        if not database.is_sqlite:  # every stream must read the same snapshot
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return audit.verify(conn, verifier, trusted=trusted, covert_key=covert_key)


def _trusted_checkpoint(
    path: Path, verifier: checkpoint.NoteVerifier | None
) -> checkpoint.Checkpoint:
    """A signed checkpoint note kept outside storage, verified with the gateway's key."""
    if verifier is None:
        raise common.CliError(
            "ledger.key", f"{path} needs the gateway's checkpoint key to verify (--vkey)"
        )
    try:
        return checkpoint.open_checkpoint(path.read_bytes(), verifier)
    except OSError as exc:
        raise common.CliError("ledger.checkpoint", f"cannot read {path}: {exc.strerror}") from exc
    except checkpoint.NoteError as exc:
        raise common.CliError("ledger.checkpoint", f"{path}: {exc}") from exc


def _describe(finding: audit.Finding) -> str:
    if finding.level is None:
        where = f"#{finding.index}"
    else:  # a node: level/index, then the leaves it covers
        where = f"node {finding.level}/{finding.index >> finding.level} (#{finding.index}…)"
    if finding.count > 1:
        where += f" +{finding.count - 1} more"
    moved = f" -> #{finding.moved_to}" if finding.moved_to is not None else ""
    return f"  {finding.kind:<10} {where:<28} {finding.detail}{moved}"


@ledger_app.command("verify")
def ledger_verify(
    vkey: VkeyOpt = None,
    trusted_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-checkpoint",
            help="A signed checkpoint note kept outside the database (a witness's, a bundle's, "
            "your own): the stored history must reach it. May be given several times.",
        ),
    ] = None,
    kept: Annotated[
        bool,
        typer.Option(
            "--kept/--no-kept",
            help="Also check against the gateway's kept last signed checkpoint "
            "(PKI_DIR/gateway/checkpoint.last), when there is one.",
        ),
    ] = True,
    no_signatures: Annotated[
        bool,
        typer.Option(
            "--no-signatures",
            help="Do not check the checkpoints' signatures (without the key the check fails).",
        ),
    ] = False,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Recompute the whole tree from storage and name every discrepancy (exit 1 if any).

    Reports every modified, deleted, reordered or inserted record by index, and every stored
    node, tree state, signed checkpoint, subject-index row, entry column or disclosure that
    disagrees (docs/ledger.md §8). Only signed heads kept outside the database — the gateway's
    kept last signed checkpoint (by default) and --trusted-checkpoint — catch a history
    rewritten consistently together with the checkpoints that covered it, or truncated.
    """
    verifier = None if no_signatures else _log_verifier(vkey, pki_dir)
    folder = pki.PkiDir(common.settings(pki_dir=pki_dir).pki_dir)
    last = folder.checkpoint_last
    # With the covert key, each covert lookup row's key is recomputed (docs/ledger.md §12).
    covert_key = (
        folder.ledger_covert_key.read_bytes() if folder.ledger_covert_key.exists() else None
    )
    # Without the key the kept note cannot be verified, so it cannot be trusted either.
    kept_file = last if kept and verifier is not None and last.exists() else None
    paths = [*([kept_file] if kept_file else []), *(trusted_checkpoint or [])]
    trusted = [_trusted_checkpoint(path, verifier) for path in paths]
    database = common.existing_database(common.settings(database_url))
    try:
        report = _snapshot_verify(database, verifier, trusted, covert_key)
    finally:
        database.dispose()
    kept_head = (kept_file, trusted[0].size) if kept_file else None
    if as_json:
        shown = {"path": str(kept_head[0]), "size": kept_head[1]} if kept_head else None
        typer.echo(json.dumps(report.to_dict() | {"kept_checkpoint": shown}, indent=2))
    else:
        _print_report(report, kept_head, trusted[1:] if kept_file else trusted)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(
    report: audit.Report, kept: tuple[Path, int] | None, given: list[checkpoint.Checkpoint]
) -> None:
    checked = (
        "signatures checked"
        if report.signatures_checked
        else "signatures NOT checked (--no-signatures)"
    )
    typer.echo(
        f"ledger of {report.tree_size} entries: {report.entries} records, "
        f"{report.nodes} nodes, {report.checkpoints} checkpoints ({checked}), "
        f"{report.map_heads} map heads checked against the subject map recomputed from the log"
    )
    if kept is not None:
        typer.echo(f"checked against the kept last signed checkpoint of size {kept[1]} ({kept[0]})")
    else:
        typer.echo("no kept last signed checkpoint: a consistent rewrite could go unnoticed")
    if given:
        sizes = ", ".join(str(head.size) for head in given)
        typer.echo(f"checked against the trusted checkpoints of sizes {sizes}")
    for finding in report.findings:
        typer.echo(_describe(finding))
    if report.dropped:
        typer.echo(f"  … and {report.dropped} more findings")
    typer.echo("OK" if report.ok else f"FAILED: {len(report.findings)} findings")


@ledger_app.command("checkpoint")
def ledger_checkpoint(
    sign: Annotated[bool, typer.Option("--sign", help="Sign one now if the tree grew.")] = False,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Print the newest signed checkpoint (signing a new one first with --sign)."""
    settings = common.settings(database_url, pki_dir)
    database = common.existing_database(settings)
    head: publisher.StoredCheckpoint | None
    try:
        if sign:
            folder = pki.PkiDir(settings.pki_dir)
            if not folder.checkpoint_key.exists():
                raise common.CliError("pki.missing", f"no checkpoint key in {folder.root}")
            try:
                head = publisher.sign_checkpoint_kept(
                    database.write, folder.load_checkpoint_signer(), folder.checkpoint_last
                )
            except LedgerCorrupt as exc:
                raise common.CliError("ledger.corrupt", str(exc)) from exc
        else:
            with database.read.connect() as conn:
                head = publisher.latest_checkpoint(conn)
    finally:
        database.dispose()
    if head is None:
        raise common.CliError("ledger.no_checkpoint", "no checkpoint has been signed yet")
    typer.echo(head.note.decode(), nl=False)


@ledger_app.command("bundle")
def ledger_bundle(
    indexes: Annotated[list[int], typer.Argument(help="Entry indexes to prove.")],
    output: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
    database_url: common.DatabaseOpt = None,
) -> None:
    """Export a proof bundle of entries against the newest checkpoint (docs/ledger.md §6)."""
    database = common.existing_database(common.settings(database_url))
    try:
        with database.read.connect() as conn:
            head = publisher.latest_checkpoint(conn)
            if head is None:
                raise common.CliError("ledger.no_checkpoint", "no checkpoint has been signed yet")
            built = proofs.build_bundle(conn, indexes, head)
    except bundle.BundleError as exc:
        raise common.CliError("ledger.bundle", str(exc)) from exc
    finally:
        database.dispose()
    text = json.dumps(built, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)


@ledger_app.command("check-proof")
def ledger_check_proof(
    path: Annotated[Path, typer.Argument(help="Proof bundle (JSON).")],
    vkey: Annotated[
        Path | None, typer.Option("--vkey", help="Gateway checkpoint verifier key file.")
    ] = None,
    witness_vkey: Annotated[
        list[Path] | None, typer.Option("--witness-vkey", help="Trusted witness key file.")
    ] = None,
    quorum: Annotated[int, typer.Option(help="Witness cosignatures required.")] = 0,
    trust_file: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="A trust document (trust.json, docs/trust.md): the log key, witness keys and "
            "quorum, instead of --vkey, --witness-vkey and --quorum.",
        ),
    ] = None,
    older: Annotated[
        Path | None,
        typer.Option(
            "--older",
            help="An earlier v2 bundle of the same citizen: the bundle must extend it (its "
            "tree, every entry of it unchanged, each key's chain continued).",
        ),
    ] = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Verify a proof bundle offline against the gateway's key (and witnesses'); a v2 bundle
    is also proven complete up to its checkpoint. Exit 1 if anything fails."""
    verifier, witnesses, quorum = _pinned_keys(vkey, witness_vkey or [], quorum, trust_file)
    data = _read_bundle(path)
    earlier = _read_bundle(older) if older is not None else None
    try:
        verified = bundle.verify_bundle(data, verifier, witnesses=witnesses, quorum=quorum)
        if earlier is not None:
            before = bundle.verify_bundle(earlier, verifier, witnesses=witnesses, quorum=quorum)
            bundle.verify_against_older(verified, before)
    except (ValueError, bundle.BundleError) as exc:
        result = {"ok": False, "error": str(exc), "index": getattr(exc, "index", None)}
        typer.echo(json.dumps(result) if as_json else f"INVALID: {exc}")
        raise typer.Exit(1) from None
    _print_verified(verified, as_json, earlier is not None)


def _print_verified(verified: bundle.VerifiedBundle, as_json: bool, extends: bool) -> None:
    head = verified.checkpoint
    if as_json:
        result = {
            "ok": True,
            "origin": head.origin,
            "tree_size": head.size,
            "signed_by": list(verified.signed_by),
            "indexes": [e.index for e in verified.entries],
            "complete": verified.complete,
            "keys": [{"key": k.key, "role": k.role, "count": k.count} for k in verified.keys],
            "extends_older": extends,
        }
        typer.echo(json.dumps(result))
        return
    typer.echo(
        f"checkpoint {head.origin} size {head.size}, signed by {', '.join(verified.signed_by)}"
    )
    for entry in verified.entries:
        typer.echo(describe_entry(entry.index, entry.decoded()))
    if extends:
        typer.echo("extends the older bundle: same history, every older entry still there")
    if verified.complete:
        covert = sum(1 for k in verified.keys if k.role == "covert")
        typer.echo(
            f"complete up to {head.size}: {len(verified.entries)} entries"
            + (f" ({covert} disclosed covert)" if covert else "")
        )
    typer.echo(f"OK: {len(verified.entries)} entries proven")


def _pinned_keys(
    vkey: Path | None, witness_vkey: list[Path], quorum: int, trust_file: Path | None
) -> tuple[checkpoint.NoteVerifier, list[checkpoint.CosignatureVerifier], int]:
    """The keys ``check-proof`` trusts: from a trust document, or from key files."""
    if trust_file is not None:
        if vkey is not None or witness_vkey or quorum:
            raise common.CliError("cli.bad_option", "give --trust or the keys, not both")
        try:
            document = trust.TrustDocument.parse(json.loads(trust_file.read_bytes()))
        except OSError as exc:
            raise common.CliError("cli.bad_file", f"cannot read {trust_file}: {exc}") from exc
        except (ValueError, trust.TrustError) as exc:
            raise common.CliError("ledger.key", f"{trust_file}: {exc}") from exc
        policy = document.policy
        return document.log, list(policy.witnesses), policy.quorum
    if vkey is None:
        raise common.CliError("cli.bad_option", "give --vkey (or --trust)")
    try:
        witnesses = [
            checkpoint.CosignatureVerifier.from_vkey(_read_key(p, "witness key"))
            for p in witness_vkey
        ]
    except checkpoint.KeyFormatError as exc:
        raise common.CliError("ledger.key", f"witness key: {exc}") from exc
    return _verifier(vkey), witnesses, quorum


def _read_bundle(path: Path) -> dict[str, Any]:
    """The bundle file as a JSON object; one that cannot be read is a usage error (exit 2), told
    apart from a bundle that does not verify (exit 1), and its contents are never echoed."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise common.CliError("cli.bad_file", f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, RecursionError):  # RecursionError: nested too deep to be a bundle
        raise common.CliError("cli.bad_file", f"{path} is not JSON (a proof bundle)") from None
    if not isinstance(data, dict):
        raise common.CliError("cli.bad_file", f"{path} is not a JSON object (a proof bundle)")
    return data


@ledger_app.command("trust-doc")
def ledger_trust_doc(
    witness_vkey: Annotated[
        list[Path] | None, typer.Option("--witness-vkey", help="A witness's key file.")
    ] = None,
    quorum: Annotated[int, typer.Option(help="Witness cosignatures required (k of n).")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Where to write it (default: PKI/trust.json).")
    ] = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """Write the trust document (docs/trust.md) that the citizen page and check-proof --trust
    pin: this instance's checkpoint key, the witnesses' keys and the quorum."""
    folder = pki.PkiDir(common.settings(pki_dir=pki_dir).pki_dir)
    log = _log_verifier(None, pki_dir)
    vkeys = [_read_key(p, "witness key") for p in witness_vkey or []]
    try:
        document = trust.TrustDocument(log, trust.WitnessPolicy.of(vkeys, quorum))
    except trust.TrustError as exc:
        raise common.CliError("ledger.key", str(exc)) from exc
    target = out or folder.trust_document
    target.write_text(document.dumps())
    typer.echo(f"wrote {target}: {len(vkeys)} witness key(s), quorum {quorum}")


@ledger_app.command("witness-key")
def ledger_witness_key(
    name: Annotated[str, typer.Argument(help="Witness key name, e.g. inai.example/witness.")],
    out: Annotated[Path, typer.Option(help="Writes OUT.key (secret) and OUT.vkey.")],
) -> None:
    """Create a witness key pair for enlace ledger cosign."""
    try:
        skey, vkey = witness.Witness.generate(name)
    except checkpoint.KeyFormatError as exc:
        raise common.CliError("ledger.key", str(exc)) from exc
    secret = out.with_suffix(".key")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(skey + "\n")
    out.with_suffix(".vkey").write_text(vkey + "\n")
    typer.echo(vkey)


@ledger_app.command("cosign")
def ledger_cosign(
    key: Annotated[Path, typer.Option("--key", help="Witness signer key file.")],
    state: Annotated[
        Path | None, typer.Option(help="Witness's own memory of its last cosigned checkpoint.")
    ] = None,
    vkey: VkeyOpt = None,
    database_url: common.DatabaseOpt = None,
    pki_dir: common.PkiOpt = None,
) -> None:
    """As a witness, cosign the newest checkpoint if the log only grew since the last one.

    Checks that the newest checkpoint is an append-only extension of the last one this witness
    cosigned, then appends its C2SP tlog-cosignature (docs/ledger.md §4).
    """
    log = _log_verifier(vkey, pki_dir)
    try:
        signer = witness.Witness.from_skey(_read_key(key, "witness key"))
    except checkpoint.KeyFormatError as exc:
        raise common.CliError("ledger.key", f"{key}: {exc}") from exc
    remembered = state.read_bytes() if state is not None and state.exists() else None
    database = common.existing_database(common.settings(database_url))
    try:
        with database.write.begin() as conn:
            done = witness.cosign_latest(conn, signer, log, state=remembered)
    except witness.WitnessError as exc:
        raise common.CliError("ledger.witness", str(exc)) from exc
    finally:
        database.dispose()
    if state is not None:
        state.write_bytes(done.checkpoint.note)
    since = "first cosignature" if done.previous_size is None else f"from {done.previous_size}"
    verb = "cosigned" if done.added else "already cosigned"
    typer.echo(f"{verb} checkpoint of size {done.checkpoint.size} ({since})")
