"""Data: corpora read and checked, features cached, items collated, batches planned, splits made.

Torch-free. The pure parts (records, formats, collate, sampling, splits, dtw, augment, dataset)
take values and return values; ``corpus``, ``loading`` and ``cache`` are the file-reading edge.
The torch adapter that turns these into dataloaders is :mod:`autovoice.training.data`.
"""

from autovoice.data.augment import SpecAugment, WaveAugment, augment_wave, item_rng, spec_augment
from autovoice.data.cache import FeatureCache
from autovoice.data.collate import CollateError, collate
from autovoice.data.dataset import DatasetInfo, ItemDataset, Subset
from autovoice.data.dtw import align_to_source, dtw_path
from autovoice.data.loading import FeatureSource, fill_cache
from autovoice.data.reader import detect_format, load_corpus, scan_corpus
from autovoice.data.records import (
    BadSample,
    BadSampleError,
    Corpus,
    CorpusError,
    CorpusReport,
    Entry,
    Utterance,
)
from autovoice.data.sampling import bucket_batches, padding_fraction, random_batches, shard
from autovoice.data.splits import Splits, split_indices

__all__ = [
    "BadSample",
    "BadSampleError",
    "CollateError",
    "Corpus",
    "CorpusError",
    "CorpusReport",
    "DatasetInfo",
    "Entry",
    "FeatureCache",
    "FeatureSource",
    "ItemDataset",
    "SpecAugment",
    "Splits",
    "Subset",
    "Utterance",
    "WaveAugment",
    "align_to_source",
    "augment_wave",
    "bucket_batches",
    "collate",
    "detect_format",
    "dtw_path",
    "fill_cache",
    "item_rng",
    "load_corpus",
    "padding_fraction",
    "random_batches",
    "scan_corpus",
    "shard",
    "spec_augment",
    "split_indices",
]
