"""Varied English sentences from a small grammar of autovoice's own, for corpora made by a voice.

A corpus distilled from a teacher voice needs thousands of sentences that cover English sounds,
numbers, questions and exclamations. The grammar below (templates whose slots draw from word lists
written for autovoice) gives that without any outside text. The same seed gives the same list.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["generate_sentences"]

_WORDS: dict[str, tuple[str, ...]] = {
    "name": (
        "Alice", "Benjamin", "Clara", "Daniel", "Eleanor", "Felix", "Grace", "Henry", "Isabel",
        "Jacob", "Katherine", "Leonard", "Maya", "Nathan", "Olivia", "Patrick", "Quentin",
        "Rosalind", "Samuel", "Theresa", "Victor", "Wendy", "Xavier", "Yvonne", "Zachary",
        "Marcus", "Priya", "Hiroshi", "Fatima", "Gustav", "Lucia", "Owen", "Beatrice", "Tobias",
    ),
    "person": (
        "the doctor", "my neighbor", "the old fisherman", "our teacher", "the young pilot",
        "her brother", "the baker", "a tourist", "the mayor", "his aunt", "the gardener",
        "the new engineer", "a quiet student", "the shopkeeper", "my cousin", "the driver",
        "the nurse", "a stranger", "the chef", "the librarian", "the carpenter", "their uncle",
    ),
    "thing": (
        "the umbrella", "a letter", "the red bicycle", "the map", "an old photograph",
        "the keys", "a basket of apples", "the violin", "the heavy suitcase", "a paper lantern",
        "the telescope", "a wooden chair", "the spare battery", "the brass compass",
        "a jar of honey", "the blue notebook", "the kitchen clock", "a pair of boots",
        "the garden hose", "a loaf of bread", "the silver spoon", "the winter coat",
    ),
    "place": (
        "the station", "the market", "the harbor", "the library", "the hospital", "the bridge",
        "the village square", "the mountain cabin", "the bakery", "the museum", "the beach",
        "the airport", "the farm", "the old mill", "the school gate", "the bus stop",
        "the river bank", "the city park", "the corner shop", "the lighthouse", "the garage",
    ),
    "time": (
        "this morning", "last night", "on Monday", "after lunch", "before dawn",
        "in the evening", "at noon", "on Friday afternoon", "next week", "yesterday",
        "every Sunday", "during the storm", "in early spring", "late in the autumn",
        "at half past six", "on the first of June", "around midnight", "tomorrow",
    ),
    "verb_past": (
        "found", "carried", "painted", "forgot", "repaired", "borrowed", "dropped", "cleaned",
        "hid", "sold", "bought", "measured", "wrapped", "returned", "opened", "packed",
        "described", "photographed", "delivered", "examined", "replaced", "polished",
    ),
    "verb_base": (
        "find", "carry", "paint", "fix", "borrow", "clean", "hide", "sell", "buy", "measure",
        "wrap", "return", "open", "pack", "describe", "deliver", "examine", "replace",
    ),
    "adjective": (
        "quiet", "enormous", "bright", "careful", "cheerful", "dusty", "gentle", "hungry",
        "curious", "narrow", "ancient", "frozen", "golden", "lonely", "peaceful", "restless",
        "sudden", "tired", "warm", "wild", "crowded", "smooth", "brave", "clever",
    ),
    "noun_plain": (
        "weather", "music", "traffic", "coffee", "silence", "journey", "garden", "river",
        "evening", "harvest", "kitchen", "window", "forest", "meeting", "concert", "lesson",
        "holiday", "storm", "ocean", "village", "machine", "picture", "question", "answer",
    ),
    "feeling": (
        "surprised", "delighted", "worried", "relieved", "puzzled", "grateful", "nervous",
        "excited", "disappointed", "amazed", "embarrassed", "proud", "calm", "annoyed",
    ),
    "animal": (
        "a fox", "two swans", "a black cat", "the neighbor's dog", "a flock of geese",
        "a small owl", "three horses", "a hedgehog", "a young deer", "a crow", "a rabbit",
    ),
    "unit": ("kilometers", "meters", "minutes", "hours", "dollars", "pounds", "degrees", "pages"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "month": (
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ),
}  # fmt: skip

_TEMPLATES = (
    "{name} {verb_past} {thing} at {place} {time}.",
    "{Person} {verb_past} {thing} near {place}.",
    "Did {person} really {verb_base} {thing} {time}?",
    "Why would anyone {verb_base} {thing} at {place}?",
    "{Time}, {name} walked {small} kilometers to {place}.",
    "The {adjective} {noun_plain} made everyone feel {feeling}.",
    "{name} was {feeling} when {person} {verb_past} {thing}.",
    "Please {verb_base} {thing} before you leave {place}.",
    "We saw {animal} behind {place} {time}.",
    "How many {unit} is it from {place} to {place2}?",
    "The ticket costs {money}, and the trip takes {small} hours.",
    "{name} and {name2} met at {place} on {weekday}.",
    "It was a {adjective}, {adjective2} {noun_plain}.",
    "I think {person} left {thing} at {place}.",
    "Could you ask {name} to {verb_base} {thing}?",
    "What a {adjective} {noun_plain}!",
    "Nobody expected the {noun_plain} to be so {adjective}.",
    "On {month} {day}, {name} {verb_past} {thing}.",
    "There were {number} people waiting outside {place}.",
    "Be careful with {thing}, it is older than it looks.",
    "{Person} told me the {noun_plain} starts at {clock}.",
    "If it rains {time}, we will stay at {place}.",
    "The {adjective} {noun_plain} lasted almost {small} hours.",
    "Have you ever seen {animal} so close to {place}?",
    "{name} never {verb_past} anything without asking first.",
    "Room {number} is at the end of the hall, next to {place}.",
    "My favorite {noun_plain} was the one in {month}.",
    "Stop {gerund} {thing} and listen for a moment!",
    "Although it was {adjective}, {name} stayed {feeling}.",
    "The report says the temperature will reach {small} degrees {time}.",
    "{name} counted {number} pages in the {adjective} book.",
    "Wait, who {verb_past} {thing}?",
    "They moved from {place} to {place2} in {year}.",
    "Bring {thing} and {thing2} to {place}, please.",
    "After the {noun_plain}, {person} seemed {feeling}.",
)


def _gerund(verb: str) -> str:
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    if re.fullmatch(r".*[^aeiou][aeiou][bdgmnpt]", verb) and len(verb) <= 4:
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _pick(rng: np.random.Generator, key: str) -> str:
    words = _WORDS[key]
    return words[int(rng.integers(len(words)))]


def _numbers(rng: np.random.Generator) -> dict[str, str]:
    return {
        "number": str(int(rng.integers(2, 400))),
        "small": str(int(rng.integers(2, 13))),
        "money": f"${int(rng.integers(3, 90))}.{int(rng.integers(0, 100)):02d}",
        "day": _ordinal(int(rng.integers(1, 29))),
        "clock": f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 4)) * 15:02d}",
        "year": str(int(rng.integers(1950, 2025))),
    }


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _slots(rng: np.random.Generator) -> dict[str, str]:
    slots = {key: _pick(rng, key) for key in _WORDS}
    for key in ("name", "place", "thing", "adjective"):
        second = _pick(rng, key)
        while second == slots[key]:
            second = _pick(rng, key)
        slots[f"{key}2"] = second
    slots["gerund"] = _gerund(_pick(rng, "verb_base"))
    slots["Person"] = slots["person"][:1].upper() + slots["person"][1:]
    slots["Time"] = slots["time"][:1].upper() + slots["time"][1:]
    return {**slots, **_numbers(rng)}


def generate_sentences(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct sentences, drawn from the grammar with ``rng`` (same seed, same list)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < count:
        attempts += 1
        if attempts > 50 * count + 100:
            raise ValueError(f"the grammar ran out of distinct sentences after {len(seen)}")
        template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
        seen[template.format(**_slots(rng))] = None
    return list(seen)
