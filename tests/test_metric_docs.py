"""The family docs pages carry the metric-definition tables the registry generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from matscibench.metrics import METRICS, MetricInfo, register_metric
from matscibench.families.docs import BEGIN, END, metric_table, update_page

REPO = Path(__file__).resolve().parents[1]


def test_table_lists_family_metrics_and_marks_variants():
    register_metric(MetricInfo("_doc_probe_same", "probe", True, None, family="_probe",
                               definition="ours", paper="X et al. 2020", paper_definition="theirs",
                               same_as_paper=True))
    register_metric(MetricInfo("_doc_probe_variant", "probe|variant", True, "eV", family="_probe",
                               definition="a variant", same_as_paper=False))
    try:
        table = metric_table("_probe")
        lines = table.splitlines()
        assert len(lines) == 4  # header, rule, two rows
        assert "`_doc_probe_same`" in lines[2] and "| yes |" in lines[2]
        assert "probe\\|variant" in lines[3] and "**no**" in lines[3]
        page = update_page("# Page\n\ntext\n", "_probe")
        assert BEGIN in page and END in page and page.startswith("# Page")
        # regenerating a page that already has the block changes nothing
        assert update_page(page, "_probe") == page
    finally:
        METRICS.pop("_doc_probe_same")
        METRICS.pop("_doc_probe_variant")


def test_docs_pages_are_up_to_date():
    out = subprocess.run([sys.executable, str(REPO / "tools" / "make_metric_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
