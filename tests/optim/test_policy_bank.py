"""FusedAdam with a policy bank (``policies=[p_0, …, p_{K-1}]``): slice k of every param (dim 0 the replica
axis) is updated with LR p_k(t), as K single-policy optimizers would, on the CPU kernel and the pure-torch
reference. The CUDA kernel's source is checked the same way in test_cuda_kernel_emulated.py."""

import pytest
import torch

from lrkit.optim import FusedAdam, _ext
from lrkit.policies import parse
from tests.optim.helpers import BANK_POLICIES, bank_against_singles, bank_error, bank_params


@pytest.mark.parametrize("backend,steps,dtype,adamw,amsgrad", [
    ("ext", 300, torch.float32, True, True), ("ext", 300, torch.bfloat16, False, False),
    ("torch", 30, torch.float32, True, True)])  # the reference: the same math, op for op; fewer steps (time)
def test_a_policy_bank_matches_k_single_optimizers(backend, steps, dtype, adamw, amsgrad):
    if backend == "ext":
        assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    kw = dict(weight_decay=0.01, adamw=adamw, amsgrad=amsgrad, backend=backend)
    ps = bank_params(0, len(BANK_POLICIES), dtype)
    bank, singles, slices = bank_against_singles(lambda p, pols: FusedAdam(p, policies=pols, **kw),
                                                 lambda p, pol: FusedAdam(p, policy=pol, **kw), ps, BANK_POLICIES,
                                                 steps, 1)
    assert bank.uses_extension("cpu") == (backend == "ext")
    keys = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
    assert bank_error(bank, ps, singles, slices, keys) <= 1e-6
    assert bank.steps() == [steps] and bank.last_lr() == [[s.last_lr()[0] for s in singles]]
    assert bank.last_lr()[0] == pytest.approx([parse(p)(steps - 1) for p in BANK_POLICIES], rel=1e-12)


def test_the_kernel_and_the_reference_agree_on_a_bank_with_amp():
    """Both back ends, the same bank, AMP scale and a skipped step: the same LRs and step count, updates
    within float rounding."""
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    a, b = bank_params(2, 3), bank_params(2, 3)
    opts = [FusedAdam(x, policies=BANK_POLICIES, backend=be) for x, be in ((a, "ext"), (b, "torch"))]
    g = torch.Generator().manual_seed(3)
    for step in range(20):
        for p, q in zip(a, b):
            p.grad = 1024.0 * torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        for opt in opts:
            opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(float(step == 7)))
    assert opts[0].steps() == opts[1].steps() == [19]
    assert opts[0].last_lr() == opts[1].last_lr()
    for p, q in zip(a, b):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7)


def test_a_live_edit_addresses_one_replica():
    ps = bank_params(4, 3)
    opt = FusedAdam(ps, policies=["FIX(k=0.1)", "FIX(k=0.2)", "FIX(k=0.3)"])
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    opt.set_policy("FIX(k=0.5)", replica=1)
    opt.step()
    assert opt.last_lr() == [[0.1, 0.5, 0.3]] and opt.param_groups[0]["policies"][1] == "FIX(k=0.5)"
    with pytest.raises(ValueError, match=r"field 'replica' must be in \[0, 3\)"):
        opt.set_policy("FIX(k=0.5)", replica=3)
    with pytest.raises(ValueError, match="field 'replica' must be an index"):
        opt.set_policy("FIX(k=0.5)")


def test_banks_and_single_policies_mix_across_groups():
    a, b = torch.nn.Parameter(torch.zeros(2, 5)), torch.nn.Parameter(torch.zeros(5))
    opt = FusedAdam([{"params": [a], "policies": ["FIX(k=0.1)", "FIX(k=0.2)"]}, {"params": [b]}], policy="FIX(k=0.4)")
    a.grad, b.grad = torch.ones_like(a), torch.ones_like(b)
    opt.step()
    assert opt.last_lr() == [[0.1, 0.2], 0.4]
    assert torch.allclose(a[0], torch.full((5,), -0.1)) and torch.allclose(a[1], torch.full((5,), -0.2))
    assert torch.allclose(b, torch.full((5,), -0.4))


def test_a_bank_survives_a_state_dict_round_trip(tmp_path):
    ps = bank_params(5, 3)
    opt = FusedAdam(ps, policies=BANK_POLICIES)
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    again = FusedAdam(ps, policies=["FIX(k=1)"] * 3)
    again.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert again.param_groups[0]["policies"] == tuple(BANK_POLICIES) and again.steps() == [1]


def test_bad_banks_name_the_field_in_one_line():
    w = torch.nn.Parameter(torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"field 'policies' holds 3 policies, so dim 0 of every param must be the "
                                         r"replica axis of size 3; param 0 of group 0 has shape \(4, 5\)") as err:
        FusedAdam([w], policies=BANK_POLICIES)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="field 'policies' holds 2 policies.*shape \\(\\)"):
        FusedAdam([torch.nn.Parameter(torch.zeros(()))], policies=BANK_POLICIES[:2])
    with pytest.raises(ValueError, match="field 'policies' must be a non-empty list"):
        FusedAdam([w], policies=[])
    with pytest.raises(ValueError, match="field 'policies' must be a non-empty list"):
        FusedAdam([w], policies="FIX(k=0.1)")
    with pytest.raises(ValueError, match="exactly one of the fields 'policy' .* and 'policies'"):
        FusedAdam([w], policy="FIX(k=0.1)", policies=["FIX(k=0.1)"] * 4)
    with pytest.raises(ValueError, match="exactly one of the fields"):
        FusedAdam([w])
    with pytest.raises(ValueError, match="field 'mopt_every' must be None with 'policies'"):
        FusedAdam([w], policies=["FIX(k=0.1)"] * 4, mopt_every=4)
