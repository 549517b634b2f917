#!/usr/bin/env bash
# The header is the reference manual: check that it documents every function, and build the HTML.
#   1. scripts/check-header-docs.py: every prototype and callback type of include/fhir_kindling.h
#      has @param for each parameter, @return when it returns a value, and the free function named
#      at each output that hands over a buffer or handle.
#   2. Doxygen (docs/Doxyfile) with warnings as errors: an undocumented parameter, a @param naming
#      no parameter or a malformed command fails. The HTML goes to target/doc-c/html.
# Both run; the script fails if either finds a problem.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

echo "== header docs: @param / @return / free functions (scripts/check-header-docs.py)"
python3 scripts/check-header-docs.py include/fhir_kindling.h || status=1

echo "== header docs: doxygen, warnings as errors (docs/Doxyfile)"
if ! command -v doxygen >/dev/null 2>&1; then
    echo "check-header-docs: doxygen is not installed (Debian: apt-get install -y doxygen)" >&2
    exit 1
fi
mkdir -p target/doc-c
if doxygen docs/Doxyfile; then
    echo "doxygen $(doxygen --version): no warnings; HTML in target/doc-c/html/index.html"
else
    echo "check-header-docs: doxygen reported the warnings above (as errors)" >&2
    status=1
fi
exit $status
