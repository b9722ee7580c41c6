"""Physical constants and the one table of unit conversions (CODATA 2018).

Every conversion between Hartree, Bohr, kcal/mol, Debye, calories and wavenumbers goes through
:func:`convert`, whose factors live in ``UNIT_FACTORS``; the reverse direction is derived. Used by
the GFN2-xTB driver (``sim.xtb``) and the molecular-property family (targets and their report units).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "HARTREE_IN_EV",
    "BOHR_IN_ANGSTROM",
    "KCAL_PER_MOL_IN_EV",
    "E_BOHR_IN_DEBYE",
    "E_ANGSTROM_IN_DEBYE",
    "CAL_IN_J",
    "R_CAL_PER_MOL_K",
    "KB_EV_PER_K",
    "INVCM_IN_EV",
    "EV_PER_K_IN_CAL_PER_MOL_K",
    "UNIT_FACTORS",
    "convert",
    "QUANTITY_UNITS",
    "normalize_unit",
    "quantity_factor",
]

#: 1 Hartree in eV (CODATA 2018)
HARTREE_IN_EV = 27.211386245988
#: 1 Bohr in Å (CODATA 2018)
BOHR_IN_ANGSTROM = 0.529177210903
#: 1 kcal/mol in eV (4.184 kJ/mol / (N_A e))
KCAL_PER_MOL_IN_EV = 0.0433641043
#: 1 e·a0 in Debye (1 D = 1e-21 C m² / s / c)
E_BOHR_IN_DEBYE = 2.541746473
#: 1 e·Å in Debye
E_ANGSTROM_IN_DEBYE = E_BOHR_IN_DEBYE / BOHR_IN_ANGSTROM
#: thermochemical calorie in J
CAL_IN_J = 4.184
#: gas constant in cal/(mol K) (R = 8.314462618 J/(mol K))
R_CAL_PER_MOL_K = 8.314462618 / CAL_IN_J
#: k_B in eV/K (CODATA 2018)
KB_EV_PER_K = 8.617333262e-5
#: 1 cm⁻¹ in eV (h c × 100 cm/m / e)
INVCM_IN_EV = 1.239841984e-4
#: 1 eV/K per particle in cal/(mol K)
EV_PER_K_IN_CAL_PER_MOL_K = 96485.33212 / CAL_IN_J

#: (from, to) -> factor; the reverse direction is derived. The only place units are converted.
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("Ha", "eV"): HARTREE_IN_EV,
    ("eV", "meV"): 1000.0,
    ("Ha", "meV"): HARTREE_IN_EV * 1000.0,
    ("kcal/mol", "eV"): KCAL_PER_MOL_IN_EV,
    ("kcal/mol", "meV"): KCAL_PER_MOL_IN_EV * 1000.0,
    ("bohr", "Å"): BOHR_IN_ANGSTROM,
    ("e·a0", "D"): E_BOHR_IN_DEBYE,
    ("e·Å", "D"): E_ANGSTROM_IN_DEBYE,
    ("eV/K", "cal/(mol K)"): EV_PER_K_IN_CAL_PER_MOL_K,
    ("cm⁻¹", "eV"): INVCM_IN_EV,
    ("cm⁻¹", "meV"): INVCM_IN_EV * 1000.0,
    ("Ha/bohr²", "eV/Å²"): HARTREE_IN_EV / BOHR_IN_ANGSTROM**2,
    # α and ⟨R²⟩ are stored and reported in a0³ / a0² (as QM9 and the papers); these are for users
    ("a0²", "Å²"): BOHR_IN_ANGSTROM**2,
    ("a0³", "Å³"): BOHR_IN_ANGSTROM**3,
}


def convert(value: Any, src: str, dst: str) -> Any:
    """``value`` in unit ``src`` expressed in unit ``dst`` (scalars or arrays)."""
    if src == dst:
        return value
    if (src, dst) in UNIT_FACTORS:
        return value * UNIT_FACTORS[(src, dst)]
    if (dst, src) in UNIT_FACTORS:
        return value / UNIT_FACTORS[(dst, src)]
    raise KeyError(f"no conversion from {src!r} to {dst!r}; known: {sorted(UNIT_FACTORS)}")


#: 1 eV/Å³ in GPa (elementary charge, SI 2019, exact)
EV_PER_A3_IN_GPA = 160.2176634

#: units a user may write for a quantity, with the factor to the first (canonical) unit of its kind:
#: value_in_canonical = value × factor. What a predictions file declares is converted with these,
#: and the scale check of predictions files tries them (``families.replay.check_scale``).
QUANTITY_UNITS: dict[str, dict[str, float]] = {
    "energy": {"eV": 1.0, "meV": 1e-3, "Ha": HARTREE_IN_EV, "Ry": HARTREE_IN_EV / 2, "kcal/mol": KCAL_PER_MOL_IN_EV,
               "kJ/mol": KCAL_PER_MOL_IN_EV / CAL_IN_J},
    "force": {"eV/Å": 1.0, "meV/Å": 1e-3, "eV/bohr": 1.0 / BOHR_IN_ANGSTROM, "Ha/bohr": HARTREE_IN_EV / BOHR_IN_ANGSTROM,
              "kcal/mol/Å": KCAL_PER_MOL_IN_EV, "eV/nm": 0.1},
    # 1 eV/Å³ = 1.602176634e-19 J / 1e-30 m³ = 160.2176634 GPa
    "stress": {"eV/Å³": 1.0, "GPa": 1.0 / EV_PER_A3_IN_GPA, "kbar": 0.1 / EV_PER_A3_IN_GPA, "meV/Å³": 1e-3},
    "length": {"Å": 1.0, "nm": 10.0, "bohr": BOHR_IN_ANGSTROM, "pm": 0.01},
    "angle": {"degrees": 1.0, "rad": 57.29577951308232},
    "frequency": {"THz": 1.0, "cm⁻¹": 0.0299792458, "meV": 1.0 / 4.135667696},
}


def normalize_unit(unit: str) -> str:
    """A unit as ``QUANTITY_UNITS`` spells it: ``eV/A``, ``eV/Ang``, ``eV/Angstrom`` -> ``eV/Å``;
    ``eV/A^3`` -> ``eV/Å³``; ``hartree``/``Eh`` -> ``Ha``; ``Bohr`` -> ``bohr``; ``deg`` -> ``degrees``."""
    import re

    u = str(unit).strip()
    u = re.sub(r"(?i)angstrom|\bang\b|\bA\b", "Å", u)
    u = re.sub(r"(\^3|\*\*3|(?<=Å)3)", "³", u)
    u = re.sub(r"(?i)\bhartree\b|\bEh\b", "Ha", u)
    u = re.sub(r"(?i)\bbohr\b", "bohr", u)
    u = {"deg": "degrees", "degree": "degrees", "°": "degrees", "radian": "rad", "radians": "rad",
         "cm-1": "cm⁻¹", "1/cm": "cm⁻¹"}.get(u, u)
    return u


def quantity_factor(src: str, dst: str) -> float:
    """Factor taking values in unit ``src`` to unit ``dst`` (same kind; ``/atom`` kept on both)."""
    s, d = normalize_unit(src), normalize_unit(dst)
    if s == d:
        return 1.0
    per = ""
    if s.endswith("/atom") and d.endswith("/atom"):
        s, d, per = s[: -len("/atom")], d[: -len("/atom")], "/atom"
    for table in QUANTITY_UNITS.values():
        if s in table and d in table:
            return table[s] / table[d]
    raise KeyError(f"no conversion from {src!r} to {dst!r}{per and ' (per atom)'}; known units: "
                   + "; ".join(f"{k}: {', '.join(v)}" for k, v in QUANTITY_UNITS.items()))
