"""The text modality's components, registered with mia-core."""

from __future__ import annotations

from mia_core import hookimpl

from .attacks import (
    BlindNgram,
    BlindOptions,
    Exposure,
    ExposureOptions,
    MinK,
    MinKOptions,
    MinKPlusPlus,
    Zlib,
)
from .data import (
    BenchmarkOptions,
    GlossOptions,
    LabelledBenchmark,
    TextFile,
    TextFileOptions,
    WordnetGlosses,
)
from .gpt import GptOptions, GptTarget
from .hf import HfOptions, hf_target


@hookimpl
def register_datasets(register):
    register("text", TextFile, description="Text records from a file of yours: a record per "
             "line or paragraph, a JSON-lines field or a CSV column", options=TextFileOptions)
    register("wordnet-glosses", WordnetGlosses, description="WordNet 3.0's English glosses "
             "(offline, Debian's wordnet-base): a fixed sample of short texts",
             options=GlossOptions)
    register("wikimia", LabelledBenchmark, description="An LM membership benchmark with "
             "member labels (WikiMIA's format: JSON lines of input and label); its members are "
             "fixed by date, not drawn at random, and the run says so", options=BenchmarkOptions)


@hookimpl
def register_targets(register):
    register("gpt", GptTarget, description="A small GPT-2 (transformers, built from a config, "
             "no download) trained from scratch on the member texts", options=GptOptions)
    register("hf-lm", hf_target, description="A Hugging Face causal LM folder you have "
             "(--model DIR: config, safetensors, tokenizer; local files only, no remote code); "
             "reference models fine-tuned from base=DIR, LoRA optional", options=HfOptions)


@hookimpl
def register_attacks(register):
    register("zlib", Zlib, description="Carlini et al. 2021: log-likelihood over zlib "
             "compressed length (language models)")
    register("min-k", MinK, description="Shi et al. 2024 Min-K%: mean log-probability of the "
             "k % least likely tokens (language models)", options=MinKOptions)
    register("min-k-plus-plus", MinKPlusPlus, description="Zhang et al. 2024 Min-K%++: Min-K% "
             "over standardised token log-probabilities (language models)", options=MinKOptions)
    register("exposure", Exposure, description="Carlini et al. 2019 secret sharer: the "
             "record's rank among neighbours differing in its digits (or a few letters), as "
             "bits of exposure (language models; made for --canaries)", options=ExposureOptions)
    register("blind-ngram", BlindNgram, description="Das et al. 2024 blind baseline: n-grams "
             "of the text alone, never the model; above chance only where the benchmark's "
             "members and non-members differ as texts", options=BlindOptions)
