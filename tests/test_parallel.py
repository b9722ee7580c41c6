"""``matscibench.parallel.process_pool``: workers start clean (spawned) and do not
outlive the process that started them, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from matscibench.parallel import process_pool, safe_context


def _square(x: int) -> int:
    return x * x


def test_pool_maps_and_uses_a_start_method_that_does_not_fork_this_process():
    with process_pool(2) as pool:
        assert list(pool.map(_square, range(6))) == [0, 1, 4, 9, 16, 25]
    assert safe_context().get_start_method() == "spawn"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="PR_SET_PDEATHSIG is Linux-only")
def test_workers_die_with_a_killed_parent(tmp_path):
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, time
        from matscibench.parallel import process_pool

        def work(_):
            with open({str(pids)!r}, "a") as fh:
                fh.write(f"{{os.getpid()}}\\n")
            time.sleep(120)

        if __name__ == "__main__":
            pool = process_pool(2)
            for i in range(2):
                pool.submit(work, i)
            time.sleep(120)
    """)
    (tmp_path / "parent.py").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], cwd=tmp_path)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and (not pids.exists() or len(pids.read_text().split()) < 2):
            time.sleep(0.2)
        workers = [int(p) for p in pids.read_text().split()]
        assert len(workers) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 20
        alive = workers
        while alive and time.time() < deadline:
            time.sleep(0.2)
            alive = [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in
                     Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0]]
        assert not alive, f"pool workers {alive} outlived their killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
