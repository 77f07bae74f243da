"""Throughput of signed, ledgered exchanges against a trivial endpoint of the same server.

The gateway runs as `enlace serve` pinned to CPU 1; wrk runs pinned to CPU 0 and replays
requests that were signed beforehand (each one once: the gateway refuses replays), so the
load generator costs next to nothing and the figure is the gateway's own. The baseline is
`GET /livez` on the same process in the same run, so the ratio survives this noisy machine.

    .venv/bin/python loadtests/exchange_bench.py [--seconds 10] [--connections 50] [--http]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench]

Needs `wrk` (Debian package) and `taskset`. Prints a table; exits non-zero if any exchange
failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from gateway.devtools import bootstrap
from gateway.devtools.population import generate
from gateway.kernel import pki
from gateway.kernel.protocol import headers as h
from gateway.kernel.protocol import signing
from gateway.kernel.settings import Settings
from gateway.server.run import free_port

ROOT = Path(__file__).resolve().parent.parent


def _sign_chunk(args: tuple[str, str, list[str], int]) -> list[str]:
    """Raw HTTP/1.1 requests, each with its own X-Road-Id and nonce."""
    pki_dir, authority, curps, count = args
    folder = pki.PkiDir(Path(pki_dir))
    signer = folder.load_pair(folder.member(bootstrap.BECAS.member))
    keyid = pki.keyid(signer.cert)
    scheme = "http" if authority.startswith("http://") else "https"
    host = authority.split("://", 1)[1]
    path = f"/r1/{bootstrap.CURP_SERVICE}"
    out = []
    for n in range(count):
        headers = {
            h.CLIENT: str(bootstrap.BECAS),
            h.ID: str(uuid.uuid4()),
            h.USER_ID: "MX-SEP-000123",
            h.ISSUE: "BENCH-1",
            h.SUBJECT: curps[n % len(curps)],
            h.PURPOSE: bootstrap.BECAS_PURPOSE,
            h.LEGAL_BASIS: bootstrap.BECAS_LEGAL_BASIS,
        }
        message = signing.Request("GET", f"{scheme}://{host}{path}", headers)
        signing.sign_request(message, b"", key=signer.key, key_id=keyid)
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in message.headers.items()]
        out.append("\r\n".join(lines) + "\r\n\r\n")
    return out


def _lua(requests: list[str], path: Path) -> None:
    def quote(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped.replace("\r", "\\r").replace("\n", "\\n") + '"'

    with path.open("w") as fh:
        fh.write("local reqs = {\n")
        for raw in requests:
            fh.write(quote(raw) + ",\n")
        fh.write("}\nlocal i = 0\nrequest = function()\n  i = i + 1\n")
        fh.write("  return reqs[((i - 1) % #reqs) + 1]\nend\n")


def _wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict[str, float]:
    cmd = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": rate,
        "p50": pct("50"),
        "p99": pct("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "total": total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--expected-rate", type=int, default=3000, help="sizes the pre-signed pool")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="enlace-bench-"))
    url_db = args.database_url or f"sqlite:///{work / 'bench.db'}"
    settings = Settings(database_url=url_db, pki_dir=work / "certs")
    bootstrap.create(settings, citizens=1000).database.dispose()
    curps = [p.curp for p in generate(1000) if p.estatus_curp == "AN"]
    port = free_port()
    scheme = "http" if args.http else "https"
    base = f"{scheme}://127.0.0.1:{port}"

    count = args.expected_rate * args.seconds * 2
    started = time.perf_counter()
    chunks = [(str(settings.pki_dir), base, curps, count // 2)] * 2
    with ProcessPoolExecutor(2) as pool:
        requests = [r for part in pool.map(_sign_chunk, chunks) for r in part]
    print(f"pre-signed {len(requests)} requests in {time.perf_counter() - started:.1f}s")
    script = work / "exchanges.lua"
    _lua(requests, script)

    env = {
        **os.environ,
        "ENLACE_DATABASE_URL": url_db,
        "ENLACE_PKI_DIR": str(settings.pki_dir),
    }
    serve = ["taskset", "-c", "1", sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    if args.http:
        serve.append("--insecure-http")
    server = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        verify = str(settings.pki_dir / "ca.pem")
        import ssl

        context = ssl.create_default_context(cafile=verify)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/livez", verify=context, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("gateway did not start")
                time.sleep(0.2)
        _wrk(f"{base}/livez", 2, args.connections, None)  # warm-up
        baseline = _wrk(f"{base}/livez", args.seconds, args.connections, None)
        exchange = _wrk(base, args.seconds, args.connections, script)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{scheme.upper()}, {args.connections} connections, {args.seconds}s each; "
        f"gateway on CPU 1, wrk on CPU 0; database {url_db.split(':')[0]}"
    )
    print(f"{'case':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}")
    for name, row in (("GET /livez (baseline)", baseline), ("signed ledgered exchange", exchange)):
        print(
            f"{name:<34}{row['rps']:>10.0f}{row['p50']:>10.2f}{row['p99']:>10.2f}{row['errors']:>9}"
        )
    print(f"\nexchange / baseline = {exchange['rps'] / baseline['rps']:.3f}")
    print(f"gateway CPU per exchange ≈ {1e6 / exchange['rps']:.0f} µs (one core saturated)")
    if exchange["total"] > len(requests):
        print("warning: the pre-signed pool wrapped around; raise --expected-rate")
    return 1 if exchange["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
