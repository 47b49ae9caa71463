"""`make mutation`: run mutmut over the modules that hold the product's rules, then print the
score of each (killed / counted) and exit non-zero when one is under MIN_SCORE.

    python -m mutation                 run what is not yet judged (mutmut keeps results in mutants/)
    python -m mutation --report        print the table of the last run only
    python -m mutation postbacks.firing tracking.accept   run and count only these modules

mutmut changes one small thing at a time (a comparison, a constant, a call's argument) in a copy
of the code (mutants/) and runs the tests that cover the changed function; a mutant is killed
when one of them fails. Mutants listed in mutation/equivalent.txt are left out of the count: each
changes nothing a caller could observe, and says why.
"""

import json
import os
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_SCORE = 90.0
WORKERS = 2  # the machine's cores are shared: never more

# Module -> the functions counted ("*" for all). The sender's asyncio machinery (the Sender
# class: its loops, wake-ups and draining) is exercised by the end-to-end tests, which mutmut
# cannot run per mutant; the retry, lease and recording logic it drives is postbacks.queue.
MODULES = {
    "postbacks.firing": ["*"],
    "postbacks.macros": ["*"],
    "tracking.macros": ["*"],
    "postbacks.outbound": ["*"],
    "postbacks.queue": ["*"],
    "postbacks.sender": ["request_for"],
    "conversions.intake": ["*"],
    "conversions.recording": ["*"],
    "conversions.lifecycle": ["*"],
    "conversions.events": ["*"],
    "conversions.repeats": ["*"],
    "tracking.accept": ["*"],
    "offers.access": ["*"],
    "tracking.params": ["*"],
    "tracking.destination": ["*"],
    "offers.payouts": ["*"],
    "stats.services": ["*"],
}
KILLED = {1, 3}  # a test failed, or pytest stopped on an error the mutant caused
TIMEOUT = {36, 24, -24, 152, 255}  # the tests never finished: the mutant was noticed, too


def _function(mutant: str) -> str:
    """`postbacks.queue.x_record__mutmut_3` -> `record`; methods -> `Class.method`."""
    name = mutant.rsplit(".", 1)[1].split("__mutmut_")[0]
    return name[1:].replace("ǁ", ".").strip(".") if name.startswith("xǁ") else name[2:]


def _counted(module: str, mutant: str) -> bool:
    return any(fnmatch(_function(mutant), pattern) for pattern in MODULES[module])


def _patterns(modules) -> list[str]:
    """mutmut's names for the counted functions of `modules`."""
    patterns = []
    for module in modules:
        for function in MODULES[module]:
            patterns.append(f"{module}.x_{function}__mutmut_*" if function != "*" else f"{module}.*")
    return patterns


def equivalent() -> dict[str, str]:
    """mutation/equivalent.txt: `<mutant>  <why no caller can tell>`, one a line."""
    listed = {}
    for line in (ROOT / "mutation" / "equivalent.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            mutant, _, reason = line.strip().partition(" ")
            listed[mutant] = reason.strip()
    return listed


def results(modules) -> dict[str, dict[str, int | None]]:
    found = {}
    for module in modules:
        meta = ROOT / "mutants" / (module.replace(".", "/") + ".py.meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        found[module] = {name: code for name, code in codes.items() if _counted(module, name)}
    return found


def report(modules) -> bool:
    skipped = equivalent()
    rows, passed = [], True
    for module, codes in results(modules).items():
        judged = {name: code for name, code in codes.items() if name not in skipped}
        killed = sum(code in KILLED or code in TIMEOUT for code in judged.values())
        unjudged = sum(code is None for code in judged.values())
        total = len(judged)
        score = 100.0 * killed / total if total else 0.0
        passed &= score >= MIN_SCORE and not unjudged
        survivors = sorted(
            name for name, code in judged.items() if code is not None and code not in KILLED | TIMEOUT
        )
        rows.append((module, killed, total, score, len(codes) - total, unjudged, survivors))
    print(f"{'module':<24} {'killed':>7} {'total':>6} {'score':>7} {'equiv.':>7} {'not run':>8}")
    for module, killed, total, score, equivalents, unjudged, _ in rows:
        mark = "" if score >= MIN_SCORE and not unjudged else "  <"
        print(f"{module:<24} {killed:>7} {total:>6} {score:>6.1f}% {equivalents:>7} {unjudged:>8}{mark}")
    for module, *_, survivors in rows:
        if survivors:
            print(f"\nSurvivors in {module} (`.venv/bin/mutmut show NAME` shows one):")
            print("\n".join(f"  {name}" for name in survivors))
    print(f"\n{'All modules at' if passed else 'Not every module reaches'} {MIN_SCORE:.0f}% or more.")
    return passed


def run(modules) -> None:
    env = {**os.environ}
    # Without Redis the cache is each process's own: concurrent mutants share nothing there.
    env.pop("REDIS_URL", None)
    command = [str(ROOT / ".venv" / "bin" / "mutmut"), "run", "--max-children", str(WORKERS)]
    subprocess.run([*command, *_patterns(modules)], cwd=ROOT, env=env, check=False)


def main(argv: list[str]) -> int:
    only_report = "--report" in argv
    modules = [arg for arg in argv if not arg.startswith("--")] or list(MODULES)
    unknown = [module for module in modules if module not in MODULES]
    if unknown:
        print(f"Not a mutated module: {', '.join(unknown)}. Choose from: {', '.join(MODULES)}")
        return 2
    if not only_report:
        run(modules)
    return 0 if report(modules) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
