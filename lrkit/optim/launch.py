"""The kernel path of :func:`lrkit.optim.functional.fused_adam`: launch tables packed once per set of tensors,
staged on the groups' device, and ``lrkit::fused_adam_`` called with them (CPU or CUDA kernel by device).

Tables are cached by key. Where the op reads the tensors through the tables' addresses (the CUDA kernel, or
its host emulation in tests) the key is every address they hold but the grads', the hyper-parameters and the
groups' M-opt roles (a resumed state's new moments are a new key). A step whose key is new packs them (on a
GPU, a small H2D copy). Gradients are not in the key: ``zero_grad()`` frees them and backward may allocate
them elsewhere, so where only their addresses moved the grad column is rewritten and staged again (no
repack). Such an entry holds the tensors its tables point at, so while it lives no other tensor takes their
addresses: a key that matches is the same tensors, and the entry's flattened lists are reused. Tables a CUDA
graph captured are held while the launcher lives (the graph reads them).

The CPU kernel takes the tensors from the op's lists and reads only the group rows (hyper-parameters, flags,
M-opt role, descriptor addresses) and each tensor row's group and replica. For it the key is that layout
(:func:`_layout_key`: per group its number of params, programs, descriptor addresses, hyper-parameters and
M-opt role); the tensor addresses in its tables are not read and may be stale, the grads are never compared,
and the lists are the groups' own, passed as they are each step.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from lrkit.optim import ops
from lrkit.optim import tables as packing  # looked up at each pack (tests count the packs)
from lrkit.optim.tables import MOPT_MEASURE, MOPT_OFF, MOPT_RECORD, Tables, stage


class Entry(NamedTuple):
    """Packed launch tables of one set of groups, their copy on the device, the CUDA kernels' scratch, and the
    op's tensor lists (what the tables point at). An entry of the CPU kernel's tables (keyed by their layout)
    holds no lists: they are the groups' own at each step."""

    tables: Tables
    blob: torch.Tensor
    scratch: torch.Tensor
    params: list
    exp_avgs: list
    exp_avg_sqs: list
    max_exp_avg_sqs: list  # of the AMSGrad groups
    prev_deltas: list  # of the groups whose step records or measures M-opt
    steps: list  # one per group
    lrs: list  # one per group
    mopt_sums: list  # of the groups that measure


def mopt_role(group) -> int:
    """The group's M-opt role in the tables (``GroupEntry.mopt_mode``)."""
    return MOPT_OFF if group.mopt is None else (MOPT_MEASURE if group.mopt.measure else MOPT_RECORD)


def pack_fields(group) -> dict:
    """The fields :func:`lrkit.optim.tables.pack` reads, from a :class:`~lrkit.optim.functional.AdamGroup`."""
    buf, mopt = group.programs, group.mopt
    return dict(params=group.params, grads=group.grads, exp_avgs=group.exp_avgs, exp_avg_sqs=group.exp_avg_sqs,
                meta=buf.meta, code=buf.code, consts=buf.consts, step=group.step, lr_out=buf.lr,
                replicas=buf.n_programs if buf.bank else None, beta1=group.beta1, beta2=group.beta2, eps=group.eps,
                weight_decay=group.weight_decay, decoupled=group.decoupled, maximize=group.maximize,
                amsgrad=group.amsgrad, max_exp_avg_sqs=group.max_exp_avg_sqs, mopt_mode=mopt_role(group),
                prev_deltas=mopt.prev_deltas if mopt else [], mopt_sums=mopt.sums if mopt else None)


def _op_lists(groups: list) -> dict:
    """The op's tensor lists over ``groups``, in the tables' group order (see ``csrc/ops.cpp``)."""
    return dict(params=[x for g in groups for x in g.params], grads=[x for g in groups for x in g.grads],
                exp_avgs=[x for g in groups for x in g.exp_avgs], exp_avg_sqs=[x for g in groups for x in g.exp_avg_sqs],
                max_exp_avg_sqs=[x for g in groups if g.amsgrad for x in g.max_exp_avg_sqs],
                prev_deltas=[x for g in groups if g.mopt for x in g.mopt.prev_deltas], steps=[g.step for g in groups],
                lrs=[g.programs.lr for g in groups], mopt_sums=[g.mopt.sums for g in groups if g.mopt and g.mopt.measure])


def _layout_key(group) -> tuple:
    """What the CPU kernel reads of a group's tables: its number of params and of programs, the descriptors'
    addresses, the hyper-parameters and flags, and its M-opt role."""
    buf = group.programs
    return (len(group.params), buf.n_programs, buf.bank, buf.meta.data_ptr(), buf.code.data_ptr(),
            buf.consts.data_ptr(), group.beta1, group.beta2, group.eps, group.weight_decay, group.decoupled,
            group.maximize, group.amsgrad, mopt_role(group))


def _key(group) -> tuple:
    """Every address the device kernel reads from a group's tables but the grads', with its hyper-parameters
    and M-opt role."""
    buf, mopt = group.programs, group.mopt
    return (buf.meta.data_ptr(), buf.code.data_ptr(), buf.consts.data_ptr(), buf.lr.data_ptr(), group.step.data_ptr(),
            tuple(p.data_ptr() for p in group.params), tuple(m.data_ptr() for m in group.exp_avgs),
            tuple(v.data_ptr() for v in group.exp_avg_sqs), group.beta1, group.beta2, group.eps, group.weight_decay,
            group.decoupled, group.maximize, group.amsgrad, tuple(x.data_ptr() for x in group.max_exp_avg_sqs),
            mopt_role(group), tuple(d.data_ptr() for d in mopt.prev_deltas) if mopt else (),
            mopt.sums.data_ptr() if mopt else None)


class Launcher:
    """Packs, caches and launches the tables of ``lrkit::fused_adam_``. ``op``: the op (None: ``lrkit::fused_adam_``),
    or (tests) a function of its signature running the CUDA kernel source emulated on the host. With op None on
    CPU tensors the launch is the CPU kernel's (tables keyed by their layout, the groups' lists); any other op,
    or another device, reads the tensors through the tables' addresses (tables keyed by them). Each launch
    site (the device and step counters of the groups a launch takes) keeps its ``KEPT`` most recently used
    tables; at most ``SITES`` sites are kept."""

    KEPT = 4
    SITES = 64

    def __init__(self, op=None):
        self.op = op
        self.sites: dict = {}  # site -> {key: Entry}, the most recently used last
        self.captured: dict = {}  # id of the device tables -> Entry held for a captured CUDA graph
        self.staging: dict = {}  # id of the device tables -> the pinned host source a captured copy reads

    def entries(self) -> dict:
        """Every cached entry by key, site after site."""
        return {k: e for site in self.sites.values() for k, e in site.items()}

    def step(self, groups: list, *, grad_scale=None, found_inf=None) -> None:
        """One launch of ``lrkit::fused_adam_`` over ``groups`` (on one device)."""
        device = groups[0].device
        if self.op is None and device.type == "cpu":  # the CPU kernel: the lists, not the addresses
            self._host_step(groups, device, grad_scale, found_inf)
            return
        cache = self._site(device, groups)
        key = tuple(_key(g) for g in groups)
        gl = [x for g in groups for x in g.grads]
        grad_ptrs = np.fromiter((g.data_ptr() for g in gl), dtype=np.uint64, count=len(gl))
        entry = cache.pop(key, None)
        if entry is None:
            t = packing.pack([pack_fields(g) for g in groups])
            blob, host = stage(t.blob, device)
            lists = _op_lists(groups)
            del lists["grads"]  # not held: they move between steps (the grad column is checked each step)
            entry = Entry(t, blob, _scratch(t, device), **lists)
        elif not np.array_equal(entry.tables.tensor_column("g"), entry.tables.grad_addresses(grad_ptrs)):
            # new host and device tables; the old ones stay as they were for a launch in flight (the caching
            # allocator reuses their memory only after it) or a captured graph (held below)
            t = entry.tables.with_grads(grad_ptrs)
            blob, host = stage(t.blob, device)
            entry = entry._replace(tables=t, blob=blob)
        else:
            host = None
        self._keep(cache, key, entry)
        if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
            # held once, however often a graph captures these same tables; a copy made during the capture is a
            # node of the graph that every replay runs again from its pinned source, so that is held too
            self.captured[id(entry.blob)] = entry
            if host is not None:
                self.staging[id(entry.blob)] = host
        self._launch(entry, entry.params, gl, entry.exp_avgs, entry.exp_avg_sqs, entry.max_exp_avg_sqs,
                     entry.prev_deltas, entry.steps, entry.lrs, entry.mopt_sums, device, grad_scale, found_inf)

    def _host_step(self, groups: list, device, grad_scale, found_inf) -> None:
        """The CPU kernel's launch: tables cached by their layout (packed again only where it changed), the
        groups' own lists."""
        cache = self._site(device, groups)
        key = tuple(_layout_key(g) for g in groups)
        entry = cache.pop(key, None)
        if entry is None:
            t = packing.pack([pack_fields(g) for g in groups])
            blob, _ = stage(t.blob, device)
            entry = Entry(t, blob, _scratch(t, device), None, None, None, None, None, None, None, None)
        self._keep(cache, key, entry)
        lists = _op_lists(groups)
        self._launch(entry, lists["params"], lists["grads"], lists["exp_avgs"], lists["exp_avg_sqs"],
                     lists["max_exp_avg_sqs"], lists["prev_deltas"], lists["steps"], lists["lrs"], lists["mopt_sums"],
                     device, grad_scale, found_inf)

    def _site(self, device, groups: list) -> dict:
        """The cache of the launch site of ``groups`` (their device and step counters), now the most recent."""
        site = (device, tuple(id(g.step) for g in groups))
        cache = self.sites.pop(site, None) or {}
        self.sites[site] = cache  # the most recently used site last
        if len(self.sites) > self.SITES:
            for old in list(self.sites)[:-self.SITES]:
                del self.sites[old]
        return cache

    def _keep(self, cache: dict, key, entry: Entry) -> None:
        cache[key] = entry  # the most recently used last
        if len(cache) > self.KEPT:
            for old in list(cache)[:-self.KEPT]:
                del cache[old]

    def _launch(self, entry: Entry, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, prev_deltas, steps, lrs,
                mopt_sums, device, grad_scale, found_inf) -> None:
        t = entry.tables
        gs = None if grad_scale is None else grad_scale.to(device=device, dtype=torch.float32).reshape(1)
        fi = None if found_inf is None else found_inf.to(device=device, dtype=torch.float32).reshape(1)
        (self.op or ops.fused_adam_)(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, prev_deltas, steps, lrs,
                                     mopt_sums, entry.blob, entry.scratch, t.n_tensors, t.n_chunks, t.chunk_size,
                                     t.n_programs, gs, fi)


def _scratch(t: Tables, device) -> torch.Tensor:
    """The CUDA kernels' workspace: the AdamStep records (64 bytes a program), then the M-opt partials (2 float64
    a chunk). The CPU kernel does not use it."""
    return torch.empty(64 * t.n_programs + 16 * t.n_chunks, dtype=torch.uint8, device=device)
