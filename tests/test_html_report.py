"""report.html, ``mia report`` and ``mia metrics``: the page holds results.json's numbers, is
the same document when rebuilt, lists the records the strongest attack exposes, and scores
from elsewhere measure exactly as a run's."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from mia_core.cli.group import mia
from mia_core.cli.mia_run import run
from mia_core.results.exposure import risk
from mia_core.threats import ThreatModel

RUN = ["--dataset", "blobs", "--target", "cnn", "-o", "target.epochs=3", "--members", "300",
       "--attack", "loss-threshold", "--attack", "torch-mlp", "--attack", "lira",
       "--attack", "rmia", "--reference-models", "2", "--no-cache", "-q"]


class Numbers(HTMLParser):
    """Every ``data-key``/``data-value`` element, its shown text, and every image source."""

    def __init__(self):
        super().__init__()
        self.numbers, self.images, self._open = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-key" in attrs:
            self._open = [attrs["data-key"], attrs["data-value"], ""]
        if tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == "span":
            self.numbers.append(tuple(self._open))
            self._open = None


def parse(html):
    found = Numbers()
    found.feed(html)
    return found


def lookup(results, key):
    value = results
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    result = CliRunner().invoke(run, [*RUN, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    return out


def test_every_number_in_the_report_is_the_one_in_results_json(folder):
    results = json.loads((folder / "results.json").read_text())
    page = parse((folder / "report.html").read_text())
    keys = {key for key, _, _ in page.numbers}
    assert len(page.numbers) >= 3 * 6 + 3  # every attack's metrics, the headline's numbers
    for key, value, _ in page.numbers:
        assert float(value) == lookup(results, key), key
    assert {f"attacks.{i}.metrics.auc" for i in range(3)} <= keys
    assert "target_test_accuracy" in keys


def test_the_report_shows_the_gdp_estimates_and_what_the_attacks_chose(folder):
    results = json.loads((folder / "results.json").read_text())
    html = (folder / "report.html").read_text()
    keys = {key for key, _, _ in parse(html).numbers}
    assert {f"attacks.{i}.metrics.gdp.{k}" for i in range(4) for k in ("mu", "epsilon")} <= keys
    rmia = results["attacks"][3]["details"]
    chose = html.split('id="details">', 1)[1].split("</p>", 1)[0]
    assert f"rmia: mode offline, a {rmia['a']:.4g}, a_chosen_by default" in chose


def test_the_headline_names_the_strongest_attack_and_its_share(folder):
    results = json.loads((folder / "results.json").read_text())
    attacks = results["attacks"]
    best = max(attacks, key=lambda a: (a["metrics"]["tpr_at_01pct_fpr"],
                                       a["metrics"]["tpr_at_1pct_fpr"], a["metrics"]["auc"]))
    html = (folder / "report.html").read_text()
    lead = html.split('id="headline">', 1)[1].split("</p>", 1)[0]
    assert f"The strongest attack, <strong>{best['name']}</strong>, finds" in lead
    # 150 non-members: one false positive is 0.67 %, so 0.1 % cannot be resolved, 1 % can
    assert results["split_sizes"]["eval_nonmembers"] == 150
    share = f"{best['metrics']['tpr_at_1pct_fpr']:.1%}"
    assert f">{share}</span> of the members at a 1 % false-positive rate" in lead
    assert "0.1 % is not resolvable with 150 non-members" in lead
    row = html.split('id="attacks">', 1)[1].split("</table>", 1)[0]
    assert row.count(">not resolvable</span>") == len(attacks)  # the 0.1 % column only


def test_the_report_rebuilt_from_the_folder_is_the_same_document(folder, tmp_path):
    again = tmp_path / "again.html"
    result = CliRunner().invoke(mia, ["report", str(folder), "--output", str(again)])
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == (folder / "report.html").read_bytes()


def test_the_report_is_self_contained(folder):
    html = (folder / "report.html").read_text()
    page = parse(html)
    assert len(page.images) >= 2 + 16  # ROC, histograms, a thumbnail per exposed record
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    for needle in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert needle not in html


def test_the_exposed_records_are_the_strongest_attacks_top_members(folder):
    results = json.loads((folder / "results.json").read_text())
    html = (folder / "report.html").read_text()
    best = html.split("The evaluation members that ", 1)[1].split(" ranks highest", 1)[0]
    assert best in {a["name"] for a in results["attacks"]}
    with (folder / "evaluation.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["is_member"] == "1"]
    top = sorted(rows, key=lambda r: -float(r[f"score:{best}"]))[:16]
    table = html.split('id="exposed">', 1)[1].split("</table>", 1)[0]
    shown = [int(cell.split("</td>")[0]) for cell in table.split("<tr><td>")[1:]
             for cell in [cell.split("<td>", 1)[1]]]
    assert shown == [int(r["record"]) for r in top]


def test_risk_is_the_share_of_non_members_outscored(folder):
    with (folder / "evaluation.csv").open() as f:
        rows = list(csv.DictReader(f))
    truth = np.array([r["is_member"] == "1" for r in rows])
    scores = np.array([float(r["score:lira"]) for r in rows])
    negatives = scores[~truth]
    for r, s in zip(rows[:50], scores[:50], strict=True):
        expected = ((negatives < s).sum() + 0.5 * (negatives == s).sum()) / len(negatives)
        assert float(r["risk:lira"]) == pytest.approx(expected)
    assert risk(np.array([0.0, 1.0, 2.0]), np.array([False, True, False])).tolist() == \
        [0.25, 0.5, 0.75]  # non-members 0 and 2: a tie counts half


def test_mia_metrics_on_a_runs_scores_gives_its_metrics_exactly(folder, tmp_path):
    results = json.loads((folder / "results.json").read_text())
    with (folder / "evaluation.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = [a["name"] for a in results["attacks"]]
    path = tmp_path / "scores.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["member", *names])
        writer.writerows([r["is_member"], *(r[f"score:{n}"] for n in names)] for r in rows)
    thresholds = [f"{a['name']}={a['metrics']['threshold']!r}" for a in results["attacks"]
                  if a["metrics"]["threshold_source"] == "attack"]
    args = ["metrics", str(path), "--member-column", "member", "--json",
            "--seed", str(results["config"]["seed"])]
    out = CliRunner().invoke(mia, args + [x for t in thresholds for x in ("--threshold", t)])
    assert out.exit_code == 0, out.output
    measured = json.loads(out.output)["attacks"]
    for mine, theirs in zip(measured, results["attacks"], strict=True):
        assert mine["metrics"] == theirs["metrics"], mine["name"]
        # who attacked is unknown to the core here: no threat model is made up for it
        assert mine["threat_model"] is None
        assert theirs["threat_model"] in {t.value for t in ThreatModel}


def test_mia_metrics_writes_a_report_and_flips_lower_scores(tmp_path):
    path = tmp_path / "loss.csv"
    rng = np.random.default_rng(0)
    truth = np.array([1] * 50 + [0] * 50)
    loss = rng.normal(size=100) - truth  # members: lower loss
    path.write_text("is_member,loss\n" + "".join(f"{t},{float(v)!r}\n" for t, v in zip(
        truth, loss, strict=True)))
    high = json.loads(CliRunner().invoke(mia, ["metrics", str(path), "--json"]).output)
    out = tmp_path / "out"
    low = CliRunner().invoke(mia, ["metrics", str(path), "--lower-is-member", "--json",
                                   "--output", str(out)])
    assert low.exit_code == 0, low.output
    auc_low = json.loads(low.output)["attacks"][0]["metrics"]["auc"]
    assert auc_low == pytest.approx(1 - high["attacks"][0]["metrics"]["auc"])
    assert auc_low > 0.7
    assert (out / "report.html").exists() and "loss" in (out / "report.html").read_text()
    assert '<td class="name">unknown (scores from a file)</td>' in (out / "report.html").read_text()


@pytest.mark.parametrize("text,message", [
    ("is_member,s\n1,0.5\n0,nan\n", "1 NaN or infinite score(s), the first in row 3"),
    ("is_member,s\n1,0.5\n1,0.2\n", "holds only members"),
    ("m,s\n1,0.5\n0,0.2\n", "has no membership column 'is_member' (columns: m, s)"),
    ("is_member,s\n2,0.5\n0,0.2\n", "row 2: membership '2'"),
    ("is_member,s\n1,0.5\n0\n", "line 3: 1 fields, but the header has 2"),
])
def test_bad_score_files_are_one_line_and_exit_2(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = CliRunner().invoke(mia, ["metrics", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_npz_scores_are_read_without_pickle(tmp_path):
    path = tmp_path / "scores.npz"
    np.savez(path, is_member=np.array([True, False, True, False]),
             score=np.array([0.9, 0.1, 0.8, 0.3]))
    out = json.loads(CliRunner().invoke(mia, ["metrics", str(path), "--json"]).output)
    assert out["attacks"][0]["metrics"]["auc"] == 1.0


def test_runs_side_by_side_with_a_privacy_utility_picture(folder, tmp_path):
    dp = tmp_path / "dp"
    result = CliRunner().invoke(run, [*RUN, "-o", "target.dp_epsilon=4", "--output", str(dp)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "both.html"
    done = CliRunner().invoke(mia, ["report", str(folder), str(dp), "--output", str(out)])
    assert done.exit_code == 0, done.output
    html = out.read_text()
    assert 'id="comparison"' in html and "Privacy and utility" in html
    assert html.count('<section class="run"') == 2


def test_a_folder_that_is_no_run_is_one_line(tmp_path):
    result = CliRunner().invoke(mia, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "holds no results.json" in result.output


def test_seeds_get_one_report_with_their_intervals(tmp_path):
    out = tmp_path / "seeds"
    result = CliRunner().invoke(run, [*RUN[:-6], "--seeds", "2", "--output", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "Over 2 seeds" in html and html.count('<section class="run"') == 2


def test_lower_is_member_flips_the_scores_and_reads_thresholds_on_the_files_scale(tmp_path):
    """``--lower-is-member`` on a loss column gives every metric of the negated losses (TPR at
    low FPR and ε_lb included, which flipping the membership column instead would change),
    and ``--threshold loss=T`` calls a record with a loss at or below T a member."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(3)
    truth = np.array([1] * 400 + [0] * 400)
    loss = np.exp(rng.normal(size=800) - 1.5 * truth)  # skewed: members much lower
    path = tmp_path / "loss.csv"
    path.write_text("is_member,loss\n" + "".join(f"{t},{float(v)!r}\n" for t, v in zip(
        truth, loss, strict=True)))
    negated = tmp_path / "negated.csv"
    negated.write_text("is_member,loss\n" + "".join(f"{t},{float(-v)!r}\n" for t, v in zip(
        truth, loss, strict=True)))
    cut = float(np.quantile(loss, 0.3))

    def metrics(*args):
        out = CliRunner().invoke(mia, ["metrics", *map(str, args), "--json"])
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["attacks"][0]["metrics"]

    low = metrics(path, "--lower-is-member", "--threshold", f"loss={cut!r}")
    assert low == metrics(negated, "--threshold", f"loss={-cut!r}")
    fpr, tpr, _ = roc_curve(truth, -loss)
    assert low["tpr_at_1pct_fpr"] == pytest.approx(tpr[fpr <= 0.01].max())
    called = loss <= cut
    assert low["accuracy"] == pytest.approx(np.mean(called == (truth == 1)))
    assert low["precision"] == pytest.approx(truth[called].mean())
    assert low["epsilon_lb"] > 0.5  # members' low losses prove something


def test_the_headlines_sentences_say_what_results_json_holds(folder):
    """The plain-words paragraph read as a person reads it (tags stripped): each number sits
    in the sentence that names it, recomputed here from results.json."""
    import re

    results = json.loads((folder / "results.json").read_text())
    html = (folder / "report.html").read_text()
    lead = html.split('id="headline">', 1)[1].split("</p>", 1)[0]
    text = re.sub(r"<[^>]+>", "", lead)
    attacks = results["attacks"]
    best = max(attacks, key=lambda a: (a["metrics"]["tpr_at_01pct_fpr"],
                                       a["metrics"]["tpr_at_1pct_fpr"], a["metrics"]["auc"]))
    m = best["metrics"]
    nonmembers = results["split_sizes"]["eval_nonmembers"]
    assert m["fpr_step"] == 1 / nonmembers and 100 < nonmembers < 1000
    assert (f"The strongest attack, {best['name']}, finds {m['tpr_at_1pct_fpr']:.1%} of the "
            f"members at a 1 % false-positive rate (AUC {m['auc']:.3f}; 0.1 % is not "
            f"resolvable with {nonmembers} non-members).") in text
    assert (f"The model classifies {results['target_train_accuracy']:.1%} of its members and "
            f"{results['target_test_accuracy']:.1%} of non-members correctly.") in text
    assert results["target_train_accuracy"] != results["target_test_accuracy"]  # told apart
    proven = max(attacks, key=lambda a: a["metrics"]["epsilon_lb"])
    eps = proven["metrics"]["epsilon_lb"]
    if eps > 0:
        delta = results["audit_delta"]
        assert (f"Any differential-privacy claim for this training must have ε ≥ {eps:.2f} "
                f"(95 % confidence, δ = {delta:g}; from {proven['name']}).") in text
    else:
        assert ("No attack proves ε above 0 here, so this audit cannot rule out any "
                "differential-privacy claim; that is not evidence that the training is "
                "private.") in text
    sizes = results["split_sizes"]
    told = (f"Measured on {sizes['eval_members']:,} members and {sizes['eval_nonmembers']:,} "
            f"non-members; the attacker knew {sizes['known_members']:,} + "
            f"{sizes['known_nonmembers']:,}")
    if sizes["population"]:
        told += ("; reference models trained on records from a population of "
                 f"{sizes['population']:,}")
    assert told + "." in text, text


def test_a_record_column_that_holds_no_ids_is_ignored_not_a_traceback(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("is_member,score,record\n1,0.5,1e400\n0,0.2,3\n1,0.9,1e30\n0,0.1,4\n")
    out = CliRunner().invoke(mia, ["metrics", str(path), "--json"])
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    assert json.loads(out.output)["attacks"][0]["metrics"]["auc"] == 1.0


@pytest.mark.parametrize("member,record", [("member", "record_id"), ("membership", "id"),
                                           ("is_in", "index")])
def test_common_names_of_the_membership_and_record_columns_are_found(tmp_path, member,
                                                                      record):
    path = tmp_path / "s.csv"
    path.write_text(f"{record},{member},loss\n" + "".join(
        f"{100 + i},{i % 2},{(i % 2) * 0.5 + i / 100}\n" for i in range(20)))
    out = tmp_path / "out"
    result = CliRunner().invoke(mia, ["metrics", str(path), "--json", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["attacks"][0]["name"] == "loss"  # ids are no score
    with (out / "evaluation.csv").open() as f:
        assert [int(r["record"]) for r in csv.DictReader(f)] == list(range(100, 120))


def test_where_the_attacks_agree_is_recomputed_from_evaluation_csv(folder):
    """The overlap table, recomputed from evaluation.csv alone: each attack's members above
    the (k+1)-th highest non-member score (k = 1 % of the non-members), their intersections,
    the members one attack alone finds; and each attack's count is its TPR at 1 % FPR."""
    import math
    import re

    html = (folder / "report.html").read_text()
    results = json.loads((folder / "results.json").read_text())
    with (folder / "evaluation.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = [a["name"] for a in results["attacks"]]
    member = [r["is_member"] == "1" for r in rows]
    non_members = member.count(False)
    allowed = math.floor(0.01 * non_members)
    found = {}
    for name in names:
        scores = [float(r[f"score:{name}"]) for r in rows]
        cut = sorted((s for s, m in zip(scores, member, strict=True) if not m),
                     reverse=True)[allowed]
        found[name] = {i for i, (s, m) in enumerate(zip(scores, member, strict=True))
                       if m and s > cut}
    table = html.split('<table id="agreement">', 1)[1].split("</table>", 1)[0]
    shown = {}
    for line in re.findall(r'<tr><td class="name">(.*?)</td>(.*?)</tr>', table):
        shown[line[0]] = [c for c in re.findall(r"<td>(.*?)</td>", line[1])]
    assert list(shown) == names
    for a in names:
        others = set().union(*(found[b] for b in names if b != a))
        expected = [str(len(found[a])), str(len(found[a] - others))]
        expected += ["—" if b == a else str(len(found[a] & found[b])) for b in names]
        assert shown[a] == expected, a
        tpr = results["attacks"][names.index(a)]["metrics"]["tpr_at_1pct_fpr"]
        assert len(found[a]) / member.count(True) == pytest.approx(tpr, abs=1e-12)
    union = set().union(*found.values())
    common = set.intersection(*found.values())
    assert (f"{len(union)} are found by at least one attack and {len(common)} by every one"
            in html)
    assert f"at most {allowed} of the {non_members} evaluation non-members" in html
    assert len(union) > max(len(s) for s in found.values())  # the attacks really differ


def test_an_attack_finds_the_members_above_its_k_plus_first_non_member():
    from mia_core.results.exposure import agreement, found_at

    non_members = np.arange(100.0)  # 0 .. 99
    members = np.array([99.5, 98.0, 98.5, 50.0])
    scores = np.r_[members, non_members]
    truth = np.r_[[True] * 4, [False] * 100]
    # 1 % of 100: one false positive allowed, so the cut is the second-highest, 98 (a tie
    # with it is not above it)
    assert found_at(scores, truth, 0.01)[:4].tolist() == [True, False, True, False]
    assert found_at(scores, truth, 0.1)[:4].tolist() == [True, True, True, False]  # cut: 89
    assert not found_at(scores, truth, 0.01)[4:].any()  # only members are "found"
    both = agreement({"a": scores, "b": -scores}, truth)
    assert both["fpr"] == 0.01 and both["shared"]["a"] == {"a": 2, "b": 0}
    assert both["alone"] == {"a": 2, "b": 0} and both["any"] == 2 and both["all"] == 0
    few = np.r_[[True] * 4, [False] * 50]
    assert agreement({"a": scores[:54], "b": scores[:54]}, few)["fpr"] == 0.1  # 1 %: < 1 FP
    assert agreement({"a": scores[:9], "b": scores[:9]}, np.r_[[True] * 4, [False] * 5]) is None
    assert agreement({"a": scores}, truth) is None  # one attack: nothing to compare


def test_mia_report_o_still_writes_the_file_but_says_to_use_output(folder, tmp_path):
    """``-o`` is ``--option`` in mia run; in mia report it meant ``--output``. It keeps
    working for a release, with one line saying what to use."""
    short = tmp_path / "short.html"
    done = CliRunner().invoke(mia, ["report", str(folder), "-o", str(short)])
    assert done.exit_code == 0, done.output
    assert short.read_text() == (folder / "report.html").read_text()
    assert "-o is deprecated (in mia run it sets an option) and goes in 0.3.0; use --output " \
        "FILE" in done.stderr
    plain = CliRunner().invoke(mia, ["report", str(folder), "--output", str(tmp_path / "b")])
    assert plain.exit_code == 0 and "deprecated" not in plain.stderr
    assert " -o" not in CliRunner().invoke(mia, ["report", "--help"]).output  # hidden
    both = CliRunner().invoke(mia, ["report", str(folder), "-o", "x.html", "--output", "y.html"])
    assert both.exit_code == 2 and "give the file once, with --output" in both.output


def test_the_reports_rerun_command_reproduces_the_run_from_any_folder(folder, tmp_path):
    """The command the report prints, run as written from another folder (NEW_FOLDER filled
    in), gives the same metrics for every attack."""
    import os
    import re
    import shlex
    from html import unescape

    html = (folder / "report.html").read_text()
    command = unescape(re.search(r"Rerun it[^<]*<code>(.*?)</code>", html).group(1))
    argv = shlex.split(command.replace("NEW_FOLDER", str(tmp_path / "again")))
    assert argv[0] == "mia-run" and argv[2] == str((folder / "results.json").resolve())
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        done = CliRunner().invoke(run, [*argv[1:], "-q"],
                                  env={"MIA_CACHE_DIR": str(tmp_path / "cache")})
    finally:
        os.chdir(old)
    assert done.exit_code == 0, done.output
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    first = json.loads((folder / "results.json").read_text())
    assert [a["metrics"] for a in again["attacks"]] == [a["metrics"] for a in first["attacks"]]


def test_mia_metrics_hints_at_the_direction_when_an_auc_is_below_chance(tmp_path):
    rng = np.random.default_rng(1)
    member = np.r_[[1] * 200, [0] * 200]
    loss = np.r_[rng.normal(0.5, 1, 200), rng.normal(1.5, 1, 200)]  # members: lower loss
    noise = rng.random(400)
    path = tmp_path / "s.csv"
    path.write_text("is_member,loss,noise\n" + "".join(
        f"{m},{float(a)!r},{float(b)!r}\n" for m, a, b in zip(member, loss, noise, strict=True)))
    out = CliRunner().invoke(mia, ["metrics", str(path)])
    assert out.exit_code == 0, out.output
    hints = [line for line in out.output.splitlines() if line.startswith("hint:")]
    assert len(hints) == 1 and hints[0].startswith("hint: 'loss' has AUC 0.2")
    assert hints[0].endswith("or the other way round, add --lower loss")
    flipped = CliRunner().invoke(mia, ["metrics", str(path), "--lower", "loss", "--json"])
    results = json.loads(flipped.output)
    assert results["hints"] == []  # the loss read the right way round: AUC above 0.5
    auc = {a["name"]: a["metrics"]["auc"] for a in results["attacks"]}
    assert auc["loss"] > 0.7
    every = json.loads(CliRunner().invoke(mia, ["metrics", str(path), "--lower-is-member",
                                                "--json"]).output)
    assert {a["name"]: a["metrics"]["auc"] for a in every["attacks"]} == pytest.approx(
        {"loss": auc["loss"], "noise": 1 - auc["noise"]})  # --lower-is-member flips both


def test_a_loss_and_a_confidence_are_measured_in_one_call(tmp_path):
    """--lower COLUMN flips that column alone: each gets the AUC scikit-learn gives it read
    the right way round; a threshold on the flipped column is read on the file's scale."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    truth = np.r_[[1] * 300, [0] * 300]
    loss = rng.normal(1.0 - 0.6 * truth, 1.0)
    confidence = rng.normal(0.4 * truth, 1.0)
    path = tmp_path / "both.csv"
    path.write_text("is_member,loss,confidence\n" + "".join(
        f"{t},{float(a)!r},{float(b)!r}\n" for t, a, b in zip(truth, loss, confidence,
                                                              strict=True)))
    out = CliRunner().invoke(mia, ["metrics", str(path), "--lower", "loss", "--threshold",
                                   "loss=0.5", "--json"])
    assert out.exit_code == 0, out.output
    found = {a["name"]: a["metrics"] for a in json.loads(out.output)["attacks"]}
    assert found["loss"]["auc"] == pytest.approx(roc_auc_score(truth, -loss))
    assert found["confidence"]["auc"] == pytest.approx(roc_auc_score(truth, confidence))
    called = loss <= 0.5
    assert found["loss"]["precision"] == pytest.approx(truth[called].mean())
    both = CliRunner().invoke(mia, ["metrics", str(path), "--lower", "loss",
                                    "--lower-is-member"])
    assert both.exit_code == 2 and "give one or the other" in both.output
    typo = CliRunner().invoke(mia, ["metrics", str(path), "--lower", "los"])
    assert typo.exit_code == 2 and "--lower los: not a score column" in typo.output


def test_mia_metrics_reads_float_membership_and_scores_only_the_score_columns(tmp_path):
    """Membership written as 1.0 / 0.0 (as numpy and pandas write it) is membership; where a
    file has score columns, the other numeric columns (a weight, a loss kept for reference)
    are not scored unless asked for."""
    rng = np.random.default_rng(0)
    path = tmp_path / "s.csv"
    rows = [f"{float(m)!r},{float(rng.random())!r},{float(rng.random())!r}"
            for m in [1] * 20 + [0] * 20]
    path.write_text("is_member,score:a,weight\n" + "\n".join(rows) + "\n")
    out = CliRunner().invoke(mia, ["metrics", str(path), "--json"])
    assert out.exit_code == 0, out.output
    assert [a["name"] for a in json.loads(out.output)["attacks"]] == ["a"]  # the score of a
    both = CliRunner().invoke(mia, ["metrics", str(path), "--json", "--score", "weight"])
    assert [a["name"] for a in json.loads(both.output)["attacks"]] == ["weight"]


def test_an_audit_that_proves_nothing_says_so_without_calling_the_training_private():
    from mia_core.results.report import headline

    results = {"audit_delta": 1e-5, "attacks": [{"name": "coin", "metrics": {
        "auc": 0.5, "tpr_at_01pct_fpr": 0.001, "tpr_at_1pct_fpr": 0.01, "epsilon_lb": 0.0,
        "fpr_step": 1e-4}}]}
    text = ["".join(p if isinstance(p, str) else p["text"] for p in sentence)
            for sentence in headline(results, "coin")]
    assert text[1] == ("No attack proves ε above 0 here, so this audit cannot rule out any "
                       "differential-privacy claim; that is not evidence that the training is "
                       "private.")


def test_too_few_records_are_flagged_in_mia_metrics_and_in_a_run(tmp_path):
    """One member and one non-member give AUC 1: the numbers are printed with a WARNING that
    no sample that small tells an attack from chance; 30 a side is not flagged; a run with
    an evaluation below 30 a side says the same in results.json."""
    from mia_core.results.measure import MIN_PER_SIDE, sample_warning
    from mia_core.testing import run

    two = tmp_path / "two.csv"
    two.write_text("record_id,member,score\n0,1,0.9\n1,0,0.1\n")
    out = CliRunner().invoke(mia, ["metrics", str(two), "--output", str(tmp_path / "two")])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("WARNING: too few records to measure an attack: 1 members "
                                 "and 1 non-members were scored (at least 30 of each are "
                                 "needed); chance alone spreads the AUC over 0.5 ± 0.50")
    written = json.loads((tmp_path / "two" / "results.json").read_text())
    assert len(written["warnings"]) == 1
    assert "too few records" in (tmp_path / "two" / "report.html").read_text()
    assert MIN_PER_SIDE == 30 and sample_warning(30, 30) is None
    assert "29 members and 400 non-members" in sample_warning(29, 400)
    # Hanley & McNeil at 0.5 with 29 + 29: 1.96 * sqrt(59 / (12 * 29 * 29)) = 0.15
    assert "0.5 ± 0.15 here" in sample_warning(29, 29)
    small = run(dataset="tiny-vectors", attacks=["loss-threshold"], members=40,
                options={"target": {"epochs": 2}}, target="mlp")
    assert small.split_sizes["eval_members"] == 20
    assert any(w.startswith("too few records to measure an attack: 20 members and 20 "
                            "non-members") for w in small.warnings)
