import attrs
import pytest

from mia_core.catalog.registry import Origin, Registry, make_entry
from mia_core.errors import ConfigError, PluginError
from mia_core.options import option

A = Origin("plug-a", "mia-plug-a", "1.0")
B = Origin("plug-b", "mia-plug-b", "2.0")


def entry(name, origin=A, **kw):
    return make_entry("attack", origin, name, lambda: object(), "desc", **kw)


def test_lookup_and_listing_order():
    reg = Registry("attack")
    for n in ("lira", "loss-threshold", "torch-mlp"):
        reg.add(entry(n))
    assert reg.get("lira").name == "lira"
    assert [e.name for e in reg] == ["lira", "loss-threshold", "torch-mlp"]


def test_unknown_name_lists_available_and_close_matches():
    reg = Registry("attack")
    for n in ("lira", "loss-threshold", "torch-mlp"):
        reg.add(entry(n))
    with pytest.raises(ConfigError) as err:
        reg.get("torch-mpl")
    msg = str(err.value)
    assert "unknown attack 'torch-mpl'" in msg
    assert "did you mean 'torch-mlp'?" in msg
    assert "available: lira, loss-threshold, torch-mlp" in msg


def test_a_shared_name_names_both_distributions_and_the_qualified_names():
    reg = Registry("attack")
    reg.add(entry("lira", A))
    reg.add(entry("lira", B))
    with pytest.raises(ConfigError) as err:
        reg.get("lira")
    assert "mia-plug-a 1.0" in str(err.value) and "mia-plug-b 2.0" in str(err.value)
    assert "mia-plug-a:lira or mia-plug-b:lira" in str(err.value)
    assert reg.get("mia-plug-b:lira").origin is B and reg.get("plug-a:lira").origin is A
    assert "mia-plug-b:lira" in reg and "mia-plug-c:lira" not in reg and len(reg) == 2


@pytest.mark.parametrize("name", ["", "Bad Name", "UPPER", "-lead", 3])
def test_invalid_names_are_rejected(name):
    with pytest.raises(PluginError, match="invalid name"):
        make_entry("dataset", A, name, lambda: None)


def test_factory_must_be_callable():
    with pytest.raises(PluginError, match="not callable"):
        make_entry("dataset", A, "ok", 42)


def test_options_class_must_have_defaults_and_supported_types():
    @attrs.frozen
    class NoDefault:
        epochs: int

    @attrs.frozen
    class BadType:
        sizes: tuple = option((1,))

    with pytest.raises(PluginError, match="has no default"):
        make_entry("target", A, "t", lambda o: o, options=NoDefault)
    with pytest.raises(PluginError, match="unsupported type"):
        make_entry("target", A, "t", lambda o: o, options=BadType)
    with pytest.raises(PluginError, match="not an attrs class"):
        make_entry("target", A, "t", lambda o: o, options=dict)


def test_description_is_first_line():
    e = make_entry("attack", A, "x", lambda: None, "  First line.\nMore detail.")
    assert e.description == "First line."


def test_unknown_name_suggests_up_to_three_loose_matches():
    reg = Registry("attack")
    for n in ("lira-a", "lira-b", "lira-c", "lira-d", "rmia"):
        reg.add(entry(n))
    assert reg.unknown_message("lira") == (
        "unknown attack 'lira'; did you mean 'lira-d' or 'lira-c' or 'lira-b'? (available: "
        "lira-a, lira-b, lira-c, lira-d, rmia; see mia-run --list-plugins)")
    # similarity 0.5 (between difflib's default 0.6 and the 0.5 used) still suggests
    reg2 = Registry("dataset")
    reg2.add(entry("abcdefgh"))
    assert "did you mean 'abcdefgh'?" in reg2.unknown_message("abcdwxyz")
    assert Registry("target").unknown_message("cnn") == (
        "unknown target 'cnn' (available: none installed; see mia-run --list-plugins)")


def test_entry_builds_with_given_or_default_options():
    @attrs.frozen
    class Opts:
        k: int = option(1, "k")

    made = make_entry("attack", A, "echo", lambda o: o, options=Opts)
    assert made.build() == Opts(1)
    assert made.build(Opts(5)) == Opts(5)
    bare = make_entry("attack", A, "bare", lambda: "built")
    assert bare.build() == "built"


def test_descriptions_and_threat_model_checks():
    from mia_core.catalog.registry import interface_problem

    class PerInstance:  # sets threat_model in __init__: fine for the class itself
        def score(self, ctx):
            return None

    assert make_entry("attack", A, "quiet", PerInstance).description == ""
    assert make_entry("attack", A, "blank", PerInstance, "   ").description == ""
    assert make_entry("attack", A, "two", PerInstance, "first\nsecond").description == "first"
    with pytest.raises(PluginError) as err:
        make_entry("attack", A, "odd", PerInstance, 42)
    assert str(err.value) == ("plugin 'plug-a' registered attack 'odd' with a description that "
                              "is not a string")
    assert interface_problem("attack", PerInstance, built=False) is None
    assert interface_problem("attack", PerInstance(), built=True) == (
        "declares unknown threat model None; use one of known-members, population, label-only")
