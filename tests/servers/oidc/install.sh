#!/usr/bin/env bash
# Installs the pinned npm dependencies (package-lock.json) into ./node_modules.
# Fast no-op when node_modules matches the lockfile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "install.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 1; }

# npm ci records the lockfile it installed from in node_modules/.package-lock.json;
# we keep our own stamp (sha256 of package-lock.json + node major) next to it.
stamp=node_modules/.fhir-oidc-install-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node -p 'process.versions.node.split(".")[0]')"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f node_modules/oidc-provider/package.json ]]; then
  exit 0
fi

echo "install.sh: installing npm dependencies (npm ci)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" > "$stamp"
