"""Validation loss (what the kept epoch is chosen on), test loss (reported) and text samples of a trained char-RNN."""

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
    test_ids: np.ndarray | None = None,
    unigram_test_nats: float | None = None,
) -> dict:
    """Validation loss of ``val_ids`` (nats, bits per character, perplexity) against the unigram baseline, the
    same on ``test_ids`` where there are any (``test_loss``, ``test_bits_per_char``, ``test_perplexity``,
    ``unigram_test_loss``: reported, never chosen on), and one ``sample_length``-character continuation of
    ``prompt`` per temperature (all with ``sample_seed``)."""
    val = validation_loss(weights, val_ids, seq_len=seq_len, batch_size=batch_size, backend=backend)
    report = language_model_report(val, unigram_val_nats)
    if test_ids is not None and len(test_ids) > 1 and unigram_test_nats is not None:
        test = validation_loss(weights, test_ids, seq_len=seq_len, batch_size=batch_size, backend=backend)
        tested = language_model_report(test, unigram_test_nats)
        report.update(
            test_loss=tested["val_loss"],
            test_bits_per_char=tested["bits_per_char"],
            test_perplexity=tested["perplexity"],
            unigram_test_loss=tested["unigram_val_loss"],
        )
    report["samples"] = {
        float(t): sample_text(
            weights, vocab, prompt=prompt, length=sample_length, temperature=float(t), seed=sample_seed
        )
        for t in temperatures
    }
    report["prompt"] = prompt
    return report
