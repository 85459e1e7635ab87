"""The hooks an autovoice plugin may implement. Each docstring is the contract.

A plugin is a module (or object) with functions decorated by :data:`hookimpl` whose names are
hooks below. Built-in plugins and third-party ones are found the same way: through the
``autovoice`` entry-point group. Collector hooks run while a pipeline or trainer is assembled, never
per sample, and must be cheap: return specs, import nothing heavy.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from autovoice.specs import (
    BackendRequest,
    BackendSpec,
    DatasetSpec,
    ModelSpec,
    StoreSpec,
    VocoderSpec,
)

PROJECT = "autovoice"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def autovoice_datasets() -> Sequence[DatasetSpec]:
    """Return the dataset kinds this plugin provides (``voice``, ``paired``, ``augmented``, …).

    The factory, called as ``factory(options, *, config, registry)`` (the plugin's options,
    the run's whole config, whose ``data`` section names the corpus, and the plugin registry),
    returns a dataset (:class:`autovoice.data.dataset.ItemDataset`) that validates its corpus
    before training starts (a bad file or manifest line raises an error naming the file and
    line, or is skipped and counted when ``on_bad_sample = "skip"``) and yields utterance
    records of numpy arrays. Names must be unique across all plugins.
    """


@hookspec
def autovoice_models() -> Sequence[ModelSpec]:
    """Return the acoustic models this plugin provides (text → mel, or mel → mel).

    The trainer calls the factory as ``factory(options, *, audio, n_symbols, n_speakers,
    training)``: the plugin's options (an instance of its ``options_type``; the argument is left
    out when the spec has none), the run's ``AudioConfig``, the sizes of the corpus' symbol
    table and speaker list, and the ``TrainingConfig``. It returns a
    :class:`autovoice.training.recipe.Recipe`: the modules to train, their optimizers, the steps
    run on every batch, validation, the exported graph's signature (names, dtypes and dynamic
    axes, declared once for the exporter and every backend) and the module export writes. The
    same call rebuilds the stage for export, warm starts and the ``pytorch`` backend, so the same
    arguments must build the same modules. The model class takes flat keyword arguments, which
    the factory unpacks from the options; it never sees a config object.
    Names must be unique across all plugins.
    """


@hookspec
def autovoice_vocoders() -> Sequence[VocoderSpec]:
    """Return the vocoders this plugin provides (mel → waveform).

    Same contract as :func:`autovoice_models`: the same factory call, a ``Recipe`` whose graph
    takes ``mel`` and whose steps read the batch's ``audio`` clips and their ``audio_mels``. The
    vocoder is built for the run's ``audio`` settings, which its checkpoint records; export
    refuses to pair it with an acoustic model trained on other mel settings (sample rate, STFT,
    hop length, mel bands, ``log_clamp``). Its spec names the head
    (``VocoderSpec.head``, one of :data:`autovoice.heads.HEADS`) that makes a waveform of its
    graph's outputs, which the graph's signature must hold; its recipe may name another
    (``Recipe.head``) and give the head's options. Names must be unique across plugins.
    """


@hookspec
def autovoice_checkpoint_stores() -> Sequence[StoreSpec]:
    """Return the checkpoint stores this plugin provides, each with the URI schemes it serves.

    A store's writes are atomic: a key is either absent or holds the complete bytes written; a
    failed write never damages what the key held before. ``list`` returns only complete keys.
    A scheme may be served by one store only.
    """


@hookspec
def autovoice_backends() -> Sequence[BackendSpec]:
    """Return the inference backends this plugin provides.

    ``requires`` lists the modules the backend imports, so that a missing one is reported as
    ``unavailable: needs PACKAGE`` without importing anything; ``probe`` may add a check that
    needs the imports (a GPU present, a provider working). The factory, called with the plugin's
    options, returns a backend whose ``load(artifact, device, *, stage=None)`` gives a session
    with ``run(inputs: Mapping[str, numpy.ndarray]) -> dict[str, numpy.ndarray]``: numpy in,
    numpy out; tensors and device buffers stay inside the backend. ``artifact`` is a file of a
    format the spec ``accepts`` (``onnx``, ``weights``, ``checkpoint``, ``engine``); ``stage``,
    passed by the inference engine, describes the voice stage it holds (an
    :class:`autovoice.inference.StageContext`: name, plugin, options, graph signature, audio
    settings), which a backend may use or ignore. The stage runner checks a session's inputs
    against the stage's declared signature before ``run`` sees them. A backend that builds
    engines ahead of time (for ``export.tensorrt``) names its
    :class:`autovoice.specs.EngineBuilder` in ``engine_builder``. Names must be unique across
    plugins.
    """


@hookspec(firstresult=True)
def autovoice_select_backend(
    request: BackendRequest, candidates: Sequence[BackendSpec]
) -> str | None:
    """Choose a backend for ``backend = "auto"``: return one of ``candidates``' names, or None to
    leave the choice to the next plugin.

    ``candidates`` holds only backends that are available here. The first non-None answer wins;
    the built-in policy runs last, so any plugin's policy takes precedence over it.
    """
