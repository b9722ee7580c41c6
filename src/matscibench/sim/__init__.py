"""Simulators that several families use (EMT, phonopy, XRD patterns, GFN2-xTB, ...), with public names.

Below the families: nothing here imports ``matscibench.families`` (nor report, run, cli).
"""
