"""Validation loss and text samples of a trained char-RNN."""

from __future__ import annotations

import numpy as np

from pipeline.evaluate import language_model_report
from pipeline.models.char_rnn import validation_loss
from pipeline.models.generate import sample_text


def evaluate_char_rnn(
    weights: dict[str, np.ndarray],
    vocab: list[str],
    val_ids: np.ndarray,
    unigram_val_nats: float,
    *,
    seq_len: int,
    batch_size: int,
    backend: str,
    prompt: str,
    temperatures,
    sample_length: int,
    sample_seed: int,
) -> dict:
    """Validation loss of ``val_ids`` (nats, bits per character, perplexity) against the unigram baseline,
    and one ``sample_length``-character continuation of ``prompt`` per temperature (all with ``sample_seed``)."""
    val = validation_loss(weights, val_ids, seq_len=seq_len, batch_size=batch_size, backend=backend)
    report = language_model_report(val, unigram_val_nats)
    report["samples"] = {
        float(t): sample_text(
            weights, vocab, prompt=prompt, length=sample_length, temperature=float(t), seed=sample_seed
        )
        for t in temperatures
    }
    report["prompt"] = prompt
    return report
