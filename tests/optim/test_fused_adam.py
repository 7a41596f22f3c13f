"""FusedAdam: the compiled CPU kernel and the pure-torch reference against torch.optim.Adam/AdamW
driven by the policy's LRScheduler, against float64 math, and through state_dict, live edits and AMP."""

import numpy as np
import pytest
import torch

from lrkit.optim import FusedAdam, ProgramError, _ext, compile_policy
from lrkit.policies import MetricPolicy, parse
from tests.optim.helpers import clone, lockstep, rel
from tests.policies.examples import EXAMPLES

SHAPES = [(1,), (7,), (0,), (3, 5), (1000,), (33, 17, 3), (40001,)]  # odd sizes and an empty tensor


@pytest.fixture(scope="module")
def ext():
    """The compiled ops must build on this machine (g++, ninja, torch headers); a failure is a failure."""
    assert _ext.load(), f"the lrkit CPU extension did not build: {_ext.error()}"
    return torch.ops.lrkit


def problem(seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g).to(dtype)) for s in SHAPES]


def feed(a, b, grads, opt_a, opt_b):
    """Step ``opt_a`` (over params ``a``) and ``opt_b`` (over ``b``) on the same gradients, one list per step."""
    for step in grads:
        for p, q, gr in zip(a, b, step):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt_a.step()
        opt_b.step()


@pytest.mark.parametrize("spec", [s for s in EXAMPLES if not isinstance(parse(s), MetricPolicy)])
def test_kernel_interpreter_equals_the_policy(ext, spec):
    pol = parse(spec)
    meta, code, consts = (torch.from_numpy(a) for a in compile_policy(pol).pack())
    t = torch.cat([torch.arange(0, 3000.0), torch.arange(3000.0, 300000.0, 97.0)]).double()
    got = ext.eval_program(meta, code, consts, t).numpy()
    np.testing.assert_allclose(got, pol(t.numpy()), rtol=1e-14, atol=0)


@pytest.mark.parametrize("adamw", [False, True])
@pytest.mark.parametrize("backend", ["ext", "torch"])
def test_matches_torch_adam_with_the_policy_scheduler(ext, adamw, backend):
    spec = "MULTI({0: LINEAR(lr=0.01, total=400, warmup=50), 400: 0.5*SIN2(k0=0.001, k1=0.01, l=100)})"
    ours = problem(0)
    theirs = clone(ours)
    opt = FusedAdam(ours, policy=spec, betas=(0.9, 0.99), weight_decay=0.01, adamw=adamw, backend=backend)
    ref = (torch.optim.AdamW if adamw else torch.optim.Adam)(theirs, lr=1.0, betas=(0.9, 0.99), weight_decay=0.01, fused=True)
    lockstep(ours, theirs, 1000, 1, opt, ref, parse(spec).scheduler(ref))
    assert opt.uses_extension() == (backend == "ext")
    assert opt.steps() == [1000] and opt.last_lr()[0] == pytest.approx(parse(spec)(999), rel=1e-12)
    assert rel(ours, theirs) < 1e-6


@pytest.mark.parametrize("adamw", [False, True])
@pytest.mark.parametrize("backend", ["ext", "torch"])
def test_amsgrad_matches_torch_adam_amsgrad_with_the_policy_scheduler(ext, adamw, backend):
    """AMSGrad: v̂ = max(v̂, v) replaces v in the denominator (torch's amsgrad=True), in the kernel and the
    reference. The gradients shrink over the run, so v falls under its running maximum and the two differ."""
    spec = "COS(k0=0.001, k1=0.01, l=50)"
    kw = dict(betas=(0.9, 0.99), weight_decay=0.01)

    def run(*steppers_of):
        ps = [problem(8), problem(8)]
        steppers = [s for make, p in zip(steppers_of, ps) for s in make(p)]
        g = torch.Generator().manual_seed(9)
        for i in range(600):
            for a, b in zip(*ps):
                a.grad = torch.randn(a.shape, generator=g) * (1.0 - i / 700)
                b.grad = a.grad.clone()
            for s in steppers:
                s.step()
        return ps, steppers

    def torch_amsgrad(p):
        ref = (torch.optim.AdamW if adamw else torch.optim.Adam)(p, lr=1.0, amsgrad=True, fused=True, **kw)
        return [ref, parse(spec).scheduler(ref)]

    (ours, theirs), (opt, ref, _) = run(lambda p: [FusedAdam(p, policy=spec, adamw=adamw, amsgrad=True, backend=backend,
                                                             **kw)], torch_amsgrad)
    assert opt.uses_extension() == (backend == "ext")
    assert rel(ours, theirs) < 1e-6
    for key in ("exp_avg_sq", "max_exp_avg_sq"):
        assert rel([opt.state[p][key] for p in ours if p.numel()], [ref.state[p][key] for p in theirs if p.numel()]) < 1e-6
    big = ours[-1]
    assert (opt.state[big]["max_exp_avg_sq"] > 1.5 * opt.state[big]["exp_avg_sq"]).float().mean() > 0.5
    # the same run without AMSGrad ends elsewhere: the maxima were used
    (plain, _), _ = run(lambda p: [FusedAdam(p, policy=spec, adamw=adamw, backend=backend, **kw)], lambda p: [])
    assert rel(ours, plain) > 1e-3


@pytest.mark.parametrize("backend", ["ext", "torch"])
def test_amsgrad_state_round_trips_and_skipped_steps_keep_the_maxima(ext, backend, tmp_path):
    a = problem(10)
    b = clone(a)
    opt_a = FusedAdam(a, policy="FIX(k=0.01)", amsgrad=True, backend=backend)
    opt_b = FusedAdam(b, policy="FIX(k=0.01)", amsgrad=True, backend=backend)
    g = torch.Generator().manual_seed(11)
    grads = [[torch.randn(p.shape, generator=g) for p in a] for _ in range(20)]
    feed(a, b, grads[:10], opt_a, opt_b)
    maxima = [opt_b.state[q]["max_exp_avg_sq"].clone() for q in b]
    opt_b.step(grad_scale=torch.tensor(2.0), found_inf=torch.tensor(1.0))  # AMP overflow: nothing moves
    assert all(torch.equal(opt_b.state[q]["max_exp_avg_sq"], x) for q, x in zip(b, maxima)) and opt_b.steps() == [10]
    torch.save(opt_b.state_dict(), tmp_path / "opt.pt")
    opt_c = FusedAdam(b, policy="FIX(k=0.01)", backend=backend)  # amsgrad comes back from the state dict
    opt_c.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert opt_c.param_groups[0]["amsgrad"] is True
    feed(a, b, grads[10:], opt_a, opt_c)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    old = opt_c.state_dict()  # a state dict from before AMSGrad existed loads as amsgrad=False
    for group in old["param_groups"]:
        del group["amsgrad"]
    opt_d = FusedAdam(b, policy="FIX(k=0.01)", backend=backend)
    opt_d.load_state_dict(old)
    assert opt_d.param_groups[0]["amsgrad"] is False


def adam_float64(p, grads, lrs, b1=0.9, b2=0.999, eps=1e-8, store=torch.float64):
    """Adam in float64; the params are rounded to their storage dtype after every step, as a real run does."""
    p = p.double().clone()
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for t, (g, lr) in enumerate(zip(grads, lrs)):
        g = g.double()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1 ** (t + 1)) * m / (torch.sqrt(v) / (1 - b2 ** (t + 1)) ** 0.5 + eps)
        p = p.to(store).double()
    return p


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.bfloat16, 4e-3), (torch.float16, 5e-4)])
def test_low_precision_params_against_float64_math(ext, dtype, tol):
    spec = "COS(k0=0.0001, k1=0.003, l=40)"
    p0 = torch.randn(5000, generator=torch.Generator().manual_seed(2))
    w = torch.nn.Parameter(p0.to(dtype).clone())  # .to() of the same dtype would share p0
    opt = FusedAdam([w], policy=spec)
    g = torch.Generator().manual_seed(3)
    grads = [torch.randn(5000, generator=g).to(dtype) for _ in range(200)]
    for gr in grads:
        w.grad = gr
        opt.step()
    exact = adam_float64(p0.to(dtype), grads, [parse(spec)(t) for t in range(200)], store=dtype)
    assert w.dtype == dtype and opt.state[w]["exp_avg"].dtype == torch.float32
    assert ((w.double() - exact).norm() / exact.norm()).item() < tol


def test_state_dict_round_trip_continues_exactly(ext, tmp_path):
    spec = "TRI2(k0=0.001, k1=0.01, l=7)"
    a = problem(4)
    b = clone(a)
    opt_a = FusedAdam(a, policy=spec)
    opt_b = FusedAdam(b, policy=spec)
    g = torch.Generator().manual_seed(5)
    grads = [[torch.randn(p.shape, generator=g) for p in a] for _ in range(30)]
    feed(a, b, grads[:15], opt_a, opt_b)
    torch.save(opt_b.state_dict(), tmp_path / "opt.pt")
    opt_c = FusedAdam(b, policy="FIX(k=0.5)")  # the saved policy and step counter win
    opt_c.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert opt_c.param_groups[0]["policy"] == spec and opt_c.steps() == [15]
    feed(a, b, grads[15:], opt_a, opt_c)
    for p, q in zip(a, b):
        assert torch.equal(p, q)


def test_live_policy_edit_overwrites_the_descriptor_in_place(ext):
    w = torch.nn.Parameter(torch.zeros(10))
    opt = FusedAdam([w], policy="FIX(k=0.1)")
    for _ in range(3):
        w.grad = torch.ones(10)
        opt.step()
    buf = opt._buffers[0]
    ptrs = (buf.meta.data_ptr(), buf.code.data_ptr(), buf.consts.data_ptr())
    opt.set_policy("STEP(k=1.0, gamma=0.5, l=2)")
    w.grad = torch.ones(10)
    opt.step()
    assert opt.last_lr() == [0.5]  # η(3) of the new policy: it applies at the group's t
    assert (buf.meta.data_ptr(), buf.code.data_ptr(), buf.consts.data_ptr()) == ptrs
    with pytest.raises(ProgramError, match="state-based"):
        opt.set_policy("ReduceLROnPlateau(k=0.01, factor=0.5, patience=3)")


def test_param_groups_have_their_own_policies(ext):
    a, b = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    opt = FusedAdam([{"params": [a]}, {"params": [b], "policy": "FIX(k=0.5)"}], policy="FIX(k=0.1)")
    a.grad, b.grad = torch.ones(4), torch.ones(4)
    opt.step()
    assert opt.last_lr() == [0.1, 0.5]
    # Adam's first step moves each coordinate by lr·g/|g| (eps aside)
    assert torch.allclose(a, torch.full((4,), -0.1)) and torch.allclose(b, torch.full((4,), -0.5))


@pytest.mark.parametrize("backend", ["ext", "torch"])
def test_amp_found_inf_skips_the_step_without_counting_it(ext, backend):
    w = torch.nn.Parameter(torch.ones(6))
    opt = FusedAdam([w], policy="FIX(k=0.1)", backend=backend)
    w.grad = torch.full((6,), 1024.0)
    opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(1.0))
    assert torch.equal(w, torch.ones(6)) and opt.steps() == [0]
    opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(0.0))
    assert torch.allclose(w, torch.full((6,), 0.9)) and opt.steps() == [1]  # unscaled grad 1: a full lr step


def test_bad_input_names_the_field():
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="field 'backend' must be one of auto, ext, torch"):
        FusedAdam(w, policy="FIX(k=0.1)", backend="gpu")
    with pytest.raises(ValueError, match="field 'betas'"):
        FusedAdam(w, policy="FIX(k=0.1)", betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="field 'amsgrad' must be True or False"):
        FusedAdam(w, policy="FIX(k=0.1)", amsgrad="yes")
    with pytest.raises(TypeError, match="field 'policy'"):
        FusedAdam(w, policy=0.1)
    with pytest.raises(TypeError, match="float32, bfloat16 or float16"):
        FusedAdam([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], policy="FIX(k=0.1)")


def op_args(ps, gs, ms, vs, xs, step, meta, code, consts, lr, weight_decay=0.0, decoupled=False, prevs=(), sums=None):
    """The arguments of ``lrkit::fused_adam_`` for one group (tables packed on the host): AMSGrad where ``xs`` is
    not empty; the streaming M-opt's measure step where ``sums`` is given (its record step where only ``prevs``)."""
    from lrkit.optim.tables import MOPT_MEASURE, MOPT_OFF, MOPT_RECORD, pack

    mode = MOPT_MEASURE if sums is not None else (MOPT_RECORD if prevs else MOPT_OFF)
    t = pack([dict(params=ps, grads=gs, exp_avgs=ms, exp_avg_sqs=vs, max_exp_avg_sqs=xs, amsgrad=bool(xs), meta=meta,
                   code=code, consts=consts, step=step, lr_out=lr, beta1=0.9, beta2=0.999, eps=1e-8,
                   weight_decay=weight_decay, decoupled=decoupled, maximize=False, mopt_mode=mode,
                   prev_deltas=list(prevs), mopt_sums=sums if sums is not None else torch.zeros(2, dtype=torch.float64))])
    return (ps, gs, ms, vs, xs, list(prevs), [step], [lr], [] if sums is None else [sums], torch.from_numpy(t.blob),
            torch.empty(0, dtype=torch.uint8), t.n_tensors, t.n_chunks, t.chunk_size, t.n_programs, None, None)


def test_the_ops_pass_opcheck(ext):
    meta, code, consts = (torch.from_numpy(a) for a in compile_policy("SIN(k0=0.01, k1=0.1, l=5)").pack())
    torch.library.opcheck(ext.eval_program.default, (meta, code, consts, torch.arange(10.0, dtype=torch.float64)))
    ps = [torch.randn(5), torch.randn(3, 2)]
    for amsgrad in (False, True):
        args = op_args(ps, [torch.randn_like(p) for p in ps], [torch.zeros_like(p) for p in ps],
                       [torch.rand_like(p) for p in ps], [torch.rand_like(p) for p in ps] if amsgrad else [],
                       torch.zeros(1, dtype=torch.float64), meta, code, consts, torch.zeros(1, dtype=torch.float64),
                       prevs=[torch.zeros(p.shape) for p in ps], sums=torch.zeros(2, dtype=torch.float64))
        torch.library.opcheck(ext.fused_adam_.default, args)


def test_without_the_extension_the_reference_runs_and_says_so_once(monkeypatch):
    monkeypatch.setitem(_ext._state, "loaded", False)
    monkeypatch.setitem(_ext._state, "error", "disabled for this test")
    monkeypatch.setitem(_ext._state, "warned", False)
    w = torch.nn.Parameter(torch.zeros(3))
    opt = FusedAdam([w], policy="FIX(k=0.1)")
    with pytest.warns(RuntimeWarning, match="not available \\(disabled for this test\\); using the pure-torch"):
        w.grad = torch.ones(3)
        opt.step()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w.grad = torch.ones(3)
        opt.step()  # no second warning
    assert not opt.uses_extension() and opt.steps() == [2]


@pytest.mark.parametrize("backend", ["ext", "torch"])
def test_streaming_mopt_equals_formula_7_on_snapshots(ext, backend):
    """Every M steps the step itself yields η* = η_{t+1}·‖Θ_{t+1} − Θ_t‖₁ / ‖2Θ_{t+1} − Θ_t − Θ_{t+2}‖₁."""
    from lrkit.optim import mopt_l1_reference

    ps = problem(6)
    opt = FusedAdam(ps, policy="COS(k0=0.001, k1=0.01, l=5)", mopt_every=4, backend=backend)
    g = torch.Generator().manual_seed(7)
    snaps, expected = {}, []
    for call in range(12):
        snaps[call] = [p.detach().clone() for p in ps]
        for p in ps:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    snaps[12] = [p.detach().clone() for p in ps]
    for t in (3, 7):  # M = 4: call 3 records Δ_3, call 4 measures Δ_4 against it; calls 7 and 8 likewise
        a, b = mopt_l1_reference(snaps[t], snaps[t + 1], snaps[t + 2])
        expected.append((t, parse("COS(k0=0.001, k1=0.01, l=5)")(t + 1) * a / b))
    got = opt.mopt()
    assert [r["t"] for r in got] == [t for t, _ in expected] == [3, 7]
    for r, (_, eta_star) in zip(got, expected):
        assert r["mopt_lr"] == pytest.approx(eta_star, rel=1e-6)
        assert r["lr"] == pytest.approx(parse("COS(k0=0.001, k1=0.01, l=5)")(r["t"] + 1), rel=1e-12)


def test_mopt_every_is_validated():
    with pytest.raises(ValueError, match="field 'mopt_every' must be None or an int >= 2"):
        FusedAdam([torch.nn.Parameter(torch.zeros(2))], policy="FIX(k=0.1)", mopt_every=1)


def test_the_cpu_kernel_is_threaded_and_its_results_do_not_depend_on_the_threads(ext):
    """The step is cut into pieces over all tensors and shared among the threads; the parameters and
    the M-opt sums come out bit-equal with one thread or several (the sums add per-piece partials in order)."""
    sizes = [70001, 3, 0, 4096, 100000, 17] + [257] * 40  # pieces of one big tensor, and many small ones
    g = torch.Generator().manual_seed(3)
    start = [torch.randn(n, generator=g) for n in sizes]
    grads = [[torch.randn(n, generator=g) for n in sizes] for _ in range(6)]
    threads = torch.get_num_threads()
    results = []
    try:
        for n_threads in (1, max(2, threads)):
            torch.set_num_threads(n_threads)
            ps = [torch.nn.Parameter(x.clone()) for x in start]
            opt = FusedAdam(ps, policy="TRI(k0=0.001, k1=0.01, l=3)", mopt_every=2, backend="ext")
            for gs in grads:
                for p, gr in zip(ps, gs):
                    p.grad = gr
                opt.step()
            results.append(([p.detach().clone() for p in ps], [r["mopt_lr"] for r in opt.mopt()]))
    finally:
        torch.set_num_threads(threads)
    (p1, m1), (p2, m2) = results
    assert len(m1) == 2 and m1 == m2
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))


def test_torch_compile_traces_the_step_op_in_one_graph(ext):
    """The fake kernels let torch.compile trace the mutating op (fullgraph: no graph break), and the
    compiled step updates params, states and the LR exactly as the eager op does."""
    meta, code, consts = (torch.from_numpy(a) for a in compile_policy("COS(k0=0.001, k1=0.01, l=4)").pack())

    def make():
        g = torch.Generator().manual_seed(11)
        ps = [torch.randn(n, generator=g) for n in (5, 1000, 33)]
        return ps, [torch.randn(p.shape, generator=g) for p in ps], [torch.zeros_like(p) for p in ps], \
            [torch.zeros_like(p) for p in ps], torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)

    def step(ps, gs, ms, vs, t, lr, tables):  # the op advances the step counter t
        torch.ops.lrkit.fused_adam_(ps, gs, ms, vs, [], [], [t], [lr], [], *tables)

    eager, compiled = make(), make()
    # the launch tables (packed on the host, outside the traced function): the group's hyper-parameters and
    # descriptor addresses; the op takes the tensors it writes from its lists
    launch = [op_args(*x[:4], [], x[4], meta, code, consts, x[5], weight_decay=0.01, decoupled=True)[9:]
              for x in (eager, compiled)]
    fn = torch.compile(step, backend="aot_eager", fullgraph=True)
    for _ in range(5):
        step(*eager, launch[0])
        fn(*compiled, launch[1])
    for a, b in zip(eager, compiled):
        a, b = (a, b) if isinstance(a, list) else ([a], [b])
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert compiled[4].item() == 5.0 and compiled[5].item() != 0.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_run_resumes_from_its_state_dict(dtype):
    """torch's load_state_dict casts floating state to the param's dtype; FusedAdam keeps its moments float32,
    bit for bit as saved, so the resumed run continues as if never stopped (on the CPU kernel where it builds)."""
    g = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(1000, generator=g).to(dtype)) for _ in range(2)]
    straight = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    kw = dict(policy="FIX(k=0.01)", amsgrad=True)
    opt, ref = FusedAdam(ours, **kw), FusedAdam(straight, **kw)

    def steps(n):
        for _ in range(n):
            for a, b in zip(ours, straight):
                a.grad = torch.randn(a.shape, generator=g).to(dtype)
                b.grad = a.grad.clone()
            opt.step()
            ref.step()

    steps(3)
    saved = opt.state_dict()
    resumed = FusedAdam(ours, **kw)
    resumed.load_state_dict(saved)
    for i, p in enumerate(ours):
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert resumed.state[p][key].dtype == torch.float32
            assert torch.equal(resumed.state[p][key], saved["state"][i][key])
    opt = resumed
    steps(3)
    assert opt.steps() == [6] and all(torch.equal(a, b) for a, b in zip(ours, straight))


def test_grad_scaler_hands_the_step_its_scale_and_found_inf_without_unscaling_on_the_host(monkeypatch):
    """FusedAdam sets _step_supports_amp_scaling: GradScaler.step passes grad_scale and found_inf as attributes
    instead of calling unscale_ (a host sync); an inf skips the step and leaves it uncounted."""
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 4)
    twin = torch.nn.Linear(16, 4)
    twin.load_state_dict(model.state_dict())
    opt = FusedAdam(model.parameters(), policy="FIX(k=0.01)")
    ref = FusedAdam(twin.parameters(), policy="FIX(k=0.01)")
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    monkeypatch.setattr(scaler, "unscale_", lambda *a: pytest.fail("GradScaler unscaled on the host"))
    x = torch.randn(8, 16)
    for k in range(3):
        opt.zero_grad()
        ref.zero_grad()
        scaler.scale(model(x).square().mean()).backward()
        if k == 1:
            model.bias.grad[0] = float("inf")
        scaler.step(opt)
        scaler.update()
        twin(x).square().mean().backward()
        if k != 1:
            ref.step()
    assert opt.steps() == ref.steps() == [2] and scaler.get_scale() == 512.0
    assert not hasattr(opt, "grad_scale") and not hasattr(opt, "found_inf")
    for a, b in zip(model.parameters(), twin.parameters()):  # the scales are powers of two: division is exact
        assert torch.equal(a, b)


@pytest.mark.parametrize("skipped_call", [3, 4])  # mopt_every=4: call 3 records Δ, call 4 measures against it
def test_an_amp_skip_of_a_record_or_measure_step_drops_that_m_opt_measurement(skipped_call):
    w = torch.nn.Parameter(torch.randn(100, generator=torch.Generator().manual_seed(0)))
    opt = FusedAdam([w], policy="FIX(k=0.01)", mopt_every=4)
    g = torch.Generator().manual_seed(1)
    for call in range(13):
        w.grad = torch.randn(100, generator=g)
        opt.step(found_inf=torch.tensor(float(call == skipped_call)))
    got = opt.mopt()
    assert len(got) == 2 and all(m["l1_update"] > 0 and m["l1_change"] > 0 for m in got)
    assert opt.steps() == [12]


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_grads_are_unscaled_in_place_unless_the_step_is_skipped(backend, dtype):
    """As torch's fused Adam: with grad_scale the grads hold g / grad_scale after the step; a found_inf step
    leaves them (and everything else) as they were."""
    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(1000, generator=g).to(dtype))
    opt = FusedAdam([w], policy="FIX(k=0.01)", backend=backend)
    scaled = (torch.randn(1000, generator=g) * 1024).to(dtype)
    w.grad = scaled.clone()
    opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(1.0))
    assert torch.equal(w.grad, scaled)
    opt.step(grad_scale=torch.tensor(1024.0), found_inf=torch.tensor(0.0))
    assert torch.equal(w.grad, (scaled.float() / 1024.0).to(dtype))
    assert opt.steps() == [1]
