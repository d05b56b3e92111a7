"""CompareConfig checks every size, rate and optimizer hyperparameter before anything runs."""

import pytest

from tfescape.experiments.config import CompareConfig


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be a positive integer"),
        ("batch_size", -1, "batch_size must be a positive integer"),
        ("noise_batches", 2.5, "noise_batches must be a positive integer"),
        ("max_train", 0, "max_train must be a positive integer or None"),
        ("max_test", -3, "max_test must be a positive integer or None"),
        ("image_size", 1.5, "image_size must be a positive integer or None"),
        ("seed", -1, "seed must be an integer >= 0"),
        ("basin_height", float("nan"), "basin_height must be finite and > 0"),
        ("sharpness_epsilon", float("inf"), "sharpness_epsilon must be finite and > 0"),
        ("confidence", 1.0, "confidence must be in"),
        ("observed_warmup", -1, "observed_warmup must be an integer >= 0"),
        ("distribute", "tpu", "distribute must be one of"),
        ("optimizers", ("sgd:lr=inf",), "lr=inf is out of range"),
        ("optimizers", ("sgd:lr=0",), "lr=0.0 is out of range"),
        ("optimizers", ("adam:lr=nan",), "lr=nan is out of range"),
        ("optimizers", ("adam:beta_2=-0.5",), "beta_2=-0.5 is out of range"),
        ("optimizers", ("adam:beta_1=1",), "beta_1=1.0 is out of range"),
        ("optimizers", ("adam:epsilon=0",), "epsilon=0.0 is out of range"),
        ("optimizers", ("sgd:momentum=1.5",), "momentum=1.5 is out of range"),
        ("optimizers", ("sgd:lr=fast",), "is not a number"),
        ("optimizers", ("sgd:beta_2=0.9",), "beta_2"),
    ],
)
def test_bad_settings_are_refused_up_front_with_the_field_named(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        CompareConfig.preset("smoke", **{field: value})
