#!/usr/bin/env python3
"""Compiles every ```cpp block of README.md, and runs it: what the README shows builds as shown.

A block is a whole program (it has a main) unless the line just before its fence is a marker
naming where it lives:

    <!-- snippet: in examples/NAME.cpp -->

The block then replaces the lines between "// ---- README snippet" and
"// ---- end of README snippet" in that file, and the result is compiled and run: the README's
text, not the example's copy, is what must build. A block with neither fails the check.

    check_snippets.py ROOT BUILD_DIR [COMPILER]
"""
import pathlib
import re
import subprocess
import sys

FENCE = re.compile(r"^(\s*)```cpp\s*$")
MARKER = re.compile(r"^\s*<!-- snippet: in (\S+) -->\s*$")
BEGIN, END = "// ---- README snippet", "// ---- end of README snippet"
FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread"]
# What a snippet including an optional header links, as its CMake target would.
LIBRARIES = {"s3repl/aws_xml.hpp": ["-lpugixml"]}


def blocks(readme):
    """Yields (line number, marker target or None, code) for each ```cpp block."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        marker = MARKER.match(lines[i - 1]) if i > 0 else None
        indent, start, code = len(fence.group(1)), i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            code.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i == len(lines):
            sys.exit(f"README.md:{start}: unterminated ```cpp block")
        yield start, marker.group(1) if marker else None, "\n".join(code) + "\n"
        i += 1


def in_example(root, target, code, line):
    """The example's source with its README region replaced by the block."""
    source = (root / target).read_text(encoding="utf-8").splitlines(keepends=True)
    begins = [n for n, text in enumerate(source) if text.strip().startswith(BEGIN)]
    ends = [n for n, text in enumerate(source) if text.strip().startswith(END)]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError(f"README.md:{line}: {target} must hold one '{BEGIN}' ... '{END}' region")
    return ("".join(source[: begins[0] + 1]) + f'#line {line + 1} "README.md"\n' + code +
            f'#line {ends[0] + 1} "{target}"\n' + "".join(source[ends[0] :]))


def main():
    root, build = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    compiler = sys.argv[3] if len(sys.argv) > 3 else "c++"
    build.mkdir(parents=True, exist_ok=True)
    failed = checked = 0
    for line, target, code in blocks(root / "README.md"):
        checked += 1
        name = f"readme_line{line}"
        try:
            if target:
                text = in_example(root, target, code, line)
            elif re.search(r"\bint\s+main\s*\(", code):
                text = f'#line {line + 1} "README.md"\n' + code
            else:
                raise ValueError(f"README.md:{line}: a ```cpp block without main() needs a "
                                 "'<!-- snippet: in examples/NAME.cpp -->' line before it")
        except (OSError, ValueError) as error:
            print(f"FAILED: {error}")
            failed += 1
            continue
        source, program = build / f"{name}.cpp", build / name
        source.write_text(text, encoding="utf-8")
        what = f"README.md:{line}" + (f" (in {target})" if target else "")
        libraries = [flag for header, flags in LIBRARIES.items() if header in text for flag in flags]
        compile_ = subprocess.run(
            [compiler, *FLAGS, "-I", str(root / "include"), str(source), "-o", str(program), *libraries])
        if compile_.returncode != 0:
            print(f"FAILED: {what} does not compile as shown ({source})")
            failed += 1
            continue
        try:
            run = subprocess.run([str(program)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
            ok = run.returncode == 0
            detail = f"exit status {run.returncode}\n{run.stdout}{run.stderr}"
        except subprocess.TimeoutExpired:
            ok, detail = False, "timed out"
        if ok:
            print(f"ok: {what} compiles and runs")
        else:
            print(f"FAILED: {what} compiles, but running it failed: {detail}")
            failed += 1
    if checked == 0:
        print("FAILED: README.md has no ```cpp block: is the extraction broken?")
        return 1
    print(f"{checked} README snippet(s), {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
