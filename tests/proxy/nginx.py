"""A real nginx running docs/nginx/enlace.conf, as the current user, under a test's directory.

The documented file is used as it is, with only its deployment-specific lines replaced (each
must be found exactly once: a change to the file that drops one fails here, loudly). The main
``nginx.conf`` written around it keeps everything nginx writes (pid, logs, temp files) in the
test's directory and listens on free ports.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = ROOT / "docs" / "nginx" / "enlace.conf"
#: Generous for a loaded machine.
START_TIMEOUT = 60.0


def binary() -> str | None:
    """nginx's executable, or None (Debian's package puts it in /usr/sbin)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


@dataclass(frozen=True)
class Site:
    """What the documented file's deployment-specific lines become."""

    port: int
    gateways: list[str]  # host:port of each gateway
    cert: Path
    key: Path
    ca: Path
    gateway_name: str  # a name in the gateways' TLS certificates
    header_timeout: str = "10s"
    proxy_bind: str | None = None  # the source address of nginx's upstream connections
    agencies_ca: Path | None = None  # mutual TLS on, clients' certificates issued by this CA


def render(site: Site) -> str:
    text = DOCUMENTED.read_text()
    upstream = "".join(f"    server {g};\n" for g in site.gateways)
    bind = f"\n        proxy_bind {site.proxy_bind};" if site.proxy_bind else ""
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{site.port} ssl;",
        "    server 10.0.1.11:8443;\n    server 10.0.1.12:8443;\n": upstream,
        "/etc/enlace/proxy/tls.pem": str(site.cert),
        "/etc/enlace/proxy/tls.key": str(site.key),
        "/etc/enlace/proxy/enlace-ca.pem": str(site.ca),
        "proxy_ssl_name enlace-gateway.internal;": f"proxy_ssl_name {site.gateway_name};",
        "client_header_timeout 10s;": f"client_header_timeout {site.header_timeout};",
        "proxy_http_version 1.1;": "proxy_http_version 1.1;" + bind,
    }
    if site.agencies_ca is not None:  # the documented lines, uncommented
        replacements |= {
            "# ssl_client_certificate /etc/enlace/proxy/agencies-ca.pem;":
                f"ssl_client_certificate {site.agencies_ca};",
            "# ssl_verify_client on;": "ssl_verify_client on;",
            "# ssl_verify_depth 2;": "ssl_verify_depth 2;",
        }  # fmt: skip
    for old, new in replacements.items():
        found = text.count(old)
        if found != 1:
            raise AssertionError(f"{DOCUMENTED.name}: {old!r} found {found} times, not once")
        text = text.replace(old, new)
    return text


def main_conf(work: Path, site_file: Path) -> str:
    temp = {name: work / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    # As root, nginx's workers would switch to "nobody", who cannot read the test's files.
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'} info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  access_log {work / 'access.log'};\n"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n"
        f"  include {site_file};\n"
        "}\n"
    )


@contextlib.contextmanager
def running(nginx: str, site: Site, work: Path) -> Iterator[str]:
    """nginx in the foreground, stopped on exit; yields its base URL."""
    work.mkdir(parents=True, exist_ok=True)
    site_file = work / "enlace.conf"
    site_file.write_text(render(site))
    conf = work / "nginx.conf"
    conf.write_text(main_conf(work, site_file))
    argv = [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, f"nginx -t refused the configuration:\n{checked.stderr}"
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(site.port, process, work)
        yield f"https://127.0.0.1:{site.port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes], work: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if process.poll() is not None:
            log = (work / "error.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"nginx exited with {process.returncode}:\n{log}")
        assert time.monotonic() < deadline, "nginx did not start listening"
        time.sleep(0.1)
