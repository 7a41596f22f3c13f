"""The golden run of the numerics version (:mod:`lrkit.numerics`): train it, or store its curve.

``python -m lrkit.run.golden --write`` trains :data:`lrkit.numerics.GOLDEN_CONFIG` here and stores its loss
curve under the current :data:`~lrkit.numerics.NUMERICS_VERSION`; the golden test compares a fresh run
with the stored curve, so a change to the numbers fails until the version is bumped and stored.
"""

from __future__ import annotations

import json
import sys

from lrkit.numerics import GOLDEN_CONFIG, GOLDEN_PATH, NUMERICS_VERSION, stored_golden


def golden_run() -> dict:
    """Train the golden run here: ``{"loss": [...], "top1": highest top-1}``."""
    from .executors import train_config

    rec = train_config(dict(GOLDEN_CONFIG))
    if rec["status"] != "complete":
        raise RuntimeError(f"the golden run did not complete: {rec['status']} {rec.get('message')}")
    return {"loss": [float(x) for x in rec["curves"]["loss"]], "top1": rec["summary"]["highest_top1"]}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--write"]:
        print("usage: python -m lrkit.run.golden --write   (stores the golden run of NUMERICS_VERSION)", file=sys.stderr)
        return 2
    golden = stored_golden() if GOLDEN_PATH.exists() else {}
    golden[NUMERICS_VERSION] = golden_run()
    GOLDEN_PATH.write_text(json.dumps({str(k): v for k, v in sorted(golden.items())}, indent=1) + "\n")
    print(f"stored the golden run of numerics version {NUMERICS_VERSION} in {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
