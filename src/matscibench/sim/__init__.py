"""Simulators and physics that several families share, with public names: EMT, the phonopy
driver, powder XRD patterns, GFN2-xTB, CrystalNN fingerprints, units.

Below the families: nothing here imports ``matscibench.families`` (nor report, run, cli).
"""
