"""The bundled data's folders and the "did you mean" of a misspelt name."""

from __future__ import annotations

from racer.resources import did_you_mean


def test_did_you_mean_names_the_close_names_only():
    names = ["oval", "kidney", "chicane_cw", "chicane_ccw"]
    assert did_you_mean("ovl", names) == " Did you mean 'oval'?"
    assert did_you_mean("chicane", names) == " Did you mean 'chicane_cw' or 'chicane_ccw'?"
    assert did_you_mean("speedway", names) == ""
    # file names compare without their suffix: ".py" alone makes no match
    assert did_you_mean("x.py", ["w5.py", "w6.py"]) == ""
    assert did_you_mean("rewrd.py", ["reward.py", "other.py"]) == " Did you mean 'reward.py'?"
