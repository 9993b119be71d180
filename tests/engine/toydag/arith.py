"""The arithmetic Square runs (and so hashes); nothing else imports it."""
import numpy as np


def powers(values, power: int) -> np.ndarray:
    """Each value raised to ``power``."""
    return np.asarray(values, dtype=np.int64) ** power
