"""Run the tutorials as written: every ```bash block of docs/tutorials/*.md, page by page.

    python3 scripts/check_tutorials.py                       # every page
    python3 scripts/check_tutorials.py quickstart resume     # pages whose name contains a word

Each page runs in a fresh temporary folder, its blocks in order in one
`bash -euo pipefail`, with `nasforge` meaning this checkout's
`python3 -m nasforge.cli`. Blocks fenced as ```shell are shown, not run
(installing, servers that run until stopped, clusters). A page passes when
its script exits 0; the table at the end says how long each took.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def script_of(page: Path) -> str:
    return "\n".join(BLOCK.findall(page.read_text()))


def run_page(page: Path) -> tuple[int, float, str]:
    with tempfile.TemporaryDirectory(prefix=f"tutorial-{page.stem}-") as tmp:
        shim = Path(tmp) / ".bin"
        shim.mkdir()
        (shim / "nasforge").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nasforge.cli "$@"\n')
        (shim / "nasforge").chmod(0o755)
        env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
        start = time.perf_counter()
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script_of(page)], cwd=tmp, env=env,
                              capture_output=True, text=True)
        return done.returncode, time.perf_counter() - start, (done.stdout + done.stderr)[-3000:]


def main() -> int:
    pages = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
    if sys.argv[1:]:
        pages = [p for p in pages if any(word in p.stem for word in sys.argv[1:])]
    results = []
    for page in pages:
        if not script_of(page):
            results.append((page.stem, "no commands", 0.0))
            continue
        code, seconds, output = run_page(page)
        results.append((page.stem, "ok" if code == 0 else f"FAILED (exit {code})", seconds))
        print(f"{page.stem}: {results[-1][1]} in {seconds:.0f} s", flush=True)
        if code:
            print(output)
    print("\n| tutorial | result | seconds |\n|---|---|---:|")
    for name, result, seconds in results:
        print(f"| {name} | {result} | {seconds:.0f} |")
    return 0 if all(r[1] in ("ok", "no commands") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
