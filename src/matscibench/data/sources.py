"""Named data sources and what they were drawn from: the leakage check of the reports.

A dataset declares its sources (``DatasetSpec.sources``, e.g. ``("Materials Project",)``); a
model card names its training data (``ModelCard.training_data``, e.g. ``("MPtrj",)``). A model
whose training data overlap the sources of a task's data may have seen the test items (a
universal potential trained on MPtrj, which was drawn from the Materials Project, scored on a
Materials Project task): the reports flag it as possible leakage, as matbench-discovery marks
models compliant or not. ``DERIVED_FROM`` says which named datasets come from which sources;
names compare case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DERIVED_FROM", "expand_sources", "overlap"]

#: dataset -> the sources it was drawn from (transitively expanded by ``expand_sources``)
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    # MPtrj: relaxation trajectories of Materials Project calculations (Deng et al. 2023, CHGNet)
    "MPtrj": ("Materials Project",),
    # MPF.2021.2.8: M3GNet's Materials Project relaxations (Chen & Ong 2022)
    "MPF": ("Materials Project",),
    # MP-20: CDVAE's Materials Project subset (Xie et al. 2022)
    "MP-20": ("Materials Project",),
    "Perov-5": ("Castelli perovskites",),
    "Carbon-24": ("Carbon-24 (AIRSS)",),
    # sAlex: Alexandria subsampled (Barroso-Luque et al. 2024); OMat24 rattled/MD from Alexandria structures
    "sAlex": ("Alexandria",),
    "OMat24": ("Alexandria",),
    # MatterSim's closed training set lists Materials Project and Alexandria structures among its
    # sources (Yang et al., arXiv:2405.04967)
    "MatterSim training set": ("Materials Project", "Alexandria"),
    # rMD17 recomputed MD17's configurations (Christensen & von Lilienfeld 2020)
    "rMD17": ("MD17",),
    # matbench's Materials Project tasks
    "matbench_mp_e_form": ("Materials Project",),
    "matbench_mp_gap": ("Materials Project",),
    "matbench_perovskites": ("Castelli perovskites",),
}

_LOWER = {k.casefold(): v for k, v in DERIVED_FROM.items()}


def expand_sources(names: Iterable[str]) -> set[str]:
    """The names and everything they were drawn from, case-folded."""
    out: set[str] = set()
    todo = [str(n) for n in names if str(n).strip()]
    while todo:
        n = todo.pop().strip()
        key = n.casefold()
        if key in out:
            continue
        out.add(key)
        todo += list(_LOWER.get(key, ()))
    return out


def overlap(training_data: Iterable[str], sources: Iterable[str], ignore: Iterable[str] = ()) -> list[str]:
    """The sources of a task's data (as the task names them) that a model's training data share, sorted; an
    empty list when there is no overlap or nothing to compare (``ignore``: names that say nothing,
    e.g. "the task's training split")."""
    skip = {str(x).casefold() for x in ignore}
    train = expand_sources(n for n in training_data if str(n).casefold() not in skip)
    return sorted({str(s) for s in sources if expand_sources([s]) & train})
