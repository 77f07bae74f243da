"""``make bench``: the gateway's throughput, latency and CPU per exchange, against baselines.

One bounded, loopback-only run (docs/performance.md): a dev instance is created in a temporary
directory, the servers run as subprocesses (the measured one pinned to CPU 1, wrk and helper
services to CPU 0), every case is measured in interleaved rounds, and one table of medians is
printed. Modules, one idea each:

- ``procstat``:  CPU time of a process tree from ``/proc``;
- ``wrk``:       the Lua script that replays a request pool, running wrk, reading its output;
- ``pool``:      pre-signed requests (kernel signing code, worker processes);
- ``metrics``:   exchanges and ledger batches from a gateway's ``/metrics``;
- ``instance``:  the dev instance the run measures (SQLite, PostgreSQL, remote source);
- ``servers``:   the pinned subprocesses and waiting for them;
- ``scenarios``: what each case sends, to which server, and what it expects back;
- ``scale``:     issue 9's cases that are not one wrk against one server (flood, two
                 gateways on one PostgreSQL, the signer's take-over);
- ``stats``:     medians and ratios;
- ``report``:    the table and the JSON file;
- ``run``:       the command line and the rounds;
- ``bare_app`` and ``source_direct``: the two baseline servers.
"""
