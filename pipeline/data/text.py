"""Character vocabulary, integer encoding and the train/validation corpus of a text."""

from __future__ import annotations

import numpy as np


def build_vocab(text: str) -> list[str]:
    """Sorted list of the distinct characters of ``text``."""
    if not text:
        raise ValueError("cannot build a vocabulary from empty text")
    return sorted(set(text))


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """Map each character to its index in ``vocab`` (int32)."""
    index = {ch: i for i, ch in enumerate(vocab)}
    try:
        return np.fromiter((index[ch] for ch in text), dtype=np.int32, count=len(text))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None


def decode(ids, vocab: list[str]) -> str:
    """Inverse of :func:`encode`."""
    return "".join(vocab[int(i)] for i in ids)


def split_train_val(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split into a training head and a validation tail holding ``val_fraction`` of the ids."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    n_val = max(1, int(round(len(ids) * val_fraction)))
    if n_val >= len(ids):
        raise ValueError(f"text of {len(ids)} characters is too short to split")
    return ids[:-n_val], ids[-n_val:]


def unigram_cross_entropy(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Nats per character of ``val_ids`` under add-one smoothed unigram frequencies of ``train_ids``."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[val_ids].mean())


def prepare_corpus(files: dict[str, bytes], *, val_fraction: float) -> dict:
    """The char-RNN's corpus from the one downloaded text file: sorted vocabulary, the text as
    ids split into a training head and a validation tail, and the unigram baseline (nats/char).

    ``files`` maps the file's name to its bytes, which must be UTF-8 text.
    """
    if len(files) != 1:
        raise ValueError(f"expected exactly one text file, got {sorted(files)}")
    name, data = next(iter(files.items()))
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text ({exc})") from exc
    vocab = build_vocab(text)
    train_ids, val_ids = split_train_val(encode(text, vocab), val_fraction)
    return {
        "vocab": vocab,
        "train_ids": train_ids,
        "val_ids": val_ids,
        "unigram_val_nats": unigram_cross_entropy(train_ids, val_ids, len(vocab)),
    }
