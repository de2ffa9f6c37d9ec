"""Train the Fashion-MNIST feature classifier used by `scorelab.image_metrics.fashion_quality`
and ship it with the reference statistics it scores against.

Trains `FashionClassifier` on the 60 000-image *training* split only (the split the diffusion
models train on; light pixel-noise augmentation so its features stay meaningful on imperfect
samples), prints the held-out accuracy on the 10 000-image test split, then stores beside the
weights: the training split's feature mean and covariance, its class frequencies, and the floor
table — the FD of n held-out images to the training moments, averaged over draws without
replacement, for n = 500, 1000, 2000, 5000 and 10 000. Seeded. Needs the Fashion-MNIST idx
files (`apt-get install dataset-fashion-mnist`, or `--data-dir`).

    python benchmarks/make_fashion_classifier.py [--epochs 4] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from scorelab.data import fashion_split
from scorelab.image_metrics import (
    FASHION_CLASSIFIER_FILE,
    FashionClassifier,
    frechet_distance_moments,
)

OUT = Path(__file__).resolve().parents[1] / "src" / "scorelab" / "assets" / FASHION_CLASSIFIER_FILE
FLOOR_SIZES = (500, 1000, 2000, 5000, 10000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.as_tensor(a) for a in fashion_split("train", data_dir=args.data_dir))
    xt, yt = (torch.as_tensor(a) for a in fashion_split("test", data_dir=args.data_dir))
    model = FashionClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=2e-3, total_steps=args.epochs * ((len(x) + 127) // 128)
    )
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for idx in perm.split(128):
            xb = x[idx] + 0.1 * torch.randn(x[idx].shape, generator=gen)
            loss = torch.nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {total / len(x):.4f}, "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    model.eval()
    with torch.no_grad():
        feats = torch.cat([model.features(b) for b in x.split(2048)]).double().numpy()
        test_feats = torch.cat([model.features(b) for b in xt.split(2048)])
        acc = float((model.head(test_feats).argmax(1) == yt).float().mean())
        test_feats = test_feats.double().numpy()
    mean, cov = feats.mean(0), np.cov(feats, rowvar=False)
    rng = np.random.default_rng(0)
    floors = []
    for n in FLOOR_SIZES:
        draws = max(1, min(20, len(test_feats) // n * 4)) if n < len(test_feats) else 1
        values = []
        for _ in range(draws):
            f = test_feats[rng.permutation(len(test_feats))[:n]]
            values.append(frechet_distance_moments(f.mean(0), np.cov(f, rowvar=False), mean, cov))
        floors.append(float(np.mean(values)))
        print(f"floor at n = {n}: FD {floors[-1]:.3f} (mean of {draws} draws)")
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    tensors.update(
        {
            "ref.mean": torch.as_tensor(mean),
            "ref.cov": torch.as_tensor(cov),
            "ref.freq": torch.as_tensor(np.bincount(y.numpy(), minlength=10) / len(y)),
            "ref.floor_n": torch.as_tensor(np.array(FLOOR_SIZES, dtype=np.float64)),
            "ref.floor_fd": torch.as_tensor(np.array(floors)),
        }
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        tensors,
        str(OUT),
        metadata={"held_out_accuracy": f"{acc:.4f}", "epochs": str(args.epochs)},
    )
    print(f"held-out accuracy {acc:.4f} -> {OUT}")


if __name__ == "__main__":
    main()
