"""benchmarks/run_all.py: headline lines parsed, goals judged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("run_all", Path(__file__).parent.parent / "benchmarks" / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)


def test_headline_lines_are_parsed_and_other_lines_ignored():
    text = "\n".join([
        "machine: x",
        "HEADLINE | MD loop / bare, 32 atoms | 1.012 | <= 1.05",
        "  HEADLINE | indented lines are not headlines | 3 | -",
        "HEADLINE | no goal | 7",
    ])
    assert run_all.parse_headlines(text) == [("MD loop / bare, 32 atoms", "1.012", "<= 1.05"), ("no goal", "7", "")]


def test_goals_are_judged_both_ways():
    assert run_all.meets("1.012", "<= 1.05") == "yes"
    assert run_all.meets("1.06", "<= 1.05") == "no"
    assert run_all.meets("1.9", ">= 1.85") == "yes"
    assert run_all.meets("1.7", ">= 1.85") == "no"
    assert run_all.meets("failed (exit 1)", "<= 45") == "–"
    assert run_all.meets("3", "-") == "–"


def test_every_script_it_runs_exists_and_prints_headlines():
    for script, _args in run_all.SCRIPTS.values():
        path = run_all.HERE / script
        assert path.is_file(), path
        assert "HEADLINE |" in path.read_text(), f"{script} prints no HEADLINE line"
