"""The ``matscibench`` command line."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matscibench._version import __version__
from matscibench.errors import MatscibenchError

app = typer.Typer(
    name="matscibench",
    help="Benchmark AI models for materials science: accuracy and cost, measured the same way for everyone.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
# a log file or pipe gets wide lines rather than numbers cut short with "…"
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

ResultsOpt = typer.Option(None, "--results", "-r", help="Results folder (store, predictions, reports). Default: $MATSCIBENCH_RESULTS or ./matscibench-results")
StoreOpt = typer.Option(None, "--store", help="Results store: a SQLite path or a SQLAlchemy URL. Default: <results>/results.sqlite")


def _version(value: bool) -> None:
    if value:
        console.print(f"matscibench {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


@app.command()
def run(
    suite: str = typer.Option("quick", "--suite", "-s", help="Built-in suite name (quick, full) or a suite TOML file."),
    results: Optional[Path] = ResultsOpt,
    store: Optional[str] = StoreOpt,
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Jobs at once (default: the suite's; auto = CPU count)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Record into this run id (default: suite name + hash of suite and data)."),
    new: bool = typer.Option(False, "--new", help="Start a new run even if this suite was run before (timestamped run id)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run again the jobs of this run that failed."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Per-job time limit in seconds (default: the suite's)."),
    memory_limit: Optional[float] = typer.Option(None, "--memory-limit", help="Per-job resident-memory limit in MiB (default: the suite's)."),
    executor: str = typer.Option("local", "--executor", "-e", help="local (a fresh process per job) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (implies --executor dask)."),
    cluster_config: Optional[Path] = typer.Option(None, "--cluster-config", help="Slurm/PBS cluster description (TOML) for dask-jobqueue (implies --executor dask)."),
    exclusive: bool = typer.Option(False, "--exclusive", help="One job at a time per machine, so timings are undisturbed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Run a suite (resumes it when it was interrupted) and write the report."""
    import time

    from matscibench.run.driver import Terminated, run_suite
    from matscibench.suite import load_suite

    spec = load_suite(suite)
    rid = run_id
    if new and rid is None:
        rid = f"{spec.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    if scheduler or cluster_config:
        executor = "dask"
    try:
        out = run_suite(
            spec,
            results=results,
            store=store,
            workers=workers,
            run_id=rid,
            retry_failed=retry_failed,
            timeout_s=timeout,
            memory_limit_MiB=memory_limit,
            executor=executor,
            scheduler=scheduler,
            cluster_config=cluster_config,
            exclusive=exclusive,
            quiet=quiet,
        )
    except Terminated:
        # SIGTERM (a batch scheduler): the run is recorded as interrupted; leave now, without
        # waiting for a dataset generator's pool to finish its work (its workers die with us)
        with contextlib.suppress(Exception):
            console.file.flush()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(143)
    if quiet:
        console.print(str(out.reports.get("markdown", out.results_dir)))


@app.command()
def score(
    task: str = typer.Argument(..., help="The task to score on (see `matscibench list tasks`)."),
    file: Path = typer.Argument(..., help="The predictions: a table (CSV, Parquet, JSON lines), an extended-XYZ file, a folder of CIFs, ... as the task's family reads them."),
    label: Optional[str] = typer.Option(None, "--label", "-l", help="The model's name in the report (default: the file's name without extension)."),
    meta: Optional[Path] = typer.Option(None, "--meta", help="Model description (YAML/JSON: card, declared costs, units). Default: <stem>.yaml, .yml or .json next to the file."),
    folds: Optional[str] = typer.Option(None, "--folds", help="Folds to score, e.g. 0,1 (default: the folds the file has predictions for)."),
    task_param: Optional[list[str]] = typer.Option(None, "--task-param", "-p", help="A task parameter KEY=VALUE (VALUE read as JSON when it parses), e.g. n_samples=500; repeatable."),
    check_units: bool = typer.Option(True, "--check-units/--no-check-units", help="Refuse values whose scale looks like another unit (e.g. forces in eV/bohr)."),
    results: Optional[Path] = ResultsOpt,
    store: Optional[str] = StoreOpt,
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Record into this run id (default: score-<task>-<label> + a hash of the file and the task)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Score a file of predictions made elsewhere on one task: the task's own metrics, recorded in the store and reported like any run."""
    from matscibench.families.registry import get_task
    from matscibench.models.replay import PredictionsFile, file_sha256
    from matscibench.run.driver import run_suite
    from matscibench.suite import ModelSpec, Suite, TaskEntry

    if not file.exists():
        raise MatscibenchError(f"predictions file {file} does not exist")
    params = {}
    for item in task_param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MatscibenchError(f"--task-param {item!r}: write KEY=VALUE, e.g. n_samples=500")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    name = label or file.name.split(".")[0] or "predictions"
    mparams: dict = {"path": str(file.resolve()), "sha256": file_sha256(file)}
    if meta is not None:
        mparams["meta"] = str(meta.resolve())
    if not check_units:
        mparams["check_units"] = False
    t = get_task(task, **params)
    if folds:
        try:
            fold_list = [int(x) for x in folds.split(",") if x.strip()]
        except ValueError:
            raise MatscibenchError(f"--folds {folds!r}: give fold numbers separated by commas, e.g. 0,1") from None
    # read (and check) the file here, so that a bad one is one clear error before anything runs
    t.prepare()
    bound = PredictionsFile(**mparams).for_task(t)
    if not folds:
        fold_list = bound.folds_in_file() or list(range(t.n_folds()))
    for f in fold_list:
        if not 0 <= f < t.n_folds():
            raise MatscibenchError(f"--folds: task {task} has folds 0 .. {t.n_folds() - 1}, not {f}")
        bound.check_fold(f)
    suite = Suite(
        name=f"score-{task}-{name}"[:150].replace("/", "_").replace("\\", "_"),
        description=f"predictions file {file} scored on {task}",
        tasks=[TaskEntry(name=task, params=params, folds=fold_list)],
        models=[ModelSpec(name="predictions_file", label=name, params=mparams)],
        workers=1,
        options={"latency": False},
    )
    out = run_suite(suite, results=results, store=store, workers=1, run_id=run_id, quiet=quiet)
    if quiet:
        console.print(str(out.reports.get("markdown", out.results_dir)))
    if out.counts.get("failed"):
        raise typer.Exit(1)


@app.command("list")
def list_(
    what: str = typer.Argument("all", help="tasks, models, datasets, suites, runs or all"),
    results: Optional[Path] = ResultsOpt,
    store: Optional[str] = StoreOpt,
) -> None:
    """List tasks, models, datasets, built-in suites, or the runs in the store."""
    what = what.lower()
    valid = {"all", "tasks", "models", "datasets", "suites", "runs"}
    if what not in valid:
        raise typer.BadParameter(f"choose one of {', '.join(sorted(valid))}")
    if what in ("all", "tasks"):
        from matscibench.families.registry import task_summaries

        t = Table(title="Tasks", title_justify="left")
        t.add_column("name", no_wrap=True)
        for c in ("family", "type", "input", "folds", "target", "description"):
            t.add_column(c)
        for d in task_summaries():
            t.add_row(
                escape(d["name"]),
                d.get("family", ""),
                d.get("task_type", ""),
                d.get("input_type", ""),
                str(d.get("n_folds", "")),
                "" if d.get("target") is None else str(d.get("target")),
                escape(d.get("description", "")),
            )
        console.print(t)
    if what in ("all", "models"):
        from matscibench.families.registry import list_models

        t = Table(title="Models", title_justify="left")
        t.add_column("name", no_wrap=True)
        for c in ("family", "factory", "description"):
            t.add_column(c)
        for e in list_models().values():
            t.add_row(escape(e.name), e.family, escape(e.factory), escape(e.description))
        console.print(t)
    if what in ("all", "datasets"):
        _datasets_table()
    if what in ("all", "suites"):
        from matscibench.suite import builtin_suites, load_suite

        t = Table(title="Built-in suites", title_justify="left")
        for c in ("name", "tasks", "models", "folds", "repeats", "description"):
            t.add_column(c)
        for name in builtin_suites():
            s = load_suite(name)
            t.add_row(name, str(len(s.tasks)), str(len(s.models)), str(s.folds), str(s.repeats), escape(s.description))
        console.print(t)
    if what == "runs":
        st = _store(results, store)
        df = st.list_runs()
        if df.empty:
            console.print(f"no runs in {st.url}")
            return
        t = Table(title=f"Runs in {st.url}", title_justify="left")
        cols = [c for c in ("run_id", "suite_name", "status", "n_planned", "ok", "failed", "skipped") if c in df.columns]
        for c in cols:
            t.add_column(c)
        for _, r in df.iterrows():
            t.add_row(*[escape(str(r[c])) for c in cols])
        console.print(t)


def _datasets_table() -> None:
    from matscibench.families.registry import get_dataset, list_datasets

    t = Table(title="Datasets", title_justify="left")
    t.add_column("name", no_wrap=True)
    for c in ("status", "input", "targets (unit)", "description"):
        t.add_column(c)
    for name in list_datasets():
        d = get_dataset(name).describe()
        targets = ", ".join(f"{k} ({v})" if v else k for k, v in d["targets"].items())
        style = {"cached": "green", "local": "green", "generate": "cyan", "download": "yellow"}.get(d["status"], "red")
        t.add_row(escape(name), f"[{style}]{d['status']}[/]", d["input_type"], escape(targets), escape(d["description"]))
    console.print(t)


@app.command()
def datasets(
    prepare: Optional[list[str]] = typer.Option(None, "--prepare", "-p", help="Download/generate/parse these datasets into the cache now."),
) -> None:
    """Show datasets and where they come from (cached, local, download, generate); prepare them."""
    if prepare:
        from matscibench.families.registry import get_dataset
        from matscibench.run.executor import forked_children_die_with_this_process
        from matscibench.run.progress import RunDisplay

        forked_children_die_with_this_process()  # a generator's pool workers end with this process

        with RunDisplay(console).preparing() as cb:
            for name in prepare:
                spec = get_dataset(name)
                spec.prepare(cb)
                console.print(f"[green]ready[/]: {name} (checksum {spec.checksum()[:16]}…)")
    _datasets_table()


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The machine and software a run records with every result."""
    from matscibench.cost.sysinfo import system_info
    from matscibench.paths import cache_dir, data_dirs

    si = system_info()
    si["cache_dir"] = str(cache_dir())
    si["data_dirs"] = [str(p) for p in data_dirs()]
    if as_json:
        console.print_json(json.dumps(si, default=str))
        return
    t = Table(show_header=False, title="matscibench info", title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in si.items():
        if k == "packages":
            v = ", ".join(f"{a} {b}" for a, b in v.items())
        elif k == "gpus":
            v = ", ".join(f"{g['name']} ({g['memory_MiB']:.0f} MiB, driver {g['driver']})" for g in v) or "none"
        elif k == "blas":
            v = ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)" for b in v) or "–"
        elif isinstance(v, list):
            v = ", ".join(map(str, v))
        t.add_row(k, escape(str(v)))
    console.print(t)


def _store(results: Optional[Path], store: Optional[str]):
    from matscibench.paths import results_dir
    from matscibench.store import Store

    if store:
        return Store(store)
    path = results_dir(results) / "results.sqlite"
    return Store(path)


def _store_and_run(results: Optional[Path], store: Optional[str], run_id: Optional[str]):
    """(the store, the run id ``run_id`` resolves to there); an unknown run is a clean error."""
    st = _store(results, store)
    try:
        return st, st.resolve_run_id(run_id)
    except KeyError as exc:
        raise MatscibenchError(str(exc.args[0])) from None


@app.command()
def report(
    run_id: str = typer.Argument("latest", help="Run id (a unique prefix is enough; 'latest' = newest)."),
    results: Optional[Path] = ResultsOpt,
    store: Optional[str] = StoreOpt,
    fmt: str = typer.Option("all", "--format", "-f", help="md, json, table or all (all also writes report.html)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for report files (default: <results>/reports/<run id>)."),
    html: bool = typer.Option(False, "--html", help="Write only the self-contained HTML report (report.html) and print its path."),
    published: Optional[list[Path]] = typer.Option(None, "--published", help="A published matbench results file (benchmarks/matbench_v0.1_*/results.json.gz of the matbench repository): its rows appear beside the run's, marked published; repeatable."),
) -> None:
    """Re-render a stored run: terminal tables, Markdown, JSON and a self-contained HTML page."""
    from matscibench.paths import results_dir
    from matscibench.report.aggregate import aggregate_run
    from matscibench.report.render import console_tables, to_markdown, write_reports

    st, rid = _store_and_run(results, store, run_id)
    rep = aggregate_run(st, rid, results_dir=_predictions_dir(results, store))
    if published:
        from matscibench.report.matbench import add_published, published_rows

        for path in published:
            add_published(rep, published_rows(path), new_tasks=False)
    from matscibench.paths import check_name

    check_name(rid, "run id")  # it names the report folder: never one outside --results
    if html:
        from matscibench.report.html import write_html

        path = write_html(rep, (out or results_dir(results) / "reports" / rid) / "report.html")
        console.print(f"report (html): {path}")
        return
    if fmt == "json":
        sys.stdout.write(rep.dumps() + "\n")
        return
    if fmt == "md":
        sys.stdout.write(to_markdown(rep) + "\n")
        return
    for tab in console_tables(rep):
        console.print(tab)
    if fmt == "all":
        paths = write_reports(rep, out or results_dir(results) / "reports" / rid)
        for kind, p in paths.items():
            console.print(f"report ({kind}): {p}")


def _predictions_dir(results: Optional[Path], store: Optional[str]) -> Optional[Path]:
    """Where the run's predictions files live: the results folder (the default store's folder)."""
    from matscibench.paths import results_dir

    if results is not None or not store:
        return results_dir(results)
    return None  # a store given alone: aggregate_run looks next to a SQLite file


@app.command()
def compare(
    run_a: str = typer.Argument(..., help="Run A (a unique prefix is enough)."),
    run_b: str = typer.Argument(..., help="Run B, compared with A (differences are B − A)."),
    results: Optional[Path] = ResultsOpt,
    store: Optional[str] = StoreOpt,
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the comparison as a self-contained HTML file here."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Also write the comparison as JSON here ('-' = standard output, no table)."),
    costs: bool = typer.Option(True, "--costs/--no-costs", help="Compare key costs (times, throughput, memory) too."),
) -> None:
    """Compare two runs: per task, model and metric the means with 95 % CIs, B − A, and whether the CIs overlap."""
    from matscibench.report.aggregate import aggregate_run
    from matscibench.report.compare import compare_html, compare_reports, console_compare

    st = _store(results, store)
    try:
        ra, rb = st.resolve_run_id(run_a), st.resolve_run_id(run_b)
    except KeyError as exc:
        raise MatscibenchError(str(exc.args[0])) from None
    cmp = compare_reports(aggregate_run(st, ra), aggregate_run(st, rb), costs=costs)
    if as_json is not None and str(as_json) == "-":
        sys.stdout.write(cmp.dumps() + "\n")
        for w in cmp.warnings:
            err.print(f"[bold yellow]warning:[/] {escape(w)}")
        return
    for item in console_compare(cmp):
        console.print(item)
    if as_json is not None:
        as_json.parent.mkdir(parents=True, exist_ok=True)
        as_json.write_text(cmp.dumps(), encoding="utf-8")
        console.print(f"comparison (json): {as_json}")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(compare_html(cmp), encoding="utf-8")
        console.print(f"comparison (html): {html}")


@app.command("export-matbench")
def export_matbench(
    run_id: str = typer.Argument("latest", help="Run id (a unique prefix is enough; 'latest' = newest)."),
    out: Path = typer.Option(..., "--out", "-o", help="The results file to write: results.json.gz (gzipped) or results.json (plain JSON, what matbench 0.6's from_file reads)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="The model (its label in the run) to export; needed when the run has several on matbench tasks."),
    seed: Optional[int] = typer.Option(None, "--seed", help="The repeat to export (default: the smallest seed)."),
    skip_incomplete: bool = typer.Option(False, "--skip-incomplete", help="Leave out matbench tasks without all five folds instead of stopping."),
    results: Optional[Path] = ResultsOpt,
    store: Optional[str] = StoreOpt,
) -> None:
    """Write a run's matbench_* results in matbench's results format (MatbenchBenchmark.from_dict / from_file loads it)."""
    from matscibench.report.matbench import export_matbench as export

    st, rid = _store_and_run(results, store, run_id)
    path, doc = export(st, rid, out, results_dir=_predictions_dir(results, store), model=model, seed=seed,
                       skip_incomplete=skip_incomplete)
    console.print(f"matbench results ({', '.join(doc['tasks'])}; model {escape(doc['user_metadata']['algorithm'])}): {path}")


@app.command()
def leaderboard(
    sources: list[str] = typer.Argument(..., help="Results folders (holding results.sqlite), store files or store URLs: every run in each is read."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the site (index.html, models/*.html)."),
    published: Optional[list[Path]] = typer.Option(None, "--published", help="A published matbench results file (benchmarks/matbench_v0.1_*/results.json.gz of the matbench repository); repeatable."),
) -> None:
    """One static, offline HTML site from several runs (users, machines, days): per task each model's best result, cards, accuracy against cost, machines."""
    from matscibench.report.leaderboard import build_leaderboard, write_leaderboard

    lb = build_leaderboard(sources, published=published or [])
    index = write_leaderboard(lb, out)
    console.print(f"leaderboard ({len(lb.tasks)} tasks, {len(lb.models())} models, {len(lb.runs)} runs, "
                  f"{len(lb.machines)} machines): {index}")


def main() -> None:
    from matscibench.errors import clean_text

    try:
        app()
    except MatscibenchError as exc:
        err.print(f"[bold red]error:[/] {escape(clean_text(exc, 3000))}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
