#!/usr/bin/env python
"""Set a matscibench model's per-sample predictions beside a published matbench results file.

For each fold and seed: the label ROC-AUC of ours and of the published run, and how often the two
agree; then how often our seeds agree with each other (the seed noise), and, on the samples where
our seed-averaged vote and the published label differ, our score and which side was right.

Usage::

    MATSCIBENCH_DATA=../shared/data python tools/compare_matbench_predictions.py \\
        matbench/benchmarks/matbench_v0.1_rf/results.json.gz matbench_expt_is_metal \\
        --model rf_scm_magpie --folds 0,1,2,3,4 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import gzip
import json

import numpy as np
from sklearn.metrics import roc_auc_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("published", help="a matbench results.json(.gz)")
    ap.add_argument("task", help="a matbench classification task, e.g. matbench_glass")
    ap.add_argument("--model", default="rf_scm_magpie")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    from matscibench.families.registry import get_task
    from matscibench.run.job import run_job
    from matscibench.spec import JobSpec, ModelRef, TaskRef

    opener = gzip.open if args.published.endswith(".gz") else open
    with opener(args.published, "rt") as fh:
        pub = json.load(fh)["tasks"][args.task]["results"]
    task = get_task(args.task)
    seeds = [int(s) for s in args.seeds.split(",")]
    for fold in (int(f) for f in args.folds.split(",")):
        theirs_all = pub[f"fold_{fold}"]["data"]
        preds = {}
        for seed in seeds:
            spec = JobSpec("compare", TaskRef(args.task, {}), ModelRef(args.model, args.model), fold, seed,
                           task.dataset_checksum(), {"latency": False, "threads": 1})
            res = run_job(spec)
            if res.status != "ok":
                raise SystemExit(f"fold {fold}, seed {seed}: {res.error_type}: {res.error_message}")
            preds[seed] = res.predictions.set_index("id")
        ids = preds[seeds[0]].index.astype(str).tolist()
        y = preds[seeds[0]]["y_true"].to_numpy().astype(bool)
        theirs = np.array([theirs_all[i] for i in ids], dtype=bool)
        print(f"fold {fold}: published label ROC-AUC {roc_auc_score(y, theirs):.4f}")
        for seed in seeds:
            ours = preds[seed]["y_pred"].to_numpy().astype(bool)
            print(f"  seed {seed}: ours {roc_auc_score(y, ours):.4f}, agreement with published {np.mean(ours == theirs):.4f}")
        for a in seeds:
            for b in seeds:
                if a < b:
                    same = np.mean(preds[a]["y_pred"].to_numpy() == preds[b]["y_pred"].to_numpy())
                    print(f"  seeds {a} and {b} agree on {same:.4f}")
        score = np.mean([preds[s]["y_score"].to_numpy() for s in seeds], axis=0)
        vote = score > 0.5
        dis = vote != theirs
        print(f"  {int(dis.sum())} disagreements (our mean score {np.round(np.sort(score[dis]), 2).tolist()}); "
              f"published right {int((theirs[dis] == y[dis]).sum())}, ours right {int((vote[dis] == y[dis]).sum())}")


if __name__ == "__main__":
    main()
