"""Run one command and report its wall time, CPU time and the peak RSS of its largest process.

    python bench/measure.py RESULT.json STDOUT_FILE -- command args...
    python bench/measure.py RESULT.json STDOUT_FILE --list COMMANDS.json   (run one after another)

This wrapper process does nothing but wait, so RUSAGE_CHILDREN covers exactly the command's process
tree (every descendant that was waited for: the dossier process and each tesseract it ran, or
ocrmypdf and its workers). ru_maxrss is then the peak RSS of the largest single process in it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    out_json, stdout_file = sys.argv[1], sys.argv[2]
    if sys.argv[3] == "--list":
        with open(sys.argv[4]) as f:
            cmds = json.load(f)
    else:
        cmds = [sys.argv[sys.argv.index("--") + 1 :]]
    t0 = time.perf_counter()
    rc = 0
    with open(stdout_file, "wb") as out, open(stdout_file + ".err", "wb") as err:
        for cmd in cmds:
            rc = subprocess.call(cmd, stdout=out, stderr=err)
            if rc != 0:
                break
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_json, "w") as f:
        json.dump(
            {
                "rc": rc,
                "wall_s": wall,
                "cpu_user_s": ru.ru_utime,
                "cpu_sys_s": ru.ru_stime,
                "peak_rss_mb": ru.ru_maxrss / 1024,
            },
            f,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
