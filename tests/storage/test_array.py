"""Array: blocks of samples joined along the stack axis."""

import numpy as np
import pytest

from rigbook.storage import Array, Trial


def test_stacks_columns_by_default():
    array = Array()
    array.stack(np.zeros((2, 3)))
    array.stack(np.ones((2, 1)))
    assert array.data.shape == (2, 4)
    np.testing.assert_array_equal(array.data, np.hstack([np.zeros((2, 3)), np.ones((2, 1))]))


def test_stack_axis_zero_stacks_rows():
    array = Array(stack_axis=0)
    for i in range(5):
        array.stack(np.full((1, 3), i))
    np.testing.assert_array_equal(array.data, np.repeat(np.arange(5), 3).reshape(5, 3))


def test_many_small_blocks_equal_one_concatenate():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(8, rng.integers(1, 7))) for _ in range(500)]
    array = Array(stack_axis=1)
    for block in blocks:
        array.stack(block)
    np.testing.assert_array_equal(array.data, np.concatenate(blocks, axis=1))


def test_one_dimensional_blocks_are_joined_end_to_end():
    array = Array()
    array.stack([1.0, 2.0])
    array.stack(np.array([3.0]))
    assert array.data.tolist() == [1.0, 2.0, 3.0]


def test_three_dimensional_and_negative_axis():
    array = Array(stack_axis=-1)
    array.stack(np.zeros((2, 3, 4)))
    array.stack(np.ones((2, 3, 1)))
    assert array.data.shape == (2, 3, 5)


def test_dtype_widens_instead_of_truncating():
    array = Array()
    array.stack(np.array([[1, 2]], dtype=np.int32))
    array.stack(np.array([[0.5]]))
    assert array.data.dtype == np.float64
    assert array.data.tolist() == [[1.0, 2.0, 0.5]]


def test_mismatched_block_names_both_shapes():
    array = Array()
    array.stack(np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(8, 3\)"):
        array.stack(np.zeros((2, 3)))
    assert array.data.shape == (8, 3)  # the bad block changed nothing


def test_bad_axis_and_dtype():
    with pytest.raises(ValueError, match="axis 3"):
        Array(stack_axis=3).stack(np.zeros((2, 2)))
    with pytest.raises(TypeError):
        Array(stack_axis=1.5)
    with pytest.raises(TypeError, match="dtype"):
        Array().stack(np.array(["a", "b"]))


def test_clear_and_data_of_an_empty_array():
    array = Array()
    assert array.data is None
    array.stack(np.ones((2, 2)))
    array.clear()
    assert array.data is None
    array.stack(np.ones((3, 1)))  # a new shape after clear is fine
    assert array.data.shape == (3, 1)


def test_stack_copies_its_input():
    block = np.zeros((2, 2))
    array = Array()
    array.stack(block)
    block[:] = 7
    assert array.data.sum() == 0


def test_trial_holds_attrs_and_arrays():
    trial = Trial({"block": 1, "trial": 2})
    emg = trial.add_array("emg", stack_axis=0)
    assert trial.arrays == {"emg": emg} and emg.stack_axis == 0
    assert trial.attrs == {"block": 1, "trial": 2}
