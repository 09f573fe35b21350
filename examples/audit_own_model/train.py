"""Train a model the way anyone would, with plain PyTorch and no mia-core, then save what an
audit needs: the weights (safetensors) and the ids of the records it was trained on.

    python examples/audit_own_model/train.py OUT_DIR
    mia-run --dataset breast-cancer --target mlp -o mlp.hidden=64 -o mlp.activation=relu \
        -o mlp.epochs=100 -o mlp.batch_size=32 \
        --model OUT_DIR/model.safetensors --train-records OUT_DIR/members.txt \
        --attack lira --attack loss-threshold --output OUT_DIR/audit

The data is scikit-learn's bundled breast-cancer set (569 records), so this runs offline.
Record ids are row numbers in scikit-learn's order, which is the order of mia-core's
``breast-cancer`` dataset. The network is laid out as mia-core's ``mlp`` target builds it
(``mean``/``std`` buffers, then ``layers``: Linear, ReLU, Linear), so ``--target mlp`` with
the same width and activation can load it; the recipe options make the attack's reference
models train as this script does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from sklearn.datasets import load_breast_cancer
from torch import nn

SEED = 7
HIDDEN = 64
EPOCHS = 100
BATCH = 32


class Classifier(nn.Module):
    """Raw features in, logits out; the scaling is part of the model, fitted on its data."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.layers = nn.Sequential(nn.Linear(len(mean), HIDDEN), nn.ReLU(),
                                    nn.Linear(HIDDEN, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.std)


def load_data() -> tuple[torch.Tensor, torch.Tensor]:
    bunch = load_breast_cancer()
    return (torch.tensor(bunch.data, dtype=torch.float32),
            torch.tensor(bunch.target, dtype=torch.int64))


def train(out: Path) -> None:
    x, y = load_data()
    generator = torch.Generator().manual_seed(SEED)
    members = torch.randperm(len(y), generator=generator)[: len(y) // 2].sort().values
    xm, ym = x[members], y[members]
    torch.manual_seed(SEED)
    model = Classifier(xm.mean(0), xm.std(0, unbiased=False), 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(ym), generator=generator).split(BATCH):
            loss = nn.functional.cross_entropy(model(xm[batch]), ym[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        correct = (model(xm).argmax(1) == ym).float().mean().item()
    out.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(out / "model.safetensors"))
    (out / "members.txt").write_text("".join(f"{i}\n" for i in members.tolist()))
    print(f"trained on {len(members)} of {len(y)} records (train accuracy {correct:.3f}); "
          f"wrote {out / 'model.safetensors'} and {out / 'members.txt'}")


if __name__ == "__main__":
    train(Path(sys.argv[1] if len(sys.argv) > 1 else "own-model"))
