#!/usr/bin/env bash
# Usage: stop.sh STATE_DIR
# Stops the provider and gateway started by start.sh STATE_DIR. Idempotent.
set -uo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 STATE_DIR" >&2
  exit 2
fi
state="$1"
[[ -d "$state" ]] || exit 0

for name in provider gateway; do
  pidfile="$state/oidc-$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    # Only signal it if it really is our node process for this file.
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "node .*$name.mjs"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$pidfile"
done
rm -f "$state/oidc.env"
exit 0
