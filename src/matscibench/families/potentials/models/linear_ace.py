"""``LinearACEPotential`` (``linear_acelike``): a body-ordered linear model written here, the
descriptor+ridge baseline of potentials. Per atom i of element e,
``E_i = c_e + Σ_{s,n} w2_{e,s,n} P_{i,s,n} + Σ_{(s,n)≤(s',n'),l} w3_{e,...} B_{i,(s,n),(s',n'),l}``
with the 2-body sums ``P_{i,s,n} = Σ_{j∈s} g_n(r_ij)`` and the 3-body invariants
``B = Σ_{j∈s,k∈s'} h_n(r_ij) h_n'(r_ik) cos^l θ_jik``, evaluated in O(neighbours) through
Cartesian moments ``A_{i,s,n,α} = Σ_{j∈s} h_n(r_ij) û_ij^α`` (|α| = l, multinomial weights):
the Cartesian form of a power spectrum / the ACE ν=2 basis (Drautz, PRB 99, 014104 (2019);
Shapeev's moment tensors, MMS 14, 1153 (2016)). Radial functions are Gaussians times the C²
cutoff ``(1 - (r/r_c)²)³``. Forces, and stress from the pair virial, are analytic; the weights
come from one ridge solve on energies, forces and stresses together. dscribe's SOAP was
measured first: its derivatives are numerical on periodic cells (dscribe 2.1.2: "analytical
derivatives currently not available for periodic systems") and cost 231 ms for a 32-atom cell
(n_max 4, l_max 3), against ~1 ms for this basis -- far from the 20 ms an MD step may take.

A model is an ASE ``Calculator`` (energy, forces and, for periodic cells, stress in ASE's sign
convention and Voigt order) with ``fit(list[Atoms])`` reading ``atoms.info["energy"]`` (eV),
``atoms.arrays["forces"]`` (eV/Å) and, on periodic frames, ``atoms.info["stress"]`` (eV/Å³).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError, all_changes
from ase.data import atomic_numbers, chemical_symbols

from matscibench.families.potentials.models.common import VOIGT, TrainablePotential, element_index, frame_labels, neighbour_pairs, voigt

__all__ = ["LinearACEPotential"]


@lru_cache(maxsize=8)
def _monomials(l_max: int) -> dict[str, np.ndarray]:
    """Multi-indices α (|α| = l ≤ l_max) of û^α, their multinomial weights and derivative tables."""
    alphas = [(a, b, l - a - b) for l in range(l_max + 1) for a in range(l, -1, -1) for b in range(l - a, -1, -1)]
    where = {al: k for k, al in enumerate(alphas)}
    A = np.array(alphas, dtype=np.int64)
    order = A.sum(axis=1)
    weight = np.array([math.factorial(int(l)) / np.prod([math.factorial(int(x)) for x in al]) for al, l in zip(alphas, order)])
    # ∂û^α/∂û_m = α_m û^(α - e_m): index of α - e_m (0 when α_m = 0: then multiplied by α_m = 0)
    lower = np.zeros((len(alphas), 3), dtype=np.int64)
    for k, al in enumerate(alphas):
        for m in range(3):
            if al[m] > 0:
                low = list(al)
                low[m] -= 1
                lower[k, m] = where[tuple(low)]
    return {"alpha": A, "order": order, "weight": weight, "lower": lower}


class LinearACEPotential(TrainablePotential):
    """Linear body-ordered potential (2-body + 3-body, ACE ν≤2 in Cartesian moments) fitted by ridge.

    Parameters
    ----------
    cutoff: radial cutoff (Å).
    n_radial_2: radial functions per neighbour element in the 2-body sums.
    n_radial_3: radial functions per chemical channel in the moments of the 3-body invariants.
    l_max: highest angular order of the 3-body invariants (cos^l θ, l = 0..l_max).
    r_min: centre of the first Gaussian (Å); centres are evenly spaced from r_min towards the cutoff.
    species_channels: chemical channels of the 3-body moments. None: one channel per element up
        to 3 elements, else 3 channels (1, covalent radius, atomic number, standardised over the
        fitted elements; the 3-body feature count grows with the square of the channels, the
        2-body sums always keep one channel per element). An integer k: one channel per element
        when k ≥ the number of elements, else the first k of 1, x, y, x², xy, y², ...
    regularization: ridge strength relative to each column's norm (columns are scaled to unit
        norm before the solve).
    energy_weight, force_weight, stress_weight: weights of the residuals in the least-squares
        fit: energy per atom (eV/atom), force components (eV/Å) and stress times volume per atom
        (eV/atom) -- all on the same eV scale.
    elements: element symbols to fit (default: those in the training frames).
    random_state: accepted for the harness; the fit is deterministic.

    Learned: ``elements_``, ``channels_`` (element -> channel weights), ``coef_`` (one row of
    weights per centre element), ``n_features_``.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    periodic_ok = True
    #: pairs per chunk in prediction (bounds memory on large systems)
    CHUNK = 16384

    def __init__(
        self,
        cutoff: float = 5.0,
        n_radial_2: int = 8,
        n_radial_3: int = 5,
        l_max: int = 3,
        r_min: float = 0.8,
        species_channels: int | None = None,
        regularization: float = 1e-7,
        energy_weight: float = 10.0,
        force_weight: float = 1.0,
        stress_weight: float = 1.0,
        elements: Sequence[str] | None = None,
        random_state: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cutoff = cutoff
        self.n_radial_2 = n_radial_2
        self.n_radial_3 = n_radial_3
        self.l_max = l_max
        self.r_min = r_min
        self.species_channels = species_channels
        self.regularization = regularization
        self.energy_weight = energy_weight
        self.force_weight = force_weight
        self.stress_weight = stress_weight
        self.elements = elements
        self.random_state = random_state
        self._nl = None

    @property
    def supported_elements(self) -> set[str] | None:
        if hasattr(self, "elements_"):
            return set(self.elements_)
        return set(self.elements) if self.elements is not None else None

    # basis -----------------------------------------------------------------------------------
    def _radial(self, d: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Gaussians times (1 - (d/rc)²)³ and their derivatives: (pairs, n) each."""
        rc = float(self.cutoff)
        r0 = float(self.r_min)
        step = (rc - r0) / n
        mu = r0 + step * np.arange(n)
        x = (d[:, None] - mu[None, :]) / step
        gauss = np.exp(-0.5 * x * x)
        t = np.clip(1.0 - (d / rc) ** 2, 0.0, None)
        fc = t**3
        dfc = -6.0 * t * t * d / rc**2
        g = gauss * fc[:, None]
        dg = gauss * (dfc[:, None] - fc[:, None] * x / step)
        return g, dg

    def _channel_matrix(self, elements: Sequence[str]) -> np.ndarray:
        """(elements, channels) weights of each element in the 3-body moments."""
        from ase.data import covalent_radii

        S_ = len(elements)
        C = self.species_channels if self.species_channels is not None else (S_ if S_ <= 3 else 3)
        C = max(1, int(C))
        if C >= S_:
            return np.eye(S_)
        zs = np.array([atomic_numbers[e] for e in elements], dtype=float)

        def std(v: np.ndarray) -> np.ndarray:
            v = v - v.mean()
            top = np.abs(v).max()
            return v / top if top > 0 else v

        x, y = std(covalent_radii[zs.astype(int)]), std(zs)
        cols = [np.ones(S_)]
        deg = 1
        while len(cols) < C:
            for a in range(deg, -1, -1):
                cols.append(x**a * y ** (deg - a))
            deg += 1
        return np.stack(cols[:C], axis=1)

    def _sizes(self) -> dict[str, int]:
        S_, C = self.channels_.shape
        P = C * int(self.n_radial_3)
        n_pairs = P * (P + 1) // 2
        n2 = S_ * int(self.n_radial_2)
        n3 = n_pairs * (int(self.l_max) + 1)
        return {"S": S_, "C": C, "P": P, "n_pairs": n_pairs, "n2": n2, "n3": n3, "F": 1 + n2 + n3}

    def _geometry(self, atoms: Atoms) -> dict[str, Any]:
        """Pairs of one configuration: indices, vectors r_ij (Å) and distances."""
        import vesin

        if self._nl is None:
            self._nl = vesin.NeighborList(cutoff=float(self.cutoff), full_list=True)
        i, j, S = neighbour_pairs(atoms, self.cutoff, self._nl)
        pos = atoms.positions
        r = pos[j] - pos[i]
        if len(S) and atoms.pbc.any():
            r = r + S @ atoms.cell.array
        d = np.sqrt(np.einsum("pm,pm->p", r, r))
        return {"i": i, "j": j, "r": r, "d": d}

    def _pair_terms(self, r: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
        """Per pair: unit vector, monomials û^α (p, K) and both radial bases with derivatives."""
        mono = _monomials(int(self.l_max))
        u = r / d[:, None]
        L = int(self.l_max)
        pw = [np.ones((len(d), L + 1)) for _ in range(3)]
        for m in range(3):
            for l in range(1, L + 1):
                pw[m][:, l] = pw[m][:, l - 1] * u[:, m]
        a = mono["alpha"]
        U = pw[0][:, a[:, 0]] * pw[1][:, a[:, 1]] * pw[2][:, a[:, 2]]
        g, dg = self._radial(d, int(self.n_radial_2))
        h, dh = self._radial(d, int(self.n_radial_3))
        return {"u": u, "U": U, "g": g, "dg": dg, "h": h, "dh": dh}

    @staticmethod
    def _terms(rows_of_c: Any, Wc: np.ndarray, sign: float = 1.0) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scatter terms: for each channel c, (rows_of_c(c), sign * weight of each pair in c)."""
        return [(rows_of_c(c), sign * Wc[:, c]) for c in range(Wc.shape[1])]

    # prediction ------------------------------------------------------------------------------
    def _evaluate(self, atoms: Atoms, want_stress: bool) -> dict[str, Any]:
        if not hasattr(self, "coef_"):
            raise RuntimeError("LinearACEPotential is not fitted: call fit(frames) before using it as a calculator")
        mono = _monomials(int(self.l_max))
        sz = self._sizes()
        S_, C, P = sz["S"], sz["C"], sz["P"]
        N3, N2, L = int(self.n_radial_3), int(self.n_radial_2), int(self.l_max)
        K = len(mono["order"])
        order, weight, low = mono["order"], mono["weight"], mono["lower"]
        alpha = mono["alpha"].astype(float)
        n = len(atoms)
        z = element_index(atoms.numbers, self.elements_, "LinearACEPotential")
        geo = self._geometry(atoms)
        i, j, r, d = geo["i"], geo["j"], geo["r"], geo["d"]
        sj = z[j]
        w0 = self.coef_[:, 0]
        w2 = self.coef_[:, 1 : 1 + sz["n2"]].reshape(S_, S_, N2)
        M = self._sym_weights_  # (E, L+1, P, P)
        # forward: 2-body sums and moments A (atom, a = (c, n), α), chunk by chunk
        A = np.zeros((n * C, N3 * K))
        e_atoms = w0[z].copy()
        starts = list(range(0, len(d), self.CHUNK)) or [0]
        cache = []
        for lo in starts:
            sl = slice(lo, lo + self.CHUNK)
            t = self._pair_terms(r[sl], d[sl])
            ii = i[sl]
            e_atoms += np.bincount(ii, np.einsum("pn,pn->p", t["g"], w2[z[ii], sj[sl]]), minlength=n)
            phi = (t["h"][:, :, None] * t["U"][:, None, :]).reshape(-1, N3 * K)
            A += _scatter(self._terms(lambda c, ii=ii: ii * C + c, self.channels_[sj[sl]]), n * C, phi)
            if len(starts) == 1:
                cache.append(t)
        A3 = A.reshape(n, P, K)
        # E3_i = Σ_l Σ_ab M_ab Σ_{α∈l} c_α A_aα A_bα;  dE/dA_aα = 2 c_α Σ_b M_ab A_bα
        dEdA = np.empty_like(A3)
        for l in range(L + 1):
            kl = np.nonzero(order == l)[0]
            dEdA[:, :, kl] = 2.0 * np.matmul(M[z, l], A3[:, :, kl]) * weight[kl]
        e_atoms += 0.5 * np.einsum("iak,iak->i", A3, dEdA)
        # backward: gradient of E with respect to each pair vector r_p = x_j - x_i (+ shift)
        dEdA4 = dEdA.reshape(n, C, N3, K)
        forces = np.zeros((n, 3))
        virial = np.zeros((3, 3))
        for c, lo in enumerate(starts):
            sl = slice(lo, lo + self.CHUNK)
            t = cache[c] if cache else self._pair_terms(r[sl], d[sl])
            ii, dd, u, U = i[sl], d[sl], t["u"], t["U"]
            Wc = self.channels_[sj[sl]]
            G = dEdA4[ii, 0] * Wc[:, :1, None] if C == 1 else np.einsum("pc,pcnk->pnk", Wc, dEdA4[ii])  # dE/dφ (p, N3, K)
            Gh = np.einsum("pnk,pn->pk", G, t["h"])
            Gdh = np.einsum("pnk,pn->pk", G, t["dh"])
            radial = np.einsum("pk,pk->p", Gdh - order[None, :] * Gh / dd[:, None], U)
            radial += np.einsum("pn,pn->p", t["dg"], w2[z[ii], sj[sl]])
            grad = u * radial[:, None]
            for m in range(3):
                grad[:, m] += np.einsum("pk,pk->p", Gh * alpha[None, :, m], U[:, low[:, m]]) / dd
            for m in range(3):
                forces[:, m] += np.bincount(ii, grad[:, m], minlength=n) - np.bincount(j[sl], grad[:, m], minlength=n)
            if want_stress:
                virial += grad.T @ r[sl]
        out = {"energy": float(e_atoms.sum()), "energies": e_atoms, "forces": forces}
        if want_stress:
            out["stress"] = voigt(0.5 * (virial + virial.T) / atoms.get_volume())
        return out

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        want_stress = "stress" in properties
        if want_stress and not self.atoms.pbc.all():
            raise PropertyNotImplementedError("stress is defined for cells periodic in all three directions only")
        res = self._evaluate(self.atoms, want_stress)
        res["free_energy"] = res["energy"]
        self.results = res

    # fitting ---------------------------------------------------------------------------------
    def _design(self, atoms: Atoms, z: np.ndarray, stress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Rows of the least-squares problem for one frame: energy (E·F,), forces (3n, E·F), stress (6, E·F).

        Columns are blocks of F features per centre element: [1, 2-body sums, 3-body invariants].
        The 3-body rows use ∂B_ab/∂x = Σ_α c_α (∂A_aα/∂x A_bα + A_aα ∂A_bα/∂x): the moment
        derivatives ∂A_i/∂x_k are gathered per (atom, centre) with one sparse product and
        contracted with the moments A_i in one dense matrix product per angular order l -- no
        per-pair feature derivatives are formed.
        """
        mono = _monomials(int(self.l_max))
        sz = self._sizes()
        S_, C, P, F, n2 = sz["S"], sz["C"], sz["P"], sz["F"], sz["n2"]
        N3, N2, L = int(self.n_radial_3), int(self.n_radial_2), int(self.l_max)
        K = len(mono["order"])
        n = len(atoms)
        geo = self._geometry(atoms)
        i, j, r, d = geo["i"], geo["j"], geo["r"], geo["d"]
        p = len(d)
        sj = z[j]
        zi = z[i]
        Wc = self.channels_[sj]
        t = self._pair_terms(r, d)
        order, weight, low = mono["order"], mono["weight"], mono["lower"]
        alpha = mono["alpha"].astype(float)
        offs = np.searchsorted(order, np.arange(L + 2))  # α of order l: offs[l]:offs[l+1]
        u, U, h, dh = t["u"], t["U"], t["h"], t["dh"]
        tri = np.triu_indices(P)
        cols3 = [slice(1 + n2 + l, None, L + 1) for l in range(L + 1)]
        # per-centre moments A (atom, a = (c, n), α) and 2-body sums
        A3 = _scatter(self._terms(lambda c: i * C + c, Wc), n * C, (h[:, :, None] * U[:, None, :]).reshape(p, N3 * K))
        A3 = A3.reshape(n, P, K)
        D = np.zeros((n, F))
        D[:, 0] = 1.0
        D[:, 1 : 1 + n2] = _scatter(i * S_ + sj, n * S_, t["g"]).reshape(n, n2)
        for l in range(L + 1):
            kl = slice(offs[l], offs[l + 1])
            Bl = np.einsum("iak,ibk,k->iab", A3[:, :, kl], A3[:, :, kl], weight[kl])
            D[:, cols3[l]] = Bl[:, tri[0], tri[1]]
        x_energy = _scatter(z, S_, D)
        # c_α A_i arranged per element block: Ahat[(α, i), (e, b)] = δ(Z_i = e) c_α A[i, b, α]
        Ahat = np.zeros((K, n, S_, P))
        Ahat[:, np.arange(n), z, :] = (A3 * weight[None, None, :]).transpose(2, 0, 1)
        # ∂φ_{nα}/∂r_m = (h'_n - l h_n/d) û^α û_m + (h_n/d) α_m û^(α-e_m): (p, N3, K, 3)
        base = (dh[:, :, None] - order[None, None, :] * h[:, :, None] / d[:, None, None]) * U[:, None, :]
        dphi = base[:, :, :, None] * u[:, None, None, :]
        hd = (h / d[:, None])[:, :, None]
        for m in range(3):
            dphi[:, :, :, m] += hd * (alpha[None, :, m] * U[:, low[:, m]])[:, None, :]
        dphi_flat = dphi.reshape(p, N3 * K * 3)
        # dE/dx rows: dX[k, m, e, f] = Σ_{i of element e} ∂D_i[f]/∂x_km  (force rows are minus this)
        dX = np.zeros((n, 3, S_, F))
        # 2-body: ∂P_{i,s,n}/∂x_k = Σ_{p∈i, s_p=s} g'_n û (δ_kj - δ_ki)
        vals2 = (t["dg"][:, :, None] * u[:, None, :]).reshape(p, N2 * 3)
        two = _scatter([((j * S_ + zi) * S_ + sj, np.ones(p)), ((i * S_ + zi) * S_ + sj, -np.ones(p))], n * S_ * S_, vals2)
        dX[:, :, :, 1 : 1 + n2] = two.reshape(n, S_, S_, N2, 3).transpose(0, 4, 1, 2, 3).reshape(n, 3, S_, n2)
        # 3-body, centres in chunks to bound the (atom, centre) table of moment derivatives
        per_centre = max(1, int(6_000_000 // max(1, n * P * K * 3)))
        for c0 in range(0, n, per_centre):
            c1 = min(n, c0 + per_centre)
            nc = c1 - c0
            sel = np.nonzero((i >= c0) & (i < c1))[0]
            ic, js, is_, ws = i[sel] - c0, j[sel], i[sel], Wc[sel]
            # dA[k, c, ic, n, α, m] = ∂A_{ic, (c,n), α}/∂x_km
            terms = self._terms(lambda c: (js * C + c) * nc + ic, ws) + self._terms(lambda c: (is_ * C + c) * nc + ic, ws, -1.0)
            dA = _scatter(terms, n * C * nc, dphi_flat[sel])
            # rows (α, ic), columns (k, m, c, n): each order l is a contiguous block of rows
            dA = dA.reshape(n, C, nc, N3, K, 3).transpose(4, 2, 0, 5, 1, 3).reshape(K * nc, n * 3 * P)
            AhT = Ahat[:, c0:c1].reshape(K * nc, S_ * P).T
            for l in range(L + 1):
                cs = slice(offs[l] * nc, offs[l + 1] * nc)
                T = (AhT[:, cs] @ dA[cs]).reshape(S_, P, n, 3, P)  # [e, b, k, m, a]
                T = T + T.transpose(0, 4, 2, 3, 1)
                dX[:, :, :, cols3[l]] += T[:, tri[1], :, :, tri[0]].transpose(2, 3, 1, 0)
        X_f = -dX.reshape(n * 3, S_ * F)
        X_s = None
        if stress:
            V = atoms.get_volume()
            vir = np.zeros((3, 3, S_, F))
            # 2-body: Σ_p g'_n û_m r_m'
            vals = (t["dg"][:, :, None, None] * u[:, None, :, None] * r[:, None, None, :]).reshape(p, N2 * 9)
            two_s = _scatter(zi * S_ + sj, S_ * S_, vals)
            vir[:, :, :, 1 : 1 + n2] = two_s.reshape(S_, S_, N2, 3, 3).transpose(3, 4, 0, 1, 2).reshape(3, 3, S_, n2)
            # 3-body: per-centre virial moments W[(c, n, m, m'), (α, i)] contracted with c_α A_i
            W = np.stack([_scatter(self._terms(lambda c: c * n + i, Wc * r[:, mm, None]), C * n, dphi_flat) for mm in range(3)], axis=-1)
            W = W.reshape(C, n, N3, K, 3, 3).transpose(0, 2, 4, 5, 3, 1).reshape(P * 9, K * n)
            Ah = Ahat.reshape(K * n, S_ * P)
            for l in range(L + 1):
                cs = slice(offs[l] * n, offs[l + 1] * n)
                T = (W[:, cs] @ Ah[cs]).reshape(P, 3, 3, S_, P)  # [a, m, m', e, b]
                T = T + T.transpose(4, 1, 2, 3, 0)
                vir[:, :, :, cols3[l]] += T[tri[0], :, :, :, tri[1]].transpose(1, 2, 3, 0)
            sym_s = 0.5 * (vir + vir.transpose(1, 0, 2, 3)) / V
            X_s = np.stack([sym_s[a, b] for a, b in VOIGT]).reshape(6, S_ * F)
        return x_energy.reshape(S_ * F), X_f, X_s

    def fit(self, frames: Sequence[Atoms], on_epoch: Any = None) -> LinearACEPotential:
        """Ridge fit of all weights on energies, forces and (periodic frames) stresses.

        One linear solve, no epochs: ``on_epoch``, when given, is called once with the force
        MAE (its ``score``) on up to 50 of the training frames.
        """
        from threadpoolctl import threadpool_limits

        frames = list(frames)
        if not frames:
            raise ValueError("LinearACEPotential.fit needs at least one labelled frame")
        if self.elements is not None:
            els = sorted(set(self.elements), key=lambda e: atomic_numbers[e])
        else:
            els = [chemical_symbols[x] for x in sorted({int(x) for fr in frames for x in fr.numbers})]
        self.elements_ = els
        self.channels_ = self._channel_matrix(els)
        sz = self._sizes()
        S_ = sz["S"]
        nf = S_ * sz["F"]
        AtA = np.zeros((nf, nf))
        Atb = np.zeros(nf)
        we, wf, ws = float(self.energy_weight), float(self.force_weight), float(self.stress_weight)
        rows: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        n_rows = 0

        def flush() -> None:
            nonlocal n_rows
            if rows:
                X = np.concatenate(rows)
                y = np.concatenate(targets)
                AtA[...] += X.T @ X
                Atb[...] += X.T @ y
                rows.clear()
                targets.clear()
                n_rows = 0

        for fr in frames:
            e, f, s = frame_labels(fr)
            z = element_index(fr.numbers, els, "LinearACEPotential")
            n = len(fr)
            # many small matrix products: one BLAS thread is faster (threads spinning on a busy
            # or 2-core machine cost 2-5x here; measured 17 vs 46 ms per 32-atom frame)
            with threadpool_limits(limits=1):
                x_e, X_f, X_s = self._design(fr, z, s is not None and ws > 0)
            rows.append((we / n) * x_e[None, :])
            targets.append(np.array([(we / n) * e]))
            rows.append(wf * X_f)
            targets.append(wf * f.reshape(-1))
            if X_s is not None:
                k = ws * fr.get_volume() / n
                rows.append(k * X_s)
                targets.append(k * s)
            n_rows += 1 + 3 * n + (6 if X_s is not None else 0)
            if n_rows * nf > 20_000_000:
                flush()
        flush()
        scale = np.sqrt(np.diag(AtA))
        scale[scale == 0] = 1.0
        An = AtA / scale[:, None] / scale[None, :]
        An[np.diag_indices_from(An)] += float(self.regularization)
        import scipy.linalg

        try:
            w = scipy.linalg.solve(An, Atb / scale, assume_a="pos")
        except (np.linalg.LinAlgError, ValueError, scipy.linalg.LinAlgError):
            w = np.linalg.lstsq(An, Atb / scale, rcond=None)[0]
        self.coef_ = (w / scale).reshape(S_, sz["F"])
        self.n_features_ = int(nf)
        self._set_sym_weights()
        self.reset()
        if on_epoch is not None:
            ft, fp = [], []
            for fr in frames[: min(len(frames), 50)]:
                at = Atoms(numbers=fr.numbers, positions=fr.positions, cell=fr.cell, pbc=fr.pbc)
                fp.append(self._evaluate(at, False)["forces"].ravel())
                ft.append(np.asarray(fr.arrays["forces"], float).ravel())
            on_epoch(1, on_epoch.score(np.concatenate(ft), np.concatenate(fp)))
        return self

    def _set_sym_weights(self) -> None:
        """M[e, l] symmetric with Σ_ab M_ab A_a·A_b = Σ_{a≤b} w_ab A_a·A_b (off-diagonal halves)."""
        sz = self._sizes()
        S_, P, L = sz["S"], sz["P"], int(self.l_max)
        w3 = self.coef_[:, 1 + sz["n2"] :].reshape(S_, sz["n_pairs"], L + 1)
        tri = np.triu_indices(P)
        M = np.zeros((S_, L + 1, P, P))
        for e in range(S_):
            for l in range(L + 1):
                m = np.zeros((P, P))
                m[tri] = w3[e, :, l]
                M[e, l] = 0.5 * (m + m.T)
        self._sym_weights_ = M


def _scatter(rows: Any, n_rows: int, values: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """out[rows[p]] += scale[p] * values[p], as one sparse product.

    ``rows`` is an index array over the rows of ``values`` (weights ``scale``, default ones) or a
    list of (index array, weights) terms, each adding weights[p] * values[p] at its rows.
    """
    import scipy.sparse as sp

    p = len(values)
    terms = rows if isinstance(rows, list) else [(rows, np.ones(p) if scale is None else np.asarray(scale, float))]
    rr, cc, dd = [], [], []
    cols = np.arange(p)
    for r, w in terms:
        keep = w != 0
        rr.append(np.asarray(r)[keep])
        cc.append(cols[keep])
        dd.append(np.asarray(w, float)[keep])
    if p == 0:  # no pairs within the cutoff (an isolated atom, a stretched dimer)
        return np.zeros((n_rows,) + values.shape[1:])
    flat = values.reshape(p, -1)
    m = sp.csr_matrix((np.concatenate(dd), (np.concatenate(rr), np.concatenate(cc))), shape=(n_rows, p))
    return np.asarray(m @ flat).reshape((n_rows,) + values.shape[1:])
