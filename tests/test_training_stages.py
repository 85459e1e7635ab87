"""What a checkpoint kept as weights only (no ``state.pt``, which records the stage) is
rebuilt as: its modules tell a vocoder apart from a model, and a model stage only when the
caller accepts just one."""

from __future__ import annotations

import pytest

from autovoice.training.stages import FIRST_STAGES, VOCODER_STAGES, _kept_stage


def _meta(*modules: str) -> dict[str, object]:
    return {"contents": {"modules": list(modules), "optimizers": [], "schedulers": []}}


def test_a_generator_is_a_vocoder_stage() -> None:
    assert _kept_stage(_meta("generator", "mrd"), VOCODER_STAGES) == "vocoder"
    assert _kept_stage(_meta("generator"), ("finetune-vocoder",)) == "finetune-vocoder"


@pytest.mark.parametrize(
    ("accepted", "stage"), [(("acoustic",), "acoustic"), (("converter",), "converter")]
)
def test_a_model_is_the_one_model_stage_accepted(accepted: tuple[str, ...], stage: str) -> None:
    assert _kept_stage(_meta("model"), accepted) == stage


def test_what_the_modules_do_not_tell_is_none() -> None:
    assert len([s for s in FIRST_STAGES if s in ("acoustic", "converter")]) == 2
    assert _kept_stage(_meta("model"), FIRST_STAGES) is None  # acoustic or converter?
    assert _kept_stage(_meta("encoder"), FIRST_STAGES) is None
    assert _kept_stage({}, VOCODER_STAGES) is None
