"""Default terms of an owner's total cost of ownership (TCO): data, no logic.

An owner pays for a chip-hour with straight-line depreciation of its capex plus the electricity it
draws through the facility's PUE. When a scenario gives a capex but not these terms (its
``cost.tco`` block, or a catalog chip with a capex and no rental price), these defaults apply: one
owner's figures, Microsoft's datacenters in Iowa, the Maia 200 site state. The scenario schema's
``TCO`` model and :mod:`maiasim.results.economics` both read them from here, so a default changes
in one place.

Each constant names its source (gathered in the project's hardware research notes, §4c).
"""

from __future__ import annotations

#: Years over which capex is depreciated. Microsoft extended the useful life of its servers and
#: network equipment from 4 to 6 years effective FY2023 (10-Q; Koral, "Useful life of servers and
#: network assets at tech companies", https://shaulkoral.com/useful-life-of-servers-and-network-
#: assets-at-tech-companies/). Alphabet also uses 6 years (2023), Meta 5 (2022).
LIFETIME_YEARS = 6.0

#: Electricity price, USD per kWh. Iowa industrial retail price, 6.79 cents/kWh year-to-date July
#: 2024 (EIA Electric Power Monthly, Table 5.6.B); the US industrial average was 8.06 cents (2023).
ELECTRICITY_USD_PER_KWH = 0.068

#: Power usage effectiveness (facility power / IT power). Microsoft: "newest datacenters have a
#: PUE of 1.12" (2022, Windows Central); the industry average is ~1.56-1.58 (Uptime Institute).
PUE = 1.12

#: Hours in a year for depreciation: a Julian year, 365.25 days of 24 hours (a definition).
HOURS_PER_YEAR = 8766.0
