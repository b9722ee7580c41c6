"""Terminal progress: a bar for data preparation, then an overall bar and one bar per running job."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from matscibench.errors import clean_text


def _short(text: object, limit: int = 300) -> str:
    """A message as one terminal line: bounded (rich takes minutes to lay out an unbroken 100 KB
    string), valid text, first line only."""
    s = clean_text("" if text is None else text, limit)
    return s.splitlines()[0] + " …" if "\n" in s.strip() else s
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from matscibench.spec import JobResult, JobSpec

__all__ = ["RunDisplay"]

_PHASES = ("load", "fit", "predict", "latency")


def _fmt(x: float) -> str:
    from matscibench.report.fmt import fmt_value

    return fmt_value(x)


class _Live:
    def __init__(self, progress: Progress | None, console: Console, total: int) -> None:
        self.progress = progress
        self.console = console
        self.overall = progress.add_task("[bold]jobs", total=total, status="") if progress else None
        self.tasks: dict[str, int] = {}
        self.titles: dict[str, str] = {}
        self.ok = self.failed = self.skipped = 0

    def register(self, specs: list[JobSpec]) -> None:
        for s in specs:
            self.titles[s.key] = s.title()

    def drain(self, events: Any) -> None:
        if events is None:
            return
        while True:
            try:
                ev = events.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            except Exception:  # multiprocessing queues raise queue.Empty too; be safe
                return
            self._event(ev)

    def _event(self, ev: dict) -> None:
        if self.progress is None:
            return
        key = ev.get("key")
        kind = ev.get("kind")
        if kind == "start" and key not in self.tasks:
            self.tasks[key] = self.progress.add_task(escape(self.titles.get(key, key)), total=len(_PHASES), status="starting")
        tid = self.tasks.get(key)
        if tid is None:
            return
        if kind == "phase":
            ph = str(ev.get("phase", ""))
            done = _PHASES.index(ph) if ph in _PHASES else None
            self.progress.update(tid, completed=done if done is not None else None, status=escape(ph))
        elif kind == "epoch":
            self.progress.update(tid, status=f"fit · epoch {ev.get('epoch')} · val {_fmt(float(ev.get('value', float('nan'))))}")

    def elsewhere(self, spec: JobSpec) -> None:
        """Another driver recorded this job meanwhile."""
        self.console.print(f"[dim]= {escape(spec.title())}  recorded by another driver[/]")
        if self.progress is not None and self.overall is not None:
            self.progress.update(self.overall, advance=1)

    def retrying(self, spec: JobSpec, result: JobResult, attempt: int, delay: float) -> None:
        tid = self.tasks.pop(spec.key, None)
        if self.progress is not None and tid is not None:
            self.progress.remove_task(tid)
        self.console.print(
            f"[yellow]↻[/] {escape(spec.title())}  {escape(str(result.error_type))}: "
            f"{escape(_short(result.error_message))}; attempt {attempt + 1} in {delay:g} s"
        )

    def finished(self, spec: JobSpec, result: JobResult) -> None:
        tid = self.tasks.pop(spec.key, None)
        if self.progress is not None and tid is not None:
            self.progress.remove_task(tid)
        if result.status == "ok":
            self.ok += 1
            task_metric = next(iter(result.metrics.items()), None)
            unit = result.info.get("unit")
            metric = f"{task_metric[0]} {_fmt(task_metric[1])}{(' ' + unit) if unit and task_metric[0] in ('mae', 'rmse', 'max_error') else ''}" if task_metric else ""
            fit = result.costs.get("fit.wall_s", float("nan"))
            # the first throughput the task recorded: structures, patterns, molecules, ...
            key = next((k for k in result.costs if k.startswith("predict.throughput_") and "atoms" not in k), None)
            rate = ""
            if key is not None:
                what = key[len("predict.throughput_"):].replace("_per_s", "")
                rate = f"  inference {_fmt(result.costs[key])} {what}/s"
            line = f"[green]✓[/] {escape(spec.title())}  {escape(metric)}  fit {_fmt(fit)} s{escape(rate)}"
        elif result.status == "skipped":
            self.skipped += 1
            line = f"[yellow]–[/] {escape(spec.title())}  skipped: {escape(_short(result.error_message))}"
        else:
            self.failed += 1
            line = f"[red]✗[/] {escape(spec.title())}  failed: {escape(_short(result.error_type, 100))}: {escape(_short(result.error_message))}"
        self.console.print(line)
        if self.progress is not None and self.overall is not None:
            status = f"✓{self.ok}" + (f" ✗{self.failed}" if self.failed else "")
            self.progress.update(self.overall, advance=1, status=status)


class RunDisplay:
    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled

    @contextlib.contextmanager
    def preparing(self) -> Iterator[Any]:
        if not self.enabled:
            yield None
            return
        progress = Progress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        ids: dict[str, int] = {}

        def cb(desc: str, completed: float, total: float | None) -> None:
            counts = f"{completed:,.0f}/{total:,.0f}" if total else ""
            tid = ids.get(desc)
            if tid is None:
                tid = ids[desc] = progress.add_task(escape(desc), total=total, counts=counts)
            progress.update(tid, completed=completed, total=total, counts=counts)

        with progress:
            yield cb

    @contextlib.contextmanager
    def running(self, todo: list[JobSpec]) -> Iterator[_Live]:
        if not self.enabled or not todo:
            live = _Live(None, self.console, len(todo))
            live.register(todo)
            yield live
            return
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        with progress:
            live = _Live(progress, self.console, len(todo))
            live.register(todo)
            yield live
