"""FusedAdam's CUDA kernels (csrc/cuda). They run wherever a GPU is visible and skip, saying so, where none is."""

import pytest
import torch

from lrkit.optim import FusedAdam, _ext, mopt_l1, mopt_l1_reference
from lrkit.optim.tables import pack_mopt
from lrkit.policies import parse
from tests.optim import helpers
from tests.optim.helpers import (BANK_POLICIES, CUDA_VS_TORCH_FUSED_RTOL, bank_against_singles, bank_error, bank_params,
                                 rel)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device visible: the CUDA kernels are only compiled here (nvcc -c in .ci/run)")


@pytest.fixture(scope="module")
def cuda_ext():
    assert _ext.has_cuda_kernel(), f"the lrkit CUDA extension did not build: {_ext.error()}"


def make_params(seed, dtype=torch.float32):
    return helpers.make_params(seed, dtype, device="cuda")


@pytest.mark.parametrize("adamw,amsgrad", [(False, False), (True, False), (False, True)])
def test_matches_torch_fused_adam_with_the_scheduler(cuda_ext, adamw, amsgrad):
    """Within CUDA_VS_TORCH_FUSED_RTOL (tests/optim/helpers.py): torch's CUDA kernel computes the moments in
    double, lrkit's in float as torch's CPU kernel; the bounds come from measuring that difference."""
    spec = "MULTI({0: LINEAR(lr=0.01, total=400, warmup=50), 400: 0.5*SIN2(k0=0.001, k1=0.01, l=100)})"
    ours = make_params(0)
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt = FusedAdam(ours, policy=spec, weight_decay=0.01, adamw=adamw, amsgrad=amsgrad)
    ref = (torch.optim.AdamW if adamw else torch.optim.Adam)(theirs, lr=1.0, weight_decay=0.01, amsgrad=amsgrad,
                                                            fused=True)
    sched = parse(spec).scheduler(ref)
    for _ in range(1000):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        opt.step()
        ref.step()
        sched.step()
    assert opt.uses_extension("cuda") and opt.steps() == [1000]
    assert opt.last_lr()[0] == pytest.approx(parse(spec)(999), rel=1e-12)
    assert rel(ours, theirs) < CUDA_VS_TORCH_FUSED_RTOL["param"]
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        assert rel([opt.state[p][key] for p in ours if p.numel()],
                   [ref.state[p][key] for p in theirs if p.numel()]) < CUDA_VS_TORCH_FUSED_RTOL[key], key


def test_groups_with_their_own_policies_in_one_launch_and_bf16(cuda_ext):
    a = torch.nn.Parameter(torch.zeros(1000, device="cuda"))
    b = torch.nn.Parameter(torch.zeros(1000, device="cuda", dtype=torch.bfloat16))
    opt = FusedAdam([{"params": [a]}, {"params": [b], "policy": "FIX(k=0.5)"}], policy="FIX(k=0.125)")
    a.grad, b.grad = torch.ones_like(a), torch.ones_like(b)
    opt.step()
    assert opt.last_lr() == [0.125, 0.5]
    assert torch.allclose(a, torch.full_like(a, -0.125)) and torch.allclose(b.float(), torch.full((1000,), -0.5, device="cuda"))


def test_cuda_graph_replay_follows_the_schedule_and_live_edits(cuda_ext):
    w = torch.nn.Parameter(torch.zeros(4096, device="cuda"))
    w.grad = torch.ones_like(w)
    opt = FusedAdam([w], policy="STEP(k=1.0, gamma=0.5, l=2)")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):  # warm up: state, buffers and launch tables exist before capture
            opt.step()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()
    lrs = []
    for _ in range(4):
        graph.replay()
        lrs.append(opt.last_lr()[0])
    assert lrs == [parse("STEP(k=1.0, gamma=0.5, l=2)")(t) for t in (3, 4, 5, 6)]
    opt.set_policy("FIX(k=0.01)")  # rewrites the descriptor in place: the captured graph stays valid
    graph.replay()
    assert opt.last_lr() == [0.01] and opt.steps() == [3 + 4 + 1]  # capture records the step, it does not run it


def test_found_inf_skips_without_a_sync(cuda_ext):
    w = torch.nn.Parameter(torch.ones(100, device="cuda"))
    opt = FusedAdam([w], policy="FIX(k=0.1)")
    w.grad = torch.full_like(w, 1024.0)
    opt.step(grad_scale=torch.tensor(1024.0, device="cuda"), found_inf=torch.tensor(1.0, device="cuda"))
    assert torch.equal(w, torch.ones_like(w)) and opt.steps() == [0]
    opt.step(grad_scale=torch.tensor(1024.0, device="cuda"), found_inf=torch.tensor(0.0, device="cuda"))
    assert torch.allclose(w, torch.full_like(w, 0.9)) and opt.steps() == [1]


def test_mopt_l1_on_cuda_is_one_deterministic_launch_pair(cuda_ext):
    assert _ext.has_cuda_kernel("mopt_l1"), f"the CUDA M-opt kernel is not registered: {_ext.error()}"
    g = torch.Generator().manual_seed(0)
    t0 = [torch.randn(s, generator=g) for s in [(1,), (0,), (70001,), (33, 17, 3), (200000,)]]
    t1 = [x + 0.01 * torch.randn(x.shape, generator=g) for x in t0]
    t2 = [x + 0.01 * torch.randn(x.shape, generator=g) for x in t1]
    cuda = [[x.cuda() for x in t] for t in (t0, t1, t2)]
    got = mopt_l1(*cuda)
    assert got.device.type == "cuda" and got.dtype == torch.float64
    assert got.tolist() == pytest.approx(list(mopt_l1_reference(t0, t1, t2)), rel=1e-12)
    assert torch.equal(got, mopt_l1(*cuda))  # fixed-order reductions, no atomics
    half = [[x.to(torch.bfloat16) for x in t] for t in cuda]
    assert mopt_l1(*half).tolist() == pytest.approx(list(mopt_l1_reference(*half)), rel=1e-12)
    t = pack_mopt(*cuda)
    torch.library.opcheck(torch.ops.lrkit.mopt_l1.default,
                          (*cuda, torch.from_numpy(t.blob).cuda(), t.n_chunks, t.chunk_size),
                          test_utils=("test_schema", "test_faketensor"))


def test_streaming_mopt_runs_in_the_cuda_kernels(cuda_ext):
    ps = make_params(3)
    ref_ps = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    opt = FusedAdam(ps, policy="FIX(k=0.003)", mopt_every=4)
    ref = FusedAdam(ref_ps, policy="FIX(k=0.003)", mopt_every=4, backend="torch")
    g = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(13):
        for a, b in zip(ps, ref_ps):
            a.grad = torch.randn(a.shape, generator=g, device="cuda")
            b.grad = a.grad.clone()
        opt.step()
        ref.step()
    ours, theirs = opt.mopt(), ref.mopt()
    assert [m["t"] for m in ours] == [m["t"] for m in theirs] == [3, 7, 11]
    for m, n in zip(ours, theirs):  # device FMA contraction: not bit for bit
        assert m["mopt_lr"] == pytest.approx(n["mopt_lr"], rel=1e-4)
    assert rel(ps, ref_ps) < 1e-6


def test_a_captured_whole_iteration_replays_like_eager_steps(cuda_ext):
    """Forward, backward and step in one CUDA graph, grads set to None before capture (backward then puts them
    at new addresses inside the capture, so the step restages its tables while capturing): each replay equals an
    eager FusedAdam step on the same batch."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).cuda()
    twin = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).cuda()
    twin.load_state_dict(model.state_dict())
    opt = FusedAdam(model.parameters(), policy="TRI(k0=0.001, k1=0.01, l=4)")
    ref = FusedAdam(twin.parameters(), policy="TRI(k0=0.001, k1=0.01, l=4)")
    x = torch.randn(32, 64, device="cuda")

    def iteration(m, o):
        o.zero_grad(set_to_none=True)
        m(x).square().mean().backward()
        o.step()

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            iteration(model, opt)
            iteration(twin, ref)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        model(x).square().mean().backward()
        opt.step()
    for _ in range(5):
        graph.replay()
        iteration(twin, ref)
    torch.cuda.synchronize()
    assert opt.steps() == [3 + 5] == ref.steps()
    assert rel(list(model.parameters()), list(twin.parameters())) < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_policy_bank_matches_k_single_optimizers(cuda_ext, dtype):
    """K policies in one launch against K single-policy CUDA FusedAdams on the slices (the same kernel
    arithmetic, so within 1e-6 after 300 steps)."""
    kw = dict(weight_decay=0.01, adamw=True, amsgrad=True)
    ps = bank_params(0, len(BANK_POLICIES), dtype, device="cuda")
    bank, singles, slices = bank_against_singles(lambda p, pols: FusedAdam(p, policies=pols, **kw),
                                                 lambda p, pol: FusedAdam(p, policy=pol, **kw), ps, BANK_POLICIES, 300, 1)
    assert bank.uses_extension("cuda") and bank.steps() == [300]
    assert bank_error(bank, ps, singles, slices, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")) <= 1e-6
    assert bank.last_lr() == [[s.last_lr()[0] for s in singles]]
