"""The crystal graph networks of the property family (cgcnn, megnet, alignn): they learn, report
their epochs, keep their best weights, refuse what they cannot take, and fail loudly on NaN."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from matscibench.errors import ModelOutputError
from matscibench.families.registry import build_model, get_task
from matscibench.models.base import EpochCallback

GRAPHNETS = ["cgcnn", "megnet", "alignn"]
#: small and quick: a few seconds per fit on ~100 EMT cells of 1-8 atoms
SMALL = {"epochs": 25, "batch_size": 16, "lr": 5e-3, "cache_graphs": False, "random_state": 0}


@pytest.fixture(scope="module")
def emt_split(small_emt):
    ds = small_emt.load()
    y = ds.targets["formation_energy_per_atom"].to_numpy(float)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(ds))
    tr, te = perm[:96], perm[96:]
    return [ds.inputs[i] for i in tr], y[tr], [ds.inputs[i] for i in te], y[te]


@pytest.mark.parametrize("name", GRAPHNETS)
def test_learns_formation_energy_better_than_the_mean(name, emt_split):
    X, y, Xt, yt = emt_split
    # MEGNet (no batch norm) needs more steps than the others on 96 crystals
    extra = {"epochs": 50, "lr": 1e-2} if name == "megnet" else {}
    model = build_model(name, {**SMALL, **extra})
    model.fit(X, y)
    mae = float(np.mean(np.abs(model.predict(Xt) - yt)))
    mae_mean = float(np.mean(np.abs(y.mean() - yt)))
    assert mae < 0.8 * mae_mean, f"{name}: test MAE {mae:.4f} eV/atom vs mean predictor {mae_mean:.4f}"


@pytest.mark.parametrize("name", GRAPHNETS)
def test_epochs_reported_and_best_weights_kept(name, emt_split):
    from matscibench import metrics as M

    X, y, Xt, yt = emt_split
    calls = []
    cb = EpochCallback("mae", False, 0.0, M.mae, lambda e, v: calls.append((e, v)) or 0.0)
    model = build_model(name, {**SMALL, "epochs": 6})
    model.fit(X, y, on_epoch=cb, validation_data=(Xt, yt))
    assert [c[0] for c in calls] == list(range(1, 7))
    # the task's validation crystals score the epochs: the value is the MAE of those crystals
    best_epoch = int(np.argmin([c[1] for c in calls])) + 1
    assert model.best_epoch_ == best_epoch
    np.testing.assert_allclose(np.mean(np.abs(model.predict(Xt) - yt)), min(c[1] for c in calls), rtol=1e-5)


def test_patience_stops_early(emt_split):
    X, y, _, _ = emt_split
    model = build_model("cgcnn", {**SMALL, "epochs": 40, "patience": 1, "lr": 5e-2})
    model.fit(X, y)
    assert model.epochs_run_ < 40 and model.epochs_run_ == model.best_epoch_ + 1


@pytest.mark.parametrize("name", GRAPHNETS)
def test_classification_probabilities_and_pickle(name, emt_split):
    X, y, Xt, _ = emt_split
    model = build_model(name, {**SMALL, "epochs": 8})
    model.fit(X, y < 0)
    P = model.predict_proba(Xt)
    assert P.shape == (len(Xt), 2) and np.allclose(P.sum(axis=1), 1.0) and ((P >= 0) & (P <= 1)).all()
    np.testing.assert_array_equal(model.predict(Xt), P[:, 1] > 0.5)
    back = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(back.predict_proba(Xt), P)


def test_nan_prediction_fails_the_job_with_its_reason(emt_split):
    import torch

    X, y, Xt, _ = emt_split
    model = build_model("cgcnn", {**SMALL, "epochs": 1}).fit(X, y)
    with torch.no_grad():
        model.net_.fc_out.bias.fill_(float("nan"))
    task = get_task("emt_formation_energy", dataset_params={"n_structures": 120, "seed": 0})

    class _Meter:
        def phase(self, name):
            import contextlib

            return contextlib.nullcontext()

    with pytest.raises(ModelOutputError, match=r"non-finite value\(s\).*first at index 0"):
        task._predict(model, Xt, lambda i: f"item {i}", _Meter())


def test_nan_training_loss_is_an_error(emt_split):
    X, y, _, _ = emt_split
    y = y.copy()
    y[3] = np.nan
    with pytest.raises(FloatingPointError, match="training loss became nan at epoch 1"):
        build_model("megnet", {**SMALL, "epochs": 2}).fit(X, y)


def test_composition_tasks_refuse_graph_networks():
    task = get_task("matbench_expt_gap")
    for name in GRAPHNETS:
        reason = task.incompatibility(build_model(name))
        assert reason is not None and "structure" in reason and "composition" in reason
    assert get_task("emt_formation_energy").incompatibility(build_model("alignn")) is None


def test_graph_cache_shared_between_fits(emt_split, tmp_path, monkeypatch):
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path))
    X, y, _, _ = emt_split
    a = build_model("alignn", {**SMALL, "epochs": 1, "cache_graphs": True}).fit(X[:60], y[:60])
    b = build_model("alignn", {**SMALL, "epochs": 1, "cache_graphs": True}).fit(X[30:], y[30:])
    assert a.graph_cache_hits_ == 0 and a.graphs_built_ > 0
    # the 30 crystals both fits share come from the first fit's pack
    assert b.graph_cache_hits_ >= 30 and b.graphs_built_ <= len(X) - 60
