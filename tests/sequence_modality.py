"""A modality the core has never heard of, as a plugin outside it: variable-length integer
sequences, a tiny autoregressive model, and answers that are the log-probabilities of each
record's own next tokens (never a distribution over the whole vocabulary).

Loaded with ``-p tests.sequence_modality``. It edits nothing in the core and uses only
``mia_core``'s public names: the test that the core speaks records, answers and signals.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mia_core import (
    Answers,
    ConfigError,
    LoadEnv,
    Records,
    TrainEnv,
    hookimpl,
    option,
    positive,
)

PAD = 0  # token 0 pads; records use tokens 1 .. vocab - 1


@attrs.frozen
class SequenceOptions:
    records: int = option(800, "number of sequences", positive)
    vocab: int = option(12, "tokens, padding included", positive)
    shortest: int = option(6, "shortest sequence", positive)
    longest: int = option(16, "longest sequence", positive)


class Sequences:
    """Random sequences of random lengths: nothing to learn but the sequences themselves, so
    a model predicts a record's tokens well only if it trained on that record."""

    suggested_members = 100

    def __init__(self, options: SequenceOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> Records:
        o = self.options
        generator = torch.Generator().manual_seed(20261206)
        lengths = torch.randint(o.shortest, o.longest + 1, (o.records,), generator=generator)
        tokens = torch.randint(1, o.vocab, (o.records, o.longest), generator=generator)
        padding = torch.arange(o.longest) >= lengths[:, None]
        return Records(tokens.masked_fill(padding, PAD), lengths=lengths)


class TinyLM(nn.Module):
    """Embedding, a GRU, and next-token logits."""

    def __init__(self, vocab: int, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.rnn = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


def token_log_probs(model: nn.Module, records: Records, device: torch.device) -> torch.Tensor:
    """(N, L - 1) float32: log p(token t + 1 | tokens up to t) of each record's own tokens;
    0 past the record's end."""
    model.eval()
    x = records.x.to(device)
    with torch.no_grad():
        logits = model(x[:, :-1]).float()
    own = logits.log_softmax(-1).gather(-1, x[:, 1:, None]).squeeze(-1).cpu()
    return own.masked_fill(~_real(records), 0.0)


def _real(records: Records) -> torch.Tensor:
    """(N, L - 1) bool: which predicted positions are inside the record."""
    assert records.lengths is not None
    width = records.x.shape[1] - 1
    return torch.arange(width) < (records.lengths[:, None] - 1)


def mean_log_likelihood(answers: torch.Tensor, records: Records) -> torch.Tensor:
    """(..., N) float64: the mean log-probability of a record's tokens (answers may carry
    a models dimension in front)."""
    real = _real(records).double()
    return (answers.double() * real).sum(-1) / real.sum(-1)


def problem(answers: torch.Tensor, records: Records) -> str | None:
    expected = (len(records), records.x.shape[1] - 1)
    if tuple(answers.shape) != expected:
        return f"answers of shape {tuple(answers.shape)}, expected {expected}"
    if not torch.isfinite(answers).all() or (answers > 0).any():
        return "answers that are not log-probabilities"
    return None


def sure_share(answers: torch.Tensor, records: Records) -> float:
    """The share of tokens given more than half the probability: surely the model's top
    guess, so a lower bound on its next-token accuracy."""
    return float((answers[_real(records)] > torch.log(torch.tensor(0.5))).double().mean())


SEQUENCE_ANSWERS = Answers(
    name="log-probabilities of each record's own tokens",
    answer=token_log_probs,
    signals={"log_likelihood": mean_log_likelihood, "confidence": mean_log_likelihood},
    problem=problem,
    accuracy=sure_share,
)


@attrs.frozen
class LmOptions:
    vocab: int = option(12, "tokens the model knows, padding included", positive)
    width: int = option(64, "embedding and GRU width", positive)
    epochs: int = option(60, "passes over the records", positive)
    lr: float = option(0.01, "Adam learning rate", positive)


class TinyLmTarget:
    """Trains :class:`TinyLM` with its own loop (not the classifiers' recipe)."""

    answers = SEQUENCE_ANSWERS

    def __init__(self, options: LmOptions) -> None:
        self.options = options

    def build(self, data: Records) -> nn.Module:
        if data.lengths is None or data.x.dtype != torch.int64:
            raise ConfigError("tiny-lm takes token sequences (int64, with lengths)")
        if len(data) and int(data.x.max()) >= self.options.vocab:
            raise ConfigError(f"tokens go up to {int(data.x.max())}; set -o "
                              f"tiny-lm.vocab={int(data.x.max()) + 1}")
        return TinyLM(self.options.vocab, self.options.width)

    def fit(self, data: Records, env: TrainEnv) -> nn.Module:
        model = self.build(data).to(env.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.options.lr)
        generator = torch.Generator().manual_seed(env.seed)
        x, real = data.x.to(env.device), _real(data).to(env.device)
        model.train()
        for _ in range(self.options.epochs):
            for batch in torch.randperm(len(data), generator=generator).split(32):
                logits = model(x[batch, :-1])
                loss = nn.functional.cross_entropy(logits.transpose(1, 2), x[batch, 1:],
                                                   reduction="none")
                loss = (loss * real[batch]).sum() / real[batch].sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return model.eval()


@hookimpl
def register_datasets(register):
    register("sequences", Sequences, description="Random token sequences of varying length",
             options=SequenceOptions)


@hookimpl
def register_targets(register):
    register("tiny-lm", TinyLmTarget, description="A GRU language model over tokens",
             options=LmOptions)
