"""Launch tables of ``lrkit::fused_adam_`` and ``lrkit::mopt_l1``, packed with numpy in the layouts of
``csrc/include/lrkit/tables.h`` (one uint8 tensor: tensors | chunks | groups).

Every tensor of every group is cut into chunks of ``chunk_size`` elements, one CUDA block each; empty
tensors get no chunk. Groups carry the addresses of their descriptor buffers, step counter and LR
output, so one launch updates many groups — or many model replicas, each with its own policy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import numpy as np
import torch

TENSOR = np.dtype([("p", "<u8"), ("g", "<u8"), ("m", "<u8"), ("v", "<u8"), ("vmax", "<u8"), ("prev", "<u8"),
                   ("numel", "<i8"), ("group", "<i4"), ("dtype", "<i4"), ("replica", "<i4"), ("pad", "<i4")])
CHUNK = np.dtype([("tensor", "<i4"), ("pad", "<i4"), ("start", "<i8")])
GROUP = np.dtype([("meta", "<u8"), ("code", "<u8"), ("consts", "<u8"), ("step", "<u8"), ("lr_out", "<u8"),
                  ("mopt_sums", "<u8"), ("beta1", "<f8"), ("beta2", "<f8"), ("eps", "<f8"), ("weight_decay", "<f8"),
                  ("flags", "<i4"), ("mopt_mode", "<i4"), ("first_chunk", "<i4"), ("n_chunks", "<i4"),
                  ("n_programs", "<i4"), ("first_step", "<i4")])
MOPT = np.dtype([("x0", "<u8"), ("x1", "<u8"), ("x2", "<u8"), ("numel", "<i8"), ("dtype", "<i4"), ("pad", "<i4")])
assert (TENSOR.itemsize, CHUNK.itemsize, GROUP.itemsize, MOPT.itemsize) == (72, 16, 104, 40)  # == tables.h
DTYPES = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}
MOPT_DTYPES = {**DTYPES, torch.float64: 3}
FLAG_DECOUPLED, FLAG_MAXIMIZE, FLAG_AMSGRAD = 1, 2, 4
CHUNK_SIZE = 65536


@dataclass
class Tables:
    blob: np.ndarray  # uint8
    n_tensors: int  # TensorEntry rows: one per param, or one per replica slice of a policy bank's params
    n_chunks: int
    n_groups: int
    chunk_size: int
    n_programs: int = 0  # AdamStep records: one per group, K per policy bank
    source: np.ndarray | None = None  # int64 [n_tensors]: the param (in the step's order) of each row
    grad_offset: np.ndarray | None = None  # uint64 [n_tensors]: byte offset of each row's slice in its grad

    def tensor_column(self, name: str) -> np.ndarray:
        """One field of the tensor table as an array, e.g. ``"g"``: the gradients' addresses in launch order."""
        return self.blob[: self.n_tensors * TENSOR.itemsize].view(TENSOR)[name]

    def grad_addresses(self, grad_ptrs) -> np.ndarray:
        """The tensor table's grad column for gradients at ``grad_ptrs`` (one address per param of the step)."""
        grad_ptrs = np.asarray(grad_ptrs, dtype=np.uint64)
        n_params = int(self.source.max()) + 1 if self.n_tensors else 0
        if grad_ptrs.shape != (n_params,):
            raise ValueError(f"with_grads: grad_ptrs must hold one address per tensor of the step ({n_params}), "
                             f"got shape {grad_ptrs.shape}")
        return grad_ptrs[self.source] + self.grad_offset

    def with_grads(self, grad_ptrs) -> "Tables":
        """A copy of these tables whose tensors read their gradients at ``grad_ptrs`` (one address per param,
        in launch order), everything else unchanged: what a step needs when only the gradients were
        re-allocated (``zero_grad()`` sets them to None), without packing again."""
        column = self.grad_addresses(grad_ptrs)
        blob = self.blob.copy()
        blob[: self.n_tensors * TENSOR.itemsize].view(TENSOR)["g"] = column
        return replace(self, blob=blob)

    def split(self):
        """The three tables back as structured arrays (for tests and debugging)."""
        a = self.n_tensors * TENSOR.itemsize
        b = a + self.n_chunks * CHUNK.itemsize
        return (self.blob[:a].view(TENSOR), self.blob[a:b].view(CHUNK), self.blob[b:].view(GROUP))


MOPT_OFF, MOPT_RECORD, MOPT_MEASURE = 0, 1, 2


def pack(groups: list[dict], chunk_size: int = CHUNK_SIZE) -> Tables:
    """``groups``: dicts with ``params, grads, exp_avgs, exp_avg_sqs`` (lists of tensors), ``meta, code,
    consts, step, lr_out`` (tensors) and ``beta1, beta2, eps, weight_decay, decoupled, maximize``; for
    AMSGrad ``amsgrad=True`` and ``max_exp_avg_sqs`` (float32, one per param); for a streaming M-opt step
    also ``mopt_mode`` (1 record, 2 measure), ``prev_deltas`` (float32, one per param) and ``mopt_sums``
    (float64[2], written on a measure step). A policy bank: ``replicas=K``, the descriptors with a leading
    axis of K, ``lr_out`` float64[K], dim 0 of every param the replica axis: slice k of each param is a row
    of the tensor table of its own, whose AdamStep is program k's."""
    if chunk_size <= 0 or chunk_size % 4:
        raise ValueError(f"pack: chunk_size must be a positive multiple of 4, got {chunk_size}")
    tensors, chunks, gtab, source, offsets = [], [], [], [], []
    n_params = n_programs = 0
    for gi, g in enumerate(groups):
        mode = g.get("mopt_mode", MOPT_OFF)
        if mode not in (MOPT_OFF, MOPT_RECORD, MOPT_MEASURE):
            raise ValueError(f"pack: mopt_mode must be 0 (off), 1 (record) or 2 (measure), got {mode!r}")
        prevs = g["prev_deltas"] if mode else [None] * len(g["params"])
        if mode and (len(prevs) != len(g["params"]) or g.get("mopt_sums") is None):
            raise ValueError("pack: an M-opt step needs one prev_delta per param and a mopt_sums tensor")
        amsgrad = bool(g.get("amsgrad", False))
        maxes = g.get("max_exp_avg_sqs") if amsgrad else [None] * len(g["params"])
        if amsgrad and (maxes is None or len(maxes) != len(g["params"])):
            raise ValueError("pack: an AMSGrad group needs one max_exp_avg_sq per param")
        replicas = g.get("replicas") or 1
        if replicas > 1 and mode:
            raise ValueError("pack: M-opt is not available with a policy bank (replicas > 1)")
        first = len(chunks)
        for k in range(replicas):  # a group's rows replica after replica (slice k of every param)
            for j, (p, gr, m, v, x, prev) in enumerate(zip(g["params"], g["grads"], g["exp_avgs"], g["exp_avg_sqs"],
                                                           maxes, prevs)):
                if p.dtype not in DTYPES:
                    raise TypeError(f"pack: params must be float32, bfloat16 or float16, got {p.dtype}")
                if prev is not None and (prev.dtype != torch.float32 or prev.numel() != p.numel()
                                         or not prev.is_contiguous()):
                    raise ValueError("pack: a prev_delta must be a contiguous float32 tensor the size of its param")
                if x is not None and (x.dtype != torch.float32 or x.numel() != p.numel() or not x.is_contiguous()):
                    raise ValueError("pack: a max_exp_avg_sq must be a contiguous float32 tensor the size of its param")
                if g.get("replicas") is not None and (p.dim() == 0 or p.shape[0] != replicas):
                    raise ValueError(f"pack: a policy bank of {replicas} needs dim 0 of every param of that size, "
                                     f"got shape {tuple(p.shape)}")
                n = p.numel() // replicas  # this replica's slice: elements [k n, (k + 1) n)
                ps, fs = k * n * p.element_size(), k * n * 4  # byte offsets in the param/grad and the float32 state
                ti = len(tensors)
                tensors.append((p.data_ptr() + ps, gr.data_ptr() + ps, m.data_ptr() + fs, v.data_ptr() + fs,
                                0 if x is None else x.data_ptr() + fs, 0 if prev is None else prev.data_ptr(), n,
                                gi, DTYPES[p.dtype], k, 0))
                source.append(n_params + j)
                offsets.append(ps)
                chunks += [(ti, 0, s) for s in range(0, n, chunk_size)]
        n_params += len(g["params"])
        flags = ((FLAG_DECOUPLED if g["decoupled"] else 0) | (FLAG_MAXIMIZE if g["maximize"] else 0)
                 | (FLAG_AMSGRAD if amsgrad else 0))
        sums = g["mopt_sums"].data_ptr() if mode == MOPT_MEASURE else 0
        gtab.append((g["meta"].data_ptr(), g["code"].data_ptr(), g["consts"].data_ptr(), g["step"].data_ptr(),
                     g["lr_out"].data_ptr(), sums, g["beta1"], g["beta2"], g["eps"], g["weight_decay"], flags, mode,
                     first, len(chunks) - first, replicas, n_programs))
        n_programs += replicas
    blob = np.concatenate([np.array(tensors, dtype=TENSOR).view(np.uint8), np.array(chunks, dtype=CHUNK).view(np.uint8),
                           np.array(gtab, dtype=GROUP).view(np.uint8)])
    return Tables(blob=blob, n_tensors=len(tensors), n_chunks=len(chunks), n_groups=len(gtab), chunk_size=chunk_size,
                  n_programs=n_programs, source=np.array(source, dtype=np.int64),
                  grad_offset=np.array(offsets, dtype=np.uint64))


def pack_mopt(theta0, theta1, theta2, chunk_size: int = CHUNK_SIZE) -> Tables:
    """Launch tables of the M-opt L1 sums (``lrkit::mopt_l1`` on CUDA): one ``MoptEntry`` per tensor (the
    addresses of its three snapshots), then its chunks. The tensors must be contiguous, and the three
    snapshots of a tensor alike in shape and dtype (float32, bfloat16, float16 or float64)."""
    if chunk_size <= 0:
        raise ValueError(f"pack_mopt: chunk_size must be positive, got {chunk_size}")
    if not len(theta0) == len(theta1) == len(theta2):
        raise ValueError(f"pack_mopt: the snapshots must hold the same number of tensors, got {len(theta0)}, "
                         f"{len(theta1)}, {len(theta2)}")
    tensors = []
    for k, (a, b, c) in enumerate(zip(theta0, theta1, theta2)):
        if not (a.shape == b.shape == c.shape and a.dtype == b.dtype == c.dtype):
            raise ValueError(f"pack_mopt: tensor {k} differs in shape or dtype between the snapshots")
        if a.dtype not in MOPT_DTYPES:
            raise TypeError(f"pack_mopt: snapshots must be float32, bfloat16, float16 or float64, got {a.dtype}")
        if not (a.is_contiguous() and b.is_contiguous() and c.is_contiguous()):
            raise ValueError(f"pack_mopt: tensor {k} of a snapshot is not contiguous")
        tensors.append((a.data_ptr(), b.data_ptr(), c.data_ptr(), a.numel(), MOPT_DTYPES[a.dtype], 0))
    chunks = chunk_table(np.array([t[3] for t in tensors], dtype=np.int64), chunk_size)
    blob = np.concatenate([np.array(tensors, dtype=MOPT).view(np.uint8), chunks.view(np.uint8)])
    return Tables(blob=blob, n_tensors=len(tensors), n_chunks=len(chunks), n_groups=0, chunk_size=chunk_size)


def chunk_table(numels: np.ndarray, chunk_size: int) -> np.ndarray:
    """The CHUNK table of tensors of these sizes, built with numpy (no Python loop over the chunks): tensor k
    gets ceil(numel_k / chunk_size) chunks starting at 0, chunk_size, ...; empty tensors get none.

    >>> chunk_table(np.array([5, 0, 2]), 4)[["tensor", "start"]].tolist()
    [(0, 0), (0, 4), (2, 0)]
    """
    counts = -(-numels // chunk_size)
    out = np.zeros(int(counts.sum()), dtype=CHUNK)
    out["tensor"] = np.repeat(np.arange(len(numels), dtype=np.int32), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)  # index of each chunk's tensor's first chunk
    out["start"] = (np.arange(len(out)) - first) * chunk_size
    return out


def stage(blob: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(device copy, host source)`` of packed tables. On a GPU the source is pinned and the copy
    non-blocking: a copy from pageable memory blocks the host, and inside a CUDA graph capture (a repack,
    or backward's grads at new addresses) it is illegal, while a pinned one is captured as a graph node."""
    host = torch.from_numpy(blob)
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True), host
