"""Export validation and the acoustic graph's rounding of token end frames.

A token end at .5 may be rounded either way by ONNX Runtime and PyTorch: such a difference is
explained by the tie (and recorded), any other difference still fails the export.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from autovoice.export import validate as validation  # noqa: E402
from autovoice.export.errors import ExportValidationError  # noqa: E402
from autovoice.export.onnx import example_tensors, export_onnx  # noqa: E402
from autovoice.export.rounding import TIE_MARGIN, rounding_ties  # noqa: E402
from autovoice.export.validate import ValidationCase, validate_exported_model  # noqa: E402
from autovoice.signature import acoustic_signature  # noqa: E402
from autovoice_models.voice_transformer.model import (  # noqa: E402
    VoiceTransformer,
    VoiceTransformerExport,
)

N_MELS, N_SYMBOLS = 16, 10
SIGNATURE = acoustic_signature(N_MELS)


@pytest.fixture(scope="module")
def module() -> VoiceTransformerExport:
    torch.manual_seed(0)
    model = VoiceTransformer(
        n_symbols=N_SYMBOLS,
        n_speakers=2,
        n_mels=N_MELS,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        heads=2,
        ff_dim=64,
        ff_kernel=3,
        predictor_channels=16,
        predictor_kernel=3,
        aligner_dim=16,
        dropout=0.0,
    )
    with torch.no_grad():  # durations of a few frames each, as a trained model predicts
        model.duration_predictor.project.bias.fill_(1.5)
    return VoiceTransformerExport(model).eval()


def _inputs(pace: list[float]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, N_SYMBOLS, size=(2, 12), dtype=np.int64)
    tokens[1, 9:] = 0
    return {
        "tokens": tokens,
        "token_lengths": np.array([12, 9], np.int64),
        "speakers": np.array([0, 1], np.int64),
        "pace": np.array(pace, np.float32),
        "pitch_shift": np.array([0.0, 2.0], np.float32),
        "energy_scale": np.array([1.0, 0.8], np.float32),
    }


def _positions(module, inputs) -> torch.Tensor:
    with torch.no_grad():
        return module.rounded_values(*example_tensors(SIGNATURE, inputs))


def _tied_case(module) -> tuple[ValidationCase, tuple[int, int]]:
    """A case whose 4th token of item 0 ends at .5 of a frame (the pace puts it there)."""
    inputs = _inputs([1.0, 1.0])
    position = float(_positions(module, inputs)[0, 3])
    inputs["pace"][0] = position / (np.floor(position) + 0.5)
    return ValidationCase(name="tied", inputs=inputs), (0, 3)


class Session:
    """Stands for ONNX Runtime: PyTorch's outputs with the given token ends."""

    def __init__(self, module, case, changed: dict[tuple[int, int], int]) -> None:
        tensors = example_tensors(SIGNATURE, case.inputs)
        with torch.no_grad():
            rounded = torch.round(module.rounded_values(*tensors)).nan_to_num(0).long()
            for index, step in changed.items():
                rounded[index] += step
            self.outputs = [o.numpy() for o in module.forward_rounded(*tensors, rounded=rounded)]

    def run(self, names, feed):
        return self.outputs


def _validate(monkeypatch, module, case, session: Session):
    monkeypatch.setattr(validation, "_session", lambda path: session)
    return validate_exported_model(module, "fake.onnx", SIGNATURE, [case], tolerance=1e-3)


def test_the_tied_case_has_exactly_one_tie(module):
    case, where = _tied_case(module)
    ties = rounding_ties(_positions(module, case.inputs)).tolist()
    assert ties == [list(where)]
    assert rounding_ties(_positions(module, _inputs([1.0, 1.0]))).numel() == 0


def test_a_tie_rounded_the_other_way_passes_and_is_counted(module, monkeypatch):
    case, where = _tied_case(module)
    positions = _positions(module, case.inputs)
    step = 1 if float(torch.round(positions[where])) < float(positions[where]) else -1
    report = _validate(monkeypatch, module, case, Session(module, case, {where: step}))
    assert report.ties == 1
    assert report.worst <= 1e-5


def test_the_same_end_moved_without_a_tie_fails(module, monkeypatch):
    case = ValidationCase(name="untied", inputs=_inputs([1.0, 1.0]))
    distance = abs(float(_positions(module, case.inputs)[0, 3]) % 1 - 0.5)
    assert distance > TIE_MARGIN
    with pytest.raises(ExportValidationError, match="case untied"):
        _validate(monkeypatch, module, case, Session(module, case, {(0, 3): 1}))


def test_a_second_moved_end_beside_a_tie_fails(module, monkeypatch):
    case, where = _tied_case(module)
    with pytest.raises(ExportValidationError, match="case tied"):
        _validate(monkeypatch, module, case, Session(module, case, {where: 1, (1, 5): 1}))


def test_a_real_graph_matches_and_a_planted_mismatch_is_caught(module, tmp_path):
    case, _ = _tied_case(module)
    cases = [case, ValidationCase(name="plain", inputs=_inputs([1.0, 0.8]))]
    path = tmp_path / "acoustic.onnx"
    export_onnx(module, SIGNATURE, path, opset=17, example_inputs=cases[1].inputs)
    report = validate_exported_model(module, path, SIGNATURE, cases, tolerance=1e-3)
    assert report.worst <= 1e-4
    with torch.no_grad():  # the graph keeps the exported weights; PyTorch's now differ
        module.model.mel_projection.bias.add_(0.01)
    try:
        with pytest.raises(ExportValidationError, match="output 'mel' differs"):
            validate_exported_model(module, path, SIGNATURE, cases, tolerance=1e-3)
    finally:
        with torch.no_grad():
            module.model.mel_projection.bias.sub_(0.01)
