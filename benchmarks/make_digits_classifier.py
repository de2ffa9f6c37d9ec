"""Train the digits feature classifier used by `scorelab.image_metrics` and ship it.

Trains `DigitsClassifier` on the digits *training* split only (the same 80 % split the diffusion
model trains on), prints the held-out accuracy, and writes
src/scorelab/assets/digits_classifier.safetensors. Seeded; about ten seconds on 2 CPU cores.

    python benchmarks/make_digits_classifier.py
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from scorelab.data import digits_split
from scorelab.image_metrics import CLASSIFIER_FILE, DigitsClassifier

OUT = Path(__file__).resolve().parents[1] / "src" / "scorelab" / "assets" / CLASSIFIER_FILE


def main() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.as_tensor(a) for a in digits_split("train"))
    xt, yt = (torch.as_tensor(a) for a in digits_split("test"))
    x, xt = x.float(), xt.float()
    model = DigitsClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    for _ in range(400):
        perm = torch.randperm(len(x), generator=gen)
        for idx in perm.split(128):
            # light augmentation: pixel noise, so features stay meaningful on imperfect samples
            xb = x[idx] + 0.1 * torch.randn(x[idx].shape, generator=gen)
            loss = torch.nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
        train_acc = (model(x).argmax(1) == y).float().mean().item()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(OUT))
    print(f"train accuracy {train_acc:.4f}, held-out accuracy {acc:.4f} -> {OUT}")


if __name__ == "__main__":
    main()
