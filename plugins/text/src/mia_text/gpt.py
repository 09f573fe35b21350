"""A small GPT trained from scratch on the members: Hugging Face ``transformers``' GPT-2
architecture built from a config (no weights downloaded), over byte tokens.

``transformers`` is used for the architecture so the model under audit is the one the
literature audits (GPT-2's blocks, its initialisation), not a look-alike; the training loop is
this plugin's own, seeded, so the same seed gives the same weights on one machine.
"""

from __future__ import annotations

import os

import attrs
import torch
from torch import nn

from mia_core import ConfigError, Records, TrainEnv, option, positive

from .answers import NEXT_TOKENS, real_positions
from .encoding import VOCAB

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here is ever fetched


def _non_negative(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"{attribute.name} must be in [0, 1), got {value}")


@attrs.frozen
class GptOptions:
    layers: int = option(2, "transformer blocks", positive)
    width: int = option(64, "embedding width (n_embd)", positive)
    heads: int = option(2, "attention heads (must divide width)", positive)
    dropout: float = option(0.0, "dropout of embeddings, attention and residuals (GPT-2: "
                            "0.1; 0 lets the model memorise, as an audit should assume)",
                            _non_negative)
    epochs: int = option(30, "passes over the training records", positive)
    batch_size: int = option(32, "records per step", positive)
    lr: float = option(3e-3, "AdamW learning rate", positive)
    weight_decay: float = option(0.0, "AdamW weight decay", _non_negative)


class CausalLM(nn.Module):
    """A ``transformers`` causal LM answering token ids with next-token logits (a tensor)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.lm = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=tokens).logits


class GptTarget:
    """GPT-2's architecture, small, trained on exactly the member texts."""

    answers = NEXT_TOKENS

    def __init__(self, options: GptOptions) -> None:
        self.options = options
        if options.width % options.heads:
            raise ConfigError(f"gpt: width {options.width} is not a multiple of heads "
                              f"{options.heads}; change -o gpt.width or -o gpt.heads")

    def build(self, data: Records) -> nn.Module:
        if data.lengths is None or data.x.dtype != torch.int64 or data.x.dim() != 2:
            raise ConfigError("gpt takes token sequences (a text dataset's records)")
        if len(data) and (int(data.x.min()) < 0 or int(data.x.max()) >= VOCAB):
            raise ConfigError(f"gpt takes byte tokens below {VOCAB}; these records hold "
                              f"{int(data.x.max())}")
        from transformers import GPT2Config, GPT2LMHeadModel

        o = self.options
        config = GPT2Config(vocab_size=VOCAB, n_positions=max(data.x.shape[1], 2),
                            n_embd=o.width, n_layer=o.layers, n_head=o.heads,
                            resid_pdrop=o.dropout, embd_pdrop=o.dropout,
                            attn_pdrop=o.dropout, tie_word_embeddings=False,
                            bos_token_id=256, eos_token_id=257)
        return CausalLM(GPT2LMHeadModel(config))

    def fit(self, data: Records, env: TrainEnv) -> nn.Module:
        """Next-token cross-entropy over each record's real tokens, AdamW, shuffled batches
        drawn from ``env.seed``."""
        o = self.options
        model = self.build(data).to(env.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        generator = torch.Generator().manual_seed(env.seed)
        x = data.x.to(env.device)
        real = real_positions(data, data.x.shape[1] - 1).to(env.device)
        assert data.lengths is not None
        lengths = data.lengths.to(env.device)
        steps = o.epochs * -(-len(data) // o.batch_size)
        model.train()
        with env.progress.bar("training (gpt)", steps) as advance:
            for _ in range(o.epochs):
                for batch in torch.randperm(len(data), generator=generator).split(o.batch_size):
                    batch = batch.to(env.device)
                    longest = int(lengths[batch].max())
                    tokens = x[batch, :longest]
                    logits = model(tokens[:, :-1])
                    loss = nn.functional.cross_entropy(logits.transpose(1, 2), tokens[:, 1:],
                                                       reduction="none")
                    mask = real[batch, :longest - 1]
                    loss = (loss * mask).sum() / mask.sum()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    advance(1)
        return model.eval()
