"""Bare tesseract, the limit: N single-threaded processes side by side over a list of page images.

    python bench/tess_pool.py JOBS LANGS DPI OUT_DIR CONFIGS -- image...

CONFIGS is a comma-separated list of tesseract output configs (e.g. "txt" or "txt,tsv,pdf").
Each image gets `tesseract IMG OUT_DIR/<stem> -l LANGS --dpi DPI <configs>`; OMP_THREAD_LIMIT=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def run(
    jobs: int, langs: str, dpi: str, out_dir: Path, configs: list[str], images: list[str], options: tuple[str, ...] = ()
) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = [*options, *(["-c", "textonly_pdf=1"] if "pdf" in configs else [])]

    timings: dict[str, float] = {}

    def one(img: str) -> int:
        cmd = ["tesseract", img, str(out_dir / Path(img).stem), "-l", langs, "--dpi", dpi, *extra, *configs]
        t = time.perf_counter()
        rc = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        timings[Path(img).stem] = time.perf_counter() - t
        return rc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        codes = list(pool.map(one, images))
    (out_dir / "timings.json").write_text(json.dumps(timings))
    return max(codes, default=0)


if __name__ == "__main__":
    sep = sys.argv.index("--")
    jobs, langs, dpi, out_dir, configs = sys.argv[1:sep]
    sys.exit(run(int(jobs), langs, dpi, Path(out_dir), configs.split(","), sys.argv[sep + 1 :]))
