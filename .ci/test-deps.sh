#!/usr/bin/env bash
# Non-Python test dependencies; each step is skipped when already satisfied.
#  - Chromium (Debian's) and certutil, for the citizen page's browser test;
#  - Node.js and npm, to install the page's pinned node-forge (gateway/web/install.sh);
#  - nginx (Debian's), for the front proxy test (tests/proxy/, docs/nginx/enlace.conf).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -f gateway/web/static/vendor/forge.min.js ] \
   || [ gateway/web/package-lock.json -nt gateway/web/static/vendor/forge.min.js ]; then
  bash gateway/web/install.sh
fi
echo "test dependencies are in place"
