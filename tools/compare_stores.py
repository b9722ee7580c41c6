"""Do two stored runs agree? Job keys, dataset checksums, split hashes, statuses and every metric.

    python tools/compare_stores.py A/results.sqlite B/results.sqlite [--run-a ID] [--run-b ID] [--by spec]

Used to check that a change which must not change what is computed (a refactor, a new executor,
another worker count) gives the same jobs and the same numbers. Metrics must be equal to the last
bit (NaN equals NaN); costs are not compared (they are measurements). Exit 0 when the runs agree,
1 with a list of the differences when they do not.

``--by spec`` pairs jobs by (task, model, fold, seed) instead of by key: a dataset whose checksum
changed on purpose then shows as one checksum difference per job, and its metrics are still
compared.
"""

from __future__ import annotations

import argparse
import math
import sys

from matscibench.store import Store


def _run_id(store: Store, given: str | None) -> str:
    if given:
        return store.resolve_run_id(given)
    runs = store.list_runs()
    if len(runs) != 1:
        raise SystemExit(f"{store.url} holds {len(runs)} runs; name one with --run-a/--run-b")
    return str(runs["run_id"].iloc[0])


def snapshot(path: str, run: str | None) -> dict:
    store = Store(path)
    rid = _run_id(store, run)
    jobs = store.jobs_frame(rid).set_index("key")
    mets = store.metrics_frame(rid)
    out = {
        "run_id": rid,
        "jobs": {k: (r.task, r.model, int(r.fold), int(r.seed), r.status, r.dataset_checksum, r.split_hash)
                 for k, r in jobs.iterrows()},
        "metrics": {(r.key, r.name): float(r.value) for r in mets.itertuples()},
    }
    store.close()
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def by_spec(snap: dict) -> dict:
    """The snapshot re-keyed by (task, model, fold, seed)."""
    ident = {k: j[:4] for k, j in snap["jobs"].items()}
    return {
        "run_id": snap["run_id"],
        "jobs": {ident[k]: j for k, j in snap["jobs"].items()},
        "metrics": {(ident[k], name): v for (k, name), v in snap["metrics"].items()},
    }


def compare(a: dict, b: dict) -> list[str]:
    diffs = []
    for k in sorted(set(a["jobs"]) ^ set(b["jobs"])):
        side, job = ("only in A", a["jobs"][k]) if k in a["jobs"] else ("only in B", b["jobs"][k])
        diffs.append(f"job {k} ({job[0]} · {job[1]} · fold {job[2]} · seed {job[3]}) {side}")
    fields = ("task", "model", "fold", "seed", "status", "dataset_checksum", "split_hash")
    for k in sorted(set(a["jobs"]) & set(b["jobs"])):
        for f, x, y in zip(fields, a["jobs"][k], b["jobs"][k]):
            if x != y:
                diffs.append(f"job {k} ({a['jobs'][k][0]} · {a['jobs'][k][1]}): {f} {x!r} vs {y!r}")
    for mk in sorted(set(a["metrics"]) | set(b["metrics"])):
        x, y = a["metrics"].get(mk), b["metrics"].get(mk)
        job = (a["jobs"].get(mk[0]) or b["jobs"].get(mk[0]) or ("?", "?"))[:2]
        if x is None or y is None:
            diffs.append(f"metric {mk[1]} of {job[0]} · {job[1]} ({mk[0]}) only in {'B' if x is None else 'A'}")
        elif not _same(x, y):
            diffs.append(f"metric {mk[1]} of {job[0]} · {job[1]} ({mk[0]}): {x!r} vs {y!r}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--run-a")
    ap.add_argument("--run-b")
    ap.add_argument("--by", choices=("key", "spec"), default="key")
    args = ap.parse_args(argv)
    a, b = snapshot(args.a, args.run_a), snapshot(args.b, args.run_b)
    if args.by == "spec":
        a, b = by_spec(a), by_spec(b)
    diffs = compare(a, b)
    n_ok = sum(1 for j in a["jobs"].values() if j[4] == "ok")
    if diffs:
        print(f"{len(diffs)} difference(s) between {a['run_id']} and {b['run_id']}:")
        print("\n".join(f"  {d}" for d in diffs))
        return 1
    print(f"same: {len(a['jobs'])} jobs ({n_ok} ok), {len(a['metrics'])} metric values, equal keys, "
          "dataset checksums, split hashes and statuses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
