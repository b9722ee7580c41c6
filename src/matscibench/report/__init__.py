"""Reports: aggregate a stored run into tables (console, Markdown, JSON)."""

from matscibench.report.aggregate import COST_COLUMNS, RunReport, TaskReport, aggregate_run

__all__ = ["COST_COLUMNS", "RunReport", "TaskReport", "aggregate_run"]
