"""Simulators and physics that several families share (EMT, phonopy, powder XRD, CrystalNN
fingerprints, ...): public names, no import of ``matscibench.families``."""
