"""MNIST: the four IDX files, and their conversion to float images and one-hot labels."""

from __future__ import annotations

import numpy as np

from pipeline.data.idx import maybe_gunzip, parse_idx

# sha256 of the decompressed, original release files.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
N_CLASSES = 10


def one_hot(labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Integer labels of shape (n,) to a float32 one-hot matrix of shape (n, n_classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-d, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got [{labels.min()}, {labels.max()}]")
    out = np.zeros((labels.size, n_classes), dtype=np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out


def _images(data: bytes, name: str) -> np.ndarray:
    images = parse_idx(maybe_gunzip(data, name), name)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{name}: expected a 3-d uint8 image array, got {images.dtype} {images.shape}")
    return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)


def _labels(data: bytes, name: str) -> np.ndarray:
    labels = parse_idx(maybe_gunzip(data, name), name)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{name}: expected a 1-d uint8 label array, got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= N_CLASSES:
        raise ValueError(f"{name}: label {labels.max()} outside 0..{N_CLASSES - 1}")
    return labels.astype(np.int64)


def prepare_mnist(files: dict[str, bytes], train_limit: int = 0, val_size: int = 0) -> dict[str, np.ndarray]:
    """Turn the four IDX files into ``X_*`` (float32 in [0, 1], n x 784), ``y_*`` and one-hot ``Y_*`` for the
    splits ``train``, ``val`` and ``test``.

    ``val_size`` > 0 holds out the *last* that many training examples as the validation split (what
    configurations, epochs and champions are chosen on; the test split only reports). ``train_limit`` > 0
    then keeps only the first that many of the rest.
    """
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img_name, lbl_name = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        for name in (img_name, lbl_name):
            if name not in files:
                raise ValueError(f"{name}: missing from the downloaded MNIST files")
        X = _images(files[img_name], img_name)
        y = _labels(files[lbl_name], lbl_name)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"{img_name}/{lbl_name}: {X.shape[0]} images but {y.shape[0]} labels")
        if split == "train":
            if val_size < 0 or val_size >= X.shape[0]:
                raise ValueError(
                    f"{img_name}: val_size {val_size} leaves no training example of {X.shape[0]} "
                    f"(it must lie in 0..{X.shape[0] - 1})"
                )
            cut = X.shape[0] - val_size
            out["X_val"], out["y_val"], out["Y_val"] = X[cut:], y[cut:], one_hot(y[cut:])
            X, y = X[:cut], y[:cut]
            if train_limit > 0:
                X, y = X[:train_limit], y[:train_limit]
        out[f"X_{split}"], out[f"y_{split}"], out[f"Y_{split}"] = X, y, one_hot(y)
    return out
