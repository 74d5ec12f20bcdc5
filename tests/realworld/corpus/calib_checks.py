"""A calibration package's unit tests as pytest runs them: passing, parametrized, fixtures,
an exception the test expects (pytest.raises), printed output, and one failing assertion."""

import pytest


def gain(channel, table):
    return table[channel] * 2


def divide(a, b):
    return a / b


@pytest.fixture
def table():
    return {"ecal": 1.5, "hcal": 2.0}


def test_gain(table):
    assert gain("ecal", table) == 3.0


@pytest.mark.parametrize("n", [1, 2, 3])
def test_square(n):
    assert n * n == n**2


def test_expected_division_error():
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    assert divide(6, 3) == 2


def test_missing_channel(table):
    with pytest.raises(KeyError, match="tracker"):
        gain("tracker", table)


def test_calibration_drift(table):
    drift = gain("hcal", table) - 3.5
    print("drift is", drift)
    assert drift < 0.1, f"drift {drift} over tolerance"


def test_after_the_failure(capsys):
    print("still running")
    assert capsys.readouterr().out == "still running\n"
