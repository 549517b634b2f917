#!/usr/bin/env bash
# Fails when a function of include/fhir_kindling.h has no binding in the Go module
# (bindings/go: a call in its Go or cgo code, tests excluded) or the .NET library
# (bindings/dotnet/src: a DllImport in Native.cs that the library calls), unless
# bindings/skipped.txt lists it for that language with a reason. A skip that is not needed
# (the function is bound, or gone from the header) fails too, so the list stays true.
#
#   scripts/check-bindings.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HEADER=include/fhir_kindling.h
SKIPS=bindings/skipped.txt

# The exported functions: declarations `name(` with comments stripped (function-pointer typedefs
# have `(*name)` and are not matched).
mapfile -t functions < <(cc -fpreprocessed -dD -E -P "$HEADER" | grep -oE '\bfhir_[a-z0-9_]+\(' | tr -d '(' | sort -u)
[ ${#functions[@]} -gt 50 ] || {
    echo "check-bindings: only ${#functions[@]} functions found in $HEADER" >&2
    exit 1
}
mapfile -t go_files < <(git ls-files 'bindings/go/*.go' | grep -v '_test\.go$')
mapfile -t cs_files < <(git ls-files 'bindings/dotnet/src/*.cs')

declare -A skip
if [ -f "$SKIPS" ]; then
    while read -r name lang reason; do
        case $name in '' | '#'*) continue ;; esac
        if [ -z "$reason" ] || [[ ! $lang =~ ^(go|dotnet|all)$ ]]; then
            echo "check-bindings: $SKIPS: '$name $lang' needs LANGUAGE (go, dotnet, all) and a reason" >&2
            exit 1
        fi
        skip["$name:$lang"]=1
    done <"$SKIPS"
fi

bound_go() { grep -qE "(C\.|[^a-z_])$1\(" "${go_files[@]}"; }
bound_dotnet() {
    grep -qE "static extern .*[^a-z_]$1\(" bindings/dotnet/src/Native.cs &&
        grep -qE "Native\.$1\(" "${cs_files[@]}"
}

missing=0
used_skips=0
for f in "${functions[@]}"; do
    for lang in go dotnet; do
        skipped=0
        if [ -n "${skip["$f:$lang"]:-}" ] || [ -n "${skip["$f:all"]:-}" ]; then skipped=1; fi
        if "bound_$lang" "$f"; then
            if [ $skipped = 1 ]; then
                echo "check-bindings: $f is bound in $lang but listed in $SKIPS: remove the entry" >&2
                missing=$((missing + 1))
            fi
        elif [ $skipped = 1 ]; then
            used_skips=$((used_skips + 1))
        else
            echo "check-bindings: $f has no $lang binding (bind it, or list it in $SKIPS with the reason)" >&2
            missing=$((missing + 1))
        fi
    done
done
for key in "${!skip[@]}"; do
    name=${key%%:*}
    if ! printf '%s\n' "${functions[@]}" | grep -qx "$name"; then
        echo "check-bindings: $SKIPS lists $name, which $HEADER no longer has" >&2
        missing=$((missing + 1))
    fi
done
if [ $missing -gt 0 ]; then
    echo "check-bindings: $missing problem(s)" >&2
    exit 1
fi
echo "check-bindings: ${#functions[@]} functions of $HEADER bound in Go and .NET ($used_skips deliberate skips)"
