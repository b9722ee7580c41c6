"""The leaderboard across runs: two runs in two stores, the second made to look as if it ran on
another machine (its jobs' fingerprints and its system rewritten in its store), merged into one
static site: per task each model's best row, its machine, the hardware warning, per-model pages;
rendered in headless Chromium (skipped with a reason when no Chromium is installed)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import chromium_executable
from conftest import SMALL_EMT

TASK_PARAMS = {"dataset_params": SMALL_EMT}
OTHER_FP = "b0b0b0b0b0b0b0b0"


def _run(out: Path, name: str, models: list, seed: int = 0) -> str:
    from matscibench.run.driver import run_suite
    from matscibench.suite import Suite

    suite = Suite.model_validate({"name": name, "folds": [0, 1], "workers": 2, "seed": seed, "options": {"latency": False},
                                  "tasks": [{"name": "emt_formation_energy", "params": TASK_PARAMS}], "models": models})
    outcome = run_suite(suite, results=out, quiet=True)
    assert outcome.counts.get("ok") == 2 * len(models), outcome.counts
    return outcome.run_id


def _move_to_other_machine(db: Path) -> None:
    """Rewrite a store as if its run had run on another machine (a different fingerprint)."""
    con = sqlite3.connect(db)
    for key, info in con.execute("select key, info_json from jobs").fetchall():
        d = json.loads(info)
        d["machine"] = OTHER_FP
        con.execute("update jobs set info_json = ?, host = ? where key = ?", (json.dumps(d), "gpu-box", key))
    for rid, system in con.execute("select run_id, system_json from runs").fetchall():
        s = json.loads(system)
        s.update(fingerprint=OTHER_FP, cpu_model="Simulated EPYC 9999", hostname="gpu-box",
                 gpus=[{"name": "Simulated H200", "memory_MiB": 141000, "driver": "999"}])
        con.execute("update runs set system_json = ? where run_id = ?", (json.dumps(s), rid))
    con.commit()
    con.close()


def _mae(db: Path, model: str) -> float:
    con = sqlite3.connect(db)
    vals = [v for (v,) in con.execute(
        "select m.value from metrics m join jobs j on m.key = j.key and m.run_id = j.run_id "
        "where j.model = ? and m.name = 'mae' and j.status = 'ok'", (model,))]
    con.close()
    return sum(vals) / len(vals)


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory, small_emt):
    a = tmp_path_factory.mktemp("user-a")
    b = tmp_path_factory.mktemp("user-b")
    _run(a, "user-a", ["dummy", "magpie_rf"])
    _run(b, "user-b", ["magpie_rf", {"name": "dummy", "label": "dummy@b"}], seed=7)
    _move_to_other_machine(b / "results.sqlite")
    site = tmp_path_factory.mktemp("site")
    from typer.testing import CliRunner

    from matscibench.cli import app

    res = CliRunner().invoke(app, ["leaderboard", str(a), str(b / "results.sqlite"), "-o", str(site)])
    assert res.exit_code == 0, res.output
    return a, b, site


def test_leaderboard_keeps_each_models_best_row_with_its_machine(two_machines):
    from matscibench.report.leaderboard import build_leaderboard

    a, b, _ = two_machines
    lb = build_leaderboard([a, b])
    (task,) = lb.tasks
    maes = [r.metrics["mae"].center for r in task.rows]
    assert maes == sorted(maes)  # best first
    assert {r.model for r in task.rows} == {"dummy", "magpie_rf", "dummy@b"}
    assert lb.n_candidates["emt_formation_energy"] == 4
    rf = next(r for r in task.rows if r.model == "magpie_rf")
    mae_a, mae_b = _mae(a / "results.sqlite", "magpie_rf"), _mae(b / "results.sqlite", "magpie_rf")
    assert mae_a != mae_b  # different seeds
    assert rf.metrics["mae"].center == pytest.approx(min(mae_a, mae_b), rel=1e-12)
    kept = lb.best["emt_formation_energy"]["magpie_rf"]
    assert (rf.machines == [OTHER_FP]) == (mae_b < mae_a) == (kept.source == str(b / "results.sqlite"))
    dummy = next(r for r in task.rows if r.model == "dummy")
    assert dummy.machines and dummy.machines != [OTHER_FP]
    assert next(r for r in task.rows if r.model == "dummy@b").machines == [OTHER_FP]
    assert OTHER_FP in lb.machines and lb.machines[OTHER_FP]["cpu_model"] == "Simulated EPYC 9999"


def test_site_has_the_hardware_warning_machines_cards_plots_and_model_pages(two_machines):
    _, _, site = two_machines
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Costs from different hardware" in index and "Results from different hardware" in index
    assert "Simulated EPYC 9999" in index and "Simulated H200" in index
    assert index.count('class="sortable leaderboard"') == 1
    assert len(re.findall(r"<figure[^>]*>\s*<svg", index)) >= 2  # accuracy against training time and inference rate
    assert "Model cards" in index
    pages = sorted((site / "models").glob("*.html"))
    assert len(pages) == 3
    for p in pages:
        text = p.read_text(encoding="utf-8")
        assert 'href="../index.html#task-0"' in text and "emt_formation_energy" in text
        assert re.search(r"models/" + re.escape(p.name), index)
    for doc in [index] + [p.read_text() for p in pages]:
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", doc)  # nothing to fetch


def test_one_machine_has_no_hardware_warning(two_machines, tmp_path):
    from matscibench.report.leaderboard import build_leaderboard, write_leaderboard

    a, _, _ = two_machines
    index = write_leaderboard(build_leaderboard([a]), tmp_path / "site").read_text()
    assert "different hardware" not in index


def test_published_rows_join_the_leaderboard(two_machines, tmp_path):
    """A published results file adds its task with the row marked published and no machine."""
    from matscibench.families.properties.matbench_published import MATBENCH_PUBLISHED
    from matscibench.report.leaderboard import build_leaderboard, write_leaderboard
    from matscibench.report.matbench import matbench_hash, write_matbench_file

    a, _, _ = two_machines
    pub = MATBENCH_PUBLISHED["RF-SCM/Magpie"]["matbench_steels"]
    doc = {"version": "0.1", "benchmark_name": "matbench_v0.1", "user_metadata": {"algorithm": "RF-SCM/Magpie"},
           "tasks": {"matbench_steels": {"dataset_name": "matbench_steels", "results": {
               f"fold_{f}": {"data": {}, "parameters": {}, "scores": {m: pub[m][f] for m in pub}} for f in range(5)}}}}
    doc["hash"] = matbench_hash(doc)
    path = write_matbench_file(doc, tmp_path / "rf" / "results.json.gz")
    lb = build_leaderboard([a], published=[path])
    steels = next(t for t in lb.tasks if t.task == "matbench_steels")
    (row,) = steels.rows
    assert row.model == "RF-SCM/Magpie (published)" and row.published and not row.machines
    index = write_leaderboard(lb, tmp_path / "site").read_text()
    assert "unknown (published)" in index and "different hardware" not in index


def test_bad_sources_are_named(tmp_path):
    from matscibench.errors import MatscibenchError
    from matscibench.report.leaderboard import build_leaderboard

    with pytest.raises(MatscibenchError, match="no results.sqlite"):
        build_leaderboard([tmp_path])
    with pytest.raises(MatscibenchError, match="does not exist"):
        build_leaderboard([tmp_path / "nope"])


def test_leaderboard_renders_in_headless_chromium(two_machines):
    exe = chromium_executable()
    if exe is None:
        pytest.skip("no Chromium executable found (apt-get install chromium); the browser check needs one")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[dev]')")
    _, _, site = two_machines
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                               "--disable-background-networking", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:")) else None)
            page.goto((site / "index.html").as_uri(), wait_until="load")
            warning = page.locator("div.hardware")
            assert warning.count() == 1 and warning.is_visible()
            assert "Costs from different hardware" in warning.inner_text()
            assert "Simulated EPYC 9999" in warning.inner_text()
            assert page.locator("table.leaderboard tbody tr").count() == 3
            box = page.locator("figure svg").first.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 150
            # sorting still works on the merged table
            header = page.locator("table.leaderboard thead th", has_text="MAE").first
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "ascending"
            # a model page, and back
            page.locator("table.provenance a", has_text="magpie_rf").first.click()
            page.wait_for_load_state("load")
            assert page.locator("h1").inner_text().strip() == "magpie_rf"
            assert page.locator("table.model tbody tr").count() == 1
            page.locator("a", has_text="emt_formation_energy").first.click()
            page.wait_for_load_state("load")
            assert page.url.endswith("index.html#task-0")
        finally:
            browser.close()
    assert not problems, problems
