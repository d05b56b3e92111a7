"""The optimizer registry: spec parsing, unique keys, labels, colors, Keras construction, bad input."""

import keras
import pytest
import seaborn as sns

from tfescape import plots
from tfescape.optimizers.specs import FAMILIES, parse_optimizer_spec, parse_optimizer_specs


def test_registry_colors_are_seaborns_colorblind_palette_with_sgd_blue_and_adam_vermillion():
    palette = sns.color_palette("colorblind", 10).as_hex()
    assert FAMILIES["sgd"].color == palette[0] and FAMILIES["adam"].color == palette[3]
    assert {f.color for f in FAMILIES.values()} <= set(palette)
    assert len({f.color for f in FAMILIES.values()}) == len(FAMILIES)  # one color per family


def test_keys_labels_and_colors_of_a_four_way_comparison():
    specs = parse_optimizer_specs(
        ["sgd:lr=0.1", "sgd:lr=0.1,momentum=0.9", "adam:lr=1e-3", "rmsprop:lr=1e-3"]
    )
    assert [s.key for s in specs] == ["sgd", "sgd_2", "adam", "rmsprop"]
    assert specs[1].label == "SGD (lr 0.1, momentum 0.9)" and specs[2].label == "Adam"
    assert len({s.color for s in specs}) == 4
    assert specs[0].color == FAMILIES["sgd"].color and specs[2].color == FAMILIES["adam"].color
    # Figures keyed by the run key get the same color the spec has.
    assert [plots.optimizer_color(s.key) for s in specs] == [s.color for s in specs]
    assert specs[2].smoothing_decay == 0.9 and specs[0].smoothing_decay is None


@pytest.mark.parametrize(
    "text, cls, expected",
    [
        ("sgd:lr=0.05,momentum=0.9", keras.optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.9}),
        ("adam:lr=1e-3,beta_2=0.99", keras.optimizers.Adam, {"learning_rate": 1e-3, "beta_2": 0.99}),
        ("adamw:weight_decay=0.01", keras.optimizers.AdamW, {"weight_decay": 0.01}),
        ("rmsprop:rho=0.8", keras.optimizers.RMSprop, {"rho": 0.8}),
        ("amsgrad", keras.optimizers.Adam, {"amsgrad": True}),
    ],
)
def test_build_makes_the_keras_optimizer_with_the_given_hyperparameters(text, cls, expected):
    optimizer = parse_optimizer_spec(text).build()
    assert type(optimizer) is cls
    config = optimizer.get_config()
    for key, value in expected.items():
        assert config[key] == pytest.approx(value)


def test_canonical_text_round_trips():
    spec = parse_optimizer_spec("ADAM:lr=0.002")
    assert parse_optimizer_spec(spec.text).values == spec.values
    assert spec.text.startswith("adam:lr=0.002,beta_1=0.9")


@pytest.mark.parametrize(
    "text, match",
    [
        ("lion:lr=1", "unknown optimizer 'lion'"),
        ("sgd:lr=-0.1", "lr=-0.1 is out of range"),
        ("sgd:lr=inf", "out of range"),
        ("sgd:lr=nan", "out of range"),
        ("adam:beta_2=-0.5", "beta_2=-0.5 is out of range"),
        ("adam:beta_1=1", "out of range"),
        ("sgd:momentum=1.5", "momentum"),
        ("sgd:nesterov=1", "valid keys: lr, momentum"),
        ("sgd:lr", "is not key=value"),
        ("sgd:lr=fast", "is not a number"),
    ],
)
def test_bad_specs_get_a_clear_error(text, match):
    with pytest.raises(ValueError, match=match):
        parse_optimizer_spec(text)


def test_the_same_run_twice_and_no_run_are_refused():
    with pytest.raises(ValueError, match="given twice"):
        parse_optimizer_specs(["sgd:lr=0.1", "sgd"])
    with pytest.raises(ValueError, match="at least one optimizer"):
        parse_optimizer_specs([])
