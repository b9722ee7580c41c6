"""Datasets of the crystal-generation family: CDVAE's splits, one registry entry each.

``cdvae_<dataset>_<split>`` for dataset ``perov_5``, ``carbon_24``, ``mp_20`` and split ``train``,
``val``, ``test``: the CSV-with-CIF files CDVAE published (Xie et al., ICLR 2022), through
``matscibench.data.cdvae.CdvaeSpec`` (local folder or download from the pinned commit, sha256
checked where known and recorded where not, parsed once into the cache). The generation tasks
read a training split and the test split; data folders like this project's ``../shared/data`` that hold only the
validation and test splits serve the validation split as the training set (the task says so in
its name and its results' info).
"""

from __future__ import annotations

__all__ = ["register_datasets", "GENERATION_SPLITS"]

GENERATION_SPLITS = ("train", "val", "test")


def register_datasets(register) -> None:
    from matscibench.data.cdvae import CDVAE_DATASETS, CdvaeSpec

    for ds in CDVAE_DATASETS:
        for split in GENERATION_SPLITS:
            name = f"cdvae_{ds}_{split}"
            register(name, lambda ds=ds, split=split, name=name: CdvaeSpec(ds, (split,), name=name))
