#!/usr/bin/env python3
"""Check that include/fhir_kindling.h documents every function the way the header promises.

Independently of Doxygen, for every function prototype and callback typedef of the header:
  - it has a doc comment;
  - every parameter has an `@param name`, and every `@param` names a real parameter;
  - a function that returns a value has `@return`;
  - every output `*_out` through which the library hands over a buffer or handle (`char **`,
    `fhir_server_t **`, `fhir_query_t **`, `fhir_error_t **`, `fhir_options_t **`) names the
    function that frees it, and says what happens on failure;
  - a returned `char *` / handle names its free function, a returned `const char *` says not to
    free it.
Exit status 1 with one line per problem (file:line: function: problem), 0 when all is well.

Usage: scripts/check-header-docs.py [HEADER]   (default include/fhir_kindling.h)
"""

import re
import sys
from pathlib import Path

# The free function of everything the library hands over through an output or a return value.
FREE = {
    "char": "fhir_string_free",
    "fhir_server_t": "fhir_server_free",
    "fhir_query_t": "fhir_query_free",
    "fhir_error_t": "fhir_error_free",
    "fhir_options_t": "fhir_options_free",
}

COMMENT = re.compile(r"/\*.*?\*/", re.S)
PARAM = re.compile(r"@param(?:\[[a-z, ]*\])?\s+(\w+)")


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def doc_lines(comment):
    """The text of a /** ... */ comment, without the comment markers and leading ` * `."""
    body = comment[3:-2]
    return [re.sub(r"^\s*\* ?", "", line) for line in body.split("\n")]


def sections(comment):
    """`{param name: text}` and the `@return` text (None without one) of a doc comment."""
    params, ret = {}, None
    current = None  # (kind, name, [lines])
    done = []
    for line in doc_lines(comment):
        stripped = line.strip()
        if stripped.startswith("@") or not stripped:
            if current:
                done.append(current)
                current = None
            m = PARAM.match(stripped)
            if m:
                current = ("param", m.group(1), [stripped[m.end() :]])
            elif re.match(r"@returns?\b", stripped):
                current = ("return", None, [re.sub(r"^@returns?", "", stripped)])
        elif current:
            current[2].append(stripped)
    if current:
        done.append(current)
    for kind, name, lines in done:
        text = " ".join(lines).strip()
        if kind == "param":
            params[name] = text
        else:
            ret = text
    return params, ret


def split_params(params):
    """Parameters as (type, name); `(void)` and `()` give none."""
    out, depth, cur = [], 0, ""
    for ch in params:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur)
    result = []
    for p in out:
        p = " ".join(p.split())
        if p == "void":
            continue
        m = re.match(r"^(.*?)(\w+)$", p)
        if not m:
            result.append((p, None))
        else:
            result.append((m.group(1).strip(), m.group(2)))
    return result


def owned_type(ctype, stars):
    """The handed-over type behind `ctype` with `stars` pointer levels, if it is one."""
    m = re.fullmatch(r"(const\s+)?(\w+)\s*" + r"\*\s*" * stars, ctype)
    if not m or m.group(1):
        return None
    return m.group(2) if m.group(2) in FREE else None


def check(path):
    text = Path(path).read_text()
    problems = []
    documented = set()

    # Each doc comment and the declaration right after it.
    for m in re.finditer(r"/\*\*.*?\*/", text, re.S):
        rest = text[m.end() :]
        decl_m = re.match(r"\s*([^;{}#]*?;)", rest)
        if not decl_m:
            continue  # an enum, a macro, or the file overview
        decl = " ".join(COMMENT.sub("", decl_m.group(1)).split())
        line = line_of(text, m.end() + decl_m.start(1))
        fn = re.match(r"^(?!typedef)(.*?)\b(\w+)\s*\((.*)\)\s*;$", decl)
        cb = re.match(r"^typedef\s+(.*?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)\s*;$", decl)
        if not (fn or cb):
            continue
        ret_type, name, plist = (fn or cb).groups()
        ret_type = " ".join(ret_type.split())
        documented.add(name)
        kind = "function" if fn else "callback type"
        params, ret = sections(m.group(0))

        def problem(msg, line=line, name=name, kind=kind):
            problems.append(f"{path}:{line}: {kind} {name}: {msg}")

        names = []
        for ctype, pname in split_params(plist):
            if pname is None:
                problem(f"cannot read the parameter `{ctype}`")
                continue
            names.append(pname)
            if pname not in params:
                problem(f"parameter `{pname}` has no @param")
                continue
            ptext = params[pname]
            if not ptext:
                problem(f"@param {pname} has no text")
            owned = owned_type(ctype, 2)
            if pname.endswith("_out") and owned:
                free = FREE[owned]
                if free not in ptext:
                    problem(f"output `{pname}` ({ctype}) does not name its free function {free}()")
                if "failure" not in ptext and pname != "error_out":
                    problem(f"output `{pname}` does not say what happens on failure")
        for extra in sorted(set(params) - set(names)):
            problem(f"@param {extra} names no parameter")

        if ret_type != "void":
            if ret is None:
                problem(f"returns `{ret_type}` but has no @return")
            elif not ret:
                problem("@return has no text")
            else:
                owned = owned_type(ret_type, 1)
                if owned and FREE[owned] not in ret:
                    problem(f"returns a new `{ret_type}` but @return does not name {FREE[owned]}()")
                if re.fullmatch(r"const char\s*\*", ret_type) and not re.search(
                    r"not free|never free", ret, re.I
                ):
                    problem("returns a borrowed `const char *` but @return does not say not to free it")

    # Every prototype of the header must have been seen with a doc comment.
    bare = COMMENT.sub(lambda c: "\n" * c.group(0).count("\n"), text)
    for m in re.finditer(r"^(?!typedef|#|\s)[^;{}()]*?\b(fhir_\w+)\s*\([^;{}]*\)\s*;", bare, re.M):
        if m.group(1) not in documented:
            problems.append(f"{path}:{line_of(bare, m.start(1))}: function {m.group(1)}: no doc comment")
    for m in re.finditer(r"^typedef[^;{}]*\(\s*\*\s*(\w+)\s*\)\s*\(", bare, re.M):
        if m.group(1) not in documented:
            problems.append(f"{path}:{line_of(bare, m.start(1))}: callback type {m.group(1)}: no doc comment")

    return documented, problems


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "include/fhir_kindling.h"
    documented, problems = check(path)
    if not documented:
        print(f"{path}: no function found: is this the header?", file=sys.stderr)
        return 1
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} documentation problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"{path}: {len(documented)} functions and callback types fully documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
