"""The command line: info, list, run, report; errors are one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from conftest import SMALL_EMT
from matscibench.cli import app

runner = CliRunner()


def test_info_json_has_machine_and_versions():
    res = runner.invoke(app, ["info", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    for key in ("cpu_model", "cpu_logical_cores", "memory_GiB", "python", "packages", "matscibench_version", "fingerprint"):
        assert key in info
    assert "numpy" in info["packages"]


def test_list_everything():
    res = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for word in ("emt_formation_energy", "matbench_mp_e_form", "magpie_rf", "sitestats_gbm", "quick", "emt_alloys"):
        assert word in res.output


def test_run_then_report(tmp_path, small_emt):
    suite = tmp_path / "s.toml"
    suite.write_text(
        f"""name = "cli-test"
folds = [0]
[options]
latency_budget_s = 0.05
[[tasks]]
name = "emt_formation_energy"
params = {{ dataset_params = {{ n_structures = {SMALL_EMT['n_structures']}, seed = {SMALL_EMT['seed']} }} }}
[[models]]
name = "dummy"
[[models]]
name = "<script>alert(1)</script>"
"""
    )
    out = tmp_path / "res"
    # an unknown model is a one-line error, not a traceback
    res = subprocess.run([sys.executable, "-m", "matscibench", "run", "-s", str(suite), "-r", str(out)], capture_output=True, text=True)
    assert res.returncode == 2 and "unknown model" in res.stderr and "Traceback" not in res.stderr
    suite.write_text(suite.read_text().replace('name = "<script>alert(1)</script>"', 'name = "magpie_rf"\nlabel = "[red]rf[/red]"'))
    res = subprocess.run([sys.executable, "-m", "matscibench", "run", "-s", str(suite), "-r", str(out)], capture_output=True, text=True, env={**__import__("os").environ, "COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    assert "report (markdown):" in res.stdout and "[red]rf[/red]" in res.stdout  # markup is escaped
    res = runner.invoke(app, ["report", "cli-test", "-r", str(out), "-f", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["tasks"][0]["task"] == "emt_formation_energy"
    assert {m["model"] for m in rep["tasks"][0]["models"]} == {"dummy", "[red]rf[/red]"}
    res = runner.invoke(app, ["report", "latest", "-r", str(out), "-f", "md"])
    assert res.exit_code == 0 and "| dummy |" in res.output
    res = runner.invoke(app, ["list", "runs", "-r", str(out)], env={"COLUMNS": "200"})
    assert "cli-test" in res.output


def test_bad_suite_file_is_explained(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nrepeats = 0\n[[tasks]]\nname = "emt_formation_energy"\n')
    res = subprocess.run([sys.executable, "-m", "matscibench", "run", "-s", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "repeats" in res.stderr and "models" in res.stderr
