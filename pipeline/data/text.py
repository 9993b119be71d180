"""Character vocabulary, integer encoding and the train/validation/test corpus of a text."""

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


def prepare_corpus(files: dict[str, bytes], *, val_fraction: float, test_fraction: float = 0.0) -> dict:
    """The char-RNN's corpus from the one downloaded text file: sorted vocabulary, the text as ids split into a
    training head, a validation part (what the kept epoch and configurations are chosen on) and a test tail
    (``test_fraction`` of the text; only reported), and the unigram baselines (nats/char).

    ``files`` maps the file's name to its bytes, which must be UTF-8 text.
    """
    if not 0.0 <= test_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"test_fraction {test_fraction} with val_fraction {val_fraction} leaves no training text "
            "(each in [0, 1), their sum below 1)"
        )
    if len(files) != 1:
        raise ValueError(f"expected exactly one text file, got {sorted(files)}")
    name, data = next(iter(files.items()))
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text ({exc})") from exc
    vocab = build_vocab(text)
    ids = encode(text, vocab)
    # the held-out tail is what split_train_val holds out for val_fraction + test_fraction (so that the training
    # text does not move when a test split is carved from the validation text); the test text is its end
    train_ids, held = split_train_val(ids, val_fraction + test_fraction)
    n_test = min(len(held) - 1, int(round(len(ids) * test_fraction))) if test_fraction else 0
    val_ids, test_ids = held[: len(held) - n_test], held[len(held) - n_test :]
    corpus = {
        "vocab": vocab,
        "train_ids": train_ids,
        "val_ids": val_ids,
        "unigram_val_nats": unigram_cross_entropy(train_ids, val_ids, len(vocab)),
        "test_ids": test_ids,
    }
    if len(test_ids):
        corpus["unigram_test_nats"] = unigram_cross_entropy(train_ids, test_ids, len(vocab))
    return corpus
