"""Web addresses, e-mail addresses and phone numbers, read the way one dictates them.

An address is read piece by piece: words as written, digits one by one, symbols by name
(``example dot com slash docs``); a leading ``http://`` or ``https://`` is not read. A phone
number is read digit by digit, ``0`` as "zero", with a comma between its groups.
"""

from __future__ import annotations

import re

from autovoice.text._reading import match_case, spaced, spell
from autovoice.text._tables import ADDRESS_SYMBOLS, DOMAINS

_BODY = r"[A-Za-z0-9._~:/?#@$&+=%-]"  # what an address may hold once text is folded
_TAIL = r"[A-Za-z0-9/_~=#&%+-]"  # how it may end: never with sentence punctuation
_DOMAIN = r"(?:[A-Za-z0-9-]+\.)+"
_URL = re.compile(
    rf"""(?<![A-Za-z0-9@._-])(?:
      (?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>{_BODY}*{_TAIL})
    | (?P<www>www\.[A-Za-z0-9]{_BODY}*{_TAIL})
    | (?P<bare>{_DOMAIN}(?:{"|".join(DOMAINS)})(?![A-Za-z0-9_@-])(?:/(?:{_BODY}*{_TAIL})?)?)
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])"
)
_PIECE = re.compile(r"[A-Za-z]+|[0-9]+|.")

# "+44 20 7946 0958", "+1 (555) 123-4567": a country code, then two to five groups
_INTL = r"\+[0-9]{1,3}(?:[ .-]?\([0-9]{1,4}\)|[ .-][0-9]{1,4}){2,5}"
# "(555) 123-4567", "555-123-4567", "555.123.4567", "1-800-555-1234"
_AREA = r"\([0-9]{3}\)[ .-]?[0-9]{3}[ .-]|[0-9]{3}(?P<sep>[.-])[0-9]{3}(?P=sep)"
_LOCAL = rf"(?:1[.-])?(?:{_AREA})[0-9]{{4}}"
_EXT = r"(?:,?\ ?(?:ext\.?|x)\ ?(?P<ext>[0-9]{1,6}))?"
_PHONE = re.compile(
    rf"(?<![A-Za-z0-9+-])(?:(?P<intl>{_INTL})|(?P<e164>\+[0-9]{{8,15}})|(?P<local>{_LOCAL})){_EXT}"
    r"(?![0-9])",
    re.IGNORECASE,
)
_EXTENSION = re.compile(r"(?<![A-Za-z])ext\.? ?(?P<digits>[0-9]+)", re.IGNORECASE)


def read_contacts(text: str) -> str:
    """E-mail and web addresses, phone numbers and phone extensions read aloud."""
    text = _EMAIL.sub(_read_email, text)
    text = _URL.sub(_read_url, text)
    text = _PHONE.sub(_read_phone, text)
    return _EXTENSION.sub(_read_extension, text)


def _read_extension(match: re.Match[str]) -> str:
    return spaced(match, match_case("extension", match[0]) + " " + spell(match["digits"]))


def _read_email(match: re.Match[str]) -> str:
    return spaced(match, _read_address(match[0]))


def _read_url(match: re.Match[str]) -> str:
    address = match["rest"] or match["www"] or match["bare"]
    return spaced(match, _read_address(address.rstrip("/")))


def _read_address(address: str) -> str:
    """``jane.doe@example.org`` as ``jane dot doe at example dot org``."""
    words = []
    for piece in _PIECE.findall(address):
        if piece.isdigit():
            words.append(spell(piece))
        elif piece.lower() == "www":
            words.append(" ".join(piece))
        elif piece.isalpha():
            words.append(piece)
        elif piece in ADDRESS_SYMBOLS:
            words.append(ADDRESS_SYMBOLS[piece])
    return " ".join(words)


def _read_phone(match: re.Match[str]) -> str:
    """Each group of digits spelled, the groups parted by commas; ``+`` read "plus"."""
    number = match["intl"] or match["e164"] or match["local"]
    groups = [spell(group) for group in re.findall(r"[0-9]+", number)]
    if number.startswith("+"):
        groups[0] = "plus " + groups[0]
    if match["ext"]:
        groups.append("extension " + spell(match["ext"]))
    return spaced(match, ", ".join(groups))
