"""Throughput of the generation metrics' slow part, the CrystalNN structure fingerprint, on 10,000
crystals: matscibench's implementation against matminer's ``SiteStatsFingerprint`` called directly.

    python benchmarks/bench_generation_metrics.py                      # Perov-5 and Carbon-24
    python benchmarks/bench_generation_metrics.py --n 10000 --matminer-n 200 --jobs 2 --datasets perov_5
    python benchmarks/bench_generation_metrics.py --quick                # 2,000 crystals, matminer on 40

The 10,000 crystals are distinct: the validation and test splits of a CDVAE dataset
($MATSCIBENCH_DATA/cdvae/<dataset>/{val,test}.csv), perturbed (0.05 Å, 1 % strain) by the
``RandomPerturbation`` baseline, as a generator's output would be. matminer takes about a second
per crystal, so it is timed on ``--matminer-n`` of them and its time for all ``--n`` extrapolated
(per-crystal times are steady); both are single process. Our numbers: one process and ``--jobs``
processes, no cache. The script also checks that the two agree on the timed crystals (maximum
absolute difference of the 61 site-averaged values, the body-centred-cubic column aside: its
value depends on the order of tied neighbours, see ``matscibench.sim.crystalnn``).

``--matching`` times uniqueness and novelty over all ``--n`` crystals of two generators fitted on
the validation split (``gen_replay``: many identical copies; ``gen_perturb``: 0.1 Å / 2 % noise,
so that copies of one crystal match under ``StructureMatcher`` without being identical) with at
most ``--cap`` comparisons per crystal (the tasks' default, 20), and with ``--verify N`` compares,
on the first N perturbed crystals, the capped flags with the uncapped ones (every candidate that
the exact steps leave): what the cap misses.

How long 10,000 samples take (uniqueness + novelty, measured in the 10,000-sample jobs of
docs/generation.md on a 2-core machine shared with five other sessions, load average 10-16, so
upper bounds): Perov-5 replay 54-231 s; Carbon-24 replay 521 s (13,198 ``StructureMatcher``
calls with the default cap of 20). ``--verify 600`` on Carbon-24 perturbed crystals: the cap
changes uniqueness little (57.2 % vs 56.5 %) but overestimates novelty (56.2 % vs 14.7 %).

``--metrics`` adds the other per-crystal metrics on all ``--n`` crystals (structural and
compositional validity, Magpie composition fingerprints, coverage against the test split, EMDs)
with their times.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np


def _data_dir() -> Path:
    for part in os.environ.get("MATSCIBENCH_DATA", "").split(os.pathsep):
        if part and (Path(part) / "cdvae").is_dir():
            return Path(part)
    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    if (here / "cdvae").is_dir():
        return here
    raise SystemExit("set MATSCIBENCH_DATA to a folder with cdvae/<dataset>/{val,test}.csv")


def _load(ds: str, split: str):
    import pandas as pd
    from pymatgen.core import Structure

    df = pd.read_csv(_data_dir() / "cdvae" / ds / f"{split}.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Structure.from_str(c, fmt="cif") for c in df["cif"]]


def _crystals(ds: str, n: int, seed: int = 0):
    from matscibench.families.generation.models import RandomPerturbation

    gen = RandomPerturbation(sigma=0.05, lattice_sigma=0.01).fit(_load(ds, "val") + _load(ds, "test"))
    return gen.sample(n, seed=seed)


def bench(ds: str, n: int, matminer_n: int, jobs: int, metrics: bool) -> None:
    from matscibench.families.generation import fingerprints as FP
    from matscibench.families.generation import metrics as GM
    from matscibench.sim import crystalnn as CNN

    print(f"\n== {ds}: {n:,} crystals")
    t = time.perf_counter()
    crystals = _crystals(ds, n)
    n_sites = sum(len(s) for s in crystals)
    print(f"generated in {time.perf_counter() - t:.1f} s ({n_sites / n:.1f} atoms per crystal)")

    sub = crystals[:matminer_n]
    t = time.perf_counter()
    ours_sub = FP.fingerprints(sub, n_jobs=1, cache=False)
    ours_sub_s = time.perf_counter() - t

    t = time.perf_counter()
    ours_all = FP.fingerprints(crystals, n_jobs=1, cache=False)
    ours_1 = time.perf_counter() - t
    ours_j = float("nan")
    if jobs > 1:
        t = time.perf_counter()
        FP.fingerprints(crystals, n_jobs=jobs, cache=False)
        ours_j = time.perf_counter() - t

    mm_s = float("nan")
    diff = float("nan")
    try:
        from matminer.featurizers.structure.sites import SiteStatsFingerprint

        ssf = SiteStatsFingerprint.from_preset("CrystalNNFingerprint_ops", stats=("mean",))
        ref = np.full((len(sub), len(CNN.CRYSTALNN_LABELS)), np.nan)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, s in enumerate(sub):
                try:
                    ref[i] = ssf.featurize(s)
                except Exception:
                    pass
        mm_s = time.perf_counter() - t
        bcc = CNN.CRYSTALNN_LABELS.index("body-centered cubic CN_8")
        d = np.abs(ours_all[: len(sub)] - ref)
        d[:, bcc] = 0
        both = np.isfinite(d).all(axis=1)
        diff = float(d[both].max()) if both.any() else float("nan")
        fail_mm, fail_ours = int((~np.isfinite(ref).all(axis=1)).sum()), int((~np.isfinite(ours_sub).all(axis=1)).sum())
        print(f"failures on the {len(sub)} timed crystals: matminer {fail_mm}, ours {fail_ours}")
    except ImportError:
        print("matminer is not installed: its column is empty")

    mm_all = mm_s / len(sub) * n
    print(f"{'':34s}{'matminer SiteStatsFingerprint':>32s}{'matscibench':>14s}{'ratio':>9s}")
    print(f"{'s per crystal (1 process)':34s}{mm_s / len(sub):32.4f}{ours_sub_s / len(sub):14.4f}{mm_s / ours_sub_s:9.1f}")
    print(f"HEADLINE | CrystalNN fingerprints on {ds}, matminer time / ours (1 process) | {mm_s / ours_sub_s:.1f} | >= 1")
    print(f"{f'{n:,} crystals, 1 process (s)':34s}{mm_all:27.0f} (ex.){ours_1:14.1f}{mm_all / ours_1:9.1f}")
    if jobs > 1:
        print(f"{f'{n:,} crystals, {jobs} processes (s)':34s}{'':32s}{ours_j:14.1f}{mm_all / ours_j:9.1f}")
    print(f"max |ours - matminer| on the timed crystals (bcc column aside): {diff:.2e}")

    if metrics:
        test = _load(ds, "test")
        steps: dict[str, float] = {}
        t = time.perf_counter()
        valid_s = [GM.structure_validity(s) for s in crystals]
        steps["structural validity"] = time.perf_counter() - t
        t = time.perf_counter()
        valid_c = [GM.composition_validity(s) for s in crystals]
        steps["compositional validity (SMACT)"] = time.perf_counter() - t
        t = time.perf_counter()
        cfp = FP.composition_fingerprints(crystals)
        ref_c = FP.composition_fingerprints(test)
        mean, std = GM.cdvae_composition_scaler()  # CDVAE's fixed scaler, as the tasks use
        steps["Magpie fingerprints"] = time.perf_counter() - t
        ref_s = FP.fingerprints(test, n_jobs=jobs, cache=True)
        t = time.perf_counter()
        cut = GM.COV_CUTOFFS[ds]
        cov = GM.coverage(ours_all, GM.scale_compositions(cfp, mean, std), ref_s,
                          GM.scale_compositions(ref_c, mean, std), *cut)
        steps["coverage (COV-R, COV-P)"] = time.perf_counter() - t
        t = time.perf_counter()
        GM.wasserstein_1d([GM.density(s) for s in crystals], [GM.density(s) for s in test])
        steps["density EMD"] = time.perf_counter() - t
        print(f"\nother metrics on {n:,} crystals (s): " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
        print(f"validity {np.mean(np.array(valid_s) & np.array(valid_c)):.3f}, "
              f"COV-R {cov['cov_recall']:.3f}, COV-P {cov['cov_precision']:.3f}")


def bench_matching(ds: str, n: int, jobs: int, cap: int, verify: int) -> None:
    from matscibench.families.generation import fingerprints as FP
    from matscibench.families.generation import matching as CM
    from matscibench.families.generation.models import RandomPerturbation, TrainingReplay

    train = _load(ds, "val")
    print(f"\n== {ds}: uniqueness and novelty of {n:,} crystals against {len(train):,} training (val) crystals, "
          f"{jobs} processes, at most {cap} StructureMatcher comparisons per crystal", flush=True)
    tr_fp = FP.fingerprints(train, n_jobs=jobs, cache=True)
    for name, gen in (("gen_replay", TrainingReplay()), ("gen_perturb", RandomPerturbation())):
        crystals = gen.fit(train).sample(n, seed=0)
        t = time.perf_counter()
        fp = FP.fingerprints(crystals, n_jobs=jobs, cache=True)
        t_fp = time.perf_counter() - t
        keys = [FP.structure_key(s) for s in crystals]
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        t = time.perf_counter()
        pos = sorted(first.values())
        red_d = dict(zip(pos, CM.reduce_structures([crystals[i] for i in pos], n_jobs=jobs)))
        red = [red_d[first[k]] for k in keys]
        t_red = time.perf_counter() - t
        su: dict = {}
        sn: dict = {}
        t = time.perf_counter()
        u = CM.unique_flags(crystals, fp, max_candidates=cap, keys=keys, n_jobs=jobs, reduced=red, stats=su)
        t_u = time.perf_counter() - t
        t = time.perf_counter()
        nv = CM.novel_flags(crystals, train, fp, tr_fp, max_candidates=cap, keys=keys, n_jobs=jobs, reduced=red,
                            stats=sn)
        t_n = time.perf_counter() - t
        print(f"{name:12s} unique {u.mean():.4f} novel {nv.mean():.4f} | fingerprints {t_fp:.0f} s (cache), "
              f"reduction of {len(pos):,} distinct crystals {t_red:.0f} s, uniqueness {t_u:.0f} s ({su['n_fit']:,} "
              f"fits, {su['n_buckets']:,} buckets), novelty {t_n:.0f} s ({sn['n_fit']:,} fits)", flush=True)
        if verify and name == "gen_perturb":
            # what the cap misses: the first `verify` crystals, capped against every candidate (the
            # exact steps only: identical copies, buckets, lattice test)
            sub = slice(0, verify)
            t = time.perf_counter()
            u_all = CM.unique_flags(crystals[sub], fp[sub], max_candidates=None, keys=keys[sub], n_jobs=jobs,
                                    reduced=red[sub])
            n_all = CM.novel_flags(crystals[sub], train, fp[sub], tr_fp, max_candidates=None, keys=keys[sub],
                                   n_jobs=jobs, reduced=red[sub])
            t_v = time.perf_counter() - t
            u_cap = CM.unique_flags(crystals[sub], fp[sub], max_candidates=cap, keys=keys[sub], n_jobs=jobs,
                                    reduced=red[sub])
            print(f"verify on the first {verify} crystals ({t_v:.0f} s without a cap): unique {u_cap.mean():.4f} "
                  f"capped vs {u_all.mean():.4f} uncapped; novel {nv[sub].mean():.4f} capped vs {n_all.mean():.4f} "
                  f"uncapped", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["perov_5", "carbon_24"])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--matminer-n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--metrics", action="store_true")
    ap.add_argument("--matching", action="store_true", help="time uniqueness and novelty instead of fingerprints")
    ap.add_argument("--cap", type=int, default=20, help="StructureMatcher comparisons per crystal (the tasks' default)")
    ap.add_argument("--verify", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help="2,000 crystals, matminer timed on 40 (a few minutes instead of ~15 on 2 cores)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.matminer_n = min(args.n, 2000), min(args.matminer_n, 40)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for ds in args.datasets:
        if args.matching:
            bench_matching(ds, args.n, args.jobs, args.cap, args.verify)
        else:
            bench(ds, args.n, args.matminer_n, args.jobs, args.metrics)


if __name__ == "__main__":
    main()
