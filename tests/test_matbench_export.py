"""matbench's results format both ways.

Export: a real run of ``dummy_stratified`` on matbench_steels (regression) and
matbench_expt_is_metal (classification), all five folds, written with ``export-matbench``, loaded
with the ``matbench`` package (``MatbenchBenchmark.from_file`` checks its hash, every fold's test
ids and the data types) and scored by matbench's own ``score_array`` against labels read
independently from matbench's artifacts file: the numbers equal the run's. The package pins old
dependencies (matminer 0.7.4, scikit-learn 1.0.1, ...); install it with
``pip install --no-deps matbench`` (its code runs with current versions); these tests skip when it
is absent.

Import: a published results file made here from matbench's published Dummy scores of
matbench_steels (``families.properties.matbench_published``) is read back, summarised and shown
beside local rows, marked published with its machine unknown.
"""

from __future__ import annotations

import bz2
import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matscibench.errors import MatscibenchError
from matscibench.families.properties.matbench_published import MATBENCH_PUBLISHED
from matscibench.report.matbench import (
    add_published,
    matbench_hash,
    published_rows,
    read_matbench_results,
    write_matbench_file,
)

TASKS = ("matbench_steels", "matbench_expt_is_metal")
OUR_NAME = {"rocauc": "roc_auc_labels"}


def _matbench():
    return pytest.importorskip("matbench.bench", reason="the matbench package is absent (pip install --no-deps matbench)")


@pytest.fixture(scope="module")
def mb_run(shared_data, tmp_path_factory):
    from matscibench.run.driver import run_suite
    from matscibench.suite import Suite

    suite = Suite.model_validate({"name": "mb-export", "tasks": [{"name": t} for t in TASKS],
                                  "models": [{"name": "dummy_stratified"}], "folds": "all", "workers": 2,
                                  "options": {"latency": False}})
    out = tmp_path_factory.mktemp("mb-run")
    outcome = run_suite(suite, results=out, quiet=True, workers=2)
    assert outcome.counts == {"ok": 10}, outcome.counts
    return out, outcome.run_id


def _truth(shared_data: Path, task: str) -> pd.Series:
    """matbench's labels by mbid, read straight from its artifacts file (not through matscibench)."""
    with bz2.open(shared_data / "matbench_artifacts" / f"{task}.json.bz2", "rt") as fh:
        raw = json.load(fh)
    target = next(k for k in raw if k not in ("mbid", "composition", "spg_num", "crys_sys"))
    return pd.Series({raw["mbid"][k]: raw[target][k] for k in raw["mbid"]})


def _our_metrics(out: Path, run_id: str) -> dict[tuple[str, int], dict[str, float]]:
    from matscibench.store import Store

    st = Store(out / "results.sqlite")
    jobs = st.jobs_frame(run_id).set_index("key")
    mets = st.metrics_frame(run_id)
    res: dict[tuple[str, int], dict[str, float]] = {}
    for key, g in mets.groupby("key"):
        res[(jobs.at[key, "task"], int(jobs.at[key, "fold"]))] = dict(zip(g["name"], g["value"]))
    return res


def test_export_loads_in_matbench_and_scores_the_same(mb_run, shared_data, tmp_path):
    bench = _matbench()
    from matbench.data_ops import score_array
    from matbench.util import hash_dictionary
    from typer.testing import CliRunner

    from matscibench.cli import app

    out, run_id = mb_run
    dest = tmp_path / "results.json"
    res = CliRunner().invoke(app, ["export-matbench", run_id, "-r", str(out), "-o", str(dest)])
    assert res.exit_code == 0, res.output
    doc = json.loads(dest.read_text())
    assert doc["hash"] == hash_dictionary({k: v for k, v in doc.items() if k != "hash"})  # matbench's own hash
    mb = bench.MatbenchBenchmark.from_file(str(dest))  # validates: keys, hash, test ids per fold, types
    assert sorted(mb.tasks_map) == sorted(TASKS)
    ours = _our_metrics(out, run_id)
    for task in TASKS:
        mbt = mb.tasks_map[task]
        truth = _truth(shared_data, task)
        kind = mbt.metadata.task_type
        for f in range(5):
            fold = mbt.results[f"fold_{f}"]
            ids = list(mbt.validation[f"fold_{f}"].test)
            assert sorted(fold.data) == sorted(ids)
            preds = [fold.data[i] for i in ids]
            true = [bool(truth[i]) if kind == "classification" else float(truth[i]) for i in ids]
            theirs = score_array(true, preds, kind)  # matbench's scoring of the exported predictions
            assert set(theirs) == set(fold.scores)
            for metric, value in theirs.items():
                assert value == pytest.approx(ours[(task, f)][OUR_NAME.get(metric, metric)], rel=1e-12, abs=1e-12), (task, f, metric)
                assert fold.scores[metric] == pytest.approx(value, rel=1e-12, abs=1e-12)
        # matbench's fold statistics equal the mean of ours
        primary = "mae" if kind == "regression" else "rocauc"
        mean = np.mean([ours[(task, f)][OUR_NAME.get(primary, primary)] for f in range(5)])
        assert mbt.scores[primary]["mean"] == pytest.approx(mean, rel=1e-12)
    # the steels Dummy is deterministic: matbench's published numbers come back through its package
    pub = MATBENCH_PUBLISHED["Dummy"]["matbench_steels"]["mae"]
    assert [mb.tasks_map["matbench_steels"].results[f"fold_{f}"].scores["mae"] for f in range(5)] == pytest.approx(pub, rel=1e-12)
    assert doc["user_metadata"]["algorithm"] == "dummy_stratified"
    assert doc["user_metadata"]["model_card"]["name"]


def test_gzipped_export_round_trips_and_tampering_is_caught(mb_run, tmp_path):
    bench = _matbench()
    from matscibench.report.matbench import export_matbench
    from matscibench.store import Store

    out, run_id = mb_run
    path, doc = export_matbench(Store(out / "results.sqlite"), run_id, tmp_path / "results.json.gz")
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    loaded = json.loads(gzip.decompress(raw))
    assert loaded == doc
    bench.MatbenchBenchmark.from_dict(json.loads(json.dumps(loaded)))
    rows = {e.task: e for e in published_rows(path)}
    assert rows["matbench_steels"].algorithm == "dummy_stratified"
    assert rows["matbench_expt_is_metal"].per_metric()["roc_auc_labels"] == pytest.approx(
        [doc["tasks"]["matbench_expt_is_metal"]["results"][f"fold_{f}"]["scores"]["rocauc"] for f in range(5)])
    loaded["tasks"]["matbench_steels"]["results"]["fold_0"]["scores"]["mae"] = 1.0
    bad = write_matbench_file(loaded, tmp_path / "bad.json")
    with pytest.raises(MatscibenchError, match="hash does not match"):
        read_matbench_results(bad)
    with pytest.raises(ValueError, match="Hash"):
        bench.MatbenchBenchmark.from_file(str(bad))


def test_export_errors_name_the_fix(mb_run, tmp_path):
    from matscibench.report.matbench import export_matbench
    from matscibench.store import Store

    out, run_id = mb_run
    st = Store(out / "results.sqlite")
    with pytest.raises(MatscibenchError, match="no finished matbench jobs of model 'nope'"):
        export_matbench(st, run_id, tmp_path / "x.json", model="nope")
    with pytest.raises(MatscibenchError, match="seed 7"):
        export_matbench(st, run_id, tmp_path / "x.json", seed=7)
    with pytest.raises(MatscibenchError, match="--results"):
        export_matbench(st, run_id, tmp_path / "x.json", results_dir=tmp_path / "elsewhere")


# ------------------------------------------------------------------------------------------ import
def _published_file(tmp_path: Path) -> Path:
    """A published-style results file holding matbench's published Dummy scores of steels."""
    pub = MATBENCH_PUBLISHED["Dummy"]["matbench_steels"]
    results = {f"fold_{f}": {"data": {}, "parameters": {}, "uncertainty": None,
                             "scores": {m: pub[m][f] for m in ("mae", "rmse", "mape", "max_error")}} for f in range(5)}
    doc = {"@module": "matbench.bench", "@class": "MatbenchBenchmark", "version": "0.1.0", "benchmark_name": "matbench_v0.1",
           "datestamp": "2021.01.01 00:00.00", "user_metadata": {},
           "tasks": {"matbench_steels": {"@module": "matbench.task", "@class": "MatbenchTask", "benchmark_name": "matbench_v0.1",
                                         "dataset_name": "matbench_steels", "results": results}}}
    doc["hash"] = matbench_hash(doc)
    folder = tmp_path / "benchmarks" / "matbench_v0.1_dummy"
    folder.mkdir(parents=True)
    (folder / "info.json").write_text(json.dumps({"algorithm": "Dummy", "notes": "sklearn dummy"}))
    return write_matbench_file(doc, folder / "results.json.gz")


def test_published_file_is_read_and_summarised(tmp_path):
    path = _published_file(tmp_path)
    (entry,) = published_rows(path)
    pub = MATBENCH_PUBLISHED["Dummy"]["matbench_steels"]
    assert entry.algorithm == "Dummy" and entry.task == "matbench_steels" and sorted(entry.folds) == [0, 1, 2, 3, 4]
    from matscibench.report.matbench import published_model_row

    row = published_model_row(entry)
    assert row.model == "Dummy (published)" and row.published == str(path) and row.machines == []
    assert row.metrics["mae"].center == pytest.approx(np.mean(pub["mae"]), rel=1e-12)
    # the 95 % Student-t interval over the five folds, computed here by hand
    from scipy import stats

    half = stats.t.ppf(0.975, 4) * np.std(pub["rmse"], ddof=1) / math.sqrt(5)
    assert row.metrics["rmse"].high - row.metrics["rmse"].center == pytest.approx(half, rel=1e-9)
    assert row.cost_source("train.total_s") == "not measured here"
    (path.parent / "info.json").write_text("{broken")
    with pytest.raises(MatscibenchError, match="info.json"):
        published_rows(path)
    (tmp_path / "junk.json.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(MatscibenchError, match="junk.json.gz"):
        read_matbench_results(tmp_path / "junk.json.gz")


def test_published_rows_appear_beside_local_ones_in_the_report(mb_run, tmp_path):
    from matscibench.report.aggregate import aggregate_run
    from matscibench.report.html import render_html
    from matscibench.report.render import to_markdown
    from matscibench.store import Store

    out, run_id = mb_run
    rep = aggregate_run(Store(out / "results.sqlite"), run_id)
    assert add_published(rep, published_rows(_published_file(tmp_path)), new_tasks=False) == 1
    steels = next(t for t in rep.tasks if t.task == "matbench_steels")
    local, published = steels.rows
    # the deterministic Dummy: the local run and the published file agree fold by fold
    assert local.metrics["mae"].center == pytest.approx(published.metrics["mae"].center, rel=1e-12)
    page = render_html(rep)
    assert "Dummy (published)" in page and "unknown (published)" in page and ">published</span>" in page
    md = to_markdown(rep)
    assert "Published: Dummy (published)" in md and "machine unknown" in md
    js = json.loads(rep.dumps())
    row = next(r for t in js["tasks"] if t["task"] == "matbench_steels" for r in t["models"] if r["published"])
    assert row["machines"] == [] and row["costs"] == {}


def test_report_command_takes_published_files(mb_run, tmp_path):
    from typer.testing import CliRunner

    from matscibench.cli import app

    out, run_id = mb_run
    path = _published_file(tmp_path)
    res = CliRunner().invoke(app, ["report", run_id, "-r", str(out), "--format", "md", "--published", str(path)])
    assert res.exit_code == 0, res.output
    assert "| Dummy (published) |" in res.stdout and "machine unknown" in res.stdout
    res = CliRunner().invoke(app, ["report", run_id, "-r", str(out), "--html", "-o", str(tmp_path / "rep"), "--published", str(path)])
    assert res.exit_code == 0, res.output
    assert "unknown (published)" in (tmp_path / "rep" / "report.html").read_text()


def test_a_run_without_all_five_folds_is_refused_with_the_fix(shared_data, tmp_path):
    from matscibench.report.matbench import export_matbench
    from matscibench.run.driver import run_suite
    from matscibench.store import Store
    from matscibench.suite import Suite

    suite = Suite.model_validate({"name": "mb-partial", "tasks": [{"name": "matbench_steels"}], "models": [{"name": "dummy_stratified"}],
                                  "folds": [0, 1], "workers": 1, "options": {"latency": False}})
    outcome = run_suite(suite, results=tmp_path, quiet=True, workers=1)
    st = Store(tmp_path / "results.sqlite")
    with pytest.raises(MatscibenchError, match=r"folds \[2, 3, 4\] are not recorded.*--skip-incomplete"):
        export_matbench(st, outcome.run_id, tmp_path / "x.json")
    with pytest.raises(MatscibenchError, match="no matbench task has all 5 folds"):
        export_matbench(st, outcome.run_id, tmp_path / "x.json", skip_incomplete=True)
    assert not (tmp_path / "x.json").exists()
