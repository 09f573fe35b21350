import attrs
import pytest

from mia_core.errors import ConfigError
from mia_core.options import build_options, option, positive
from mia_core.registry import Origin, make_entry
from mia_core.runner import route_options


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
        ({"epochs": "0"}, "epochs must be > 0"),
        ({"mode": "logits"}, "'mode' must be in"),
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
    with pytest.raises(ConfigError, match="ambiguous"):
        route_options({"": {"epochs": "3"}}, _entries())


def test_unknown_prefix_is_an_error():
    with pytest.raises(ConfigError, match="names no selected component"):
        route_options({"lira": {"epochs": "3"}}, _entries())
