"""The results store: one transaction per job, no duplicates, NaN round trip."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import insert

from matscibench import store as store_mod
from matscibench.spec import JobResult
from matscibench.store import Store


def _result(key="k1", run_id="r1", status="ok", **kw):
    return JobResult(
        key=key,
        run_id=run_id,
        task="t",
        model="m",
        fold=0,
        seed=0,
        status=status,
        metrics={"mae": 0.5, "r2": float("nan")},
        costs={"fit.wall_s": 1.25, "x": float("inf")},
        info={"n_train": 10, "n_test": 3, "split_hash": "abc"},
        curve=[(1, 0.1, 0.9), (2, 0.2, 0.7)],
        **kw,
    )


def test_record_and_read_back(tmp_path):
    st = Store(tmp_path / "r.sqlite")
    assert st.ensure_run("r1", "suite", {"a": 1}, {"hostname": "h"}, 2) is True
    assert st.ensure_run("r1", "suite", {"a": 1}, {"hostname": "h"}, 2) is False
    assert st.record(_result()) is True
    assert st.recorded_keys("r1") == {"k1"}
    m = st.metrics_frame("r1").set_index("name")["value"]
    assert m["mae"] == 0.5 and math.isnan(m["r2"])
    c = st.costs_frame("r1").set_index("name")["value"]
    assert c["fit.wall_s"] == 1.25 and c["x"] == math.inf
    assert len(st.curves_frame("r1")) == 2
    j = st.jobs_frame("r1").iloc[0]
    assert (j["n_train"], j["split_hash"], j["status"]) == (10, "abc", "ok")
    assert st.get_run("r1")["suite"] == {"a": 1}


def test_a_job_is_never_recorded_twice(tmp_path):
    st = Store(tmp_path / "r.sqlite")
    assert st.record(_result())
    assert st.record(_result()) is False
    assert len(st.metrics_frame("r1")) == 2


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    st = Store(tmp_path / "r.sqlite")
    real_insert = insert

    def broken(table):
        if table is store_mod.curves_t:
            raise RuntimeError("disk full")
        return real_insert(table)

    monkeypatch.setattr(store_mod, "insert", broken)
    with pytest.raises(RuntimeError):
        st.record(_result())
    monkeypatch.setattr(store_mod, "insert", real_insert)
    assert st.recorded_keys("r1") == set()
    assert st.metrics_frame("r1").empty and st.costs_frame("r1").empty


def test_delete_failed_and_resolve_prefix(tmp_path):
    st = Store(tmp_path / "r.sqlite")
    st.ensure_run("quick-1234", "quick", {}, {}, 2)
    st.record(_result("a", run_id="quick-1234"))
    st.record(_result("b", run_id="quick-1234", status="failed", error_type="ValueError", error_message="x"))
    assert st.delete_jobs("quick-1234") == 1
    assert st.recorded_keys("quick-1234") == {"a"}
    assert st.resolve_run_id("quick") == "quick-1234"
    assert st.resolve_run_id("latest") == "quick-1234"
    with pytest.raises(KeyError):
        st.resolve_run_id("nope")
