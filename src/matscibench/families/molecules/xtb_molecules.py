"""The embedded molecule sets ``xtb_molecules`` and ``xtb_molecules_vib``: small organic molecules
drawn as random graphs, relaxed and labelled with GFN2-xTB (``sim.xtb``).

Candidates (C, H, N, O, F; 1-9 heavy atoms) are drawn as molecular graphs with GDB-like rules and
checked by RDKit (:func:`candidate_smiles`); ``sim.xtb.label_molecule`` embeds, relaxes and
labels each one (see ``families/molecules/data.py`` for the targets and what is dropped).

Generation is seeded and reproducible: candidate molecules come from one seeded stream,
each is computed from its own seed, and results are cached in chunks of ``CHUNK`` candidates
(``<cache>/datasets/xtb_molecules/chunks``), so a larger set reuses a smaller one's work and
the chunks can be computed in parallel processes (``parallel.process_pool``: fresh workers that
get everything through their arguments).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from matscibench.data.base import CachedTableSpec, ProgressFn
from matscibench.data.cache import atomic_path, file_lock
from matscibench.errors import DatasetError
from matscibench.families.molecules.data import TARGETS, XTB_TARGETS, XTB_VIB_TARGETS, molecules_from_arrays
from matscibench.parallel import process_pool
from matscibench.paths import cache_dir
from matscibench.sim.xtb import label_chunk

__all__ = ["XTB_MOL_VERSION", "CHUNK", "candidate_smiles", "XtbMoleculesSpec"]

XTB_MOL_VERSION = 1
#: candidates per cached chunk
CHUNK = 25
#: heavy-atom count n (1..9) is drawn with weights ∝ these (QM9 is dominated by n = 9)
HEAVY_WEIGHTS = (1, 1, 2, 3, 4, 5, 6, 7, 7)
#: element probabilities of a heavy atom
HEAVY_ELEMENTS = (("C", 0.62), ("N", 0.15), ("O", 0.19), ("F", 0.04))
VALENCE = {"C": 4, "N": 3, "O": 2, "F": 1}


def _draw_graph(rng: np.random.Generator) -> str | None:
    """One random molecular graph under GDB-like rules, as canonical SMILES (None if rejected).

    Heavy atoms C, N, O, F; no heteroatom-heteroatom bonds (as GDB excludes most of them), F
    only on carbon, a few ring closures and multiple bonds; RDKit sanitisation then rejects
    invalid valences, and cumulated double bonds and triple bonds in rings are rejected too.
    """
    from rdkit import Chem

    n = int(rng.choice(np.arange(1, 10), p=np.asarray(HEAVY_WEIGHTS) / sum(HEAVY_WEIGHTS)))
    names = [e for e, _ in HEAVY_ELEMENTS]
    probs = np.array([p for _, p in HEAVY_ELEMENTS])
    els = [str(rng.choice(names, p=probs)) for _ in range(n)]
    if "C" not in els:
        els[0] = "C"
    if n > 1 and els[0] == "F":
        els[0] = "C"
    hetero = {"N", "O", "F"}
    free = [VALENCE[e] for e in els]
    bonds: dict[tuple[int, int], int] = {}

    def ok(a: int, b: int) -> bool:
        return not (els[a] in hetero and els[b] in hetero) and free[a] > 0 and free[b] > 0

    for k in range(1, n):
        parents = [j for j in range(k) if ok(j, k)]
        if not parents:
            return None
        j = int(parents[int(rng.integers(len(parents)))])
        bonds[(j, k)] = 1
        free[j] -= 1
        free[k] -= 1
    for _ in range(min(2, int(rng.poisson(0.6)))):
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if (a, b) not in bonds and ok(a, b)]
        if not pairs:
            break
        a, b = pairs[int(rng.integers(len(pairs)))]
        bonds[(a, b)] = 1
        free[a] -= 1
        free[b] -= 1
    for _ in range(int(rng.poisson(0.8))):
        cands = [bd for bd, o in bonds.items() if o < 3 and free[bd[0]] > 0 and free[bd[1]] > 0
                 and "F" not in (els[bd[0]], els[bd[1]]) and not (o == 2 and "O" in (els[bd[0]], els[bd[1]]))]
        if not cands:
            break
        bd = cands[int(rng.integers(len(cands)))]
        bonds[bd] += 1
        free[bd[0]] -= 1
        free[bd[1]] -= 1
    mol = Chem.RWMol()
    for e in els:
        mol.AddAtom(Chem.Atom(e))
    order = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for (a, b), o in bonds.items():
        mol.AddBond(a, b, order[o])
    m = mol.GetMol()
    try:
        Chem.SanitizeMol(m)
    except Exception:
        return None
    ring_info = m.GetRingInfo()
    for atom in m.GetAtoms():
        doubles = sum(1 for b in atom.GetBonds() if b.GetBondType() in (Chem.BondType.DOUBLE, Chem.BondType.TRIPLE))
        if doubles > 1:  # cumulated or ene-yne on one atom
            return None
    for b in m.GetBonds():
        if b.GetBondType() == Chem.BondType.TRIPLE and ring_info.NumBondRings(b.GetIdx()):
            return None
    if ring_info.NumRings() > 2:
        return None
    return Chem.MolToSmiles(m)


def candidate_smiles(seed: int, n: int) -> list[str]:
    """The first ``n`` distinct candidates of the seeded stream (the same prefix for every n)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    rng = np.random.default_rng([int(seed), 20140805])
    seen: set[str] = set()
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 1000 * (n + 10):
            raise DatasetError(f"could not draw {n} distinct molecules (seed {seed})")
        smi = _draw_graph(rng)
        if smi and smi not in seen:
            seen.add(smi)
            out.append(smi)
    return out


class XtbMoleculesSpec(CachedTableSpec):
    """Embedded molecules labelled with GFN2-xTB (see the module docstring).

    Parameters
    ----------
    n_molecules: molecules to keep (the first that pass, in the order of the seeded stream).
    vibrations: also compute the Hessian and the thermochemical targets (``xtb_molecules_vib``).
    seed: seed of the candidate stream and of the RDKit embeddings.
    workers: processes (default: all cores).
    """

    input_type = "molecule"
    license = "generated locally"
    sources = ("GFN2-xTB molecules (generated here)",)
    citation = (
        "GFN2-xTB (Bannwarth, Ehlert, Grimme, JCTC 15, 1652 (2019)) via tblite; RDKit ETKDG/MMFF94; "
        "targets after QM9 (Ramakrishnan et al., Sci. Data 1, 140022 (2014))"
    )

    def __init__(self, n_molecules: int | None = None, vibrations: bool = False, seed: int = 0,
                 workers: int | None = None) -> None:
        self.vibrations = bool(vibrations)
        self.n_molecules = int(n_molecules if n_molecules is not None else (400 if self.vibrations else 2000))
        self.seed = int(seed)
        self.workers = workers
        self.name = "xtb_molecules_vib" if self.vibrations else "xtb_molecules"
        names = XTB_VIB_TARGETS if self.vibrations else XTB_TARGETS
        self.targets = {t: TARGETS[t].unit for t in names}
        self.description = (
            f"{self.n_molecules} small organic molecules (C, H, N, O, F; 1-9 heavy atoms) drawn with RDKit, "
            "relaxed and labelled with GFN2-xTB (tblite): energy, HOMO, LUMO, gap, dipole"
            + ("; Hessian thermochemistry at 298.15 K: ZPVE, U0, U, H, G, Cv, ω1" if self.vibrations else "")
        )

    def cache_key(self) -> str:
        return f"g{XTB_MOL_VERSION}-n{self.n_molecules}-s{self.seed}"

    def _chunk_dir(self) -> Path:
        kind = "vib" if self.vibrations else "elec"
        return cache_dir() / "datasets" / "xtb_molecules" / "chunks" / f"{kind}-g{XTB_MOL_VERSION}-s{self.seed}"

    def _chunk_path(self, k: int) -> Path:
        return self._chunk_dir() / f"{k:05d}.json"

    def _compute_chunks(self, ks: list[int], candidates: list[str], progress: ProgressFn | None,
                        done_before: int) -> None:
        todo = [k for k in ks if not self._chunk_path(k).is_file()]
        if not todo:
            return
        args = [("vib" if self.vibrations else "elec", self.seed, k * CHUNK, candidates[k * CHUNK : (k + 1) * CHUNK],
                 self.vibrations) for k in todo]
        workers = self.workers or min(len(args), os.cpu_count() or 1)

        def save(k: int, recs: list[dict]) -> None:
            with atomic_path(self._chunk_path(k)) as tmp:
                tmp.write_text(json.dumps(recs))

        label = "xTB molecules" + (" + Hessians" if self.vibrations else "")
        done = 0
        if workers <= 1:
            for k, a in zip(todo, args):
                save(k, label_chunk(a))
                done += 1
                if progress:
                    progress(label, done_before + done * CHUNK * 0.85, self.n_molecules)
        else:
            with process_pool(workers) as pool:
                for k, recs in zip(todo, pool.map(label_chunk, args)):
                    save(k, recs)
                    done += 1
                    if progress:
                        progress(label, done_before + done * CHUNK * 0.85, self.n_molecules)

    def _records(self, progress: ProgressFn | None) -> tuple[list[dict], list[dict]]:
        kept: list[dict] = []
        rejected: list[dict] = []
        k = 0
        n_chunks = 0
        while len(kept) < self.n_molecules:
            need = self.n_molecules - len(kept)
            batch = max(1, math.ceil(need / (CHUNK * 0.8)))
            ks = list(range(n_chunks, n_chunks + batch))
            n_chunks += batch
            candidates = candidate_smiles(self.seed, n_chunks * CHUNK)
            self._compute_chunks(ks, candidates, progress, len(kept))
            for k in ks:
                for rec in json.loads(self._chunk_path(k).read_text()):
                    if len(kept) >= self.n_molecules:
                        break
                    (kept if rec["status"] == "ok" else rejected).append(rec)
        return kept, rejected

    def _build(self, progress: ProgressFn | None):
        with file_lock(self._chunk_dir() / "chunks"):
            t0 = time.perf_counter()
            kept, rejected = self._records(progress)
            wall = time.perf_counter() - t0
        names = XTB_VIB_TARGETS if self.vibrations else XTB_TARGETS
        inputs = molecules_from_arrays([np.asarray(r["numbers"]) for r in kept], [np.asarray(r["positions"]) for r in kept])
        targets = pd.DataFrame({t: np.array([r[t] for r in kept], dtype=float) for t in names})
        ids = np.array([f"xtbmol-{r['index']:06d}" for r in kept], dtype=object)
        extra = pd.DataFrame({
            "smiles": [r["smiles"] for r in kept],
            "relax_steps": [r["relax_steps"] for r in kept],
        })
        # the labelling CPU time is a measurement, not data: it goes in the source line (metadata),
        # not in the table, whose content makes the checksum (a column of timings gave every fresh
        # build a new checksum, hence new job keys)
        h = hashlib.sha256(f"{self.name}|{self.cache_key()}".encode())
        for r in kept:
            h.update(np.asarray(r["numbers"], dtype=np.int64).tobytes())
            h.update(np.round(np.asarray(r["positions"], dtype=float), 6).tobytes())
            h.update(np.round(np.array([r[t] for t in names], dtype=float), 6).tobytes())
        reasons: dict[str, int] = {}
        for r in rejected:
            key = r["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        source = (
            f"generated by matscibench (xTB molecules v{XTB_MOL_VERSION}, seed {self.seed}): {len(kept)} kept, "
            f"{len(rejected)} dropped ({', '.join(f'{v} {k}' for k, v in sorted(reasons.items())) or 'none'}); "
            f"labelling CPU time {sum(r['cpu_seconds'] for r in kept + rejected):.0f} s"
            + (f", this build {wall:.0f} s wall" if wall > 1 else "")
        )
        return inputs, targets, ids, h.hexdigest(), source, extra
