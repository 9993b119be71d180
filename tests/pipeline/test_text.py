import math

import numpy as np
import pytest

from pipeline.data.text import build_vocab, decode, encode, split_train_val, unigram_cross_entropy


def test_vocab_is_sorted_and_round_trips():
    text = "hello, world\nHELLO!"
    vocab = build_vocab(text)
    assert vocab == sorted(set(text))
    ids = encode(text, vocab)
    assert ids.dtype == np.int32
    assert decode(ids, vocab) == text


def test_unknown_character_and_empty_text():
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        encode("abz", ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        build_vocab("")


def test_split_takes_the_tail():
    ids = np.arange(100)
    train, val = split_train_val(ids, 0.1)
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(val, np.arange(90, 100))
    with pytest.raises(ValueError, match="val_fraction"):
        split_train_val(ids, 1.0)


def test_unigram_cross_entropy_matches_hand_computation():
    train, val = np.array([0, 0, 1]), np.array([0, 1, 2])
    p = np.array([3, 2, 1]) / 6  # add-one smoothed counts
    expected = -(math.log(p[0]) + math.log(p[1]) + math.log(p[2])) / 3
    assert unigram_cross_entropy(train, val, 3) == pytest.approx(expected)
