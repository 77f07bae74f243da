"""Baseline (a): a bare Starlette app returning the bytes of a real CURP answer.

Served by uvicorn with the gateway's settings (``gateway.server.run.uvicorn_config``: TLS with
the gateway's certificate, keep-alive, concurrency limit, no access log), so that the gap to
the gateway is the gateway's own work. The answer (status, headers, body) is read from a JSON
file the harness writes from one real exchange. With WORKERS above 1 it runs under the gateway's
supervisor (``gateway.server.workers``: a ``SO_REUSEPORT`` socket per worker), as
``enlace serve --workers`` does: what two processes gain on this machine, with no gateway work.

    python -m loadtests.bench.bare_app ANSWER.json PORT CERT KEY [WORKERS]
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.server.workers import Supervisor

#: The answer file, for the workers (each builds its app from it: ``from_env``).
ANSWER_ENV = "ENLACE_BENCH_ANSWER"
#: Set by the response itself: copying them would duplicate them.
_OWN_HEADERS = {"content-length", "date", "server"}


def app(answer: dict[str, Any]) -> Starlette:
    body = base64.b64decode(answer["body"])
    headers = {k: v for k, v in answer["headers"].items() if k.lower() not in _OWN_HEADERS}
    status = int(answer["status"])

    async def endpoint(_request: Request) -> Response:
        return Response(content=body, status_code=status, headers=headers)

    return Starlette(routes=[Route("/", endpoint)])


def from_env() -> Starlette:
    """A worker's app (``uvicorn`` factory): the answer named by ``ANSWER_ENV``."""
    return app(json.loads(Path(os.environ[ANSWER_ENV]).read_text()))


def main(argv: list[str]) -> None:
    answer_file, port, cert, key, *more = argv
    workers = int(more[0]) if more else 1
    os.environ[ANSWER_ENV] = answer_file
    # The same options as gateway.server.run.uvicorn_config gives `enlace serve`.
    config = uvicorn.Config(
        "loadtests.bench.bare_app:from_env",
        factory=True,
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=30,
        limit_concurrency=2000,
        h11_max_incomplete_event_size=16 * 1024,
        ssl_certfile=cert,
        ssl_keyfile=key,
    )
    if workers > 1:
        sys.exit(Supervisor(config, workers).run())
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
