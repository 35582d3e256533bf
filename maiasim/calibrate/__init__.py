"""Fitting a chip's calibration to measured kernel, collective and iteration times.

- :mod:`.parameters`: which factors a fit may change and where it searches (the factors
  themselves are the fields of :class:`maiasim.spec.calibration.Calibration`);
- :mod:`.optimise`: the bounded least-log-squares search;
- :mod:`.readers`: the public measurement formats (Vidur, Splitwise, LLMCompass);
- :mod:`.fit`: predictors through the simulator's physics, split rules, :func:`fit_calibration`.
"""

from .fit import (
    FIT,
    HELD_OUT,
    calibration_yaml,
    error_summary,
    fit_calibration,
    predict,
    report,
    split_rows,
)
from .parameters import DEFAULT_PARAMS, KINDS, PARAMS, Param, get_param, set_params
from .readers import read_cases

__all__ = ["DEFAULT_PARAMS", "FIT", "HELD_OUT", "KINDS", "PARAMS", "Param", "calibration_yaml",
           "error_summary", "fit_calibration", "get_param", "predict", "read_cases", "report",
           "set_params", "split_rows"]
