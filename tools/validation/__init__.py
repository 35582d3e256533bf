"""The accuracy report: how close maiasim's physics is to measured hardware.

Fits each chip's calibration on one part of the public measurements in ``data/calibration/``
(vendored, with their licences) and checks the simulator's physics on the rest, then writes
``docs/validation.md`` (from ``tools/templates/validation.md``), per-case CSVs and plots in
``docs/validation/``, the fitted Splitwise serving-stack profiles
(``docs/validation/calibration_<chip>_splitwise.yaml``), and prints the headline numbers.

- :mod:`.common`: paths, the :class:`~.common.Dataset` record, the report's data files
  (``data/*.yaml``: which datasets, targets, models, vendor figures);
- :mod:`.datasets`: read, fit and predict each dataset;
- :mod:`.maia200`: Maia 200 against Microsoft's figures, and collectives by group size;
- :mod:`.report`: summaries and the text of the report; :mod:`.plots`: its figures;
- :mod:`.generate`: the whole run (``python -m tools.validation``, ``make validate``).
"""
