"""Option kits of the built-in models and vocoders (attrs only: no torch).

The fields, checks and preset handling that several option classes share live here once, so
that each spec module declares only what is its own and every model reports a bad value alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from autovoice.config.fields import WHOLE, Check, between, ge, gt, one_of, optional, setting
from autovoice.errors import ConfigError, ConfigIssue
from autovoice.specs import ModelSpec, Requirement, VocoderSpec

__all__ = [
    "ODD",
    "TORCH",
    "TRANSFORMER_SIZES",
    "PresetSizes",
    "TransformerSizes",
    "dropout",
    "learning_rate",
    "loss_weight",
    "lr_decay",
    "lr_decay_steps",
    "magnitude_floor",
    "preset",
    "preset_first",
    "preset_table",
    "segment_size",
    "size",
    "torch_spec",
    "weight",
]

ODD = Check("odd", lambda v: isinstance(v, int) and v % 2 == 1)
TORCH = (Requirement(module="torch"),)
"""What every built-in model and vocoder needs to train (the ``train`` extra)."""
Spec = TypeVar("Spec", ModelSpec, VocoderSpec)


def torch_spec(
    kind: type[Spec], name: str, options_type: type, description: str, **more: Any
) -> Spec:
    """The spec of the built-in model or vocoder in the folder ``name``: its factory is that
    folder's ``recipe:build_recipe``, it trains with torch (the ``train`` extra); ``more``
    holds the rest of the spec's fields (its head, its module classes)."""
    return kind(
        name=name,
        factory=f"autovoice_models.{name}.recipe:build_recipe",
        requires=TORCH,
        extra="train",
        options_type=options_type,
        description=description,
        **more,
    )


def preset(default: str, presets: Iterable[str], doc: str) -> str:
    """The name of one of ``presets``, the sizes the other options start from."""
    return setting(default, doc=doc, checks=[one_of(*presets)])  # type: ignore[no-any-return]


def weight(default: float, doc: str) -> float:
    """A loss weight: a number >= 0."""
    return setting(default, doc=doc, checks=[ge(0)])  # type: ignore[no-any-return]


def loss_weight(default: float, what: str) -> float:
    """The weight of ``what`` in the total loss."""
    return weight(default, f"Weight of the {what} in the total loss.")


def size(doc: str) -> Any:
    """A size that overrides the preset's where it is set."""
    return setting(None, doc=f"{doc} Unset: the preset's value.", checks=[optional(gt(0))])


def dropout(where: str) -> Any:
    """A dropout probability that overrides the preset's where it is set."""
    return setting(
        None,
        doc=f"Dropout probability in {where}. Unset: the preset's value.",
        checks=[optional(between(0, 0.9))],
    )


def segment_size(default: int) -> int:
    """Samples of each training clip (checked against the hop by :func:`hop_multiple`)."""
    return setting(  # type: ignore[no-any-return]
        default,
        doc="Samples of each training clip cut from an utterance; a multiple of audio.hop_length.",
        checks=[WHOLE, gt(0)],
    )


def learning_rate(doc: str = "Learning rate; unset takes training.learning_rate.") -> float | None:
    """A learning rate of the plugin's own, or None for ``training.learning_rate``."""
    return setting(None, doc=doc, checks=[optional(gt(0))])  # type: ignore[no-any-return]


def lr_decay(default: float) -> float:
    """The factor of an exponential learning-rate decay per ``lr_decay_steps``."""
    return setting(  # type: ignore[no-any-return]
        default,
        doc="Factor the learning rate is multiplied by every lr_decay_steps steps (exponential).",
        checks=[gt(0)],
    )


def lr_decay_steps(default: int, doc: str = "Steps per lr_decay factor.") -> int:
    """Steps per ``lr_decay`` factor."""
    return setting(default, doc=doc, checks=[WHOLE, gt(0)])  # type: ignore[no-any-return]


def magnitude_floor(doc: str) -> float:
    """The smallest magnitude a log is taken of (1e-5 unless set)."""
    return setting(1e-5, doc=doc, checks=[gt(0)])  # type: ignore[no-any-return]


def preset_first(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """An attrs ``field_transformer`` that puts ``preset`` before the size fields a subclass
    inherits, so that the option table reads the preset first, then what overrides it."""
    return sorted(fields, key=lambda field: field.name != "preset")


@attrs.frozen(kw_only=True)
class TransformerSizes:
    """The sizes of a transformer encoder and decoder, each overriding a preset's where it is set.

    An option class of a transformer model inherits them and declares its ``preset`` with
    ``field_transformer=preset_first``; :meth:`PresetSizes.problems` checks them together.
    """

    d_model: int | None = size("Width of the encoder, the decoder and the embeddings (even).")
    encoder_layers: int | None = size("Transformer blocks of the encoder (text or source mel).")
    decoder_layers: int | None = size("Transformer blocks of the decoder (to the mel).")
    heads: int | None = size("Attention heads; must divide d_model.")
    ff_dim: int | None = size("Inner width of each block's convolutional feed-forward.")
    ff_kernel: int | None = size("Kernel size of the feed-forward's first convolution (odd).")


TRANSFORMER_SIZES = tuple(field.name for field in attrs.fields(TransformerSizes))


def preset_table(
    columns: tuple[str, ...], **rows: tuple[Any, ...]
) -> MappingProxyType[str, MappingProxyType[str, Any]]:
    """Presets written as a table: each keyword a preset, its values in the order of
    ``columns``; a row of another length is a :class:`ValueError`."""
    for name, row in rows.items():
        if len(row) != len(columns):
            raise ValueError(f"preset {name!r} has {len(row)} values for {len(columns)} columns")
    return MappingProxyType(
        {name: MappingProxyType(dict(zip(columns, row, strict=True))) for name, row in rows.items()}
    )


"""The names of :class:`TransformerSizes`' fields, in order."""


@attrs.frozen(kw_only=True)
class PresetSizes:
    """The named presets of a transformer model and how options override them.

    ``fields`` are the size options (None: the preset's value); ``odd`` the kernel sizes that
    must be odd; ``recipe_fields`` options of the training recipe that the model does not take.
    """

    presets: Mapping[str, Mapping[str, Any]]
    fields: tuple[str, ...]
    odd: tuple[str, ...]
    recipe_fields: tuple[str, ...] = ()

    def sizes(self, options: Any) -> dict[str, Any]:
        """The preset's sizes with the options' overrides applied."""
        chosen = dict(self.presets[options.preset])
        for name in self.fields:
            value = getattr(options, name)
            if value is not None:
                chosen[name] = value
        return chosen

    def problems(self, chosen: Mapping[str, Any]) -> list[ConfigIssue]:
        """What is wrong with a set of sizes: an odd width, heads that do not divide it, even
        kernels."""
        issues = []
        if chosen["d_model"] % 2:
            message = f"must be even (sine and cosine halves), got {chosen['d_model']}"
            issues.append(ConfigIssue("$.model.options.d_model", message))
        if chosen["d_model"] % chosen["heads"]:
            message = f"must divide d_model ({chosen['d_model']}), got {chosen['heads']}"
            issues.append(ConfigIssue("$.model.options.heads", message))
        for name in self.odd:
            if not ODD.test(chosen[name]):
                issues.append(
                    ConfigIssue(f"$.model.options.{name}", f"must be odd, got {chosen[name]}")
                )
        return issues

    def model_kwargs(self, options: Any) -> dict[str, Any]:
        """The model's keyword arguments: the checked sizes and every other option but the
        preset's name and the recipe's fields."""
        chosen = self.sizes(options)
        issues = self.problems(chosen)
        if issues:
            raise ConfigError(issues)
        skipped = {"preset", *self.fields, *self.recipe_fields}
        rest = {
            a.name: getattr(options, a.name)
            for a in attrs.fields(type(options))
            if a.name not in skipped
        }
        return {**chosen, **rest}
