"""Runs every oracle script in this folder and writes its fixture, or with --check compares
the fresh output with the committed fixture.

Each `tests/oracle/NAME.py` (but for shared modules, named `_*.py`) prints JSON on standard
output; its fixture is `tests/fixtures/NAME.json`. On one machine the output is exact, but
PyTorch's CPU kernels (MKL's matrix products above all) take different code paths on Intel and
AMD processors and round differently, by up to about 1e-5 of an array's largest magnitude after
a few layers. The check therefore allows a difference of 1e-4 of the largest magnitude in the
same array for an array's elements, and of 1e-4 of the value itself or 1e-7, whichever is
larger, for a number alone (margins and smallest gradients lose their leading digits to
cancellation).
"""

import argparse
import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
TOLERANCE = 1e-4
ABSOLUTE_TOLERANCE = 1e-7


def oracles():
    return sorted(
        p for p in HERE.glob("*.py") if p.name != "regenerate.py" and not p.name.startswith("_")
    )


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numbers(value):
    if isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif is_number(value):
        yield value


def is_array(value):
    return isinstance(value, list) and all(is_number(x) or isinstance(x, list) for x in value)


def differences(fresh, committed, where="$", scale=None):
    """The places where `fresh` and `committed` differ; `scale` is the largest magnitude of the
    numeric array being walked, None outside one."""
    if isinstance(fresh, dict) and isinstance(committed, dict):
        if fresh.keys() != committed.keys():
            yield f"{where}: keys differ"
            return
        for key in fresh:
            yield from differences(fresh[key], committed[key], f"{where}.{key}")
    elif isinstance(fresh, list) and isinstance(committed, list):
        if len(fresh) != len(committed):
            yield f"{where}: lengths {len(fresh)} and {len(committed)}"
            return
        if scale is None and is_array(committed):
            scale = max((abs(x) for x in numbers(committed)), default=0.0)
        for i, (a, b) in enumerate(zip(fresh, committed)):
            yield from differences(a, b, f"{where}[{i}]", scale)
    elif is_number(fresh) and is_number(committed) and float in (type(fresh), type(committed)):
        if scale is None:
            allowed = max(TOLERANCE * abs(committed), ABSOLUTE_TOLERANCE)
        else:
            allowed = TOLERANCE * scale
        if abs(fresh - committed) > allowed:
            yield f"{where}: {fresh!r} against {committed!r}"
    elif fresh != committed and where != "$.produced_by":
        yield f"{where}: {fresh!r} against {committed!r}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    failed = False
    for script in oracles():
        output = subprocess.run([sys.executable, script], check=True, capture_output=True).stdout
        fixture = FIXTURES / f"{script.stem}.json"
        if not args.check:
            fixture.write_bytes(output)
            print(f"wrote {fixture.relative_to(HERE.parent.parent)}")
            continue
        found = list(differences(json.loads(output), json.loads(fixture.read_text())))
        print(f"{script.name}: {'regenerates its fixture' if not found else 'DIFFERS'}")
        for line in found[:10]:
            print(f"  {line}")
        failed |= bool(found)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
