"""Tiny recipes and synthetic run records for the reproduce tests."""

import textwrap


def write_recipe(tmp_path, rows, head=""):
    (tmp_path / "t.toml").write_text(textwrap.dedent('''
        id = "tiny"
        title = "tiny"
        {head}
        [task]
        dataset = "mnist"
        model = "lenet"
        optimizer = "momentum"
        batch_size = 50
        iters = 20
        eval_every = 10
        [profiles.full]
        time_scale = 1.0
        [profiles.quick]
        time_scale = 0.5
        eval_every = 5
    ''').format(head=head) + rows)
    return tmp_path / "t.toml"


def record(policy="FIX(k=0.01)", optimizer="momentum", top1=(0.5, 0.9), every=500, status="complete", seed=0):
    """A finished run record with the given eval curve (no training)."""
    from lrkit.train import TrainConfig

    cfg = TrainConfig(policy=policy, optimizer=optimizer, seed=seed, iters=every * len(top1), eval_every=every).to_dict()
    best = max((i for i, a in enumerate(top1) if not isinstance(a, str)), key=lambda i: (top1[i], -i))
    return {
        "config": cfg, "policy": policy, "status": status, "environment": {"device": "cpu", "device_name": "test cpu",
                                                                           "torch": "x", "date": "2026-11-23T00:00:00"},
        "curves": {"lr": [0.01] * 4, "loss": [1.0] * 4},
        "evals": {"iteration": [every * (i + 1) for i in range(len(top1))], "top1": list(top1)},
        "summary": {"highest_top1": top1[best], "highest_top1_iteration": every * (best + 1), "wall_time_s": 1.0},
    }
