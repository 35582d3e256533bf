"""Studies: many simulations of one scenario, asking one question each.

:mod:`.sweep` (a grid of variants, with replications; intervals in :mod:`.stats`), :mod:`.plan`
(the cheapest fleet that meets every SLO), :mod:`.uncertainty` (bands over the calibration's
ranges) and :mod:`.check` (a regression check against committed :mod:`.baseline` files, with
:mod:`.tolerances`). :mod:`.executors` runs their simulations in parallel.
"""
