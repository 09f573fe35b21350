"""A pretrained causal language model you have: a Hugging Face model folder (``--model DIR``:
config, safetensors weights, tokenizer), loaded from local files only, never with
``trust_remote_code`` and never from a pickle.

The model reads text with its own tokenizer: each record's bytes are decoded and tokenized
its way, so the answers count its tokens, not bytes. A fourth number per token says which
positions are the text's (records differ in token count). Without a base the target trains
nothing, so the known-members attacks (loss, zlib, Min-K%, Min-K%++, the blind baseline) audit
it. With ``base=DIR`` (the model it was fine-tuned from), reference models are fine-tuned from
that base on their records, fully or with LoRA adapters (``lora=RANK``, through ``peft``,
cheap), so LiRA, RMIA and the reference-model attack run too.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import torch
from torch import nn

from mia_core import Answers, ConfigError, Records, TrainEnv, option, positive

from .answers import (
    REAL,
    TOKEN_SIGNALS,
    accuracy,
    log_prob_problem,
    token_statistics,
)
from .encoding import texts_of

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here is ever fetched

PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


def _non_negative(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value}")


@attrs.frozen
class HfOptions:
    max_tokens: int = option(128, "tokens of each text the model reads (longer texts are cut)",
                             positive)
    batch_size: int = option(16, "texts per forward pass", positive)
    base: str = option("", "the folder of the model it was fine-tuned from: reference models "
                       "are fine-tuned from it on their records (empty: none, train nothing)")
    lora: int = option(0, "fine-tune reference models with LoRA adapters of this rank (peft); "
                       "0: every weight", _non_negative)
    epochs: int = option(3, "fine-tuning passes over a reference model's records", positive)
    lr: float = option(1e-4, "fine-tuning AdamW learning rate (LoRA: 1e-3 is usual)", positive)


class HfModel(nn.Module):
    """A ``transformers`` causal LM with its tokenizer: answers texts, not token ids."""

    def __init__(self, model: nn.Module, tokenizer: object, max_tokens: int,
                 batch_size: int) -> None:
        super().__init__()
        self.lm = model
        self.tokenizer = tokenizer
        self.max_tokens, self.batch_size = max_tokens, batch_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=tokens).logits


@torch.no_grad()
def tokenised_answers(model: nn.Module, records: Records, device: torch.device) -> torch.Tensor:
    """(N, max_tokens - 1, 4) float32: per next token of the model's own tokenisation, its
    log-probability, the mean and spread of log p over the vocabulary, and 1 (0 past the
    text's end)."""
    assert isinstance(model, HfModel)
    model.eval()
    width = model.max_tokens - 1
    out = torch.zeros(len(records), width, 4)
    texts = texts_of(records)
    for start in range(0, len(texts), model.batch_size):
        batch = model.tokenizer(texts[start:start + model.batch_size], truncation=True,
                                max_length=model.max_tokens, padding=True,
                                return_tensors="pt")
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        logits = model.lm(input_ids=ids, attention_mask=mask).logits.float()
        stats = token_statistics(logits[:, :-1].log_softmax(-1), ids[:, 1:])
        real = mask[:, 1:].bool() & mask[:, :-1].bool()
        stats = stats.masked_fill(~real[..., None], 0.0)
        n = stats.shape[1]
        out[start:start + len(ids), :n, :3] = stats.cpu()
        out[start:start + len(ids), :n, REAL] = real.float().cpu()
    return out


def _problem(answers: torch.Tensor, records: Records) -> str | None:
    if answers.dim() != 3 or answers.shape[0] != len(records) or answers.shape[-1] != 4:
        return f"its model answers with shape {tuple(answers.shape)}, expected (N, T, 4)"
    found = log_prob_problem(answers)
    if found is None and (answers[..., REAL].sum(-1) < 1).any():
        return "some texts give the model no next token to predict (one token or none)"
    return found


TOKENISED = Answers(
    name="next-token log-probabilities under the model's own tokenizer",
    answer=tokenised_answers,
    signals=TOKEN_SIGNALS,
    problem=_problem,
    accuracy=accuracy,
)


def hf_target(options: HfOptions) -> HfGivenTarget:
    """The audited folder alone, or with the base its reference models are fine-tuned from."""
    return HfFineTuned(options) if options.base else HfGivenTarget(options)


class HfGivenTarget:
    """A Hugging Face causal LM folder given with ``--model DIR``; trains nothing."""

    trains = False
    answers = TOKENISED

    def __init__(self, options: HfOptions) -> None:
        self.options = options

    def load_model(self, path: Path, data: Records) -> nn.Module:
        model, tokenizer = load_folder(path, "--model")
        return self._wrap(model, tokenizer)

    def fit(self, data: Records, env: TrainEnv) -> nn.Module:
        raise ConfigError("the hf-lm target trains no models without a base; it audits the "
                          "folder given with --model DIR (add -o hf-lm.base=DIR to fine-tune "
                          "reference models)")

    def _wrap(self, model: nn.Module, tokenizer: object) -> HfModel:
        o = self.options
        longest = getattr(model.config, "max_position_embeddings", None) or o.max_tokens
        return HfModel(model, tokenizer, min(o.max_tokens, longest), o.batch_size).eval()


class HfFineTuned(HfGivenTarget):
    """The given folder, and reference models fine-tuned from its base (``base=DIR``) like
    it was: every weight, or LoRA adapters of rank ``lora``."""

    trains = True

    def fingerprint(self) -> str:
        """The base folder's digest: a changed base invalidates the cached reference models."""
        from mia_core.experiment.external import model_digest

        return model_digest(Path(self.options.base))

    def build(self, data: Records) -> nn.Module:
        """The base model (with fresh LoRA adapters when ``lora``), not yet fine-tuned."""
        model, tokenizer = load_folder(Path(self.options.base), "-o hf-lm.base")
        if self.options.lora:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=self.options.lora,
                                                     lora_alpha=2 * self.options.lora,
                                                     lora_dropout=0.0, task_type="CAUSAL_LM"))
        return self._wrap(model, tokenizer)

    def fit(self, data: Records, env: TrainEnv) -> nn.Module:
        """Fine-tune the base on exactly ``data``'s texts: next-token loss, AdamW, batches
        shuffled from ``env.seed``."""
        o = self.options
        model = self.build(data).to(env.device)
        texts = texts_of(data)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=o.lr)
        generator = torch.Generator().manual_seed(env.seed)
        steps = o.epochs * -(-len(texts) // o.batch_size)
        model.train()
        with env.progress.bar("fine-tuning (hf-lm)", steps) as advance:
            for _ in range(o.epochs):
                for rows in torch.randperm(len(texts), generator=generator).split(o.batch_size):
                    batch = model.tokenizer([texts[i] for i in rows.tolist()], truncation=True,
                                            max_length=model.max_tokens, padding=True,
                                            return_tensors="pt").to(env.device)
                    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
                    loss = model.lm(input_ids=batch["input_ids"],
                                    attention_mask=batch["attention_mask"], labels=labels).loss
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    advance(1)
        return model.eval()


def load_folder(path: Path, flag: str) -> tuple[nn.Module, object]:
    """A causal LM and its tokenizer from a Hugging Face folder: local files, safetensors."""
    if not path.is_dir():
        raise ConfigError(f"{flag} {path}: hf-lm reads a Hugging Face model folder "
                          "(config.json, model.safetensors, tokenizer files)")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{flag} {path} has no config.json; save the model with "
                          "save_pretrained")
    if not list(path.glob("*.safetensors")):
        found = [p.name for p in path.iterdir() if p.name in PICKLED]
        why = f" (it holds {', '.join(found)}, which is read by unpickling)" if found else ""
        raise ConfigError(f"{flag} {path} has no safetensors weights{why}; mia-core never "
                          "unpickles a model: save it with save_pretrained(safe_serialization="
                          "True)")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # its loading bars and notes are not the user's news
    logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True,
                                                  trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                     trust_remote_code=False,
                                                     use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "unreadable"
        raise ConfigError(f"{flag} {path} is not a loadable causal language model folder "
                          f"({first})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if tokenizer.pad_token is None:
        raise ConfigError(f"{flag} {path}: its tokenizer has no pad, end or unknown token to "
                          "pad a batch with")
    tokenizer.padding_side = "right"
    return model, tokenizer
