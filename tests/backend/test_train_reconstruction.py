"""The dataset target "input": autoencoders learn to reproduce their input."""

import numpy as np
import pytest

from layerloom.backend.datasets import DatasetError, load_dataset
from layerloom.backend.training import DatasetSettings, SettingsError, prepare_data


def test_target_input_turns_labels_into_the_flattened_input():
    settings = DatasetSettings("digits", {}, "minmax", 0.2, target="input")
    data = prepare_data(settings, seed=0)
    assert data.train.task == "regression" and data.train.num_classes is None
    assert data.train.target_shape == (64,)
    np.testing.assert_array_equal(data.train.y, data.train.x.reshape(len(data.train), -1))
    np.testing.assert_array_equal(data.val.y, data.val.x.reshape(len(data.val), -1))


def test_target_written_only_when_not_the_default():
    assert "target" not in DatasetSettings("moons").to_dict()
    d = DatasetSettings("digits", target="input").to_dict()
    assert d["target"] == "input" and DatasetSettings.from_dict(d).target == "input"
    with pytest.raises(SettingsError, match="target"):
        DatasetSettings("digits", target="labelz")


def test_token_inputs_cannot_be_reconstructed():
    with pytest.raises(DatasetError, match="token ids cannot be reconstructed"):
        prepare_data(DatasetSettings("copy", target="input"), seed=0)


def test_shipped_test_split_becomes_reconstruction_too():
    digits = load_dataset("digits")
    digits.test = digits.subset(range(50))
    data = prepare_data(DatasetSettings("digits", {}, "none", 0.1, target="input"), seed=0, dataset=digits)
    assert data.test is not None and data.test.task == "regression"
    np.testing.assert_array_equal(data.test.y, data.test.x.reshape(50, -1))
