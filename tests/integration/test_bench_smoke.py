"""`make bench` works: the harness runs a 10-socket scenario end to end
(its own database, two Daphne workers, REST set-up, client processes) and
every socket sees every event of its workspace once, in order."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_harness_small_run(tmp_path):
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--scenarios", "custom", "--sockets", "10",
           "--rate", "4", "--writers", "2", "--configs", "shipped", "--warmup", "0.5", "--duration", "3",
           "--procs", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert out.with_suffix(".md").exists()
    [result] = doc["results"]
    assert result["connected"] == 10
    assert (result["lost"], result["dups"], result["gaps"], result["closed_count"]) == (0, 0, 0, 0)
    assert result["inflight_left"] == 0 and not result["errors"]
    assert result["sent"] > 0
    # Every write sent in the measured window reached all 10 sockets.
    assert result["lat_ms"]["count"] > 0 and result["lat_ms"]["count"] % 10 == 0
    assert result["lat_ms"]["p50"] is not None and result["ack_ms"]["count"] > 0
