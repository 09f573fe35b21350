"""Scoring text records with a causal LM: the text modality's answers against a plain
``transformers`` loop over the same model, tokens per second and peak memory.

The plain loop is what a user would write: batches through the model, log-softmax over the
vocabulary, gather each record's own tokens, keep the per-token log-probabilities. The
modality's answers (``mia_text.answers.next_token_answers``) keep three numbers per token
(its log-probability, the mean and spread of log p over the vocabulary, for Min-K%++) and
never hold the vocabulary's logits for more than one batch. Each variant runs in its own
process (peak resident memory is per process), ``--repeats`` times; the median is printed
with its ratio against the plain loop, measured in the same run.

    python benchmarks/lm_scoring.py [--records 5000] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ("plain", "answers")


def measure(variant: str, records: int, threads: int) -> dict[str, float]:
    import torch

    from mia_core import LoadEnv
    from mia_core.progress import QUIET
    from mia_text.answers import BATCH, next_token_answers
    from mia_text.data import GlossOptions, WordnetGlosses
    from mia_text.gpt import GptOptions, GptTarget

    torch.set_num_threads(threads)
    data = WordnetGlosses(GlossOptions(records=records)).load(LoadEnv(None, QUIET))
    torch.manual_seed(0)
    model = GptTarget(GptOptions()).build(data).eval()
    tokens = int((data.lengths - 1).sum())
    start = time.perf_counter()
    if variant == "answers":
        out = next_token_answers(model, data, torch.device("cpu"))
    else:  # the loop a user writes: batches padded to their longest, own tokens kept
        kept = []
        with torch.no_grad():
            for i in range(0, len(data), BATCH):
                x = data.x[i:i + BATCH, :int(data.lengths[i:i + BATCH].max())]
                log_p = model.lm(input_ids=x[:, :-1]).logits.log_softmax(-1)
                kept.append(log_p.gather(-1, x[:, 1:, None]).squeeze(-1))
        out = kept
    seconds = time.perf_counter() - start
    answered = len(out) if isinstance(out, torch.Tensor) else sum(len(k) for k in out)
    assert answered == len(data)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "tokens_per_s": tokens / seconds, "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.records, args.threads)))
        return
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:  # interleaved, so drift hits both alike
            out = subprocess.run([sys.executable, __file__, "--one", variant, "--records",
                                  str(args.records), "--threads", str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
    base = statistics.median(r["tokens_per_s"] for r in runs["plain"])
    print(f"{args.records} WordNet glosses, GPT defaults, {args.threads} threads, median of "
          f"{args.repeats}")
    for variant in VARIANTS:
        speed = statistics.median(r["tokens_per_s"] for r in runs[variant])
        peak = statistics.median(r["peak_mib"] for r in runs[variant])
        print(f"  {variant:8} {speed:10.0f} tokens/s  x{speed / base:.2f}  peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
