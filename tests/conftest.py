"""Shared fixtures: tiny MNIST-like IDX files and a short text, written by the tests themselves."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.idx import encode_idx

TINY_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\nROMEO:\nBut, soft! what light through yonder window breaks?\n"
) * 12


def make_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 uint8 'digits': class k lights a 6x6 block at a class-specific spot, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        r, c = 2 + 8 * (k // 4), 2 + 6 * (k % 4)
        images[i, r : r + 6, c : c + 6] = 255
    return images, labels


def write_mnist(
    directory: Path, n_train: int = 768, n_test: int = 200, gzipped: bool = True, release: int = 0
) -> dict[str, str]:
    """Write the four IDX files; return their sha256 (of the decompressed bytes) by name. The tests' pipeline
    holds out the last 128 training digits for validation (``[OneHotMNIST] val_size``): 640 train on.

    A different ``release`` writes different (equally learnable) digits.
    """
    directory.mkdir(parents=True, exist_ok=True)
    shas = {}
    for prefix, n, seed in (("train", n_train, 1 + 10 * release), ("t10k", n_test, 2 + 10 * release)):
        images, labels = make_digits(n, seed)
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            data = encode_idx(array)
            shas[name] = hashlib.sha256(data).hexdigest()
            if gzipped:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return shas


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A directory mirror holding tiny gzipped MNIST-like IDX files, and their sha256 pins."""
    directory = tmp_path_factory.mktemp("mnist")
    return directory, write_mnist(directory)


@pytest.fixture(scope="session")
def tiny_text(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A directory mirror holding a short ``input.txt``, and its sha256 pin."""
    directory = tmp_path_factory.mktemp("text")
    data = TINY_TEXT.encode()
    (directory / "input.txt").write_bytes(data)
    return directory, {"input.txt": hashlib.sha256(data).hexdigest()}
