"""The text modality (plugins/text): text files read as records, byte tokens, a GPT's
next-token answers, the language-model attacks against worked examples, and a real audit of
a GPT through mia-run."""

from __future__ import annotations

import json
import math
import zlib

import pytest
import torch
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mia_core import AttackContext, DataFileError, KnownRecords, MiaError, Records, TargetOracle
from mia_core.cli.mia_run import run
from mia_text.answers import NEXT_TOKENS, next_token_answers
from mia_text.attacks import (
    BlindNgram,
    BlindOptions,
    MinK,
    MinKOptions,
    MinKPlusPlus,
    Zlib,
    lowest_mean,
)
from mia_text.encoding import BOS, EOS, PAD, encode, text_of
from mia_text.sources import csv_records, jsonl_records, plain_records, wordnet_glosses


# --- records -----------------------------------------------------------------------------------
def test_texts_become_byte_tokens_and_come_back_whole():
    records = encode(["héllo", "a", "naïve café"], max_bytes=64)
    assert records.lengths.tolist() == [2 + 6, 2 + 1, 2 + 12]
    assert records.x[1].tolist()[:3] == [BOS, ord("a"), EOS]
    assert set(records.x[1, 3:].tolist()) == {PAD}
    assert [text_of(records, i) for i in range(3)] == ["héllo", "a", "naïve café"]


def test_a_long_text_is_cut_at_a_character_boundary_without_an_end_token():
    records = encode(["ab\u00e9cd"], max_bytes=3)  # "é" is two bytes: cut before it
    assert records.x[0, :int(records.lengths[0])].tolist() == [BOS, ord("a"), ord("b")]
    assert text_of(records, 0) == "ab"


def test_plain_files_give_a_record_per_line_or_paragraph(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("first line\n\nsecond\nstill second\n\n\nthird\n")
    assert plain_records(path, "line") == ["first line", "second", "still second", "third"]
    assert plain_records(path, "paragraph") == ["first line", "second still second", "third"]


def test_json_lines_and_csv_give_the_chosen_field(tmp_path):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"text": "one", "label": 1}\n\n{"text": "two", "label": 0}\n')
    assert jsonl_records(jsonl, "text") == ["one", "two"]
    table = tmp_path / "a.csv"
    table.write_text('id,body\n1,"hello, world"\n2,bye\n')
    assert csv_records(table, "body") == ["hello, world", "bye"]


@pytest.mark.parametrize(("name", "content", "field", "message"), [
    ("a.jsonl", '{"text": "x"}\n{"body": "y"}\n', "text",
     "a.jsonl: line 2 has no field 'text' (it has: body); choose one with -o text.field=NAME"),
    ("a.jsonl", '{"text": "x"}\nnot json\n', "text", "a.jsonl: line 2 is not JSON"),
    ("a.jsonl", '{"text": 3}\n', "text", "a.jsonl: line 1: field 'text' is int, not text"),
    ("a.csv", "id,body\n1,x\n", "text", "a.csv: no column 'text' (it has: id, body)"),
])
def test_a_bad_text_file_is_one_line_naming_the_file_and_what_to_do(tmp_path, name, content,
                                                                    field, message):
    path = tmp_path / name
    path.write_text(content)
    reader = jsonl_records if name.endswith("jsonl") else csv_records
    with pytest.raises(DataFileError) as caught:
        reader(path, field)
    assert str(caught.value).startswith(f"{tmp_path / message.split(':')[0]}:"
                                        + message.split(":", 1)[1])


def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(DataFileError, match=r"latin1.txt: line 3 is not UTF-8 text"):
        plain_records(path, "line")


WORDNET_HEAD = ("  1 This software and database is being provided to you, the LICENSEE, by  \n"
                "  2 Princeton University under the following license.  \n")


def test_wordnet_glosses_are_read_from_the_real_file_format(tmp_path):
    lines = {"data.noun": "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is "
                          "perceived  \n",
             "data.verb": "00001740 29 v 04 breathe 0 take_a_breath 0 | draw air into, and "
                          "expel out of, the lungs; \"I can breathe better now\"  \n",
             "data.adj": "00001740 00 a 01 able 0 | (usually followed by `to') having the "
                         "necessary means  \n",
             "data.adv": "00001740 02 r 01 barely 0 | only just  \n"}
    for name, line in lines.items():
        (tmp_path / name).write_text(WORDNET_HEAD + line)
    assert wordnet_glosses(tmp_path) == [
        "that which is perceived",
        'draw air into, and expel out of, the lungs; "I can breathe better now"',
        "(usually followed by `to') having the necessary means", "only just"]


def test_missing_wordnet_says_how_to_install_it(tmp_path):
    with pytest.raises(MiaError, match="install Debian's wordnet-base"):
        wordnet_glosses(tmp_path)


def test_the_text_dataset_drops_duplicates_and_refuses_too_few_records(tmp_path):
    path = tmp_path / "few.txt"
    path.write_text("\n".join(["same", "same", *map(str, range(6))]))
    result = CliRunner().invoke(run, ["--dataset", "text", "-o", f"text.path={path}",
                                      "--target", "gpt", "--attack", "loss-threshold", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"Error: {path} holds 7 records; a run needs at least 8 "
                                     "(members, non-members and the attacker's)")


# --- answers -----------------------------------------------------------------------------------
class FixedLM(torch.nn.Module):
    """Next-token logits that do not depend on the context: ``logits`` at every position."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, tokens):
        return self.logits.expand(*tokens.shape, -1)


def test_answers_hold_each_tokens_log_probability_and_the_distributions_mean_and_spread():
    # three tokens with p = 1/2, 1/4, 1/4 (vocabulary of 3: token ids 0, 1, 2)
    model = FixedLM([math.log(0.5), math.log(0.25), math.log(0.25)])
    records = Records(torch.tensor([[0, 1, 2, 0], [0, 0, 2, 2]]),
                      lengths=torch.tensor([4, 2]))
    answers = next_token_answers(model, records, torch.device("cpu"))
    assert answers.shape == (2, 3, 3)
    mu = 0.5 * math.log(0.5) + 0.5 * math.log(0.25)
    sigma = math.sqrt(0.5 * math.log(0.5) ** 2 + 0.5 * math.log(0.25) ** 2 - mu ** 2)
    own = [math.log(0.25), math.log(0.25), math.log(0.5)]  # tokens 1, 2, 0
    torch.testing.assert_close(answers[0, :, 0], torch.tensor(own), atol=1e-6, rtol=0)
    torch.testing.assert_close(answers[0, :, 1], torch.full((3,), mu), atol=1e-6, rtol=0)
    torch.testing.assert_close(answers[0, :, 2], torch.full((3,), sigma), atol=1e-6, rtol=0)
    assert answers[1, 1:].abs().sum() == 0  # record 2 has one next token
    z = NEXT_TOKENS.signal("token_zscores", answers, records)
    assert z[0].tolist() == pytest.approx([(o - mu) / sigma for o in own])
    assert z[0, 0].item() == pytest.approx(-1.0)  # p = 1/4 is one spread below the mean
    assert math.isnan(z[1, 1]) and math.isnan(z[1, 2])
    ll = NEXT_TOKENS.signal("log_likelihood", answers, records)
    assert ll.tolist() == pytest.approx([sum(own) / 3, math.log(0.5)])
    assert NEXT_TOKENS.problem(answers, records) is None
    assert "not log-probabilities" in NEXT_TOKENS.problem(answers.abs() + 1e-3, records)


# --- attacks against worked examples -----------------------------------------------------------
def test_lowest_mean_takes_the_floor_of_k_of_each_records_tokens_and_at_least_one():
    nan = float("nan")
    values = torch.tensor([[-1.0, -5.0, -2.0, -4.0, -3.0], [-2.0, -7.0, nan, nan, nan]],
                          dtype=torch.float64)
    assert lowest_mean(values, 0.4).tolist() == [-4.5, -7.0]  # 2 of 5; 1 of 2 (floor 0.8)
    assert lowest_mean(values, 1.0).tolist() == [-3.0, -4.5]
    assert lowest_mean(values, 0.1).tolist() == [-5.0, -7.0]


class StubOracle(TargetOracle):
    """A target whose answers are given: counts queries, computes nothing."""

    def __init__(self, answers_by_records):
        super().__init__(None, torch.device("cpu"), answers=NEXT_TOKENS)
        self.by = answers_by_records

    def _answer(self, records):
        self.queries += len(records)
        return self.by[id(records)]


def context(known, known_answers, evaluation, eval_answers, is_member):
    oracle = StubOracle({id(known): known_answers, id(evaluation): eval_answers})
    return AttackContext(oracle, evaluation, KnownRecords(known, is_member),
                         torch.device("cpu"), seed=0)


def test_zlib_divides_the_log_likelihood_by_the_compressed_length():
    texts = ["aaaaaaaaaaaaaaaaaaaaaaaa", "the quick brown fox jumps"]
    records = encode(texts, 64)
    answers = torch.zeros(2, records.x.shape[1] - 1, 3)
    answers[:, :, 0] = -2.0
    ctx = context(records, answers, records, answers, torch.tensor([True, False]))
    got = Zlib().score(ctx).scores
    expected = [-2.0 / len(zlib.compress(t.encode())) for t in texts]
    assert got.tolist() == pytest.approx(expected)
    assert len(zlib.compress(texts[0].encode())) < len(zlib.compress(texts[1].encode()))


def test_min_k_and_min_k_plus_plus_score_the_least_likely_tokens():
    records = encode(["abcdefghi"], 64)  # 10 next tokens (9 bytes and the end)
    answers = torch.zeros(1, records.x.shape[1] - 1, 3)
    own = torch.tensor([-0.1, -3.0, -0.2, -2.0, -0.1, -0.3, -0.1, -0.2, -0.1, -0.4])
    answers[0, :10, 0], answers[0, :10, 1], answers[0, :10, 2] = own, -1.0, 0.5
    ctx = context(records, answers, records, answers, torch.tensor([True]))
    assert MinK(MinKOptions(k=0.2)).score(ctx).scores.item() == pytest.approx(-2.5)
    plus = MinKPlusPlus(MinKOptions(k=0.2)).score(ctx).scores.item()
    assert plus == pytest.approx(((-3.0 + 1) / 0.5 + (-2.0 + 1) / 0.5) / 2)


def test_the_blind_baseline_never_queries_and_wins_where_members_differ_as_texts():
    """Members written in 2024, non-members earlier (a benchmark split by date): telling them
    apart needs no model at all."""
    generator = torch.Generator().manual_seed(0)
    words = ["river", "stone", "market", "signal", "garden", "lamp", "harbour", "violin"]

    def text(year):
        picked = torch.randint(0, len(words), (6,), generator=generator).tolist()
        return " ".join(words[i] for i in picked) + f" in {year}"

    known = encode([text(2024) for _ in range(40)] + [text(2019) for _ in range(40)], 64)
    evaluation = encode([text(2024) for _ in range(30)] + [text(2019) for _ in range(30)], 64)
    truth = torch.arange(60) < 30
    oracle = TargetOracle(None, torch.device("cpu"), answers=NEXT_TOKENS)
    ctx = AttackContext(oracle, evaluation, KnownRecords(known, torch.arange(80) < 40),
                        torch.device("cpu"), seed=0)
    out = BlindNgram(BlindOptions()).score(ctx)
    assert roc_auc_score(truth.numpy(), out.scores.numpy()) > 0.95
    assert oracle.queries == 0


# --- a real audit ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt")
    args = ["--dataset", "wordnet-glosses", "-o", "wordnet-glosses.records=800",
            "-o", "wordnet-glosses.max_bytes=64", "--members", "200", "--target", "gpt",
            "-o", "gpt.epochs=45", "--attack", "loss-threshold",
            "--attack", "zlib", "--attack", "min-k-plus-plus", "--attack", "blind-ngram",
            "--attack", "qmia", "--attack", "exposure", "-o", "exposure.alternatives=15",
            "--canaries", "40", "--no-cache", "--output", str(folder)]
    result = CliRunner().invoke(run, args)
    return folder, result


def test_a_gpt_trained_on_its_members_is_caught_and_the_blind_baseline_is_not(audit):
    folder, result = audit
    assert result.exit_code == 0, result.output
    results = json.loads((folder / "results.json").read_text())
    auc = {a["name"]: a["metrics"]["auc"] for a in results["attacks"]}
    assert auc["loss-threshold"] > 0.65 and auc["min-k-plus-plus"] > 0.6, auc
    assert auc["qmia"] > 0.65, auc  # the classifiers' QMIA, reading the same signal
    qmia = next(a for a in results["attacks"] if a["name"] == "qmia")
    assert qmia["details"]["regressor"] == "tokens"
    assert abs(auc["blind-ngram"] - 0.5) < 0.1, auc  # a random split: texts alike
    queries = {a["name"]: a["queries"] for a in results["attacks"]}
    assert queries["blind-ngram"] == 0 and queries["loss-threshold"] == 200 + 200


def test_secret_sharer_canaries_are_inserted_and_audited_like_images_canaries(audit):
    """40 secrets ("my secret number is" and 9 random digits), each trained on with
    probability 1/2; the loss attack's scores on them give the one-run epsilon bound."""
    folder, _ = audit
    results = json.loads((folder / "results.json").read_text())
    audit = next(a for a in results["attacks"] if a["name"] == "loss-threshold")["canary_audit"]
    assert audit["canaries"] == 40 and 0 < audit["guesses"] <= 40
    assert audit["correct"] <= audit["guesses"] and audit["epsilon"] >= 0.0
    assert audit["mean_included"] > audit["mean_excluded"]  # trained-on secrets: likelier
    exposure = next(a for a in results["attacks"] if a["name"] == "exposure")["canary_audit"]
    # the secret sharer: an inserted secret stands out among its 15 alternatives (at most
    # log2(16) = 4 bits), one never inserted does not
    assert exposure["mean_included"] > exposure["mean_excluded"] + 1.0, exposure
    assert exposure["mean_excluded"] >= 0.0 and exposure["mean_included"] <= 4.0
    from mia_text.encoding import secrets, text_of

    made = secrets(encode(["x" * 40], 64), 3, torch.Generator().manual_seed(0))
    assert made.x.shape[1] == 42 and all(
        re_secret(text_of(made, i)) for i in range(3))


def re_secret(text):
    import re

    return re.fullmatch(r"my secret number is \d{9}", text) is not None


def test_the_report_shows_the_most_exposed_records_as_escaped_text(audit):
    from markupsafe import escape

    from mia_core.results.runfiles import load_run
    from mia_text.data import GlossOptions, WordnetGlosses

    folder, _ = audit
    run_files = load_run(folder)
    assert len(run_files.exposed_text) >= 3
    pool = WordnetGlosses(GlossOptions(records=800)).load(None)
    page = (folder / "report.html").read_text()
    for record, text in run_files.exposed_text.items():
        assert text == text_of(pool, record)  # the record's own words, as the dataset has them
        assert f"<code>{escape(text)}</code>" in page  # escaped as the template escapes


def test_exposure_ranks_a_record_among_neighbours_that_differ_in_its_digits():
    from mia_text.attacks import Exposure, ExposureOptions, neighbours

    records = encode(["pin 4321 ok", "no digits here"], 64)
    generator = torch.Generator().manual_seed(0)
    digits = neighbours(records.x[0], 50, generator, 3)
    same = digits == records.x[0]
    assert same[:, [0, 1, 2, 3, 4, 9, 10, 11, 12]].all()  # BOS, "pin ", " ok", EOS
    assert not same[:, 5:9].all(0).any()  # every digit position redrawn somewhere
    assert ((digits[:, 5:9] >= ord("0")) & (digits[:, 5:9] <= ord("9"))).all()
    letters = neighbours(records.x[1], 50, generator, 3)
    changed = (letters != records.x[1]).sum(-1)
    assert changed.max() <= 3 and changed.float().mean() > 2

    class Likes(TargetOracle):
        """Likes record 0 exactly as written best; every other text scores 0."""

        def __init__(self):
            super().__init__(None, torch.device("cpu"), answers=NEXT_TOKENS)

        def signal(self, name, data):
            self.queries += len(data)
            return torch.tensor([1.0 if torch.equal(row, records.x[0]) else 0.0
                                 for row in data.x], dtype=torch.float64)

    ctx = AttackContext(Likes(), records, KnownRecords(records, torch.tensor([True, False])),
                        torch.device("cpu"), seed=0)
    scores = Exposure(ExposureOptions(alternatives=15)).score(ctx).scores
    assert scores[0].item() == pytest.approx(4.0)  # first of 16: log2(16) bits
    assert scores[1].item() == pytest.approx(0.0)  # tied with all 15: rank 16
    assert ctx.target.queries == 2 * 16 * 2  # known and evaluation, each record and 15 others


def test_the_text_audits_ground_truth_is_a_random_disjoint_balanced_split(audit):
    folder, _ = audit
    split = json.loads((folder / "split.json").read_text())
    members = set(split["known_members"]) | set(split["eval_members"])
    nonmembers = set(split["known_nonmembers"]) | set(split["eval_nonmembers"])
    assert len(members) == len(nonmembers) == 200 and not members & nonmembers
    assert max(members | nonmembers) < 800


# --- a benchmark that fixes its members by label -----------------------------------------------
def benchmark_file(path):
    """WikiMIA's format (JSON lines of input and label) with its flaw built in: members are
    events of 2024, non-members of 2019, so the texts alone give the labels away."""
    generator = torch.Generator().manual_seed(1)
    words = ["council", "river", "festival", "election", "bridge", "museum", "storm", "league"]
    rows = []
    for i in range(240):
        member = i % 2 == 0
        picked = torch.randint(0, len(words), (5,), generator=generator).tolist()
        text = f"In {2024 if member else 2019} the " + " ".join(words[j] for j in picked)
        rows.append(json.dumps({"input": f"{text} ({i})", "label": int(member)}))
    path.write_text("\n".join(rows) + "\n")
    return path


BENCH = ["--dataset", "wikimia", "--target", "gpt", "-o", "gpt.epochs=5", "--no-cache", "-q"]


def test_a_benchmark_split_by_date_is_caught_by_the_blind_baseline_and_the_run_says_so(tmp_path):
    path = benchmark_file(tmp_path / "wikimia.jsonl")
    result = CliRunner().invoke(run, [*BENCH, "-o", f"wikimia.path={path}", "--attack",
                                      "blind-ngram", "--attack", "loss-threshold",
                                      "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    auc = {a["name"]: a["metrics"]["auc"] for a in results["attacks"]}
    assert auc["blind-ngram"] > 0.95, auc  # no model needed: the labels are in the texts
    assert [w for w in results["warnings"] if "names its members" in w] == [
        "dataset 'wikimia' names its members (the benchmark's labels): they are not a random "
        "draw from one pool, so an attack may tell members from non-members by how the records "
        "differ (dates, sources, topics) rather than by what the model memorised; blind-ngram, "
        "which never queries the model, measures how far. --control cannot check this"]
    assert "WARNING: dataset 'wikimia' names its members" in result.output
    # the members are the benchmark's: every evaluation member is labelled 1 in the file
    labels = [json.loads(line)["label"] for line in path.read_text().splitlines()]
    split = json.loads((tmp_path / "out" / "split.json").read_text())
    assert {labels[i] for i in split["eval_members"] + split["known_members"]} == {1}
    assert {labels[i] for i in split["eval_nonmembers"] + split["known_nonmembers"]} == {0}


def test_a_benchmark_with_fixed_members_refuses_a_control_run(tmp_path):
    path = benchmark_file(tmp_path / "wikimia.jsonl")
    result = CliRunner().invoke(run, [*BENCH, "-o", f"wikimia.path={path}", "--attack",
                                      "blind-ngram", "--control"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --control trains on records drawn like the "
                                    "members, but dataset 'wikimia' fixes its members by label")


def test_a_text_labelled_both_ways_is_refused(tmp_path):
    path = tmp_path / "both.jsonl"
    rows = [{"input": f"text {i}", "label": i % 2} for i in range(10)]
    rows.append({"input": "text 0", "label": 1})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    result = CliRunner().invoke(run, [*BENCH, "-o", f"wikimia.path={path}", "--attack",
                                      "blind-ngram"])
    assert result.exit_code == 2, result.output
    assert "the text 'text 0'... is labelled both member and non-member" in result.output


# --- a Hugging Face model folder you have ------------------------------------------------------
def hf_folder(folder, members, others):
    """A real Hugging Face folder made here: a byte-level BPE tokenizer trained with
    ``tokenizers`` and a small GPT-2 trained (plainly, outside mia-core) on ``members``,
    saved with ``save_pretrained`` (safetensors)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(members + others, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>")
    torch.manual_seed(0)
    end = tokenizer.eos_token_id
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=64,
                                       n_layer=2, n_head=2, resid_pdrop=0.0, embd_pdrop=0.0,
                                       attn_pdrop=0.0, bos_token_id=end, eos_token_id=end))
    return train_plainly(model, tokenizer, members, 25, folder)


def train_plainly(model, tokenizer, texts, epochs, folder):
    """Every weight of ``model`` trained on ``texts`` by a plain AdamW loop (batches of 16, in
    torch's current random order), then saved with its tokenizer in ``folder``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(texts)).split(16):
            loss = model(input_ids=batch["input_ids"][rows],
                         attention_mask=batch["attention_mask"][rows], labels=labels[rows]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_hugging_face_folder_is_audited_from_local_files_with_its_own_tokenizer(tmp_path,
                                                                              monkeypatch):
    import transformers

    from mia_text.sources import wordnet_glosses

    asked = []
    for name in ("AutoModelForCausalLM", "AutoTokenizer"):
        cls = getattr(transformers, name)
        real = cls.from_pretrained

        def spy(*args, _real=real, **kwargs):
            asked.append(kwargs)
            return _real(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)

    texts = list(dict.fromkeys(wordnet_glosses()))[:240]
    members, others = texts[0::2], texts[1::2]
    folder = hf_folder(tmp_path / "model", members, others)
    assert (folder / "model.safetensors").is_file()
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(texts) + "\n")
    ids = tmp_path / "members.txt"
    ids.write_text("\n".join(str(i) for i in range(0, 240, 2)) + "\n")
    result = CliRunner().invoke(run, [
        "--dataset", "text", "-o", f"text.path={corpus}", "--target", "hf-lm",
        "--model", str(folder), "--train-records", str(ids), "--attack", "loss-threshold",
        "--attack", "min-k-plus-plus", "--attack", "zlib", "-q", "--output",
        str(tmp_path / "audit")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "audit" / "results.json").read_text())
    auc = {a["name"]: a["metrics"]["auc"] for a in results["attacks"]}
    assert auc["loss-threshold"] > 0.8 and auc["min-k-plus-plus"] > 0.7, auc
    from mia_core.experiment.external import model_digest

    assert results["given_model"]["file"] == str(folder)
    assert results["given_model"]["sha256"] == model_digest(folder)  # every file of it
    assert not any("does not look trained" in w for w in results["warnings"])
    assert len(asked) == 2 and all(kw["local_files_only"] is True
                                   and kw["trust_remote_code"] is False for kw in asked)
    assert asked[1]["use_safetensors"] is True


def test_a_hugging_face_folder_with_pickled_weights_is_refused(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(f"text number {i}" for i in range(20)))
    ids = tmp_path / "members.txt"
    ids.write_text("0\n2\n4\n6\n")
    result = CliRunner().invoke(run, [
        "--dataset", "text", "-o", f"text.path={corpus}", "--target", "hf-lm",
        "--model", str(folder), "--train-records", str(ids), "--attack", "loss-threshold",
        "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"Error: --model {folder} has no safetensors weights (it holds pytorch_model.bin, "
        "which is read by unpickling); mia-core never unpickles a model: save it with "
        "save_pretrained(safe_serialization=True)")


def fine_tuned(base, texts, folder, epochs=25):
    """``base`` fine-tuned plainly on ``texts`` (every weight), saved with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    torch.manual_seed(1)
    return train_plainly(model, tokenizer, texts, epochs, folder)


def test_reference_models_are_fine_tuned_from_the_base_with_lora(tmp_path):
    """The audited model is a base fine-tuned on its members; offline LiRA and the
    reference-model attack get reference models fine-tuned from that base with LoRA adapters
    (peft), on records the core draws."""
    from mia_text.sources import wordnet_glosses

    texts = list(dict.fromkeys(wordnet_glosses()))[:480]
    general, audited = texts[:240], texts[240:]
    base = hf_folder(tmp_path / "base", general, audited)
    members = audited[0::2]
    target = fine_tuned(base, members, tmp_path / "target")
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(audited) + "\n")
    ids = tmp_path / "members.txt"
    ids.write_text("\n".join(str(i) for i in range(0, 240, 2)) + "\n")
    result = CliRunner().invoke(run, [
        "--dataset", "text", "-o", f"text.path={corpus}", "--target", "hf-lm",
        "-o", f"hf-lm.base={base}", "-o", "hf-lm.lora=8", "-o", "hf-lm.lr=3e-3",
        "-o", "hf-lm.epochs=10", "--model", str(target), "--train-records", str(ids),
        "--attack", "lira-offline", "--attack", "reference-ratio", "--reference-models", "4",
        "--no-cache", "-q", "--output", str(tmp_path / "audit")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "audit" / "results.json").read_text())
    auc = {a["name"]: a["metrics"]["auc"] for a in results["attacks"]}
    # one-sided tests against models that never saw a record: the audited model was
    # fine-tuned harder than LoRA fine-tunes its references, so its members lie beyond both
    assert auc["reference-ratio"] > 0.7 and auc["lira-offline"] > 0.7, auc
    assert results["models_trained"] == 4  # the reference models; the target was given


def test_lora_fine_tuning_changes_only_the_adapters(tmp_path):
    from mia_core import LoadEnv, TrainEnv
    from mia_core.progress import QUIET
    from mia_text.data import GlossOptions, WordnetGlosses
    from mia_text.hf import HfOptions, hf_target
    from mia_text.sources import wordnet_glosses

    texts = list(dict.fromkeys(wordnet_glosses()))[:64]
    base = hf_folder(tmp_path / "base", texts, [])
    data = WordnetGlosses(GlossOptions(records=16)).load(LoadEnv(None, QUIET))
    target = hf_target(HfOptions(base=str(base), lora=4, epochs=1, lr=1e-2))
    before = {k: v.clone() for k, v in target.build(data).state_dict().items()}
    after = target.fit(data, TrainEnv(torch.device("cpu"), 0, QUIET)).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)
    assert hf_target(HfOptions()).trains is False and hf_target(HfOptions(base="x")).trains


class Viewer:
    """Hugging Face's dataset viewer, its /rows answers in their real shape, served from
    ``rows``; remembers what was asked."""

    def __init__(self, rows):
        self.rows, self.asked = rows, []

    def __call__(self, url, timeout):
        import io
        import urllib.parse

        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        self.asked.append(query)
        offset, length = int(query["offset"]), int(query["length"])
        page = [{"row_idx": i, "row": self.rows[i], "truncated_cells": []}
                for i in range(offset, min(offset + length, len(self.rows)))]
        body = {"features": [{"feature_idx": 0, "name": "input"},
                             {"feature_idx": 1, "name": "label"}],
                "rows": page, "num_rows_total": len(self.rows), "num_rows_per_page": 100,
                "partial": False}
        return io.BytesIO(json.dumps(body).encode())


def test_wikimia_is_downloaded_page_by_page_into_the_data_folder(tmp_path, monkeypatch):
    rows = [json.loads(line) for line in
            benchmark_file(tmp_path / "source.jsonl").read_text().splitlines()]
    viewer = Viewer(rows)
    monkeypatch.setattr("urllib.request.urlopen", viewer)
    result = CliRunner().invoke(run, [*BENCH, "-o", "wikimia.length=64", "--data-dir",
                                      str(tmp_path / "data"), "--attack", "blind-ngram"])
    assert result.exit_code == 0, result.output
    saved = tmp_path / "data" / "wikimia" / "WikiMIA_length64.jsonl"
    assert [json.loads(line) for line in saved.read_text().splitlines()] == rows
    assert [q["offset"] for q in viewer.asked] == ["0", "100", "200"]
    assert {(q["dataset"], q["split"], q["config"]) for q in viewer.asked} == {
        ("swj0419/WikiMIA", "WikiMIA_length64", "default")}
    again = CliRunner().invoke(run, [*BENCH, "-o", "wikimia.length=64", "--data-dir",
                                     str(tmp_path / "data"), "--attack", "blind-ngram"])
    assert again.exit_code == 0 and len(viewer.asked) == 3  # read from the folder now


def test_a_failed_download_says_where_to_put_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    import urllib.error

    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    result = CliRunner().invoke(run, [*BENCH, "--data-dir", str(tmp_path / "data"),
                                      "--attack", "blind-ngram"])
    assert result.exit_code == 1, result.output
    dest = tmp_path / "data" / "wikimia" / "WikiMIA_length32.jsonl"
    assert result.output.strip() == (
        "Error: cannot download WikiMIA (WikiMIA_length32) (<urlopen error no route to host>); "
        f"put its rows at {dest} as JSON lines (datasets' to_json), or give the file with -o "
        "wikimia.path=FILE")
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


def test_a_control_run_of_the_gpt_is_at_chance_over_seeds(tmp_path):
    """--control trains the GPT on other records than the members: every seed's loss and
    Min-K%++ AUC within the band chance leaves with 100 + 100 evaluation records."""
    result = CliRunner().invoke(run, [
        "--dataset", "wordnet-glosses", "-o", "wordnet-glosses.records=800", "--members", "200",
        "--target", "gpt", "-o", "gpt.epochs=45", "--attack", "loss-threshold",
        "--attack", "min-k-plus-plus", "--attack", "qmia", "--control", "--seeds", "3",
        "--no-cache", "-q",
        "--output", str(tmp_path / "control")])
    assert result.exit_code == 0, result.output
    for seed in range(3):
        results = json.loads((tmp_path / "control" / f"seed-{seed}" / "results.json")
                             .read_text())
        for attack in results["attacks"]:
            assert abs(attack["metrics"]["auc"] - 0.5) < 0.12, (seed, attack["name"],
                                                               attack["metrics"]["auc"])


def test_the_guides_language_model_attack_runs_as_written(tmp_path, monkeypatch):
    """docs/plugins.md's median-token attack, copied from the guide, loaded with -p and run on
    a GPT: it works from the guide alone, and finds the members."""
    from tests.conftest import ROOT

    guide = (ROOT / "docs" / "plugins.md").read_text()
    code = guide.split("<!-- lm-attack-example -->\n```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "median_token.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(run, [
        "-p", "median_token", "--dataset", "wordnet-glosses", "-o", "wordnet-glosses.records=600",
        "--members", "150", "--seed", "1", "--target", "gpt", "-o", "gpt.epochs=80",
        "--attack", "median-token", "--no-cache", "-q", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["attacks"][0]["name"] == "median-token"
    assert results["attacks"][0]["metrics"]["auc"] > 0.6


def test_the_gpt_trains_to_the_same_bits_for_a_seed_and_to_other_bits_for_another():
    from mia_core import LoadEnv, TrainEnv
    from mia_core.progress import QUIET
    from mia_core.training.fit import seeded
    from mia_text.data import GlossOptions, WordnetGlosses
    from mia_text.gpt import GptOptions, GptTarget

    data = WordnetGlosses(GlossOptions(records=48)).load(LoadEnv(None, QUIET))
    target = GptTarget(GptOptions(epochs=2, width=32))

    def weights(seed):
        with seeded(seed):  # as the core trains every model: the seed also draws the init
            model = target.fit(data, TrainEnv(torch.device("cpu"), seed, QUIET))
        return model.state_dict()

    first, again, other = weights(7), weights(7), weights(8)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
