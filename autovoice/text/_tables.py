"""The word tables of English normalization: abbreviations, day and month names, units, and the
names of the symbols inside web addresses. Data only; the passes that read them live beside."""

from __future__ import annotations

MONTHS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "sept": "september",
    "oct": "october", "nov": "november", "dec": "december",
}  # fmt: skip
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
DAYS = {
    "mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday",
    "thu": "thursday", "thur": "thursday", "thurs": "thursday", "fri": "friday",
    "sat": "saturday", "sun": "sunday",
}  # fmt: skip
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# read only before a number ("No. 5", "Jan. 2nd", "p. 7"), so expanded before numbers are read
BEFORE_NUMBER = {
    "no": "number", "p": "page", "pp": "pages", "vol": "volume", "ch": "chapter",
    "fig": "figure", "approx": "approximately", **MONTHS,
}  # fmt: skip
# expanded only when capitalized ("Dr." but not "dr."); the rest in any case
CAPITALIZED = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor",
    "capt": "captain", "gen": "general", "lt": "lieutenant", "col": "colonel",
    "sgt": "sergeant", "rev": "reverend", "gov": "governor", "mt": "mount", "st": "saint",
    "ave": "avenue", "blvd": "boulevard", "rd": "road", "apt": "apartment", **DAYS,
}  # fmt: skip
ANY_CASE = {
    "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera", "e.g": "for example",
    "i.e": "that is", "approx": "approximately", "dept": "department", "inc": "incorporated",
    "ltd": "limited", "co": "company", "vol": "volume", "fig": "figure", "ext": "extension",
    "tel": "telephone", "est": "established", "avg": "average",
}  # fmt: skip
# abbreviations whose period may also end the sentence
SENTENCE_ENDERS = frozenset(
    {"jr", "sr", "etc", "inc", "ltd", "co", "st", "ave", "blvd", "rd", *DAYS}
)

# a unit after a number: its singular and plural reading ("1 km", "5 km")
UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"), "ft": ("foot", "feet"), "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"), "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "ms": ("millisecond", "milliseconds"), "s": ("second", "seconds"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
}  # fmt: skip
# units read only after a space: "5 s" is five seconds, "5s" stays a plural ("fives")
SPACED_UNITS = frozenset({"s"})

# the symbols inside a web or e-mail address, read aloud
ADDRESS_SYMBOLS = {
    ".": "dot", "/": "slash", "-": "dash", "_": "underscore", "~": "tilde", ":": "colon",
    "?": "question mark", "#": "hash", "=": "equals", "&": "and", "%": "percent",
    "+": "plus", "@": "at", "$": "dollar",
}  # fmt: skip
# top-level domains that mark a bare "example.com" as an address
DOMAINS = (
    "com", "org", "net", "edu", "gov", "mil", "int", "io", "dev", "ai", "app", "info", "biz",
    "co", "uk", "de", "fr", "eu", "ca", "au", "nl", "jp",
)  # fmt: skip
