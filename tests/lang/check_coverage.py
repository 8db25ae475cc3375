#!/usr/bin/env python3
"""Checks tests/lang/COVERAGE.md against the language contract (and the diagnostics catalog).

    check_coverage.py LANGUAGE.md [--coverage COVERAGE.md] [--tests DIR]
                      [--diagnostics ir/Diagnostics.def] [--list] [--strict]

The items of a section of LANGUAGE.md are its top-level bullets ("- " at column 0, with
their indented continuation lines); a section without bullets (7 and 8 are prose) has one
item per sentence of its paragraphs, code blocks left out. Item k of section s has the id
"s.k"; COVERAGE.md may split it into sub-items "s.ka", "s.kb", ...

It fails when
  * a section's item count differs from the count recorded in COVERAGE.md's
    `Counts:` line (the contract changed: review the table, then update the counts);
  * an item has no row, or a row names an item that does not exist;
  * a row's quoted fragment ("...") is not found in its item's text (the item moved or
    was rewritten: find its new id);
  * a row names a test file that does not exist, or has neither tests nor `n/a: reason`;
  * with --diagnostics: a message of the catalog has no row in the diagnostics table, or
    a row names a message that the catalog does not have.
--list prints the items (to write the table); --strict also fails when a test program is
mapped by no row. Python 3 standard library only.
"""
import argparse
import os
import re
import sys

SECTIONS = ("1", "2", "3", "7", "8")


def normalize(text):
    """Markdown text to plain words: no backticks or escapes, single spaces."""
    text = text.replace("\\|", "|").replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def mask_code(text):
    """Replaces the inside of `code spans` so that sentence splitting ignores it."""
    return re.sub(r"`[^`]*`", lambda m: "`" + "x" * (len(m.group(0)) - 2) + "`", text)


def split_sentences(paragraph):
    masked = mask_code(paragraph)
    out, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+(?=[A-Z`])", masked):
        out.append(paragraph[start:m.start()])
        start = m.end()
    out.append(paragraph[start:])
    return [normalize(s) for s in out if s.strip()]


def parse_language(path):
    """{section number: [item text, ...]} for every `## N. Title` section."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    sections, current, body = {}, None, []

    def flush():
        if current is not None:
            sections[current] = items_of(body)

    for line in lines:
        m = re.match(r"^##\s+(\d+)\.\s", line)
        if m:
            flush()
            current, body = m.group(1), []
        elif re.match(r"^#{1,2}\s", line):
            flush()
            current, body = None, []
        elif current is not None:
            body.append(line)
    flush()
    return sections


def items_of(body):
    # Drop fenced code blocks and indented code blocks (4 spaces after a blank line).
    text, in_fence, prev_blank, in_indented = [], False, True, False
    for line in body:
        if line.strip().startswith("```"):
            in_fence = not in_fence
            text.append("")
            continue
        if in_fence:
            continue
        if in_indented and (line.startswith("    ") or not line.strip()):
            text.append("")
            prev_blank = not line.strip()
            continue
        in_indented = False
        if prev_blank and line.startswith("    ") and line.strip():
            in_indented = True
            text.append("")
            continue
        text.append(line)
        prev_blank = not line.strip()
    if any(l.startswith("- ") for l in text):
        items, cur = [], None
        for line in text:
            if line.startswith("- "):
                if cur is not None:
                    items.append(normalize(cur))
                cur = line[2:]
            elif cur is not None and line.startswith(" ") and line.strip():
                cur += " " + line.strip()
            elif cur is not None and not line.strip():
                items.append(normalize(cur))
                cur = None
        if cur is not None:
            items.append(normalize(cur))
        return items
    items, para = [], []
    for line in text + [""]:
        if line.strip():
            para.append(line.strip())
        elif para:
            items += split_sentences(" ".join(para))
            para = []
    return items


def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in cells[1:-1]]


def parse_coverage(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    counts, rows, diag_rows = None, [], []
    for n, line in enumerate(lines, start=1):
        m = re.match(r"^Counts:\s*(.*)$", line)
        if m:
            counts = dict(re.findall(r"(\d+)=(\d+)", m.group(1)))
            counts = {k: int(v) for k, v in counts.items()}
            continue
        if not line.startswith("|"):
            continue
        cells = split_row(line)
        if len(cells) < 3:
            continue
        if re.fullmatch(r"\d+\.\d+[a-z]?", cells[0]):
            rows.append((n, cells[0], cells[1], cells[2]))
        elif re.fullmatch(r"`?[A-Z][A-Za-z0-9]*`?", cells[0]) and \
                cells[0].strip("`") not in ("Id", "Diagnostic"):
            diag_rows.append((n, cells[0].strip("`"), cells[-1]))
    return counts, rows, diag_rows


def test_paths(cell):
    """('n/a', reason) or ('tests', [paths])."""
    m = re.match(r"^n/a:\s*(.*)$", cell)
    if m:
        return "n/a", m.group(1).strip()
    paths = [p.strip().strip("`") for p in cell.split(",")]
    return "tests", [p for p in paths if p]


def all_tests(folder):
    found = set()
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in ("_modules", "_data")]
        for f in files:
            if f.endswith(".msl"):
                found.add(os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/"))
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("language", help="path to LANGUAGE.md")
    ap.add_argument("--coverage", default=os.path.join(here, "COVERAGE.md"))
    ap.add_argument("--tests", default=here, help="the tests/lang folder")
    ap.add_argument("--diagnostics", help="path to ir/Diagnostics.def")
    ap.add_argument("--list", action="store_true", help="print the items and exit")
    ap.add_argument("--strict", action="store_true", help="fail on unmapped test programs")
    args = ap.parse_args()

    sections = parse_language(args.language)
    missing_sections = [s for s in SECTIONS if s not in sections]
    if missing_sections:
        print(f"FAIL: LANGUAGE.md has no section(s) {', '.join(missing_sections)}")
        return 1
    if args.list:
        for s in sections:
            for k, text in enumerate(sections[s], start=1):
                print(f"{s}.{k}: {text}\n")
        return 0

    counts, rows, diag_rows = parse_coverage(args.coverage)
    errors = []
    if counts is None:
        errors.append("COVERAGE.md has no `Counts:` line")
        counts = {}
    for s in SECTIONS:
        have = len(sections[s])
        if counts.get(s) != have:
            errors.append(f"section {s} of LANGUAGE.md has {have} items but COVERAGE.md's Counts "
                          f"line says {counts.get(s)}: the contract changed; review the rows of "
                          f"section {s}, then update the Counts line")

    # Rows may also map programs to items of the other sections (4, 5, 6, ...); those are
    # checked like the others but need not all have rows.
    items = {f"{s}.{k}": text for s in sections for k, text in enumerate(sections[s], start=1)}
    required = [f"{s}.{k}" for s in SECTIONS for k in range(1, len(sections[s]) + 1)]
    covered = set()
    mapped_tests = set()
    for n, rid, contract, tests in rows:
        base = re.sub(r"[a-z]$", "", rid)
        if base not in items:
            errors.append(f"COVERAGE.md line {n}: {rid} names no item of LANGUAGE.md")
            continue
        covered.add(base)
        if len(contract) < 3 or contract[0] != '"' or contract[-1] != '"':
            errors.append(f"COVERAGE.md line {n}: {rid}'s second column is not a quoted "
                          f"fragment of its item (\"...\")")
        else:
            frag = contract[1:-1]
            if normalize(frag) not in items[base]:
                errors.append(f"COVERAGE.md line {n}: {rid}'s fragment \"{frag}\" is not in item "
                              f"{base}: \"{items[base][:100]}...\"")
        kind, val = test_paths(tests)
        if kind == "n/a":
            if not val:
                errors.append(f"COVERAGE.md line {n}: {rid} is n/a without a reason")
            continue
        if not val:
            errors.append(f"COVERAGE.md line {n}: {rid} names no test")
        for p in val:
            mapped_tests.add(p)
            if not os.path.isfile(os.path.join(args.tests, p)):
                errors.append(f"COVERAGE.md line {n}: {rid} names {p}, which does not exist")
    for iid in required:
        if iid not in covered:
            errors.append(f"item {iid} of LANGUAGE.md has no row in COVERAGE.md: "
                          f"\"{items[iid][:100]}\"")

    if args.diagnostics:
        with open(args.diagnostics, encoding="utf-8") as f:
            ids = re.findall(r"^DIAG\((\w+),", f.read(), re.M)
        seen = set()
        for n, did, tests in diag_rows:
            seen.add(did)
            if did not in ids:
                errors.append(f"COVERAGE.md line {n}: diagnostic {did} is not in {args.diagnostics}")
            kind, val = test_paths(tests)
            if kind == "n/a":
                if not val:
                    errors.append(f"COVERAGE.md line {n}: {did} is n/a without a reason")
                continue
            if not val:
                errors.append(f"COVERAGE.md line {n}: {did} names no test")
            for p in val:
                mapped_tests.add(p)
                if not os.path.isfile(os.path.join(args.tests, p)):
                    errors.append(f"COVERAGE.md line {n}: {did} names {p}, which does not exist")
        for did in ids:
            if did not in seen:
                errors.append(f"diagnostic {did} of {args.diagnostics} has no row in COVERAGE.md")

    unmapped = sorted(all_tests(args.tests) - mapped_tests)
    if unmapped:
        note = "FAIL" if args.strict else "note"
        print(f"{note}: {len(unmapped)} test program(s) mapped by no row: {', '.join(unmapped)}")
        if args.strict:
            errors.append("unmapped test programs (--strict)")

    if errors:
        print("FAIL: COVERAGE.md does not match the contract:")
        for e in errors:
            print("  * " + e)
        return 1
    print(f"ok: {len(required)} items of sections {', '.join(SECTIONS)} mapped; {len(rows)} rows"
          + (f"; {len(diag_rows)} diagnostics" if args.diagnostics else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
