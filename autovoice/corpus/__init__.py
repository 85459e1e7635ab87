"""Corpora: the demo corpus spoken by eSpeak NG from sentences shipped with autovoice."""

from autovoice.corpus.demo import (
    CorpusError,
    DemoCorpusReport,
    DemoSpeaker,
    choose_variants,
    demo_speakers,
    load_sentences,
    make_demo_corpus,
)

__all__ = [
    "CorpusError",
    "DemoCorpusReport",
    "DemoSpeaker",
    "choose_variants",
    "demo_speakers",
    "load_sentences",
    "make_demo_corpus",
]
