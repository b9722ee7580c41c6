"""Interatomic potentials as models, one module each (import the module you need):

* ``adapters``: fixed calculators -- ``EMTReference`` and ``XTBReference`` (the calculators that
  made the labels) and adapters for pretrained universal potentials (``CHGNetModel``,
  ``SevenNetModel``, ``MACEModel``, ``MatterSimModel``, any ASE calculator through
  ``ASECalculatorModel``), all on the ``Delegating`` base;
* ``linear_ace``: ``LinearACEPotential``, the linear 2+3-body baseline (ridge, analytic forces
  and stress);
* ``schnet``: ``SchNetPotential`` on PyTorch Geometric (forces and stress by autograd);
* ``common``: Voigt order, neighbour lists, training labels.

Every model is an ASE ``Calculator`` (``energy``, ``forces`` and, for periodic cells,
``stress``; eV, eV/Å, eV/Å³ in ASE's sign convention and Voigt order xx yy zz yz xz xy). The
trainable ones add ``fit(list[Atoms])`` reading ``atoms.info["energy"]`` (eV, total),
``atoms.arrays["forces"]`` (eV/Å) and, when present on periodic frames, ``atoms.info["stress"]``.
Models declare ``supported_elements`` (a set of symbols, or None for any) and ``periodic_ok`` so
the potentials task can skip pairs that cannot run. The registry's entries are in the family's
declaration (``families/potentials/__init__.py``).
"""
