"""Optimization profiles: min/opt/max shapes of every input, computed from a graph signature.

Pure: values in, values out. A signature names its dynamic axes (``batch``, ``tokens``,
``frames``, ``samples``); each name takes its range from the ``[export]`` section (or the
backend's options), and one or more profiles cover those ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from autovoice.errors import BackendError
from autovoice.signature import GraphSignature

TIME_AXES = ("tokens", "frames", "samples")
Shape = tuple[int, ...]


class ProfileError(BackendError):
    """Profiles that cannot be built or do not fit a model; the message names the input and axis."""


@attrs.frozen
class AxisRange:
    """The sizes one dynamic axis takes: at least ``min``, at most ``max``, tuned for ``opt``."""

    min: int
    opt: int
    max: int

    def check(self, axis: str) -> AxisRange:
        """This range, or a :class:`ProfileError` naming ``axis`` when it is not a range."""
        values = (self.min, self.opt, self.max)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ProfileError(f"axis {axis!r}: min, opt and max must be whole numbers: {values}")
        if self.min < 1:
            raise ProfileError(f"axis {axis!r}: min must be >= 1, got {self.min}")
        if not self.min <= self.opt <= self.max:
            raise ProfileError(
                f"axis {axis!r}: needs min <= opt <= max, got min {self.min}, "
                f"opt {self.opt}, max {self.max}"
            )
        return self

    def __contains__(self, size: object) -> bool:
        return isinstance(size, int) and self.min <= size <= self.max


@attrs.frozen
class ShapeRange:
    """Min, opt and max shape of one input."""

    min: Shape
    opt: Shape
    max: Shape

    def covers(self, shape: Sequence[int]) -> bool:
        if len(shape) != len(self.min):
            return False
        return all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max, strict=True))

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


@attrs.frozen
class Profile:
    """One optimization profile: a shape range for every input, in input order."""

    inputs: tuple[tuple[str, ShapeRange], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    def __getitem__(self, name: str) -> ShapeRange:
        for key, shapes in self.inputs:
            if key == name:
                return shapes
        raise KeyError(name)

    def covers(self, shapes: Mapping[str, Sequence[int]]) -> bool:
        """True when every input's shape lies inside this profile."""
        return all(name in shapes and rng.covers(shapes[name]) for name, rng in self.inputs)

    def to_dict(self) -> dict[str, dict[str, list[int]]]:
        return {name: shapes.to_dict() for name, shapes in self.inputs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Sequence[int]]]) -> Profile:
        return cls(
            tuple(
                (name, ShapeRange(tuple(r["min"]), tuple(r["opt"]), tuple(r["max"])))
                for name, r in data.items()
            )
        )


def bounds_from_config(export: Any, *, hop_length: int | None = None) -> dict[str, AxisRange]:
    """Axis ranges from an ``[export]`` section (anything with ``batch_min`` … ``frames_max``);
    ``samples`` is ``frames`` times ``hop_length`` when a hop is given."""
    bounds = {
        axis: AxisRange(
            getattr(export, f"{axis}_min"),
            getattr(export, f"{axis}_opt"),
            getattr(export, f"{axis}_max"),
        ).check(axis)
        for axis in ("batch", "tokens", "frames")
    }
    if hop_length is not None:
        frames = bounds["frames"]
        bounds["samples"] = AxisRange(
            frames.min * hop_length, frames.opt * hop_length, frames.max * hop_length
        )
    return bounds


def override_bounds(
    bounds: Mapping[str, AxisRange], overrides: Mapping[str, Sequence[int]]
) -> dict[str, AxisRange]:
    """``bounds`` with the axes given as ``[min, opt, max]`` in ``overrides`` replaced (an empty
    sequence keeps the axis as it was)."""
    merged = dict(bounds)
    for axis, values in overrides.items():
        if len(values) == 0:
            continue
        if len(values) != 3:
            raise ProfileError(f"axis {axis!r}: give [min, opt, max], got {list(values)}")
        merged[axis] = AxisRange(*values).check(axis)
    return merged


def split_bounds(
    bounds: Mapping[str, AxisRange], edges: Iterable[int], axes: Sequence[str] = TIME_AXES
) -> list[dict[str, AxisRange]]:
    """One bounds table per piece of the time ``axes`` cut at ``edges``: piece ``i`` runs from
    just above edge ``i-1`` to edge ``i``. Each piece keeps the axis's ``opt`` when it lies
    inside, else is tuned for its own maximum. Edges outside an axis's range are ignored."""
    cuts = sorted(set(edges))
    if not cuts:
        return [dict(bounds)]
    pieces: list[dict[str, AxisRange]] = [dict(bounds) for _ in range(len(cuts) + 1)]
    for axis in axes:
        if axis not in bounds:
            continue
        for i, piece in enumerate(_pieces(bounds[axis], cuts)):
            pieces[i][axis] = piece
    return _unique(pieces)


def _pieces(rng: AxisRange, cuts: Sequence[int]) -> list[AxisRange]:
    inside = [c for c in cuts if rng.min <= c < rng.max]
    lows = [rng.min, *(c + 1 for c in inside)]
    highs = [*inside, rng.max]
    pieces = [
        AxisRange(lo, rng.opt if lo <= rng.opt <= hi else hi, hi)
        for lo, hi in zip(lows, highs, strict=True)
    ]
    return pieces + [pieces[-1]] * (len(cuts) + 1 - len(pieces))


def _unique(pieces: list[dict[str, AxisRange]]) -> list[dict[str, AxisRange]]:
    out: list[dict[str, AxisRange]] = []
    for piece in pieces:
        if piece not in out:
            out.append(piece)
    return out


def profile_for(signature: GraphSignature, bounds: Mapping[str, AxisRange]) -> Profile:
    """The profile of every input of ``signature`` under ``bounds``: fixed sizes stay, each named
    axis takes its range. An axis with no range raises :class:`ProfileError` naming it."""
    inputs = []
    for tensor in signature.inputs:
        mins, opts, maxs = [], [], []
        for index, dim in enumerate(tensor.shape):
            if isinstance(dim, str):
                rng = _range_of(bounds, dim, f"input {tensor.name!r} axis {index}")
                mins.append(rng.min)
                opts.append(rng.opt)
                maxs.append(rng.max)
            else:
                mins.append(dim)
                opts.append(dim)
                maxs.append(dim)
        inputs.append((tensor.name, ShapeRange(tuple(mins), tuple(opts), tuple(maxs))))
    return Profile(tuple(inputs))


def _range_of(bounds: Mapping[str, AxisRange], axis: str, where: str) -> AxisRange:
    if axis not in bounds:
        known = ", ".join(sorted(bounds)) or "none"
        raise ProfileError(
            f"{where} ({axis!r}): no range for axis {axis!r} (ranges given: {known})"
        )
    return bounds[axis].check(axis)


def compute_profiles(
    signature: GraphSignature, bounds: Sequence[Mapping[str, AxisRange]]
) -> tuple[Profile, ...]:
    """One profile per bounds table, in order; at least one table is needed."""
    if not bounds:
        raise ProfileError("no optimization profile: give at least one table of axis ranges")
    return tuple(profile_for(signature, table) for table in bounds)


def select_profile(
    profiles: Sequence[Profile], shapes: Mapping[str, Sequence[int]], *, prefer: int = 0
) -> int | None:
    """The index of a profile covering ``shapes``: ``prefer`` when it does (switching profiles
    costs a little), else the first one that does, else None."""
    if 0 <= prefer < len(profiles) and profiles[prefer].covers(shapes):
        return prefer
    return next((i for i, p in enumerate(profiles) if p.covers(shapes)), None)


def describe_misfit(profiles: Sequence[Profile], shapes: Mapping[str, Sequence[int]]) -> str:
    """Why no profile covers ``shapes``: the first input and axis outside every profile."""
    for name, shape in shapes.items():
        ranges = [p[name] for p in profiles if name in p.names]
        for axis, size in enumerate(shape):
            if ranges and all(not _axis_fits(r, axis, size) for r in ranges):
                spans = ", ".join(f"{r.min[axis]}..{r.max[axis]}" for r in ranges)
                return f"input {name!r} has size {size} on axis {axis}; the engine takes {spans}"
    return f"no single profile covers all input shapes {dict(shapes)}"


def _axis_fits(rng: ShapeRange, axis: int, size: int) -> bool:
    return axis < len(rng.min) and rng.min[axis] <= size <= rng.max[axis]


def check_network(profiles: Sequence[Profile], network: Mapping[str, Sequence[int]]) -> None:
    """Check profiles against a parsed network's inputs (``-1`` marks a dynamic size): the same
    input names, ranks, and fixed sizes. Raises :class:`ProfileError` naming the input."""
    for profile in profiles:
        missing = [name for name in network if name not in profile.names]
        if missing:
            raise ProfileError(f"model input {missing[0]!r} has no shape range in the profile")
        for name, rng in profile.inputs:
            if name not in network:
                raise ProfileError(
                    f"profile input {name!r} is not an input of the model "
                    f"(inputs: {', '.join(network)})"
                )
            _check_input(name, rng, tuple(network[name]))


def _check_input(name: str, rng: ShapeRange, dims: Shape) -> None:
    if len(dims) != len(rng.min):
        raise ProfileError(
            f"input {name!r}: the model has {len(dims)} dimensions {list(dims)}, the signature "
            f"{len(rng.min)}"
        )
    for axis, dim in enumerate(dims):
        if dim >= 0 and not (rng.min[axis] == rng.max[axis] == dim):
            raise ProfileError(
                f"input {name!r} axis {axis}: the model fixes size {dim}, the profile gives "
                f"{rng.min[axis]}..{rng.max[axis]}"
            )


__all__ = [
    "TIME_AXES",
    "AxisRange",
    "Profile",
    "ProfileError",
    "ShapeRange",
    "bounds_from_config",
    "check_network",
    "compute_profiles",
    "describe_misfit",
    "override_bounds",
    "profile_for",
    "select_profile",
    "split_bounds",
]
