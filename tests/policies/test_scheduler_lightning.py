"""A policy drives a PyTorch Lightning module: ``configure_optimizers`` returns ``policy.scheduler(opt)``
with ``interval="step"``, and the optimizer's LR at training step t is policy(t). (HF Trainer with
``optimizers=(opt, policy.scheduler(opt))``: tests/llm/test_hf_trainer.py.)"""

import lightning as L
import pytest
import torch
from torch import nn

from lrkit.policies import parse

SPEC = "TRI2(k0=0.01, k1=0.1, l=3)"  # halves its amplitude every cycle: a wrong step count shows at once


class Classifier(L.LightningModule):
    def __init__(self, spec: str):
        super().__init__()
        self.net = nn.Linear(4, 2)
        self.policy = parse(spec)
        self.lrs: list[float] = []

    def training_step(self, batch, batch_idx):
        self.lrs.append(self.optimizers().optimizer.param_groups[0]["lr"])  # the LR this step's update uses
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.policy(0), momentum=0.9)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.policy.scheduler(opt), "interval": "step"}}


def test_the_lightning_optimizer_runs_the_policy_step_by_step():
    steps = 14
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(40, 4), torch.randint(0, 2, (40,)))
    module = Classifier(SPEC)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=8))  # 5 batches an epoch: steps cross epochs
    assert trainer.global_step == steps
    assert module.lrs == pytest.approx([parse(SPEC)(t) for t in range(steps)])
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == steps  # stepped once per step, not per epoch
