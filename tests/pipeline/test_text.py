import math

import numpy as np
import pytest

from pipeline.data.text import build_vocab, decode, encode, prepare_corpus, split_train_val, unigram_cross_entropy


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


def test_prepare_corpus_from_the_downloaded_file():

    text = "to be, or not to be: that is the question.\n" * 5
    corpus = prepare_corpus({"input.txt": text.encode()}, val_fraction=0.2)
    assert corpus["vocab"] == sorted(set(text))
    ids = np.concatenate([corpus["train_ids"], corpus["val_ids"]])
    assert decode(ids, corpus["vocab"]) == text
    assert len(corpus["val_ids"]) == round(len(text) * 0.2) and corpus["val_ids"].dtype == np.int32
    counts = np.bincount(corpus["train_ids"], minlength=len(corpus["vocab"])) + 1.0
    expected = -np.mean(np.log(counts / counts.sum())[corpus["val_ids"]])
    assert corpus["unigram_val_nats"] == pytest.approx(expected)

    with pytest.raises(ValueError, match="input.txt: not UTF-8 text"):
        prepare_corpus({"input.txt": b"\xff\xfe bad"}, val_fraction=0.2)
    with pytest.raises(ValueError, match="exactly one text file"):
        prepare_corpus({"a.txt": b"a", "b.txt": b"b"}, val_fraction=0.2)
    with pytest.raises(ValueError, match="val_fraction"):
        prepare_corpus({"input.txt": text.encode()}, val_fraction=0.0)


def test_a_test_split_is_carved_from_the_held_out_tail_and_the_training_text_does_not_move():
    """Issue 31: ``test_fraction`` takes the end of the text; validation the held-out text before it; the training
    head is what ``val_fraction = val + test`` alone left, so the training runs on the same characters."""
    text = ("First Citizen: speak, speak.\n" * 40).encode()
    both = prepare_corpus({"input.txt": text}, val_fraction=0.1, test_fraction=0.1)
    alone = prepare_corpus({"input.txt": text}, val_fraction=0.2)
    np.testing.assert_array_equal(both["train_ids"], alone["train_ids"])
    np.testing.assert_array_equal(np.concatenate([both["val_ids"], both["test_ids"]]), alone["val_ids"])
    assert len(both["test_ids"]) == round(len(text) * 0.1) and both["unigram_test_nats"] > 0
    assert len(alone["test_ids"]) == 0 and "unigram_test_nats" not in alone
    with pytest.raises(ValueError, match="leaves no training text"):
        prepare_corpus({"input.txt": text}, val_fraction=0.5, test_fraction=0.5)
