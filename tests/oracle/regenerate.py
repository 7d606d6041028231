"""Runs every oracle script in this folder and writes its fixture, or with --check compares
the fresh output with the committed fixture.

Each `tests/oracle/NAME.py` (but for shared modules, named `_*.py`) prints JSON on standard output; its fixture is
`tests/fixtures/NAME.json`. The check allows a relative difference of 1e-6, because PyTorch's
CPU kernels may round differently on another processor; on one machine the output is exact.
"""

import argparse
import json
import math
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
RELATIVE_TOLERANCE = 1e-6


def oracles():
    return sorted(
        p for p in HERE.glob("*.py") if p.name != "regenerate.py" and not p.name.startswith("_")
    )


def differences(fresh, committed, where="$"):
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
        for i, (a, b) in enumerate(zip(fresh, committed)):
            yield from differences(a, b, f"{where}[{i}]")
    elif isinstance(fresh, float) or isinstance(committed, float):
        if not math.isclose(fresh, committed, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12):
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
