"""Contract tests run against every registered property model (scikit-learn style)."""

from __future__ import annotations

import numpy as np
import pytest

from matscibench.models.base import EpochCallback, check_predictions, fit_with_callback
from matscibench.families.registry import build_model, get_model_entry, list_models
from matscibench.errors import ModelOutputError, RegistryError


@pytest.fixture(scope="module")
def data(small_emt):
    ds = small_emt.load()
    X = ds.inputs[:80]
    y = ds.targets["formation_energy_per_atom"].to_numpy()[:80]
    return X, y, ds.targets["is_stable"].to_numpy()[:80].astype(bool)


PROPERTY_MODELS = [n for n, e in list_models().items() if e.family == "properties"]


def _build(name: str, **params):
    """The registered model, or a skip naming the optional package it needs (the upstream
    adapters alignn_upstream and m3gnet_matgl raise ImportError when theirs is absent)."""
    try:
        return build_model(name, params or None)
    except ImportError as exc:
        pytest.skip(f"{name} cannot be built here: {exc}")


@pytest.mark.parametrize("name", PROPERTY_MODELS)
def test_regression_contract(name, data):
    X, y, _ = data
    m = _build(name)
    params = m.get_params()
    assert set(params) >= set(get_model_entry(name).params)
    m.fit(X[:60], y[:60])
    p = m.predict(X[60:])
    assert isinstance(p, np.ndarray) and p.shape == (20,) and np.isfinite(p).all()
    assert check_predictions(p, 20, classification=False).shape == (20,)


@pytest.mark.parametrize("name", PROPERTY_MODELS)
def test_classification_contract(name, data):
    X, _, c = data
    m = _build(name)
    m.fit(X[:60], c[:60])
    p = m.predict(X[60:])
    assert p.dtype == bool and p.shape == (20,)
    proba = m.predict_proba(X[60:])
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(m.classes_) == [False, True]


@pytest.mark.parametrize("name", PROPERTY_MODELS)
def test_same_seed_same_predictions(name, data):
    from matscibench.models.base import set_seed

    X, y, _ = data
    preds = []
    for _ in range(2):
        m = _build(name)
        set_seed(m, 7)
        m.fit(X[:60], y[:60])
        preds.append(m.predict(X[60:]))
    assert np.array_equal(preds[0], preds[1])


def test_staged_model_reports_epochs(data):
    X, y, _ = data
    seen = []
    cb = EpochCallback("mae", False, 0.05, lambda a, b: float(np.mean(np.abs(np.asarray(a) - b))), lambda e, v: seen.append((e, v)) or 0.0)
    m = build_model("sitestats_gbm", {"estimator_params": {"max_iter": 50}, "epoch_size": 10})
    fit_with_callback(m, X, y, cb)
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5]
    assert all(v >= 0 for _, v in seen)


def test_unknown_model_and_bad_path():
    with pytest.raises(RegistryError, match="registered"):
        get_model_entry("nope")
    with pytest.raises(RegistryError, match="cannot import"):
        build_model("no_such_package.mod:Model")


def test_check_predictions_messages():
    with pytest.raises(ModelOutputError, match="2 predictions for 3 inputs"):
        check_predictions([1.0, 2.0], 3, classification=False)
    with pytest.raises(ModelOutputError, match=r"1 non-finite.*index 1: b"):
        check_predictions([1.0, np.inf, 3.0], 3, classification=False, describe=lambda i: "abc"[i])
    with pytest.raises(ModelOutputError, match="shape"):
        check_predictions(np.zeros((3, 2)), 3, classification=False)
    with pytest.raises(ModelOutputError, match="labels"):
        check_predictions([0, 1, 2], 3, classification=True)
    with pytest.raises(ModelOutputError, match="non-numeric"):
        check_predictions(["a", "b", "c"], 3, classification=False)
    assert check_predictions([[1.0], [2.0]], 2, classification=False).tolist() == [1.0, 2.0]
