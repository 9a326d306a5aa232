#!/usr/bin/env bash
# Install the console's browser libraries from npm (exact versions in
# package.json, no lock file) and copy their minified browser builds into
# src/siyu/console/static/vendor/. The vendor dir is git-ignored: it is
# produced here at build time, never committed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "build-assets: error: node and npm are required (Node 20 or newer)." >&2
    echo "build-assets: on Debian/Ubuntu: apt-get install nodejs npm" >&2
    exit 1
fi

npm install --no-package-lock --no-audit --no-fund --loglevel=error

vendor=src/siyu/console/static/vendor
mkdir -p "$vendor"

copy() {
    local src=$1 dest=$2
    if [[ ! -f $src ]]; then
        echo "build-assets: error: expected file $src is missing after npm install" >&2
        exit 1
    fi
    cp -f "$src" "$vendor/$dest"
}

copy node_modules/htmx.org/dist/htmx.min.js htmx.min.js
copy node_modules/echarts/dist/echarts.min.js echarts.min.js

# Keep the upstream licences next to the code we ship.
cp -f node_modules/htmx.org/LICENSE "$vendor/htmx.LICENSE" 2>/dev/null || true
cp -f node_modules/echarts/LICENSE "$vendor/echarts.LICENSE" 2>/dev/null || true

echo "build-assets: htmx.org $(node -p 'require("./node_modules/htmx.org/package.json").version')," \
     "echarts $(node -p 'require("./node_modules/echarts/package.json").version') -> $vendor/"
