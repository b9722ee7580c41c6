"""Dataset loaders: checksums, offline errors, bad records, folds."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from matscibench.data.cache import fetch_file, sha256_file, verify_file
from matscibench.data.cdvae import CdvaeSpec
from matscibench.families.registry import get_dataset, list_datasets
from matscibench.data.splits import MATBENCH_SEED, kfold_indices, split_hash
from matscibench.errors import ChecksumError, DatasetError, DatasetNotAvailable, RegistryError


def test_verify_file_names_the_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"hello")
    good = sha256_file(p)
    assert verify_file(p, good) == good
    p.write_bytes(b"hellO")  # corrupted after a successful check
    with pytest.raises(ChecksumError, match=str(p)):
        verify_file(p, good)


def test_offline_error_says_where_to_put_the_file(monkeypatch):
    monkeypatch.setenv("MATSCIBENCH_OFFLINE", "1")
    with pytest.raises(DatasetNotAvailable) as info:
        fetch_file("matbench/matbench_steels.json.gz", "0" * 64, "https://example.invalid/x.json.gz")
    msg = str(info.value)
    assert "matbench/matbench_steels.json.gz" in msg and "MATSCIBENCH_DATA" in msg and "https://example.invalid" in msg


def test_unknown_dataset():
    with pytest.raises(RegistryError, match="emt_alloys"):
        get_dataset("no_such_dataset")
    assert {"emt_alloys", "cdvae_perov_5", "matbench_mp_e_form", "matbench_mp_e_form_composition"} <= set(list_datasets())


def test_folds_follow_matbench_protocol():
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = kfold_indices(103)
    ref = list(KFold(5, shuffle=True, random_state=18012019).split(np.zeros((103, 1))))
    assert MATBENCH_SEED == 18012019
    for (a, b), (c, d) in zip(folds, ref):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    y = np.arange(100) % 4 == 0
    sf = kfold_indices(100, stratify=y)
    sref = list(StratifiedKFold(5, shuffle=True, random_state=18012019).split(np.zeros((100, 1)), y))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(sf, sref))
    assert all(y[te].sum() == 5 for _, te in sf)  # stratified: 25 positives over 5 folds
    # the test folds partition the data
    assert np.array_equal(np.sort(np.concatenate([te for _, te in folds])), np.arange(103))


def test_split_hash_names_the_split():
    tr, te = np.array([3, 1, 2]), np.array([0, 4])
    assert split_hash(tr, te) == split_hash(np.array([1, 2, 3]), np.array([4, 0]))
    assert split_hash(tr, te) != split_hash(np.array([0, 1, 2]), np.array([3, 4]))


# ------------------------------------------------------------------ real data (../shared/data)
def _copy_perov(shared, tmp_path, split="test", nrows=None, mangle=None):
    src = shared / "cdvae" / "perov_5" / f"{split}.csv"
    dst_dir = tmp_path / "data" / "cdvae" / "perov_5"
    dst_dir.mkdir(parents=True)
    dst = dst_dir / f"{split}.csv"
    if nrows is None and mangle is None:
        shutil.copyfile(src, dst)
    else:
        import pandas as pd

        df = pd.read_csv(src, nrows=nrows)
        if mangle:
            mangle(df)
        df.to_csv(dst, index=False)
    return tmp_path / "data"


def test_truncated_dataset_file_gives_checksum_error(shared_data, tmp_path, monkeypatch):
    data = _copy_perov(shared_data, tmp_path)
    f = data / "cdvae" / "perov_5" / "test.csv"
    f.write_bytes(f.read_bytes()[: 100_000])  # truncated download
    monkeypatch.setenv("MATSCIBENCH_DATA", str(data))
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ChecksumError) as info:
        CdvaeSpec("perov_5", ("test",)).load()
    assert str(f) in str(info.value) and "a85878c6" in str(info.value)


def test_malformed_cif_names_the_record(shared_data, tmp_path, monkeypatch):
    def mangle(df):
        df.loc[7, "cif"] = "data_broken\n_cell_length_a 4.0\nloop_\n_atom_site_label\n"

    data = _copy_perov(shared_data, tmp_path, nrows=20, mangle=mangle)
    monkeypatch.setenv("MATSCIBENCH_DATA", str(data))
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path / "cache"))
    spec = CdvaeSpec("perov_5", ("test",))
    spec.info = type(spec.info)(spec.info.dataset, spec.info.targets, {"test": None}, spec.info.source)
    with pytest.raises(DatasetError) as info:
        spec.load()
    msg = str(info.value)
    import pandas as pd

    mid = pd.read_csv(shared_data / "cdvae" / "perov_5" / "test.csv", nrows=20).loc[7, "material_id"]
    assert "test.csv" in msg and "row 7" in msg and repr(str(mid)) in msg


def test_perov5_loads_real_structures(shared_data):
    ds = get_dataset("cdvae_perov_5").load()
    assert len(ds) == 3787 + 3785
    assert ds.input_type == "structure" and ds.units["heat_ref"] == "eV/atom"
    assert all(len(s) == 5 for s in ds.inputs[:200])
    assert ds.checksum == get_dataset("cdvae_perov_5").checksum()
    assert set(ds.extra["split"]) == {"val", "test"}


def test_matbench_composition_dataset_from_artifacts(shared_data):
    spec = get_dataset("matbench_expt_gap")
    assert spec.status() in ("local", "cached")
    ds = spec.load()
    assert len(ds) == 4604 and ds.input_type == "composition"
    assert ds.ids[0] == "mb-expt-gap-0001"
    y = ds.targets["gap expt"].to_numpy()
    # matbench's metadata gives the MAD of the targets as 1.1432002429044061
    assert np.mean(np.abs(y - y.mean())) == pytest.approx(1.1432002429044061, rel=1e-9)


def test_matbench_classification_labels_are_bool(shared_data):
    ds = get_dataset("matbench_mp_is_metal_composition").load()
    y = ds.targets["is_metal"].to_numpy()
    assert y.dtype == bool and len(y) == 106113
    assert y.mean() == pytest.approx(0.43492314796490533, rel=1e-9)  # matbench's frac_true
