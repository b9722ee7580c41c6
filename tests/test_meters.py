"""Cost meters: time, peak memory, nesting, latency."""

from __future__ import annotations

import time

import numpy as np
import pytest

from matscibench.cost.meters import JobMeter, current_meter, latency_percentiles, phase, peak_rss_mib, peak_rss_reset


def test_phase_records_wall_and_cpu_time():
    m = JobMeter()
    with m.phase("fit"):
        time.sleep(0.2)
        t = time.process_time()
        while time.process_time() - t < 0.1:
            pass
    rec = m.phases["fit"]
    assert 0.28 < rec.wall_s < 2.0
    assert 0.08 < rec.cpu_s < rec.wall_s  # sleeping costs no CPU


@pytest.mark.skipif(not peak_rss_reset(), reason="peak RSS cannot be reset on this OS")
def test_peak_memory_follows_allocation_and_resets():
    m = JobMeter()
    with m.phase("big"):
        block = np.ones(200 * 1024 * 1024 // 8)  # 200 MiB, touched
        block.sum()
        del block
    with m.phase("small"):
        pass
    big, small = m.phases["big"].peak_rss_MiB, m.phases["small"].peak_rss_MiB
    assert big - small > 150  # the reset makes the later phase see its own peak
    assert m.costs()["job.peak_rss_MiB"] == pytest.approx(big)


@pytest.mark.skipif(not peak_rss_reset(), reason="peak RSS cannot be reset on this OS")
def test_nested_phase_does_not_hide_outer_peak():
    m = JobMeter()
    with m.phase("fit"):
        block = np.ones(150 * 1024 * 1024 // 8)
        block.sum()
        del block
        with phase("featurize"):  # resets the kernel's high-water mark
            pass
    assert m.phases["fit"].peak_rss_MiB - m.phases["fit/featurize"].peak_rss_MiB > 100
    assert "fit/featurize" in m.phases


def test_module_level_phase_is_a_noop_outside_a_job():
    assert current_meter() is None
    with phase("featurize") as rec:
        assert rec is None


def test_repeated_subphase_adds_up():
    m = JobMeter()
    with m.phase("fit"):
        for _ in range(3):
            with phase("featurize"):
                time.sleep(0.02)
    assert m.phases["fit/featurize"].wall_s >= 0.06


def test_curve_and_elapsed():
    events = []
    m = JobMeter(events=events.append)
    t = m.record_epoch(1, 0.5)
    assert t >= 0 and m.curve == [(1, t, 0.5)]
    assert events[-1] == {"kind": "epoch", "epoch": 1, "value": 0.5}


def test_latency_percentiles_order_and_warmup():
    calls = []

    def call(batch):
        calls.append(len(batch))
        time.sleep(0.001 * len(calls) if len(calls) <= 2 else 0.002)

    out = latency_percentiles(call, list(range(100)), batch_size=8, warmup=2, max_batches=10, budget_s=5)
    assert out["latency_batches"] == 10 and len(calls) == 12
    assert out["latency_p50_ms"] <= out["latency_p95_ms"] <= out["latency_p99_ms"]
    assert 1.5 < out["latency_p50_ms"] < 50
    assert out["latency_batch_size"] == 8


def test_peak_rss_is_positive():
    assert peak_rss_mib() > 1


class _FakeCuda:
    """Stands in for ``torch.cuda`` to check the order of synchronisation and clock reads."""

    def __init__(self, log):
        self.log = log
        self.allocated = 0.0

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def synchronize(self):
        self.log.append("sync")

    def reset_peak_memory_stats(self):
        self.log.append("reset")
        self.allocated = 0.0

    def max_memory_allocated(self):
        return self.allocated


def test_gpu_phase_synchronises_before_reading_clocks(monkeypatch):
    import sys
    import types

    from matscibench.cost import meters

    log = []
    fake = types.SimpleNamespace(cuda=_FakeCuda(log), set_num_threads=lambda n: None, manual_seed=lambda s: None)
    monkeypatch.setitem(sys.modules, "torch", fake)
    real_clock = time.perf_counter

    def clock():
        log.append("clock")
        return real_clock()

    monkeypatch.setattr(meters.time, "perf_counter", clock)
    m = JobMeter()
    log.clear()
    with m.phase("fit"):
        log.append("work")
        fake.cuda.allocated = 512 * 1024 * 1024
    # the device is synchronised before the start clock and again before the end clock
    assert log.index("sync") < log.index("clock") < log.index("work")
    after = log[log.index("work") :]
    assert after.index("sync") < after.index("clock")
    assert m.phases["fit"].gpu_peak_MiB == 512
    assert m.costs()["job.gpu_peak_MiB"] == 512
