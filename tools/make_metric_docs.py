"""Rewrite the generated metric-definition table of each family page in docs/.

    python tools/make_metric_docs.py          # rewrite docs/<family>.md blocks
    python tools/make_metric_docs.py --check  # exit 1 when a page is out of date (CI, tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

from matscibench.families import FAMILY_NAMES
from matscibench.families.docs import update_page

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for family in FAMILY_NAMES:
        page = DOCS / f"{family}.md"
        if not page.exists():
            continue
        old = page.read_text(encoding="utf-8")
        new = update_page(old, family)
        if new != old:
            stale.append(page.name)
            if not check:
                page.write_text(new, encoding="utf-8")
    if check and stale:
        print("out of date (run python tools/make_metric_docs.py):", ", ".join(stale))
        return 1
    print("rewritten:" if stale else "up to date", ", ".join(stale))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
