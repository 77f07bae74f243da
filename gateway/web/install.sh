#!/usr/bin/env bash
# Install the citizen page's one third-party script: node-forge, pinned with its sha512 in
# package-lock.json, copied from the npm package as published (no build step) into
# static/vendor/, which the gateway serves at /ciudadano/vendor/. Nothing here is committed.
# Usage: bash gateway/web/install.sh   (from anywhere; needs Node.js and npm)
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
mkdir -p static/vendor
cp node_modules/node-forge/dist/forge.min.js static/vendor/forge.min.js
cp node_modules/node-forge/LICENSE static/vendor/forge.LICENSE.txt
echo "citizen page: node-forge $(node -p 'require("./node_modules/node-forge/package.json").version') installed in gateway/web/static/vendor/"
