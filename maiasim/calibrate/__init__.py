"""Fitting a chip's calibration to measured kernel, collective and iteration times.

- :mod:`.parameters`: which factors a fit may change and where it searches (the factors
  themselves are the fields of :class:`maiasim.spec.calibration.Calibration`);
- :mod:`.optimise`: the bounded least-log-squares search;
- :mod:`.readers`: the public measurement formats (Vidur, Splitwise, LLMCompass);
- :mod:`.fit`: predictors through the simulator's physics, split rules, :func:`fit_calibration`;
- :mod:`.serving_io` and :mod:`.serving`: end-to-end benchmark runs (``vllm bench serve``,
  ``trtllm-bench``) replayed through the simulator and a serving stack's factors fitted to them
  (:func:`fit_serving`, ``maiasim calibrate CHIP serving FILE``).
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
from .serving import ServingFit, ServingSetup, fit_serving, predict_serving
from .serving_io import read_serving

__all__ = ["DEFAULT_PARAMS", "FIT", "HELD_OUT", "KINDS", "PARAMS", "Param", "ServingFit",
           "ServingSetup", "calibration_yaml", "error_summary", "fit_calibration", "fit_serving",
           "get_param", "predict", "predict_serving", "read_cases", "read_serving", "report",
           "set_params", "split_rows"]
