"""lrkit.train.jsonsafe: every record, export and results file goes through json_safe."""

import json
import math

import numpy as np
import pytest

from lrkit.train.jsonsafe import json_safe


def test_text_mode_round_trips_non_finite_numbers():
    obj = {"loss": [0.5, float("nan"), float("inf"), -np.float32("inf")], 3: (np.int64(7), np.float64(0.25))}
    text = json.dumps(json_safe(obj), allow_nan=False)  # strict JSON: no NaN/Infinity tokens
    back = json.loads(text)
    assert back["3"] == [7, 0.25]
    loss = [float(v) for v in back["loss"]]
    assert loss[0] == 0.5 and math.isnan(loss[1]) and loss[2] == math.inf and loss[3] == -math.inf


def test_null_mode_writes_none_and_keeps_other_values():
    out = json_safe({"top1": [np.float32("nan"), 0.75], "status": "diverged", "ok": True}, nonfinite="null")
    assert out == {"top1": [None, 0.75], "status": "diverged", "ok": True}
    json.dumps(out, allow_nan=False)


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match="nonfinite must be one of text, null"):
        json_safe([1.0], nonfinite="drop")
