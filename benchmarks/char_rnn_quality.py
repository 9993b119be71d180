"""The char-RNN against PyTorch's ``nn.RNN`` at an equal number of updates, on the same streams and metric.

    python benchmarks/char_rnn_quality.py --data DIR [--epochs 15] [--seed 0] [--init seed|uniform|torch]
        [--batching streams|windows] [--one-bias] [--output FILE]

Trains PyTorch's equivalent of ``TrainCharRNN``'s recipe (256 tanh units, Adam 3e-3,
global gradient norm clipped at 5, truncated BPTT over 64 steps, 32 chunks per update, the
last 10% of the text held out) for as many updates as the pipeline makes, and evaluates it
after every epoch exactly as the pipeline does (``char_rnn.stream_loss``: mean loss per
64-step chunk over the validation streams, carrying the hidden state, from zeros).
``--batching streams`` cuts the chunks along 32 contiguous streams, carrying the hidden
state; ``windows`` (the pipeline's default) draws 32 windows at random offsets per update,
each from a zero state. ``--init seed`` and ``--init uniform`` start from the pipeline's own
initial weights for that ``init`` (PyTorch's second recurrent bias zero), so the two differ
only in float rounding, the library and the windows' random offsets; ``--init torch`` keeps
PyTorch's defaults (uniform ``±1/sqrt(256)``, two recurrent biases), which is what an
``nn.RNN`` user gets.
``--one-bias`` freezes ``nn.RNN``'s second recurrent bias at zero, leaving the seed's model
exactly (one hidden bias ``b_h``: under Adam two summed biases learn about twice as fast).
Prints the validation loss per epoch and the best; run ``train_accuracy.py --model
char_rnn`` for the pipeline's side.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from results_file import append_results  # benchmarks/, beside this script

from pipeline.data.text import build_vocab, encode, split_train_val
from pipeline.models import char_rnn

HIDDEN, SEQ, BATCH, LR, CLIP = 256, 64, 32, 0.003, 5.0


def main() -> None:
    import torch
    from torch import nn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", choices=["seed", "uniform", "torch"], default="seed")
    parser.add_argument("--one-bias", action="store_true", help="freeze nn.RNN's bias_hh at zero: the seed's model")
    parser.add_argument(
        "--batching",
        choices=["streams", "windows"],
        default="streams",
        help="streams: 32 contiguous streams carrying the hidden state (the pipeline's); "
        "windows: each update 32 windows at random offsets, each from a zero state",
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    text = (args.data / "tinyshakespeare.txt").read_text()
    vocab = build_vocab(text)
    V = len(vocab)
    train_ids, val_ids = split_train_val(encode(text, vocab), 0.1)
    streams = torch.from_numpy(char_rnn.as_streams(train_ids, BATCH, SEQ).astype(np.int64))
    val_streams = torch.from_numpy(char_rnn.as_streams(val_ids, BATCH, SEQ).astype(np.int64))
    steps = char_rnn.n_chunks(streams.numpy(), SEQ)

    torch.manual_seed(args.seed)
    rnn, head = nn.RNN(V, HIDDEN, nonlinearity="tanh"), nn.Linear(HIDDEN, V)
    if args.init != "torch":
        w = char_rnn.init_char_rnn(args.seed, V, HIDDEN, args.init)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.from_numpy(w["W_xh"].T.copy()))
            rnn.weight_hh_l0.copy_(torch.from_numpy(w["W_hh"].T.copy()))
            rnn.bias_ih_l0.copy_(torch.from_numpy(w["b_h"]))
            rnn.bias_hh_l0.zero_()
            head.weight.copy_(torch.from_numpy(w["W_hy"].T.copy()))
            head.bias.copy_(torch.from_numpy(w["b_y"]))
    if args.one_bias:
        with torch.no_grad():
            rnn.bias_hh_l0.zero_()
        rnn.bias_hh_l0.requires_grad_(False)
    params = [p for p in [*rnn.parameters(), *head.parameters()] if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    eye = torch.eye(V)

    def chunk_loss(ids, h):
        out, h = rnn(eye[ids[:-1]], h)
        return nn.functional.cross_entropy(head(out).reshape(-1, V), ids[1:].reshape(-1)), h

    def validation():
        with torch.no_grad():
            h = torch.zeros(1, BATCH, HIDDEN)
            losses = []
            for k in range(char_rnn.n_chunks(val_streams.numpy(), SEQ)):
                loss, h = chunk_loss(val_streams[k * SEQ : k * SEQ + SEQ + 1], h)
                losses.append(float(loss))
        return float(np.mean(losses))

    train_flat = torch.from_numpy(np.asarray(train_ids, dtype=np.int64))
    window_rng = np.random.default_rng(args.seed)

    def window_batch():
        starts = window_rng.integers(0, len(train_flat) - SEQ - 1, size=BATCH)
        return torch.stack([train_flat[s : s + SEQ + 1] for s in starts], dim=1)  # (SEQ+1, BATCH)

    history = []
    h = torch.zeros(1, BATCH, HIDDEN)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        h = torch.zeros(1, BATCH, HIDDEN)  # one epoch is one pass: the streams start afresh, as the pipeline's do
        train = []
        for k in range(steps):
            opt.zero_grad()
            if args.batching == "windows":
                loss, h = chunk_loss(window_batch(), torch.zeros(1, BATCH, HIDDEN))
            else:
                loss, h = chunk_loss(streams[k * SEQ : k * SEQ + SEQ + 1], h)
            loss.backward()
            nn.utils.clip_grad_norm_(params, CLIP)
            opt.step()
            h = h.detach()
            train.append(float(loss.detach()))
        val = validation()
        history.append(val)
        print(
            f"epoch {epoch:3d}  loss {np.mean(train):.4f}  val_loss {val:.4f}  {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    row = {
        "benchmark": "char_rnn_quality",
        "library": f"torch {torch.__version__}",
        "init": args.init,
        "one_bias": args.one_bias,
        "batching": args.batching,
        "seed": args.seed,
        "updates": steps * args.epochs,
        "val_loss": history,
        "best": {"epoch": int(np.argmin(history)) + 1, "val_loss": min(history)},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(row))
    append_results(args.output, [row])


if __name__ == "__main__":
    main()
