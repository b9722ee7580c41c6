"""Simulators that several task families use, with public names (import the submodule you need):

* ``sim.emt``: ``FastEMT`` (ASE's EMT with a fast small-cell neighbour list), EMT relaxation and
  bulk modulus, and the relaxed EMT alloy generator (``generate_emt_alloys``);
* ``sim.phonopy``: the phonopy driver (finite displacements with any ASE calculator, force
  constants, q-mesh and band frequencies, thermal properties) and the potentials task's phonon check;
* ``sim.phonon_dos``: the phonon DOS conventions every phonon number uses (Gaussian-broadened DOS
  on a grid, unit area, the 99 % maximum frequency, imaginary branches).

This package imports no submodule: ``import matscibench.sim`` stays cheap.
"""
