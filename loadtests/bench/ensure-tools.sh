#!/usr/bin/env bash
# What `make bench` needs besides Python: wrk (Debian package) and taskset (util-linux).
# Not a test dependency: .ci/ never installs wrk.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is required" >&2; exit 1; }
