"""The CUDA kernel source (csrc/cuda/fused_adam_kernel.cu), run on the host by cuda_host_emulation.cpp.

FusedAdam's multi-tensor path — launch tables packed by lrkit/optim/tables.py, the descriptor and step
counter read by the schedule kernel, the chunk walk, float4 and scalar paths, bf16/fp16, AMP — driven
here on CPU tensors, one block and one thread at a time. It needs the host C++ compiler and the CUDA
headers (nvcc's include folder; .ci/run requires nvcc), not a GPU. Concurrency, device rounding and
speed are what it cannot show: tests/optim/test_fused_adam_cuda.py checks those where a GPU is visible.
"""

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from lrkit.optim import FusedAdam, _ext
from lrkit.optim.functional import AdamGroup
from lrkit.optim.fused_adam import GroupWork
from lrkit.optim.mopt import mopt_l1_reference, mopt_l1_tables
from lrkit.optim.tables import CHUNK, GROUP, MOPT, TENSOR
from lrkit.policies import parse
from tests.optim.helpers import (BANK_POLICIES, bank_against_singles, bank_error, bank_params, clone, lockstep, make_params,
                                 rel)

ROOT = Path(__file__).resolve().parents[2]


def cuda_include() -> Path | None:
    """The CUDA headers: $CUDA_HOME/include, else next to nvcc, else /usr/local/cuda/include."""
    candidates = []
    if os.environ.get("CUDA_HOME"):
        candidates.append(Path(os.environ["CUDA_HOME"]) / "include")
    if shutil.which("nvcc"):
        candidates.append(Path(shutil.which("nvcc")).resolve().parent.parent / "include")
    candidates.append(Path("/usr/local/cuda/include"))
    return next((c for c in candidates if (c / "cuda_runtime.h").exists()), None)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    include = cuda_include()
    if include is None:
        pytest.skip("no CUDA headers (cuda_runtime.h; nvcc is not installed): the CUDA kernel source cannot be "
                    "host-emulated here")
    out = tmp_path_factory.mktemp("emu") / "libemu.so"
    done = build_emulation(ROOT, out, include)
    assert done.returncode == 0, f"the host emulation of the CUDA kernels did not compile:\n{done.stderr[-4000:]}"
    return load_emulation(out)


def build_emulation(root: Path, out: Path, include: Path) -> subprocess.CompletedProcess:
    """Compiles ``root``'s tests/optim/cuda_host_emulation.cpp (with ``root``'s csrc) into ``out``."""
    cmd = [os.environ.get("CXX", "g++"), "-std=c++20", "-O2", "-pthread", "-ffp-contract=off", "-shared", "-fPIC",
           "-x", "c++", f"-I{root / 'csrc' / 'include'}", f"-I{include}",
           str(root / "tests" / "optim" / "cuda_host_emulation.cpp"), "-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True)


def load_emulation(path: Path):
    so = ctypes.CDLL(str(path))
    so.lrkit_emulate_error.restype = ctypes.c_char_p
    so.lrkit_emulate_seed.argtypes = [ctypes.c_uint64]
    so.lrkit_emulate_seed(0)
    so.lrkit_emulate_path_counts.argtypes = [ctypes.c_void_p]
    so.lrkit_emulate_fused_adam.restype = ctypes.c_int
    so.lrkit_emulate_fused_adam.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                            ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p,
                                            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
    so.lrkit_emulate_scratch_bytes.restype = ctypes.c_int64
    so.lrkit_emulate_scratch_bytes.argtypes = [ctypes.c_int64, ctypes.c_int64]
    so.lrkit_emulate_mopt_l1.restype = ctypes.c_int
    so.lrkit_emulate_mopt_l1.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_void_p, ctypes.c_void_p]
    return so


def emulated_launch(so, calls, lists=None):
    """``lrkit::fused_adam_``'s contract on CUDA (csrc/cuda/fused_adam_cuda.cpp) on the emulated kernels.
    ``lists`` (if given) receives the tensor lists of every launch but the grads."""
    lists = [] if lists is None else lists

    def launch(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, prev_deltas, steps, lrs, mopt_sums, tables, scratch,
               n_tensors, n_chunks, chunk_size, n_programs, grad_scale, found_inf):
        n_groups, mopt_measure = len(steps), bool(mopt_sums)
        assert len(lrs) == n_groups and len(mopt_sums) <= n_groups and len(prev_deltas) <= n_tensors
        # one tensor per param; the tables may hold more rows (a policy bank's replica slices)
        assert len(params) == len(grads) == len(exp_avgs) == len(exp_avg_sqs) <= n_tensors and n_programs >= n_groups
        assert len(max_exp_avg_sqs) <= n_tensors
        for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):  # the binding's checks of every tensor
            assert p.is_contiguous() and g.is_contiguous() and g.dtype == p.dtype and g.numel() == p.numel()
            assert all(s.dtype == torch.float32 and s.is_contiguous() and s.numel() == p.numel() for s in (m, v))
        assert all(x.dtype == torch.float32 and x.is_contiguous() for x in max_exp_avg_sqs)
        size = n_tensors * TENSOR.itemsize + n_chunks * CHUNK.itemsize + n_groups * GROUP.itemsize
        assert tables.dtype == torch.uint8 and tables.is_contiguous() and tables.numel() == size
        assert scratch.nbytes >= so.lrkit_emulate_scratch_bytes(n_programs, n_chunks)
        base = tables.data_ptr()
        chunks = base + n_tensors * TENSOR.itemsize
        groups = chunks + n_chunks * CHUNK.itemsize
        rc = so.lrkit_emulate_fused_adam(base, chunks, n_chunks, chunk_size, groups, n_groups, n_programs,
                                         scratch.data_ptr(),
                                         None if grad_scale is None else grad_scale.data_ptr(),
                                         None if found_inf is None else found_inf.data_ptr(), int(mopt_measure))
        assert rc == 0, f"the emulated CUDA launch failed: {so.lrkit_emulate_error().decode()}"
        calls.append((n_tensors, n_chunks, n_groups))
        lists.append((params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs))

    return launch


def emulated(so):
    """A FusedAdam whose CPU groups take the multi-tensor CUDA path, on the host-emulated kernels."""
    calls = []

    class EmulatedCudaAdam(FusedAdam):
        def _multi_tensor_launch(self):
            return "cpu", emulated_launch(so, calls)

    return EmulatedCudaAdam, calls


@pytest.mark.parametrize("adamw,amsgrad", [(False, False), (True, False), (False, True)])
def test_the_cuda_kernel_source_matches_torch_adam_with_the_scheduler(lib, adamw, amsgrad):
    spec = "MULTI({0: LINEAR(lr=0.01, total=400, warmup=50), 400: 0.5*SIN2(k0=0.001, k1=0.01, l=100)})"
    cls, calls = emulated(lib)
    ours = make_params(0)
    theirs = clone(ours)
    opt = cls(ours, policy=spec, weight_decay=0.01, adamw=adamw, amsgrad=amsgrad)
    ref = (torch.optim.AdamW if adamw else torch.optim.Adam)(theirs, lr=1.0, weight_decay=0.01, amsgrad=amsgrad,
                                                            foreach=False)
    # 500 steps cross the MULTI boundary at 400 and a half cycle of the scaled SIN2 stage after it
    lockstep(ours, theirs, 500, 1, opt, ref, parse(spec).scheduler(ref))
    # every step was one launch over all 7 tensors: the 70,001-element one in two chunks, the empty one in none
    assert len(calls) == 500 and set(calls) == {(7, 7, 1)}
    assert opt.steps() == [500]
    assert opt.last_lr()[0] == pytest.approx(parse(spec)(499), rel=1e-12)
    assert rel(ours, theirs) < 1e-6
    # the moments too: (1 - β2) and the bias corrections in double, as torch
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        assert rel([opt.state[p][key] for p in ours if p.numel()], [ref.state[p][key] for p in theirs if p.numel()]) < 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("adamw,maximize,amsgrad", [(False, False, False), (True, True, False), (True, False, True)])
def test_the_cuda_kernel_source_equals_the_cpu_kernel_bit_for_bit(lib, dtype, adamw, maximize, amsgrad):
    """Both include csrc/include/lrkit/{program,adam}.h and are built without FMA contraction here, so the
    emulated CUDA step must give the CPU kernel's bits: a difference is a bug in one of the kernels' own
    code (tables, indexing, conversions). On a GPU nvcc contracts to FMA, so there the tests use tolerances."""
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    cls, calls = emulated(lib)
    spec = "MULTI({0: LINEAR(lr=0.01, total=400, warmup=50), 400: 0.5*SIN2(k0=0.001, k1=0.01, l=100)})"
    ours = make_params(4, dtype)
    theirs = clone(ours)
    kw = dict(policy=spec, weight_decay=0.01, adamw=adamw, maximize=maximize, amsgrad=amsgrad)
    opt, cpu = cls(ours, **kw), FusedAdam(theirs, backend="ext", **kw)
    lockstep(ours, theirs, 200, 5, opt, cpu)
    assert len(calls) == 200 and cpu.uses_extension("cpu")
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        assert all(torch.equal(opt.state[a][key], cpu.state[b][key]) for a, b in zip(ours, theirs))
    assert opt.last_lr() == cpu.last_lr()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_streaming_mopt_on_the_cuda_path_equals_the_cpu_kernel(lib, dtype, monkeypatch):
    """The M-opt steps run in the CUDA kernels too (record: Δ into prev; measure: block sums, then one
    block per group): the same updates bit for bit and the same η* (sums in another order: 1e-12). The
    second group is AMSGrad: a group flag, so one launch mixes both updates."""
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    cls, calls = emulated(lib)
    a0, b0 = make_params(6, dtype), make_params(7, dtype)
    a1, b1 = clone(a0), clone(b0)
    groups = lambda a, b: [{"params": a}, {"params": b, "policy": "TRI(k0=0.001, k1=0.01, l=5)",  # noqa: E731
                                           "amsgrad": True}]
    kw = dict(policy="FIX(k=0.003)", weight_decay=0.01, adamw=True, mopt_every=4)
    opt, cpu = cls(groups(a0, b0), **kw), FusedAdam(groups(a1, b1), backend="ext", **kw)
    g = torch.Generator().manual_seed(8)
    packs = count_packs(monkeypatch, a0 + b0)
    for x, y in zip(a0 + b0, a1 + b1):  # grads written in place: the tables' pointers stay valid
        x.grad, y.grad = torch.zeros_like(x), torch.zeros_like(y)
    for _ in range(13):
        for x, y in zip(a0 + b0, a1 + b1):
            x.grad.copy_(torch.randn(x.shape, generator=g))
            y.grad.copy_(x.grad)
        opt.step()
        cpu.step()
    assert len(calls) == 13  # every step, the M-opt ones included, went through the CUDA path
    assert all(torch.equal(x, y) for x, y in zip(a0 + b0, a1 + b1))
    assert all(torch.equal(opt.state[x]["max_exp_avg_sq"], cpu.state[y]["max_exp_avg_sq"]) for x, y in zip(b0, b1))
    assert not any("max_exp_avg_sq" in opt.state[x] for x in a0)
    for group in (0, 1):
        ours, theirs = opt.mopt(group), cpu.mopt(group)
        assert [m["t"] for m in ours] == [m["t"] for m in theirs] == [3, 7, 11]
        for m, n in zip(ours, theirs):
            assert m["lr"] == n["lr"] and m["l1_update"] > 0
            for k in ("l1_update", "l1_change", "mopt_lr"):
                assert m[k] == pytest.approx(n[k], rel=1e-12), (group, k)
    # one pack per M-opt mode (off, record, measure); the three stay cached, so the steps that follow
    # switch between them without packing again
    assert len(packs) == 3 and len(opt._cuda_tables) == 3


def test_groups_with_their_own_policies_in_one_launch_with_bf16_and_fp16(lib):
    cls, calls = emulated(lib)
    a = torch.nn.Parameter(torch.zeros(1001))
    b = torch.nn.Parameter(torch.zeros(1000, dtype=torch.bfloat16))
    c = torch.nn.Parameter(torch.zeros(999, dtype=torch.float16))
    opt = cls([{"params": [a]}, {"params": [b], "policy": "FIX(k=0.5)"}, {"params": [c], "policy": "FIX(k=0.25)"}],
              policy="FIX(k=0.125)")
    a.grad, b.grad, c.grad = torch.ones_like(a), torch.ones_like(b), torch.ones_like(c)
    opt.step()
    assert calls == [(3, 3, 3)] and opt.last_lr() == [0.125, 0.5, 0.25] and opt.steps() == [1, 1, 1]
    # Adam's first step moves each coordinate by lr·g/|g| (eps aside), in every dtype
    assert torch.allclose(a, torch.full_like(a, -0.125))
    assert torch.equal(b, torch.full_like(b, -0.5)) and torch.equal(c, torch.full_like(c, -0.25))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_params_follow_the_reference_step(lib, dtype):
    cls, _ = emulated(lib)
    spec = "TRI2(k0=0.001, k1=0.01, l=20)"
    ours = make_params(2, dtype)
    theirs = clone(ours)
    kw = dict(policy=spec, weight_decay=0.1, adamw=True)
    opt, ref = cls(ours, **kw), FusedAdam(theirs, backend="torch", **kw)
    lockstep(ours, theirs, 100, 3, opt, ref)
    for a, b in zip(ours, theirs):  # within a rounding step of the half type, where the two paths round differently
        tol = 2 * torch.finfo(dtype).eps * b.detach().float().abs().clamp_min(1e-2)
        assert torch.all((a.float() - b.float()).abs() <= tol)
    m = [opt.state[p]["exp_avg"] for p in ours]
    assert rel(m, [ref.state[p]["exp_avg"] for p in theirs]) < 1e-2


def count_packs(monkeypatch, params=None):
    """How often FusedAdam packs launch tables (each pack is an H2D copy on a GPU); with ``params``, only the
    packs of tables over those params (the CPU kernel's launches, of another optimizer, pack too)."""
    import lrkit.optim.tables as tables

    packs, pack = [], tables.pack
    ours = None if params is None else {id(p) for p in params}

    def counted(groups, *a, **k):
        if ours is None or any(id(p) in ours for g in groups for p in g["params"]):
            packs.append(1)
        return pack(groups, *a, **k)

    monkeypatch.setattr(tables, "pack", counted)
    return packs


def test_live_policy_edit_amp_skip_and_grad_scale_on_the_cuda_path(lib, monkeypatch):
    packs = count_packs(monkeypatch)
    cls, calls = emulated(lib)
    w = torch.nn.Parameter(torch.zeros(4099))
    w.grad = torch.ones_like(w)  # one grad tensor throughout, as with a captured graph: the tables are packed once
    opt = cls([w], policy="FIX(k=0.1)")
    for _ in range(3):
        opt.step()
    assert len(packs) == 1
    opt.set_policy("STEP(k=1.0, gamma=0.5, l=2)")  # the descriptor is rewritten in place: the tables stay
    opt.step()
    assert opt.last_lr() == [0.5] and len(packs) == 1  # η(3) of the new policy
    before = w.detach().clone()
    w.grad.fill_(1024.0)
    opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(1.0))
    assert torch.equal(w, before) and opt.steps() == [4]  # skipped and not counted
    ref = FusedAdam([torch.nn.Parameter(before.clone())], policy="STEP(k=1.0, gamma=0.5, l=2)", backend="torch")
    ref.param_groups[0]["step"] = torch.tensor([4.0], dtype=torch.float64)
    ref.state[ref.param_groups[0]["params"][0]].update({k: v.clone() for k, v in opt.state[w].items()})
    opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(0.0))
    assert torch.equal(w.grad, torch.ones_like(w))  # unscaled in place (float4 and scalar tail: 4099 elements)
    rp = ref.param_groups[0]["params"][0]
    rp.grad = torch.ones_like(rp)  # the unscaled grad
    ref.step()
    assert opt.steps() == [5] and opt.last_lr() == [0.25] == ref.last_lr()
    assert torch.allclose(w, rp, rtol=1e-6, atol=1e-7)
    assert len(calls) == 6 and len(packs) == 1


def emulated_mopt_launch(so, calls):
    """``lrkit::mopt_l1``'s contract on CUDA (csrc/cuda/mopt_cuda.cpp) on the emulated kernels."""

    def launch(theta0, theta1, theta2, tables, n_chunks, chunk_size):
        n_tensors = len(theta0)
        assert tables is not None and len(theta0) == len(theta1) == len(theta2)
        assert tables.dtype == torch.uint8 and tables.numel() == n_tensors * MOPT.itemsize + n_chunks * CHUNK.itemsize
        assert all(t.is_contiguous() for t in theta0 + theta1 + theta2)
        partials = torch.full((2 * max(n_chunks, 1),), float("nan"), dtype=torch.float64)
        out = torch.full((2,), float("nan"), dtype=torch.float64)
        base = tables.data_ptr()
        rc = so.lrkit_emulate_mopt_l1(base, base + n_tensors * MOPT.itemsize, n_chunks, chunk_size, partials.data_ptr(),
                                      out.data_ptr())
        assert rc == 0, f"the emulated CUDA launch failed: {so.lrkit_emulate_error().decode()}"
        calls.append(n_chunks)
        return out

    return launch


def snapshots(seed):
    g = torch.Generator().manual_seed(seed)
    shapes = [((1,), torch.float32), ((0,), torch.float32), ((3001,), torch.float32), ((33, 17, 3), torch.bfloat16),
              ((999,), torch.float16), ((4097,), torch.float64), ((70001,), torch.float32)]
    theta = [[], [], []]
    for shape, dtype in shapes:
        x0 = torch.randn(shape, generator=g, dtype=torch.float64)
        x1 = x0 + 0.01 * torch.randn(shape, generator=g, dtype=torch.float64)
        x2 = x1 + 0.01 * torch.randn(shape, generator=g, dtype=torch.float64)
        for k, x in enumerate((x0, x1, x2)):
            theta[k].append(x.to(dtype))
    theta[1][2] = torch.randn(6002, generator=g)[::2]  # not contiguous: mopt_l1_tables makes it so
    theta[0][2], theta[2][2] = theta[1][2] - 0.01, theta[1][2] + 0.02
    return theta


@pytest.mark.parametrize("chunk_size", [1000, None])
def test_the_cuda_mopt_kernels_give_formula_7s_sums_deterministically(lib, chunk_size):
    calls = []
    launch = emulated_mopt_launch(lib, calls)
    t0, t1, t2 = snapshots(0)
    got = mopt_l1_tables(t0, t1, t2, launch, chunk_size=chunk_size)
    want = mopt_l1_reference(t0, t1, t2)
    assert got.dtype == torch.float64 and got.tolist() == pytest.approx(list(want), rel=1e-12)
    # chunks: one per chunk_size elements of each non-empty tensor
    sizes = [x.numel() for x in t0]
    assert calls == [sum(-(-n // (chunk_size or 65536)) for n in sizes)]
    again = mopt_l1_tables(t0, t1, t2, launch, chunk_size=chunk_size)
    assert torch.equal(got, again)  # fixed-order reductions: the same bits every time
    empty = mopt_l1_tables([torch.zeros(0)], [torch.zeros(0)], [torch.zeros(0)], launch)
    assert empty.tolist() == [0.0, 0.0]


def test_mopt_tables_refuse_mismatched_snapshots(lib):
    launch = emulated_mopt_launch(lib, [])
    with pytest.raises(ValueError, match="tensor 0 differs in shape or dtype"):
        mopt_l1_tables([torch.zeros(3)], [torch.zeros(4)], [torch.zeros(3)], launch)
    with pytest.raises(TypeError, match="float32, bfloat16, float16 or float64"):
        mopt_l1_tables([torch.zeros(3, dtype=torch.int32)] * 1, [torch.zeros(3, dtype=torch.int32)],
                       [torch.zeros(3, dtype=torch.int32)], launch)
    with pytest.raises(ValueError, match="same number of tensors"):
        mopt_l1_tables([torch.zeros(3)], [], [torch.zeros(3)], launch)


def test_the_cuda_bindings_compile_against_torchs_headers(tmp_path):
    """csrc/cuda/*.cpp (the ATen bindings) build only where torch has CUDA; here they are at least
    compiled (-fsyntax-only) against this torch's headers and the CUDA headers, so a binding that would
    break the CUDA extension's build fails CI. The CPU wheel lacks one generated c10/cuda header, which
    is stubbed."""
    from concurrent.futures import ThreadPoolExecutor

    from torch.utils.cpp_extension import include_paths

    include = cuda_include()
    if include is None:
        pytest.skip("no CUDA headers (cuda_runtime.h; nvcc is not installed): the CUDA bindings cannot be compiled here")
    macros = Path("c10/cuda/impl/cuda_cmake_macros.h")
    if not any((Path(p) / macros).exists() for p in include_paths()):
        (tmp_path / macros).parent.mkdir(parents=True)
        (tmp_path / macros).write_text("// stub of a header that CUDA builds of torch generate\n")
    bindings = sorted((ROOT / "csrc" / "cuda").glob("*.cpp"))
    assert [b.name for b in bindings] == ["fused_adam_cuda.cpp", "mopt_cuda.cpp"]

    def check(src):
        cmd = [os.environ.get("CXX", "g++"), "-std=c++17", "-fsyntax-only", f"-I{tmp_path}",
               *(f"-I{p}" for p in include_paths()), f"-I{include}", f"-I{ROOT / 'csrc' / 'include'}", str(src)]
        return src.name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(2) as pool:
        for name, done in pool.map(check, bindings):
            assert done.returncode == 0, f"{name} does not compile against torch's headers:\n{done.stderr[-4000:]}"


def test_tables_a_cuda_graph_captured_are_kept_and_others_are_bounded(lib, monkeypatch):
    """A captured graph reads the tables of the step it captured: they must outlive any later repack."""
    cls, _ = emulated(lib)
    w = torch.nn.Parameter(torch.zeros(10))
    opt = cls([w], policy="FIX(k=0.1)")
    w.grad = torch.ones_like(w)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    opt.step()  # "captured"
    (pinned,) = opt._cuda_tables
    blob = opt._cuda_tables[pinned].blob
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: False)
    for k in range(8):  # other hyper-parameters: other tables each step
        opt.param_groups[0]["eps"] = 1e-9 * (k + 2)
        w.grad = torch.ones_like(w)  # and new grad tensors
        opt.step()
    assert pinned not in opt._cuda_tables and len(opt._cuda_tables) == FusedAdam._TABLES_KEPT
    (held,) = opt._cuda_tables_captured.values()  # evicted from the cache, still held for the graph
    assert held.blob is blob and held.blob.data_ptr() == blob.data_ptr()


def test_reallocated_grads_rewrite_the_grad_column_without_packing_again(lib, monkeypatch):
    """`zero_grad()` frees the gradients and backward allocates new ones, maybe elsewhere: the step follows
    them without a repack, and the earlier tables (which a launch in flight or a captured graph may still
    read) are left as they were."""
    packs = count_packs(monkeypatch)
    cls, calls = emulated(lib)
    ours, theirs = make_params(3), make_params(3)
    opt = cls(ours, policy="TRI(k0=0.001, k1=0.01, l=5)")
    ref = FusedAdam(theirs, policy="TRI(k0=0.001, k1=0.01, l=5)", backend="torch")
    g = torch.Generator().manual_seed(7)
    kept = []
    for step in range(6):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for p, q, gr in zip(ours, theirs, grads):
            p.grad, q.grad = gr.clone(), gr.clone()  # fresh tensors every step, as after zero_grad()
        kept.append([p.grad for p in ours])  # keep them alive so that no address is reused
        opt.step()
        ref.step()
        (entry,) = opt._cuda_tables.values()
        t, blob = entry.tables, entry.blob
        assert list(t.tensor_column("g")) == [p.grad.data_ptr() for p in ours]
        assert bytes(blob.numpy()) == bytes(t.blob)  # the launch read these tables
        if step == 0:
            first_tables, first_blob = t, blob
    assert len(packs) == 1 and len(calls) == 6
    assert rel(ours, theirs) < 1e-6
    # the first step's tables, host and device, still point at the first step's gradients
    assert list(first_tables.tensor_column("g")) == [x.data_ptr() for x in kept[0]] != list(t.tensor_column("g"))
    assert bytes(first_blob.numpy()) == bytes(first_tables.blob)
    n = t.n_tensors * TENSOR.itemsize  # everything but the tensor table is the same bytes
    assert first_tables.blob[n:].tobytes() == t.blob[n:].tobytes() and first_tables.blob is not t.blob
    with pytest.raises(ValueError, match="one address per tensor"):
        t.with_grads([1, 2])


def test_a_group_the_kernel_cannot_take_falls_back_alone(lib, monkeypatch):
    """A channels-last weight and a strided view send their own group to the pure-torch step; the other group
    still runs in the multi-tensor launch, and both follow the reference."""
    cls, calls = emulated(lib)
    g = torch.Generator().manual_seed(3)
    conv = torch.nn.Parameter(torch.randn(8, 3, 5, 5, generator=g).to(memory_format=torch.channels_last))
    view = torch.nn.Parameter(torch.randn(40, 30, generator=g).t())
    plain = make_params(5)
    ours = plain + [conv, view]
    theirs = clone(ours)
    groups = lambda ps: [{"params": ps[:-2]}, {"params": ps[-2:], "policy": "FIX(k=0.002)"}]  # noqa: E731
    opt = cls(groups(ours), policy="TRI(k0=0.001, k1=0.01, l=5)")
    ref = FusedAdam(groups(theirs), policy="TRI(k0=0.001, k1=0.01, l=5)", backend="torch")
    monkeypatch.setitem(_ext._state, "warned", False)
    monkeypatch.setattr(_ext, "load", lambda verbose=False: False)  # so group 1 cannot take the CPU op either
    with pytest.warns(RuntimeWarning, match="group 1 on cpu: its params or grads are not contiguous"):
        lockstep(ours, theirs, 5, 4, opt, ref)
    assert calls == [(len(plain), 7, 1)] * 5  # group 0 alone (the empty tensor has no chunk, 70,001 elements two)
    assert rel(ours, theirs) < 1e-6 and opt.steps() == [5, 5]


def test_routing_is_per_group_and_per_device_and_keeps_accelerator_tensors_off_the_cpu_op():
    """FusedAdam._route on groups labelled with CUDA devices (the tensors themselves are CPU tensors: only their
    layout is read): one batch per device of the ready groups; a non-contiguous group on a GPU goes to the
    pure-torch step, never to the CPU op; with backend='ext' it is an error naming the group and why."""
    def item(device, ps):
        adam = AdamGroup(params=ps, grads=[torch.zeros_like(p) for p in ps], exp_avgs=[], exp_avg_sqs=[],
                         max_exp_avg_sqs=[], step=None, programs=None, device=torch.device(device))
        return GroupWork(group={"params": ps}, device=torch.device(device), adam=adam)

    ok = [torch.zeros(4)]
    bad = [torch.zeros(4, 3).t()]
    work = [item("cuda:0", ok), item("cuda:1", ok), item("cuda:0", bad), item("cuda:1", ok), item("cpu", ok)]
    at = lambda w: next(i for i, x in enumerate(work) if x is w)  # noqa: E731
    opt = FusedAdam([torch.nn.Parameter(torch.zeros(1))], policy="FIX(k=0.1)")
    batches, singles = opt._route(work, "cuda", launch=object())
    assert {d: [at(w) for w in ws] for d, ws in batches.items()} == {torch.device("cuda:0"): [0],
                                                                            torch.device("cuda:1"): [1, 3]}
    assert [(at(w), cpu_op) for w, cpu_op in singles] == [(2, False), (4, _ext.load())]
    _, singles = opt._route(work, "cuda", launch=None)  # no CUDA kernel built: the pure-torch step for every GPU group
    assert [(at(w), cpu_op) for w, cpu_op in singles] == [(0, False), (1, False), (2, False), (3, False),
                                                                  (4, _ext.load())]
    strict = FusedAdam([torch.nn.Parameter(torch.zeros(1))], policy="FIX(k=0.1)", backend="ext")
    strict.param_groups.append(work[2].group)
    with pytest.raises(RuntimeError, match=r"group 1 on cuda:0: a param or grad is not contiguous"):
        strict._route(work, "cuda", launch=object())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_resumed_half_precision_run_keeps_float32_moments_and_repacks_their_addresses(lib, dtype):
    """load_state_dict keeps the moments float32 (torch would cast them to the params' dtype, which the kernels
    would read and write as float32: out of bounds), and the launch tables follow the new moments' addresses."""
    cls, calls = emulated(lib)
    ours = make_params(8, dtype)
    straight = clone(ours)
    kw = dict(policy="TRI(k0=0.001, k1=0.01, l=5)", weight_decay=0.01, adamw=True, amsgrad=True)
    opt, ref = cls(ours, **kw), cls(straight, **kw)
    lockstep(ours, straight, 3, 9, opt, ref)
    saved = opt.state_dict()
    opt.load_state_dict(saved)  # the same optimizer: its cached tables point at the replaced moments
    for i, p in enumerate(ours):
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            x = opt.state[p][key]
            assert x.dtype == torch.float32 and (x.data_ptr() != saved["state"][i][key].data_ptr() or not p.numel())
    lockstep(ours, straight, 3, 10, opt, ref)
    t = list(opt._cuda_tables.values())[-1].tables  # the most recently used tables
    assert list(t.tensor_column("m")) == [opt.state[p]["exp_avg"].data_ptr() for p in ours]
    assert all(torch.equal(a, b) for a, b in zip(ours, straight))  # resuming changed nothing
    assert len(calls) == 12


def test_a_group_of_empty_tensors_still_gets_its_lr(lib):
    """No chunks at all: the schedule kernel still runs, so lr_out follows the step count."""
    cls, calls = emulated(lib)
    w = torch.nn.Parameter(torch.zeros(0))
    opt = cls([w], policy="STEP(k=1.0, gamma=0.5, l=1)")
    lrs = []
    for _ in range(3):
        w.grad = torch.zeros(0)
        opt.step()
        lrs.append(opt.last_lr()[0])
    assert calls == [(1, 0, 1)] * 3 and lrs == [1.0, 0.5, 0.25] and opt.steps() == [3]


def test_tables_captured_by_a_graph_are_held_once(lib, monkeypatch):
    """Every capture of the same tables holds them once (graphs captured again and again do not grow it)."""
    cls, _ = emulated(lib)
    w = torch.nn.Parameter(torch.zeros(10))
    w.grad = torch.ones_like(w)
    opt = cls([w], policy="FIX(k=0.1)")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    for _ in range(5):
        opt.step()
    assert len(opt._cuda_tables_captured) == 1
    w.grad = torch.ones_like(w)  # a new grad address: new device tables, held too
    opt.step()
    assert len(opt._cuda_tables_captured) == 2


def test_mopt_tables_are_packed_once_per_parameter_set(lib, monkeypatch):
    """The M-opt launch tables are packed (and copied to the device) once per set of snapshots; a new set, or
    another chunk size, packs again; every result is Formula 7's sums."""
    import lrkit.optim.tables as tables

    packs, pack = [], tables.pack_mopt
    monkeypatch.setattr(tables, "pack_mopt", lambda *a, **k: packs.append(1) or pack(*a, **k))
    calls = []
    launch = emulated_mopt_launch(lib, calls)
    t0, t1, t2 = snapshots(3)
    t1[2] = t1[2].contiguous()  # a strided snapshot is copied on every call: a new address, a new key
    for _ in range(3):
        got = mopt_l1_tables(t0, t1, t2, launch, chunk_size=4096)
    assert len(packs) == 1 and got.tolist() == pytest.approx(list(mopt_l1_reference(t0, t1, t2)), rel=1e-12)
    mopt_l1_tables(t0, t1, t2, launch, chunk_size=8192)
    u0, u1, u2 = snapshots(4)
    u1[2] = u1[2].contiguous()
    assert mopt_l1_tables(u0, u1, u2, launch).tolist() == pytest.approx(list(mopt_l1_reference(u0, u1, u2)), rel=1e-12)
    assert len(packs) == 3 and len(calls) == 5


def test_grads_at_new_addresses_during_a_capture_keep_their_staged_tables(lib, monkeypatch):
    """Inside a captured iteration backward puts the grads at new addresses: the grad column is restaged
    (from pinned memory on a GPU; see tables.stage) and that source is held with the captured tables,
    since every replay copies from it again."""
    cls, calls = emulated(lib)
    w = torch.nn.Parameter(torch.zeros(10))
    w.grad = torch.ones_like(w)
    opt = cls([w], policy="FIX(k=0.1)")
    opt.step()  # warm-up, eager
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    w.grad = torch.ones_like(w)  # "backward inside the capture"
    opt.step()
    (entry,) = opt._cuda_tables_captured.values()
    (host,) = opt._cuda_staging_captured.values()
    assert bytes(host.numpy()) == bytes(entry.tables.blob) == bytes(entry.blob.numpy())
    assert list(entry.tables.tensor_column("g")) == [w.grad.data_ptr()] and len(calls) == 2


@pytest.mark.parametrize("dtype,amsgrad", [(torch.float32, False), (torch.bfloat16, True)])
def test_a_policy_bank_on_the_cuda_path_matches_k_single_optimizers(lib, dtype, amsgrad):
    """Slice k of every param takes program k's AdamStep: the tables give each slice a row of its own, the
    schedule kernel evaluates the K programs in the one launch. Against K single-policy FusedAdams on the
    CPU kernel (the same header math: equal to rounding, asserted to 1e-6)."""
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    cls, calls = emulated(lib)
    kw = dict(weight_decay=0.01, adamw=True, amsgrad=amsgrad)
    ps = bank_params(0, len(BANK_POLICIES), dtype)
    bank, singles, slices = bank_against_singles(lambda p, pols: cls(p, policies=pols, **kw),
                                                 lambda p, pol: FusedAdam(p, policy=pol, backend="ext", **kw),
                                                 ps, BANK_POLICIES, 300, 1)
    # one launch a step: K rows per param, the 33,001-element slices in one chunk each, the empty ones in none
    assert len(calls) == 300 and set(calls) == {(3 * len(ps), 3 * (len(ps) - 1), 1)}
    keys = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
    assert bank_error(bank, ps, singles, slices, keys) <= 1e-6
    assert bank.steps() == [300] and bank.last_lr() == [[s.last_lr()[0] for s in singles]]


def test_the_schedule_kernel_advances_the_step_counter_unless_found_inf(lib):
    """No separate op advances a CUDA group's step: the schedule kernel adds 1 - found_inf to it, once per
    group however many programs the group has."""
    from lrkit.optim.descriptors import policy_buffers
    from lrkit.optim.tables import pack

    launch = emulated_launch(lib, [])
    w = torch.zeros(2, 5)
    grad, m, v = torch.ones_like(w), torch.zeros_like(w), torch.zeros_like(w)
    buf = policy_buffers(None, ("FIX(k=0.1)", "FIX(k=0.2)"), True, torch.device("cpu"))
    step = torch.tensor([7.0], dtype=torch.float64)
    t = pack([dict(params=[w], grads=[grad], exp_avgs=[m], exp_avg_sqs=[v], meta=buf.meta, code=buf.code,
                   consts=buf.consts, step=step, lr_out=buf.lr, replicas=2, beta1=0.9, beta2=0.999, eps=1e-8,
                   weight_decay=0.0, decoupled=False, maximize=False)])
    blob = torch.from_numpy(t.blob)
    scratch = torch.empty(64 * t.n_programs + 16 * t.n_chunks, dtype=torch.uint8)
    after = []
    for found_inf, want in ((None, 8.0), (torch.tensor([1.0]), 8.0), (torch.tensor([0.0]), 9.0)):
        launch([w], [grad], [m], [v], [], [], [step], [buf.lr], [], blob, scratch, t.n_tensors, t.n_chunks, t.chunk_size,
               t.n_programs, None, found_inf)
        assert step.item() == want and buf.lr.tolist() == [0.1, 0.2]
        after.append(w.clone())
    assert torch.equal(after[0], after[1]) and not torch.equal(after[1], after[2])  # the skipped step
    assert (w[0] < 0).all() and torch.allclose(w[1], 2 * w[0])  # each replica with its own LR


def check_against_the_cpu_kernel(so):
    """A short run through every emulated kernel with a barrier (the schedule kernel; the Adam kernel in plain,
    M-opt record and measure mode; the M-opt group reduction) against the CPU kernel. Raises an
    AssertionError naming what differs."""
    cls, _ = emulated(so)
    a, b = make_params(11)[3:6], make_params(11)[3:6]
    kw = dict(policy="TRI(k0=0.001, k1=0.01, l=5)", weight_decay=0.01, adamw=True, mopt_every=2)
    opt, cpu = cls(a, **kw), FusedAdam(b, backend="ext", **kw)
    lockstep(a, b, 5, 12, opt, cpu)
    assert all(torch.equal(x, y) for x, y in zip(a, b)), "the emulated CUDA step differs from the CPU kernel: params"
    got, want = [m["l1_change"] for m in opt.mopt(0)], [m["l1_change"] for m in cpu.mopt(0)]
    assert len(got) == len(want) == 2 and got == pytest.approx(want, rel=1e-12), \
        f"the emulated CUDA step differs from the CPU kernel: M-opt sums {got} != {want}"


REMOVABLE_BARRIERS = {  # what deleting it leaves, by file: the text with the barrier, the text without it
    "block_sum_pair's barrier after the shared writes": (
        "csrc/include/lrkit/block_reduce.cuh", "  r1[threadIdx.x] = b;\n  __syncthreads();\n", "  r1[threadIdx.x] = b;\n"),
    "block_sum_pair's barrier in the tree loop": (
        "csrc/include/lrkit/block_reduce.cuh", "    }\n    __syncthreads();\n  }\n", "    }\n  }\n"),
    "adam_kernel's barrier after thread 0's shared loads": (
        "csrc/cuda/fused_adam_kernel.cu", "    mode = g.mopt_mode;\n  }\n  __syncthreads();\n", "    mode = g.mopt_mode;\n  }\n"),
}


def test_the_emulation_fails_where_a_barrier_is_removed(lib, tmp_path):
    """The emulation runs a block's threads as fibers in a shuffled order that switch only at barriers, so a
    kernel source without one of its barriers gives wrong results: each deletion, made on a copy of the
    source, must fail the check that the real source passes."""
    from concurrent.futures import ThreadPoolExecutor

    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    check_against_the_cpu_kernel(lib)  # the real source passes

    def build(name):
        path, with_barrier, without = REMOVABLE_BARRIERS[name]
        root = tmp_path / name.split("'")[0].replace(" ", "_") / str(len(with_barrier))
        shutil.copytree(ROOT / "csrc", root / "csrc")
        (root / "tests" / "optim").mkdir(parents=True)
        shutil.copy(ROOT / "tests" / "optim" / "cuda_host_emulation.cpp", root / "tests" / "optim")
        source = (root / path).read_text()
        assert source.count(with_barrier) == 1, f"{name}: not found once in {path}; update REMOVABLE_BARRIERS"
        (root / path).write_text(source.replace(with_barrier, without))
        done = build_emulation(root, root / "libemu.so", cuda_include())
        assert done.returncode == 0, f"{name}: the emulation did not compile:\n{done.stderr[-2000:]}"
        return name, root / "libemu.so"

    with ThreadPoolExecutor(2) as pool:
        for name, so in pool.map(build, REMOVABLE_BARRIERS):
            with pytest.raises(AssertionError, match="differs from the CPU kernel|__syncthreads") as failure:
                check_against_the_cpu_kernel(load_emulation(so))
            assert "\n" not in str(failure.value).split("\nassert")[0], name


def test_the_flattened_tensor_lists_are_built_once_per_parameter_set(lib):
    """Host time decides the many-small-tensors case: a step whose tensors are those of the cached tables
    passes the lists it flattened then (the same list objects), not new ones."""
    lists = []

    class Cached(FusedAdam):
        def _multi_tensor_launch(self):
            return "cpu", emulated_launch(lib, [], lists)

    ps = make_params(13)
    opt = Cached(ps, policy="FIX(k=0.01)", amsgrad=True)
    lockstep(ps, clone(ps), 3, 14, opt)
    assert len(lists) == 3 and all(a is b for a, b in zip(lists[0], lists[2])) and len(lists[0][3]) == len(ps)


def path_counts(so) -> dict:
    out = (ctypes.c_int64 * 3)()
    so.lrkit_emulate_path_counts(out)
    return dict(zip(("vector", "unrolled", "scalar"), out))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_aligned_tensors_take_vector_accesses_and_misaligned_ones_the_unrolled_loop(lib, dtype):
    """An aligned tensor of any param dtype goes four elements per access (8-byte loads for 16-bit params); a
    misaligned view four independent elements per thread; only the last few elements of either are scalar."""
    cls, _ = emulated(lib)
    base = torch.zeros(4101, dtype=dtype)
    aligned, misaligned = torch.nn.Parameter(torch.zeros(4099, dtype=dtype)), torch.nn.Parameter(base[1:4100])
    assert aligned.data_ptr() % 16 == 0 and misaligned.data_ptr() % 8 != 0
    for w in (aligned, misaligned):
        opt = cls([w], policy="FIX(k=0.01)")
        w.grad = torch.ones_like(w)
        path_counts(lib)
        opt.step()
        got = path_counts(lib)
        assert sum(got.values()) == 4099
        if w is aligned:
            assert got == {"vector": 4096, "unrolled": 0, "scalar": 3}, (dtype, got)
        else:
            assert got == {"vector": 0, "unrolled": 4096, "scalar": 3}, (dtype, got)
        assert torch.allclose(w.float(), torch.full((4099,), -0.01), rtol=1e-2)
