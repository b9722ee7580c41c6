"""The HTML report and run comparison: escaping, tables and plots, Pareto fronts, confusion
matrices, CI-overlap flags, different-machine warnings, and a real run rendered in headless
Chromium (screenshot kept; the test skips only when no Chromium executable is found)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from conftest import SMALL_EMT, chromium_executable
from matscibench.cost.stats import Summary
from matscibench.report.aggregate import ModelRow, RunReport, TaskReport
from matscibench.report.compare import ci_overlap, compare_html, compare_reports, verdict
from matscibench.report.html import render_html
from matscibench.report.plots import (
    TASK_PLOTS,
    ReportFigure,
    confusion_counts,
    new_figure,
    pareto_front,
    register_task_plots,
)

EVIL_MODEL = "<script>alert(1)</script>"
TASK_PARAMS = {"dataset_params": SMALL_EMT}


def S(center: float, low: float = math.nan, high: float = math.nan, n: int = 3) -> Summary:
    return Summary(center, low, high, n, "mean")


# ----------------------------------------------------------------------------- hand-made reports
def _row(model: str, mae: float, ci: float = 0.01, machines=("aaaa1111",), train_s=1.0, rate=100.0, **kw) -> ModelRow:
    r = ModelRow(model=model, n_ok=3, n_failed=0, n_skipped=0, **kw)
    r.metrics = {"mae": S(mae, mae - ci, mae + ci), "r2": S(0.5, 0.4, 0.6)}
    r.costs = {"train.total_s": Summary(train_s, math.nan, math.nan, 3, "median"),
               "predict.throughput_structures_per_s": Summary(rate, math.nan, math.nan, 3, "harmonic mean")}
    r.machines = list(machines)
    r.hosts = ["host-" + m for m in machines]
    return r


def _report(rows: list[ModelRow], run_id: str = "run-a", task: str = "toy_task", fingerprint: str = "aaaa1111",
            family: str = "properties") -> RunReport:
    t = TaskReport(task, "a toy task", "eV/atom", ["mae", "r2"], None, rows, family=family, task_type="regression",
                   datasets=[{"dataset": "toy", "source": "made in a test"}])
    machines = sorted({m for r in rows for m in r.machines})
    run = {"created_at": 0.0, "status": "complete", "system": {"fingerprint": fingerprint, "hostname": "h", "cpu_model": "cpu"}}
    return RunReport(run_id, "toy", run, [t], {"ok": 3 * len(rows)}, sorted({h for r in rows for h in r.hosts}), machines,
                     None, machine_hosts={m: ["host-" + m] for m in machines})


def _text(html_doc: str) -> str:
    """Visible text, roughly: tags dropped, entities kept."""
    return re.sub(r"<[^>]+>", " ", html_doc)


# ----------------------------------------------------------------------------- Pareto
def test_pareto_front_hand_worked():
    # training time (s, lower better) vs MAE (lower better)
    #   A (1, .50)  B (2, .30)  C (3, .40): dominated by B  D (4, .10)  E = B (tie, both stay)
    #   F (5, .10): same MAE as D but slower -> dominated  G (nan): never on the front
    x = [1, 2, 3, 4, 2, 5, math.nan]
    y = [0.5, 0.3, 0.4, 0.1, 0.3, 0.1, 0.05]
    assert pareto_front(x, y).tolist() == [True, True, False, True, True, False, False]
    # throughput (higher better) vs ROC-AUC (higher better)
    #   P (100, .9)  Q (10, .95)  R (50, .85): dominated by P  T (1000, .6)
    assert pareto_front([100, 10, 50, 1000], [0.9, 0.95, 0.85, 0.6], True, True).tolist() == [True, True, False, True]
    # mixed directions: time (lower) vs accuracy (higher)
    assert pareto_front([1, 2, 3], [0.7, 0.9, 0.8], False, True).tolist() == [True, True, False]
    assert pareto_front([], []).tolist() == []


# ----------------------------------------------------------------------------- confusion matrices
@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([True, False, True, True, False, False, True], [True, True, False, True, False, False, False]),
        (["Fm-3m", "P1", "Fm-3m", "Pm-3m", "P1", "P1"], ["Fm-3m", "P1", "P1", "Pm-3m", "Pm-3m", "I4/mmm"]),
        (list(np.random.default_rng(0).integers(0, 7, 300)), list(np.random.default_rng(1).integers(0, 7, 300))),
    ],
)
def test_confusion_counts_match_sklearn(y_true, y_pred):
    labels, counts = confusion_counts(y_true, y_pred)
    assert labels == sorted(set(y_true) | set(y_pred))  # a class only ever predicted is a label too
    assert np.array_equal(counts, confusion_matrix(y_true, y_pred, labels=labels))
    assert counts.sum() == len(y_true)


# ----------------------------------------------------------------------------- compare
def test_ci_overlap_and_verdict_on_hand_made_summaries():
    a = S(1.0, 0.9, 1.1)
    assert ci_overlap(a, S(1.15, 1.05, 1.25)) is True  # [0.9, 1.1] and [1.05, 1.25] share [1.05, 1.1]
    assert ci_overlap(a, S(1.1, 1.1, 1.3)) is True  # touching counts as overlap
    assert ci_overlap(a, S(1.3, 1.2, 1.4)) is False
    assert ci_overlap(a, S(1.3)) is None  # no interval (one fold): cannot tell
    # lower is better (MAE): B lower with separate intervals -> B better
    assert verdict(a, S(0.5, 0.45, 0.55), higher_is_better=False) == "B better"
    assert verdict(a, S(0.5, 0.45, 0.55), higher_is_better=True) == "A better"
    assert verdict(a, S(1.05, 0.95, 1.15), higher_is_better=False) == "overlap"
    assert verdict(a, S(1.3), higher_is_better=False) == "no CI"
    assert verdict(a, None, higher_is_better=False) == "only A"


def test_compare_reports_rows_and_machine_warning():
    ra = _report([_row("m1", 0.10, 0.01), _row("m2", 0.20, 0.05)], "run-a", fingerprint="aaaa1111")
    rb = _report([_row("m1", 0.05, 0.01, machines=("bbbb2222",)), _row("m2", 0.22, 0.05, machines=("bbbb2222",))],
                 "run-b", fingerprint="bbbb2222")
    cmp = compare_reports(ra, rb)
    mae = {r.model: r for r in cmp.rows if r.name == "mae"}
    assert mae["m1"].diff == pytest.approx(-0.05) and mae["m1"].overlap is False and mae["m1"].verdict == "B better"
    assert mae["m2"].overlap is True and mae["m2"].verdict == "overlap"
    assert any("different machines" in w for w in cmp.warnings)
    js = json.loads(cmp.dumps())
    assert js["rows"][0]["task"] == "toy_task" and "ci_overlap" in js["rows"][0]
    page = compare_html(cmp)
    assert "different machines" in page and "B better" in page
    # same machine: no warning
    same = compare_reports(ra, _report([_row("m1", 0.1)], "run-c"))
    assert not any("different machines" in w for w in same.warnings)


# ----------------------------------------------------------------------------- HTML from hand-made reports
def test_html_escapes_every_user_string():
    bad_err = '<img src=x onerror="alert(2)">'
    r_fail = ModelRow(model="fails & <i>italic</i>", n_ok=0, n_failed=1, n_skipped=0)
    r_fail.failures = [{"fold": 0, "seed": 0, "status": "failed", "error": f"ValueError: {bad_err}"}]
    r_na = ModelRow(model="<b>n/a</b>", n_ok=0, n_failed=0, n_skipped=1)
    r_na.failures = [{"fold": 0, "seed": 0, "status": "skipped", "error": "RuntimeError: needs <structures>"}]
    rep = _report([_row(EVIL_MODEL, 0.1), r_fail, r_na], task="<task onclick=alert(3)>")
    rep.tasks[0].description = "desc </p><script>alert(4)</script>"
    rep.tasks[0].datasets = [{"dataset": "d<1>", "source": '"quoted" & <src>'}]
    rep.suite_name = "<suite>"
    page = render_html(rep)
    assert page.count("<script") == 1  # only the page's own sorting script
    for raw in (EVIL_MODEL, bad_err, "<i>italic</i>", "<b>n/a</b>", "<task onclick", "<structures>", "<src>", "<suite>"):
        assert raw not in page, raw
    for text in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;",
                 "fails &amp; &lt;i&gt;italic&lt;/i&gt;", "&lt;task onclick=alert(3)&gt;", "&quot;quoted&quot; &amp; &lt;src&gt;"):
        assert text in page, text
    # the model name also appears inside the SVG plots (matplotlib escapes it there too)
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert svgs and any("&lt;script&gt;alert(1)&lt;/script&gt;" in s for s in svgs)
    # a Content-Security-Policy allows only the page's own script, by hash
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", page)
    assert "Not applicable" in page and "needs &lt;structures&gt;" in page


def test_model_names_are_not_mathtext_or_hidden_in_plots():
    from matscibench.report.plots import figure_to_svg, parity_figure

    for name in ("cost $5 and $x^2$", "_private", "a\\$b"):
        svg = figure_to_svg(parity_figure([0.0, 1.0, 2.0], [0.1, 0.9, 2.2], name, "eV").figure, "t")
        texts = [t.replace("\u200b", "") for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
        assert name in texts, (name, texts)


def test_html_warns_when_results_side_by_side_come_from_different_machines():
    mixed = render_html(_report([_row("m1", 0.1, machines=("aaaa1111",)), _row("m2", 0.2, machines=("bbbb2222",))]))
    assert "Results from different machines side by side" in mixed
    assert "Different machines" in mixed  # the run-level warning too
    same = render_html(_report([_row("m1", 0.1), _row("m2", 0.2)]))
    assert "different machines" not in same.lower()


def test_html_has_tables_pareto_plots_and_marks_the_best():
    rows = [_row("fast", 0.30, train_s=1.0, rate=1000.0), _row("good", 0.10, train_s=10.0, rate=10.0),
            _row("worse", 0.40, train_s=20.0, rate=5.0)]
    page = render_html(_report(rows))
    assert page.count('class="sortable leaderboard"') == 1
    assert len(re.findall(r"<figure[^>]*>\s*<svg", page)) == 2  # two Pareto plots (no predictions here)
    assert "MAE (eV/atom) vs training time" in page and "inference throughput" in page
    assert "2 model(s) on the Pareto front" in page  # fast and good; worse is dominated
    best = re.search(r'<td class="num best"[^>]*>([^<]+)', page)
    assert best and best.group(1) == "0.1"
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids must be unique across inline SVGs"
    refs = set(re.findall(r'(?:href="#|url\(#)([^"\)]+)', page))
    assert refs and refs <= set(ids), refs - set(ids)  # every clip path and marker reference resolves


def _with_predictions(rep: RunReport, root: Path) -> RunReport:
    """Give every row of the report a predictions file under ``root`` (as a run would)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    for t in rep.tasks:
        for i, r in enumerate(t.rows):
            rel = f"predictions/{rep.run_id}/{t.task}-{i}.parquet"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            y = rng.normal(size=40)
            pd.DataFrame({"id": [f"x{k}" for k in range(40)], "y_true": y, "y_pred": y + rng.normal(0, 0.1, 40),
                          "n_atoms": 4}).to_parquet(root / rel)
            r.predictions = [{"fold": 0, "seed": 0, "path": rel}]
    rep.results_dir = root
    return rep


def test_family_plug_in_adds_figures_and_a_failing_one_costs_only_its_plots(monkeypatch, tmp_path):
    calls = []

    def plots(task, frames):
        calls.append((task.task, sorted(frames), sorted(frames["m1"].columns)))
        fig, (ax,) = new_figure(3, 2)
        ax.plot([0, 1], [0, 1], label="curve")
        ax.set_xlabel("time (ps)")
        return [ReportFigure("MD survival curve", fig, "a family figure")]

    monkeypatch.setitem(TASK_PLOTS, "testfam", plots)
    rep = _with_predictions(_report([_row("m1", 0.1)], family="testfam"), tmp_path)
    page = render_html(rep)
    assert calls == [("toy_task", ["m1"], ["fold", "id", "n_atoms", "seed", "y_pred", "y_true"])]
    assert "MD survival curve" in page

    def broken(task, frames):
        raise RuntimeError("no <DOS> here")

    register_task_plots("testfam", broken)
    page = render_html(rep)
    assert "plots failed: RuntimeError: no &lt;DOS&gt; here" in page
    assert 'class="sortable leaderboard"' in page  # the rest of the page is intact


def test_default_plots_from_predictions_and_missing_files(tmp_path):
    rep = _with_predictions(_report([_row("m1", 0.1), _row("m2", 0.2)]), tmp_path)
    parity = re.compile(r"<figcaption><b>[^<]*: parity and errors")
    page = render_html(rep)
    assert len(parity.findall(page)) == 2
    (tmp_path / rep.tasks[0].rows[1].predictions[0]["path"]).unlink()
    page = render_html(rep)
    assert len(parity.findall(page)) == 1 and "1 predictions file(s) missing" in page
    rep.results_dir = tmp_path / "nowhere"
    assert "predictions files not found" in render_html(rep)


def test_figures_drawn_in_worker_processes_equal_those_drawn_here(tmp_path):
    rows = [_row(f"m{i}", 0.1 * (i + 1)) for i in range(3)]
    rep = _with_predictions(_report(rows), tmp_path)
    other = _report([_row("m1", 0.3)], task="second_task")
    rep.tasks += _with_predictions(other, tmp_path).tasks
    strip = lambda page: page[: page.index("<footer>")]  # noqa: E731 - the footer has the time
    assert strip(render_html(rep, workers=2)) == strip(render_html(rep, workers=1))


# ----------------------------------------------------------------------------- a real small run
@pytest.fixture(scope="module")
def real_run(tmp_path_factory, small_emt):
    from matscibench.run.driver import run_suite
    from matscibench.suite import Suite

    suite = Suite.model_validate(
        {
            "name": "html-test",
            "folds": [0, 1],
            "workers": 2,
            "options": {"latency_budget_s": 0.1},
            "tasks": [{"name": "emt_formation_energy", "params": TASK_PARAMS},
                      {"name": "emt_is_stable", "params": TASK_PARAMS}],
            "models": [
                {"name": "dummy", "label": EVIL_MODEL},
                "magpie_rf",
                {"name": "matscibench.models.faulty:RaisingModel", "label": "raiser"},
            ],
        }
    )
    out = tmp_path_factory.mktemp("html-run")
    outcome = run_suite(suite, results=out, quiet=True)
    return out, outcome


def test_run_writes_the_html_report(real_run):
    out, outcome = real_run
    path = outcome.reports["html"]
    assert path == out.resolve() / "reports" / outcome.run_id / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.count('class="sortable leaderboard"') == 2
    # per task: 2 Pareto plots + one per model with predictions (the raiser has none)
    assert len(re.findall(r"<figure[^>]*>\s*<svg", page)) == 2 * (2 + 2)
    assert "parity and errors" in page and "confusion matrix" in page
    assert "always fails in fit" in page  # failed jobs with their reason
    assert EVIL_MODEL not in page and page.count("<script") == 1
    assert "Crystal properties" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing to fetch: opens offline


def test_cli_report_html_and_compare(real_run):
    from typer.testing import CliRunner

    from matscibench.cli import app

    out, outcome = real_run
    runner = CliRunner()
    dest = out / "elsewhere"
    res = runner.invoke(app, ["report", outcome.run_id, "-r", str(out), "--html", "-o", str(dest)])
    assert res.exit_code == 0, res.output
    html_doc = (dest / "report.html").read_text()
    assert "parity and errors" in html_doc  # predictions found through --results
    res = runner.invoke(app, ["compare", outcome.run_id, outcome.run_id, "-r", str(out), "--json", "-"])
    assert res.exit_code == 0, res.output
    js = json.loads(res.stdout)
    assert js["run_a"] == js["run_b"] == outcome.run_id and not js["warnings"]
    assert all(r["diff"] in (0, None) for r in js["rows"])
    assert {r["verdict"] for r in js["rows"]} <= {"overlap", "no CI", "–", "only A", "only B"}
    res = runner.invoke(app, ["compare", outcome.run_id, outcome.run_id, "-r", str(out), "--html", str(out / "cmp.html")])
    assert res.exit_code == 0, res.output
    assert (out / "cmp.html").read_text().count('class="sortable compare"') == 2


def test_report_renders_in_headless_chromium(real_run, tmp_path, capsys):
    exe = chromium_executable()
    if exe is None:
        pytest.skip("no Chromium executable found (apt-get install chromium); the browser check needs one")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[dev]')")
    out, outcome = real_run
    path = outcome.reports["html"]
    shot = tmp_path / "report.png"
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=exe,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:")) else None)
            page.goto(path.as_uri(), wait_until="load")
            assert page.locator("table.leaderboard").count() == 2
            assert page.locator("figure svg").count() == 8
            box = page.locator("figure svg").first.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 150  # the plots are drawn at a readable size
            assert EVIL_MODEL in page.locator("table.leaderboard").first.inner_text()  # shown as text
            # sorting: click the MAE header twice and read the model order
            table = page.locator("table.leaderboard").first
            header = table.locator("thead th", has_text="MAE (eV/atom)").first
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "ascending"
            first = table.locator("tbody tr").first.locator("th").inner_text().strip()
            assert first == "magpie_rf"  # the lower MAE first
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "descending"
            assert table.locator("tbody tr").first.locator("th").inner_text().strip() in (EVIL_MODEL, "raiser")
            page.locator("table.leaderboard").first.scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    kept = [shot]
    artifacts = os.environ.get("MATSCIBENCH_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        kept.append(Path(shutil.copy2(shot, Path(artifacts) / "report-html-test.png")))
    with capsys.disabled():
        print("\nHTML report screenshot: " + ", ".join(str(k) for k in kept))
    assert not problems, problems
