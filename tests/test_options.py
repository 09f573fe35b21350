import attrs
import pytest

from mia_core.catalog.registry import Origin, make_entry
from mia_core.errors import ConfigError
from mia_core.experiment.plan import route_options
from mia_core.options import (
    build_options,
    check_options_class,
    describe_options,
    fraction,
    option,
    parse_value,
    positive,
    unknown_option_message,
)


@attrs.frozen
class Opts:
    epochs: int = option(30, "epochs", positive)
    lr: float = option(1e-3, "learning rate", positive)
    fast: bool = option(True, "fast path")
    mode: str = option("loss", "features", choices=("loss", "probabilities"))


def test_values_are_parsed_to_declared_types():
    o = build_options(Opts, {"epochs": "5", "lr": "0.5", "fast": "off", "mode": "probabilities"},
                      "attack 'x'")
    assert o == Opts(5, 0.5, False, "probabilities")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "five"}, "option 'epochs' of attack 'x': expected an integer, got 'five'"),
        ({"fast": "maybe"}, "expected true/false"),
        ({"epochs": "0"}, "bad option for attack 'x': epochs must be a finite number > 0, got 0"),
        ({"mode": "logits"}, "option 'mode' of attack 'x': must be one of loss, probabilities; "
                             "got 'logits'"),
        ({"lr": "nan"}, "option 'lr' of attack 'x': must be a finite number, got nan"),
        ({"lr": "inf"}, "option 'lr' of attack 'x': must be a finite number, got inf"),
        ({"lr": "-inf"}, "option 'lr' of attack 'x': must be a finite number, got -inf"),
        ({"epoch": "3"}, "unknown option 'epoch' for attack 'x'; did you mean 'epochs'?"),
    ],
)
def test_bad_values_give_clear_errors(values, message):
    with pytest.raises(ConfigError) as err:
        build_options(Opts, values, "attack 'x'")
    assert message in str(err.value)


def _entries():
    origin = Origin("p")
    target = make_entry("target", origin, "cnn", lambda o: o, options=Opts)
    attack = make_entry("attack", origin, "mlp", lambda o: o, options=Opts)
    return [("target", target), ("mlp", attack)]


def test_routing_by_kind_and_by_name():
    routed = route_options({"target": {"epochs": "3"}, "mlp": {"lr": "0.1"},
                            "attack": {"mode": "loss"}}, _entries())
    assert routed == {"target": {"epochs": "3"}, "mlp": {"lr": "0.1", "mode": "loss"}}


def test_bare_key_that_two_components_have_is_ambiguous():
    with pytest.raises(ConfigError, match="ambiguous") as err:
        route_options({"": {"epochs": "3"}}, _entries())
    assert str(err.value) == ("option 'epochs' is ambiguous: target, mlp all have it; write "
                              "e.g. -o mlp.epochs=...")


def test_unknown_prefix_is_an_error():
    with pytest.raises(ConfigError, match="names no selected component") as err:
        route_options({"lira": {"epochs": "3"}}, _entries())
    assert str(err.value) == ("option 'lira.epochs' names no selected component (use one of: "
                              "attack, dataset, executor, mlp, reporter, target)")


@attrs.frozen
class Other:
    width: int = option(8, "width", positive)


def _three_entries():
    """A dataset without options, a target with Opts and an attack with Other."""
    origin = Origin("p")
    return [("dataset", make_entry("dataset", origin, "plain", lambda: None)),
            ("target", make_entry("target", origin, "cnn", lambda o: o, options=Opts)),
            ("probe", make_entry("attack", origin, "probe", lambda o: o, options=Other))]


def test_a_bare_key_goes_to_the_one_component_that_has_it():
    routed = route_options({"": {"width": "4", "lr": "0.5"}}, _three_entries())
    assert routed == {"dataset": {}, "target": {"lr": "0.5"}, "probe": {"width": "4"}}


def test_an_unknown_bare_key_names_every_known_option():
    with pytest.raises(ConfigError) as err:
        route_options({"": {"widht": "4"}}, _three_entries())
    assert str(err.value) == ("unknown option 'widht' for the selected components; did you mean "
                              "'width'? (options: epochs, fast, lr, mode, width)")


def make_options_class():
    """Built at call time (not import time), so mutation testing sees option() run."""

    @attrs.frozen
    class Late:
        mode: str = option("a", "which mode", choices=("a", "b"))
        size: int = option(3, "a size", positive)
        plain: float = option(0.5)

    return Late


def test_option_declares_default_help_choices_and_validators():
    late = make_options_class()
    assert late() == late("a", 3, 0.5)
    fields = {f.name: f for f in attrs.fields(late)}
    assert fields["mode"].metadata == {"help": "which mode", "choices": ("a", "b")}
    assert fields["plain"].metadata == {"help": "", "choices": None}
    assert fields["plain"].validator is None
    with pytest.raises(ValueError, match="'mode' must be in"):
        late(mode="c")
    with pytest.raises(ValueError, match="size must be a finite number > 0, got 0"):
        late(size=0)
    assert describe_options(late)[0] == {"name": "mode", "type": "str", "default": "a",
                                         "help": "which mode", "choices": ["a", "b"]}


def test_a_float_option_may_allow_non_finite_values():
    @attrs.frozen
    class Loose:
        cap: float = option(float("inf"), "no cap by default", allow_nonfinite=True)
        lr: float = option(0.1, "finite")

    assert build_options(Loose, {"cap": "inf"}, "x").cap == float("inf")
    assert build_options(Loose, {"cap": "1.5"}, "x").cap == 1.5
    with pytest.raises(ConfigError, match="must be a finite number"):
        build_options(Loose, {"lr": "nan"}, "x")
    with pytest.raises(ConfigError, match="of x: must be a finite number, got nan"):
        build_options(Opts, {"lr": float("nan")}, "x")  # already typed (a config file)


def test_option_with_a_validator_and_choices_checks_both():
    @attrs.frozen
    class Both:
        n: int = option(2, "n", positive, choices=(2, 4, -1))

    assert Both(4).n == 4
    for bad in (3, -1):
        with pytest.raises(ValueError):
            Both(bad)


def test_unknown_option_message_suggests_at_most_two_close_names():
    msg = unknown_option_message("epoch", ["epochs", "epochz", "epochx", "lr"], "target 'cnn'")
    assert msg == ("unknown option 'epoch' for target 'cnn'; did you mean 'epochz' or "
                   "'epochx'? (options: epochs, epochz, epochx, lr)")  # best two (ties: by name)
    assert unknown_option_message("zzz", [], "dataset 'd'") == (
        "unknown option 'zzz' for dataset 'd' (options: none)")
    assert "did you mean" not in unknown_option_message("learnrate", ["lr"], "x")


@pytest.mark.parametrize(("validator", "good", "bad"),
                         [(positive, 1e-9, 0.0), (fraction, 0.5, 1.0)])
def test_numeric_validators_bounds(validator, good, bad):
    field = type("Field", (), {"name": "v"})()
    validator(None, field, good)
    with pytest.raises(ValueError):
        validator(None, field, bad)
    if validator is fraction:
        with pytest.raises(ValueError):
            validator(None, field, 0.0)


def test_parse_value_reads_every_spelling():
    for text in ("1", "true", "Yes", " on "):
        assert parse_value(text, bool) is True
    for text in ("0", "false", "NO", "off"):
        assert parse_value(text, bool) is False
    assert parse_value("2.5e-3", float) == 0.0025 and parse_value("-7", int) == -7
    assert parse_value("text", str) == "text"
    with pytest.raises(ValueError) as err:
        parse_value("fast", float)
    assert str(err.value) == "expected a number, got 'fast'"


def test_messages_of_the_small_helpers():
    with pytest.raises(ConfigError) as err:
        build_options(None, {"b": "1", "a": "2"}, "attack 'x'")
    assert str(err.value) == "attack 'x' takes no options, got: a, b"
    field = type("Field", (), {"name": "share"})()
    with pytest.raises(ValueError) as err:
        fraction(None, field, 1.5)
    assert str(err.value) == "share must be between 0 and 1 (exclusive), got 1.5"

    @attrs.frozen
    class Plain:
        n: int = 3  # no option(): no help text

    assert describe_options(Plain) == [{"name": "n", "type": "int", "default": 3, "help": "",
                                        "choices": None}]

    @attrs.frozen
    class Union:
        n: int | None = None

    assert check_options_class(Union) == ("option 'n' of Union has unsupported type "
                                          "int | None (use int, float, bool or str)")


def test_validator_errors_keep_their_first_line():
    def picky(instance, attribute, value):
        if value > 1:
            raise ValueError("too big\nsecond line", attribute, value)

    def silent(instance, attribute, value):
        if value > 1:
            raise ValueError()

    @attrs.frozen
    class Picky:
        a: int = option(0, "a", picky)
        b: int = option(0, "b", silent)

    with pytest.raises(ConfigError) as err:
        build_options(Picky, {"a": "2"}, "x")
    assert str(err.value) == "bad option for x: too big"
    with pytest.raises(ConfigError) as err:
        build_options(Picky, {"b": "2"}, "x")
    assert str(err.value) == "bad option for x: ValueError"


def test_every_recipe_field_is_an_option_and_reaches_the_recipe():
    """RecipeOptions and TrainRecipe name the same settings; each non-default option value
    arrives in the recipe under its own name (no positional copy can swap two)."""
    import attrs

    from mia_core import RecipeOptions, TrainRecipe

    names = {f.name for f in attrs.fields(TrainRecipe)}
    assert names <= {f.name for f in attrs.fields(RecipeOptions)}
    given = dict(epochs=7, batch_size=33, lr=0.02, weight_decay=0.003, precision="fp32",
                 channels_last=False, max_grad_norm=2.5, augment="flip", optimizer="sgd",
                 momentum=0.7, schedule="cosine")
    recipe = RecipeOptions(**given).recipe()
    assert {k: getattr(recipe, k) for k in given} == given
    assert (recipe.dp_epsilon, recipe.dp_delta, recipe.noise_multiplier) == (None, None, None)
    private = RecipeOptions(dp_epsilon=3.0, dp_delta=1e-6).recipe()
    assert (private.dp_epsilon, private.dp_delta) == (3.0, 1e-6)
    assert RecipeOptions(noise_multiplier=1.1).recipe().dp_delta == 1e-5  # DP on: the default
