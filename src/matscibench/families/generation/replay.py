"""Predictions files of the generation task: the generated crystals, scored by every metric.

``sample(n, seed)`` returns the crystals of the file, in its order; the task then computes
validity, coverage, property statistics, uniqueness, novelty (and stability) exactly as for a
generator it runs. Formats:

* a folder of CIF files (``*.cif``, in sorted file-name order);
* an extended-XYZ file (periodic frames, read by ASE);
* a JSON-lines file (``.jsonl``): one pymatgen ``Structure.as_dict()`` per line, ``null`` for a
  failed generation (it counts as invalid); or a JSON file holding a list of them.

The file must hold exactly the task's ``n_samples`` crystals (CDVAE's protocol: 10,000; the
error says how to score another number). Lengths are in Å: unless ``check_units = false``, a
file whose median volume per atom is more than 3x off the training crystals' is refused (e.g.
cells in bohr are 6.7x too large; in nm 1000x too small). Reconstructions are not read from
files (``match_rate`` and ``recon_rmse`` stay NaN).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from matscibench.errors import PredictionsFileError
from matscibench.models.replay import ReplayModel

__all__ = ["GenerationReplay", "read_structures"]


def read_structures(path: Path) -> list:
    """The crystals of a folder of CIFs, an extended-XYZ file or a JSON(-lines) file (None = failed)."""
    from pymatgen.core import Structure

    if path.is_dir():
        files = sorted(path.glob("*.cif"))
        if not files:
            raise PredictionsFileError(f"{path}: a folder of generated crystals must hold .cif files; it has none")
        out = []
        for f in files:
            try:
                out.append(Structure.from_file(str(f)))
            except Exception as exc:  # noqa: BLE001 - whatever a reader raises on a bad file
                raise PredictionsFileError(f"{f}: not a readable CIF ({exc}); fix or remove the file") from None
        return out
    name = path.name.lower()
    if name.endswith((".xyz", ".extxyz")):
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        try:
            frames = read(str(path), index=":", format="extxyz")
        except Exception as exc:  # noqa: BLE001 - whatever a reader raises on a bad file
            raise PredictionsFileError(f"{path}: not a readable extended-XYZ file: {exc}") from None
        out = []
        for k, at in enumerate(frames):
            if not at.pbc.all() or at.cell.rank != 3:
                raise PredictionsFileError(f"{path}: frame {k} has no periodic 3-D cell (pbc={at.pbc.tolist()}); write "
                                           "Lattice=... and pbc=\"T T T\" on its comment line")
            out.append(AseAtomsAdaptor.get_structure(at))
        return out
    if name.endswith((".jsonl", ".json")):
        text = path.read_text(encoding="utf-8")
        try:
            items = json.loads(text) if name.endswith(".json") else [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise PredictionsFileError(f"{path}: not valid JSON{' lines' if name.endswith('.jsonl') else ''}: {exc}") from None
        if not isinstance(items, list):
            raise PredictionsFileError(f"{path}: expected a list of structure dicts")
        out = []
        for k, d in enumerate(items):
            if d is None:
                out.append(None)
                continue
            try:
                out.append(Structure.from_dict(d))
            except Exception as exc:  # noqa: BLE001 - whatever a reader raises on a bad file
                where = f"line {k + 1}" if name.endswith(".jsonl") else f"item {k}"
                raise PredictionsFileError(f"{path}: {where} is not a pymatgen Structure dict ({type(exc).__name__}: "
                                           f"{exc}); write Structure.as_dict(), or null for a failed generation") from None
        return out
    raise PredictionsFileError(f"{path}: generated crystals come as a folder of .cif files, an extended-XYZ file (.xyz, "
                               ".extxyz) or JSON lines of pymatgen Structure dicts (.jsonl)")


class GenerationReplay(ReplayModel):
    """A generator whose samples are the crystals of a file."""

    def __init__(self, source, task) -> None:
        super().__init__(source, task)
        self.structures_ = read_structures(self.path)
        n, want = len(self.structures_), int(task.n_samples)
        if n != want:
            raise PredictionsFileError(
                f"{self.path}: {n} crystals, but task {task.name} scores n_samples = {want}. Write {want} (failed "
                f"generations as null lines in JSON lines), or score with the task parameter n_samples = {n} "
                f"(matscibench score ... --task-param n_samples={n})")
        self.units_note = {"lengths": self._check_lengths(task) if self.check_units else "not checked (check_units = false)"}

    def _check_lengths(self, task) -> str:
        ok = [s for s in self.structures_ if s is not None and len(s)]
        if not ok:
            return "not checked (no crystals)"
        train = task.load_split().train
        v_gen = float(np.median([s.volume / len(s) for s in ok]))
        v_ref = float(np.median([s.volume / len(s) for s in train]))
        ratio = v_gen / v_ref
        if not (1 / 3 <= ratio <= 3):
            guess = {"bohr": (1 / 0.529177210903) ** 3, "nm": 1e-3}
            like = min(guess, key=lambda k: abs(np.log(ratio / guess[k])))
            raise PredictionsFileError(
                f"{self.path}: the crystals' median volume per atom is {v_gen:.4g} Å³, {ratio:.3g}x the training crystals' "
                f"({v_ref:.4g} Å³); lattices look like they are in {like}, not Å. Write lengths in Å; if they are right, "
                "set check_units = false")
        return f"checked: median volume per atom {v_gen:.3g} Å³ ({ratio:.2f}x the training crystals')"

    def sample(self, n: int, seed: int = 0) -> list:
        if int(n) != len(self.structures_):
            raise PredictionsFileError(f"{self.path}: the task asked for {n} crystals; the file has {len(self.structures_)}")
        return list(self.structures_)

    def replay_info(self) -> dict[str, Any]:
        out = super().replay_info()
        out["n_structures"] = len(self.structures_)
        return out
