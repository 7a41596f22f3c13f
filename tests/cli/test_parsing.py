"""lrkit.cli.parsing: the number parser every subcommand shares, and its one error."""

import math

import pytest

from lrkit.cli.parsing import BadInput, number


@pytest.mark.parametrize("text, kind, want", [("500", int, 500), ("0.5", float, 0.5), ("20", None, 20),
                                              ("1e3", None, 1000.0), ("2.0", None, 2.0), ("-3", None, -3)])
def test_numbers(text, kind, want):
    v = number("--x", text, kind, positive=False)
    assert v == want and type(v) is type(want)


@pytest.mark.parametrize("text, kind, positive, message", [
    ("abc", int, True, "--x must be an integer > 0, got 'abc'"),
    ("1.5", int, True, "--x must be an integer > 0, got '1.5'"),
    ("nan", float, False, "--x must be a number, got 'nan'"),
    ("0", float, True, "--x must be > 0, got '0'"),
    ("x", None, False, "--x must be a number, got 'x'"),
])
def test_bad_input_names_the_option(text, kind, positive, message):
    with pytest.raises(BadInput) as e:
        number("--x", text, kind, positive=positive)
    assert str(e.value) == message and isinstance(e.value, ValueError)


def test_infinity_is_a_number():
    assert number("--x", "inf") == math.inf
