"""Measuring a contender: its process tree sampled while it runs, the machine's idle waits, retries."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil

from bench.common import PY, ROOT
from bench.server import PrefectServer


def _vmhwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _role(p: psutil.Process) -> str:
    try:
        name = p.name()
        if name in ("tesseract", "pdftoppm", "qpdf", "gs"):
            return name
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return "?"
    for key in ("profile_scan", "bin/dossier", "ocrmypdf", "tess_pool"):
        if key in cmd:
            return "dossier" if key in ("profile_scan", "bin/dossier") else key
    return name


class Sampler(threading.Thread):
    """Every `interval` s: the tree under `pid`, how many tesseracts run, each process's VmHWM."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_event = threading.Event()
        self.tesseract_counts: list[int] = []
        self.peaks: dict[str, float] = defaultdict(float)
        self._roles: dict[int, str] = {}

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop_event.is_set():
            try:
                procs = root.children(recursive=True)
            except psutil.Error:
                break
            n = 0
            for p in procs:
                role = self._roles.get(p.pid)
                if role is None or role == "?":
                    role = self._roles[p.pid] = _role(p)
                if role == "tesseract":
                    n += 1
                self.peaks[role] = max(self.peaks[role], _vmhwm_mb(p.pid))
            self.tesseract_counts.append(n)
            self.stop_event.wait(self.interval)

    def summary(self, jobs: int) -> dict:
        c = self.tesseract_counts
        if not c:
            return {}
        hist = Counter(min(x, jobs) for x in c)
        return {
            "tesseract_mean_running": round(sum(min(x, jobs) for x in c) / len(c), 2),
            "tesseract_share_of_time": {str(k): round(hist.get(k, 0) / len(c), 3) for k in range(jobs + 1)},
            "peak_rss_mb_by_process": {k: round(v, 1) for k, v in sorted(self.peaks.items()) if v},
        }


def _busy_cpu(t) -> float:
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0) + getattr(t, "steal", 0)


QUIET_WAIT_S = 300.0


def wait_quiet(max_wait: float, busy_limit: float = 0.3, needed: int = 5) -> float:
    """Wait until the machine has been idle (< busy_limit cores) for `needed` seconds in a row.

    Other work on this machine (another checkout's test suite, say) would otherwise be measured as
    ours. Returns the seconds waited; gives up after max_wait (the foreign CPU is then reported).
    """
    t0 = time.perf_counter()
    quiet = 0
    prev = _busy_cpu(psutil.cpu_times())
    while time.perf_counter() - t0 < max_wait:
        time.sleep(1.0)
        cur = _busy_cpu(psutil.cpu_times())
        quiet = quiet + 1 if cur - prev < busy_limit else 0
        prev = cur
        if quiet >= needed:
            break
    return round(time.perf_counter() - t0, 1)


def run_measured(
    name: str, cmds: list[list[str]], env: dict, work: Path, jobs: int, server: PrefectServer | None
) -> dict:
    """Run commands one after another under bench/measure.py, sampling the tree meanwhile."""
    res_json, stdout = work / f"{name}.measure.json", work / f"{name}.stdout"
    cmd_file = work / f"{name}.cmds.json"
    cmd_file.write_text(json.dumps(cmds))
    waited = wait_quiet(QUIET_WAIT_S)
    me = psutil.Process()
    me0 = sum(me.cpu_times()[:2])
    cpu0, srv0, load0 = psutil.cpu_times(), server.cpu_seconds() if server else 0.0, os.getloadavg()[0]
    proc = subprocess.Popen(
        [PY, str(ROOT / "bench" / "measure.py"), str(res_json), str(stdout), "--list", str(cmd_file)], env=env
    )
    sampler = Sampler(proc.pid)
    sampler.start()
    proc.wait()
    sampler.stop_event.set()
    sampler.join()
    cpu1, srv1 = psutil.cpu_times(), server.cpu_seconds() if server else 0.0
    me1 = sum(me.cpu_times()[:2])
    m = json.loads(res_json.read_text())
    wall = m["wall_s"]
    tree_cpu = m["cpu_user_s"] + m["cpu_sys_s"]
    system_cpu = _busy_cpu(cpu1) - _busy_cpu(cpu0)
    m.update(sampler.summary(jobs))
    m.update(
        {
            "cpu_s": round(tree_cpu, 1),
            "busy_cores_tree": round(tree_cpu / wall, 2),
            "busy_cores_system": round(system_cpu / wall, 2),
            "prefect_server_cpu_s": round(srv1 - srv0, 1),
            # CPU used on the machine by anything else than this contender, its Prefect server and the bench
            # itself (sampling): other people's work; large values make the figures unreliable.
            "foreign_cpu_s": round(system_cpu - tree_cpu - (srv1 - srv0) - (me1 - me0), 1),
            "waited_for_quiet_s": waited,
            "load_avg_1m_before": round(load0, 2),
            "stdout": str(stdout),
            "name": name,
        }
    )
    if m["rc"] != 0:
        err = Path(str(stdout) + ".err").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} failed (exit {m['rc']}):\n{err}")
    return m


def _foreign_share(m: dict, jobs: int) -> float:
    return m["foreign_cpu_s"] / (m["wall_s"] * jobs)


def best_of(label: str, attempt, retries: int, jobs: int) -> dict:
    """Run attempt(i) until a run is not disturbed by other work (< 5 % of the cores), at most 1+retries
    times; keep the least disturbed run."""
    runs = []
    for i in range(retries + 1):
        m = attempt(i)
        runs.append(m)
        if _foreign_share(m, jobs) < 0.05:
            break
        print(
            f"  {label}: other processes used {m['foreign_cpu_s']} CPU s during the run "
            f"({_foreign_share(m, jobs):.0%} of the cores); {'again' if i < retries else 'keeping the best'}",
            flush=True,
        )
    best = min(runs, key=lambda m: _foreign_share(m, jobs))
    best["attempts"] = len(runs)
    best["foreign_share"] = round(_foreign_share(best, jobs), 3)
    return best
