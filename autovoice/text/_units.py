"""Units after a number: ``1 km`` is one kilometer, ``-3°C`` minus three degrees Celsius."""

from __future__ import annotations

import re

from autovoice.text._numbers import NUM, quantity
from autovoice.text._reading import alternatives, spaced
from autovoice.text._tables import SPACED_UNITS, UNITS

_UNIT = alternatives(UNITS).replace("°", r"°\ ?")  # "-3 °C" and "-3 ° C"
# a number not inside a word, an amount of money, a time or a decimal; then its unit
_QUANTITY = re.compile(
    rf"""(?P<sign>(?<![A-Za-z0-9])-)?(?<![A-Za-z0-9$£€¥\#])(?<![0-9][.,:])
    (?P<value>(?:{NUM})(?:\.[0-9]+)?|\.[0-9]+)(?P<space>\ ?)
    (?P<unit>{_UNIT})(?![A-Za-z0-9])""",
    re.VERBOSE,
)


def read_units(text: str) -> str:
    """Every number followed by a unit of :data:`UNITS`, read with the unit's name."""
    return _QUANTITY.sub(_read_quantity, text)


def _read_quantity(match: re.Match[str]) -> str:
    unit = match["unit"].replace(" ", "")
    if unit in SPACED_UNITS and not match["space"]:
        return match[0]
    singular, plural = UNITS[unit]
    value = match["value"]
    words = f"{quantity(value)} {singular if value == '1' else plural}"
    return spaced(match, ("minus " if match["sign"] else "") + words)
