"""Simulators and physics that several families share, with public names: ``emt`` (fast EMT,
relaxation, the EMT alloy generator), ``phonopy`` (the phonopy driver), ``phonon_dos`` (DOS
smearing and normalisation), ``xrd`` (powder patterns), ``xtb`` (GFN2-xTB labels), ``crystalnn``
(CrystalNN fingerprints), ``units``.

Below the families: nothing here imports ``matscibench.families`` (nor report, run, cli).
Submodules are not imported here (each pulls heavy libraries).
"""
