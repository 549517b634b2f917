#!/usr/bin/env bash
# Install the Debian packages the build and the C tests need when they are missing.
# (Rust, Java + Maven and Node.js come with the machine; the services install their own parts.)
set -euo pipefail
missing=()
for pair in cc:gcc c++:g++ make:make cmake:cmake pkg-config:pkg-config valgrind:valgrind curl:curl python3:python3 java:default-jre-headless mvn:maven node:nodejs npm:npm; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "ensure-tools: cargo (Rust) is required" >&2; exit 1; }
