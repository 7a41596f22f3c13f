"""Log-likelihood scoring of (context, continuation) requests, as lm-evaluation-harness does it.

A request ``(context, continuation)`` is answered by ``(ll, is_greedy)`` where

    ll        = sum_t log p(c_t | x, c_<t)        over the continuation tokens c_1..c_m
    is_greedy = all_t  c_t == argmax p(. | x, c_<t)

Tokenisation (lm-eval's ``loglikelihood`` convention, the one of its v0.3 ``BaseLM``):

* context and continuation are encoded **separately**: the context with a BOS token in front when the
  tokenizer adds one by itself (``tokenizer("a")`` starts with ``bos_token_id``; EOS or other special
  tokens a tokenizer may append are never added), the continuation without special tokens; the
  whole sequence is ``ctx_ids + cont_ids``. (lm-eval v0.4 encodes ``context + continuation`` at once
  and slices; the two differ only where a token would straddle the boundary, which the leading space
  of every continuation here prevents for byte-level BPE tokenizers.)
* an empty context becomes ``[bos_token_id]`` (``[eos_token_id]`` when there is no BOS);
* the model input is ``whole[:-1]`` left-truncated to the model's maximum length ``L`` (the
  continuation is kept; ``whole[-(L+1):]``); the logits at the last ``m`` input positions score the
  ``m`` continuation tokens (in float32: ``log_softmax`` of ``logits.float()``).

Two implementations, equal up to float rounding (the tests hold them to 1e-4):

``loglikelihood_reference``
    One right-padded forward per batch of whole sequences (with an attention mask), the direct
    reading of the formula above. Requests are sorted by length, longest first, to batch alike ones.

``loglikelihood_cached`` (the default, ``fast=True``)
    Multiple-choice tasks ask for several continuations of one context (ARC: 4 of a ~1000-token
    25-shot prompt), and many contexts start alike (MMLU: a subject's header and dev examples;
    TruthfulQA: the QA preamble). Requests are grouped by context and each context is run once:

    1. contexts whose cached part ``ctx[:-1]`` shares >= ``MIN_SHARED_PREFIX`` leading tokens with
       its lexicographic neighbours form a cluster; the cluster's common prefix is run once
       (``use_cache=True``) and its KV cache copied to every batch of the cluster;
    2. a batch of up to ``batch_size`` contexts runs over the rest of ``ctx[:-1]`` (right-padded;
       only the last position's logits are computed, ``logits_to_keep=1``) on top of that cache;
    3. the KV cache is re-indexed along the batch (``Cache.batch_select_indices``) so that every
       continuation row gets its context's keys/values, and one more forward scores all rows
       ``[ctx[-1]] + cont[:-1]``, with the 2-D attention mask hiding the context padding and
       ``position_ids = len(ctx) - 1 + arange``. Rows with the same input (MMLU's one-token
       " A".." D") are run once.

    This is the same computation as the reference path (causal attention: a token's keys/values
    depend only on the tokens before it), with the context done once per item instead of once per
    choice, and shared prefixes once per cluster. Contexts of one token, and groups that would need
    truncation, take the reference path. Models with sliding-window attention layers get one
    context per batch (padding inside the cache would shift the window).

Identical requests are scored once (TruthfulQA's mc1 and mc2 targets overlap).

Both run under ``torch.inference_mode()`` with the model in eval mode (its previous mode is restored)
and work for Hugging Face causal LMs, peft-wrapped ones included.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import torch

Request = tuple[str, str]
Result = tuple[float, bool]

__all__ = ["loglikelihood", "loglikelihood_reference", "loglikelihood_cached", "encode_requests", "model_max_length"]


# --------------------------------------------------------------------------------------------
# helpers


def _base_model(model):
    """The transformers model under a peft wrapper (the model itself otherwise)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def model_max_length(model, tokenizer=None, default: int = 2048) -> int:
    """The longest input the model takes: its config's ``max_position_embeddings`` (or ``n_positions``,
    ``n_ctx``), else the tokenizer's ``model_max_length`` when it is a real limit, else ``default``."""
    cfg = getattr(_base_model(model), "config", None)
    if cfg is not None and hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    for attr in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"):
        v = getattr(cfg, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    v = getattr(tokenizer, "model_max_length", None)
    if isinstance(v, int) and 0 < v < 1_000_000:
        return v
    return default


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        return torch.device("cpu")


def _accepts_logits_to_keep(model) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(_base_model(model).forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _cache_keyword(model) -> str:
    """The name ``forward`` takes the KV cache by: ``cache`` in the transformers releases that renamed
    it, ``past_key_values`` before (the old name still works there, with a deprecation warning)."""
    try:
        params = inspect.signature(_base_model(model).forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _returned_cache(out):
    """The KV cache a forward returned, under either name (None when the model kept none)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _has_sliding_window(model) -> bool:
    """Whether some attention layers use a sliding window (Mistral, Gemma-2/3, ...)."""
    cfg = getattr(_base_model(model), "config", None)
    if cfg is not None and hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    if not getattr(cfg, "sliding_window", None):
        return False
    types = getattr(cfg, "layer_types", None)
    return types is None or any("sliding" in str(t) for t in types)


def _pad_id(tokenizer) -> int:
    for tid in (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if tid is not None:
            return int(tid)
    return 0


def _chunks(seq: Sequence, n: int) -> Iterable[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class _Progress:
    def __init__(self, total: int, enabled: bool, desc: Optional[str]):
        self.bar = None
        if enabled and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc or "loglikelihood", leave=False)

    def update(self, n: int):
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _EvalMode:
    """Eval mode and ``inference_mode`` for the duration; the model's previous mode is restored."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        self.inference = torch.inference_mode()
        self.inference.__enter__()
        return self

    def __exit__(self, *exc):
        self.inference.__exit__(*exc)
        self.model.train(self.was_training)
        return False


# --------------------------------------------------------------------------------------------
# tokenisation


def encode_requests(tokenizer, requests: Sequence[Request]) -> list[tuple[list[int], list[int]]]:
    """``[(ctx_ids, cont_ids)]`` for the requests, tokenised as described in the module docstring.
    Each distinct context is encoded once."""
    bos, eos = getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "eos_token_id", None)
    adds_bos = False
    if bos is not None:
        with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
        plain = tokenizer("a", add_special_tokens=False)["input_ids"]
        adds_bos = len(with_special) > len(plain) and with_special[0] == bos
    prefix = bos if bos is not None else eos
    contexts = sorted({c for c, _ in requests if c})
    conts = sorted({c for _, c in requests})
    ctx_ids = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False)["input_ids"])) if contexts else {}
    cont_ids = dict(zip(conts, tokenizer(conts, add_special_tokens=False)["input_ids"])) if conts else {}
    out = []
    for ctx, cont in requests:
        if ctx:
            ids = ([bos] if adds_bos else []) + list(ctx_ids[ctx])
        else:
            if prefix is None:
                raise ValueError("loglikelihood: an empty context needs a tokenizer with a BOS or EOS token")
            ids = [prefix]
        out.append((ids, list(cont_ids[cont])))
    return out


def _score(logits: torch.Tensor, picks: Sequence[tuple[int, int, list[int]]]) -> list[Result]:
    """Score requests from one forward's ``logits`` (B, T, V): ``picks`` = ``(row, first position,
    targets)`` per request, the position whose logits predict ``targets[0]``. Only the needed positions
    go through ``log_softmax`` (in float32); sums are accumulated in float64."""
    rows, pos, tgt, seg = [], [], [], []
    for n, (r, p0, targets) in enumerate(picks):
        m = len(targets)
        rows += [r] * m
        pos += range(p0, p0 + m)
        tgt += targets
        seg += [n] * m
    dev = logits.device
    rows_t, pos_t = torch.tensor(rows, device=dev), torch.tensor(pos, device=dev)
    tgt_t, seg_t = torch.tensor(tgt, device=dev), torch.tensor(seg, device=dev)
    logp = logits[rows_t, pos_t].float().log_softmax(-1)              # (M, V)
    tok = logp.gather(-1, tgt_t[:, None]).squeeze(-1).double()        # (M,)
    miss = (logp.argmax(-1) != tgt_t).double()
    ll = torch.zeros(len(picks), dtype=torch.float64, device=dev).index_add_(0, seg_t, tok)
    misses = torch.zeros(len(picks), dtype=torch.float64, device=dev).index_add_(0, seg_t, miss)
    return [(float(a), bool(b == 0)) for a, b in zip(ll.tolist(), misses.tolist())]


# --------------------------------------------------------------------------------------------
# reference path


def _reference(model, encoded, indices, batch_size, device, max_len, pad_id, progress, results):
    order = sorted(indices, key=lambda i: -(len(encoded[i][0]) + len(encoded[i][1])))
    for chunk in _chunks(order, batch_size):
        rows = []
        for i in chunk:
            ctx, cont = encoded[i]
            whole = (ctx + cont)[-(max_len + 1):]
            inp = whole[:-1]
            m = min(len(cont), len(inp))
            rows.append((i, inp, whole[len(whole) - m:]))
        width = max(len(inp) for _, inp, _ in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (_, inp, _) in enumerate(rows):
            ids[r, :len(inp)] = torch.tensor(inp)
            mask[r, :len(inp)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        # the logits at input positions len(inp)-m .. len(inp)-1 predict the m target tokens
        scores = _score(logits, [(r, len(inp) - len(targets), targets) for r, (_, inp, targets) in enumerate(rows)])
        for (i, _, _), res in zip(rows, scores):
            results[i] = res
        progress.update(len(chunk))


def loglikelihood_reference(model, tokenizer, requests: Sequence[Request], *, batch_size: int = 8,
                            device=None, max_length: Optional[int] = None, progress: bool = False,
                            desc: Optional[str] = None) -> list[Result]:
    """``[(ll, is_greedy)]`` for ``requests``: one padded forward per batch of whole sequences."""
    return loglikelihood(model, tokenizer, requests, batch_size=batch_size, device=device, fast=False,
                         max_length=max_length, progress=progress, desc=desc)


# --------------------------------------------------------------------------------------------
# cached (fast) path


MIN_SHARED_PREFIX = 32  # tokens: contexts sharing at least this many leading tokens share one prefix forward


def _lcp(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two token arrays."""
    n = min(len(a), len(b))
    diff = np.nonzero(a[:n] != b[:n])[0]
    return int(diff[0]) if len(diff) else n


def _plan(past: list[np.ndarray], batch_size: int, min_prefix: int) -> list[tuple[int, list[list[int]]]]:
    """Batches of groups: ``[(shared prefix length, [batch of group indices, ...]), ...]``.

    ``past[g]`` are the tokens group g puts in the cache (its context but the last token). Groups are
    sorted lexicographically; runs of neighbours sharing >= ``min_prefix`` leading tokens form a
    cluster whose common prefix (the minimum of the neighbours' common prefixes, which is the
    cluster's longest common prefix) is computed once. Within a cluster, and among the remaining
    groups, batches are cut longest first."""
    order = sorted(range(len(past)), key=lambda g: past[g].tolist())
    clusters: list[tuple[int, list[int]]] = []
    pool: list[int] = []
    i = 0
    while i < len(order):
        j, lcp = i + 1, len(past[order[i]])
        while j < len(order):
            k = _lcp(past[order[j - 1]], past[order[j]])
            if k < min_prefix:
                break
            lcp, j = min(lcp, k), j + 1
        if j - i >= 2:
            clusters.append((lcp, order[i:j]))
        else:
            pool.append(order[i])
        i = j
    plan = []
    for lcp, members in clusters + [(0, pool)]:
        members = sorted(members, key=lambda g: -len(past[g]))
        if members:
            plan.append((lcp, [members[k:k + batch_size] for k in range(0, len(members), batch_size)]))
    return plan


def _cached(model, encoded, indices, batch_size, device, max_len, pad_id, progress, results,
            min_prefix: int = MIN_SHARED_PREFIX):
    groups: dict[tuple, list[int]] = {}
    for i in indices:
        groups.setdefault(tuple(encoded[i][0]), []).append(i)
    work, fallback = [], []
    for ctx, idx in groups.items():
        longest = max(len(encoded[i][1]) for i in idx)
        if len(ctx) < 2 or len(ctx) + longest - 1 > max_len:
            fallback.extend(idx)  # a one-token context or truncation: the reference path
        else:
            work.append((ctx, idx))
    keep = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    cache_kw = _cache_keyword(model)

    def forward_cache(ids, cache=None):
        out = model(input_ids=ids.to(device), use_cache=True, **{cache_kw: cache}, **keep)
        returned = _returned_cache(out)
        if returned is None:
            raise RuntimeError("loglikelihood: the model returned no KV cache; use fast=False (the reference path)")
        return returned

    past_tokens = [np.asarray(ctx[:-1], dtype=np.int64) for ctx, _ in work]
    # A sliding window counts cache slots, not positions: padding inside a batch of contexts would
    # shift it, so such models get one context per batch (its continuations are still batched).
    per_batch = 1 if _has_sliding_window(model) else batch_size
    for shared, batches in _plan(past_tokens, per_batch, min_prefix):
        prefix_cache = None
        if shared:  # the cluster's common prefix, once (batch 1)
            prefix_cache = forward_cache(torch.tensor(past_tokens[batches[0][0]][:shared])[None])
        for batch in batches:
            chunk = [work[g] for g in batch]
            past = [len(ctx) - 1 for ctx, _ in chunk]  # tokens that go into the cache
            cache = None
            if shared:
                cache = copy.deepcopy(prefix_cache)
                cache.batch_select_indices(torch.zeros(len(chunk), dtype=torch.long, device=device))
            rest = max(past) - shared
            if rest > 0:
                ids = torch.full((len(chunk), rest), pad_id, dtype=torch.long)
                for g, (ctx, _) in enumerate(chunk):
                    ids[g, :past[g] - shared] = torch.tensor(ctx[shared:-1])
                # Right padding needs no mask here: a real token never attends to a later (pad) position.
                cache = forward_cache(ids, cache)
            pmax = shared + rest
            # continuation rows: [ctx[-1]] + cont[:-1]; identical rows of one context run once
            row_of: dict[tuple, int] = {}
            row_inputs: list[tuple] = []
            row_group: list[int] = []
            req_row: list[tuple[int, int]] = []
            for g, (ctx, idx) in enumerate(chunk):
                for i in idx:
                    key = (g, (ctx[-1], *encoded[i][1][:-1]))
                    if key not in row_of:
                        row_of[key] = len(row_inputs)
                        row_inputs.append(key[1])
                        row_group.append(g)
                    req_row.append((i, row_of[key]))
            width = max(len(r) for r in row_inputs)
            rid = torch.full((len(row_inputs), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(row_inputs), pmax + width), dtype=torch.long)
            pos = torch.zeros((len(row_inputs), width), dtype=torch.long)
            for r, (inp, g) in enumerate(zip(row_inputs, row_group)):
                rid[r, :len(inp)] = torch.tensor(inp)
                mask[r, :past[g]] = 1                 # the context's own keys, not its padding
                mask[r, pmax:pmax + len(inp)] = 1
                pos[r] = past[g] + torch.arange(width)
            cache.batch_select_indices(torch.tensor(row_group, device=device))
            logits = model(input_ids=rid.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                           use_cache=True, **{cache_kw: cache}).logits
            scores = _score(logits, [(r, 0, encoded[i][1]) for i, r in req_row])
            for (i, _), res in zip(req_row, scores):
                results[i] = res
            progress.update(len(req_row))
            del cache, logits
    if fallback:
        _reference(model, encoded, fallback, batch_size, device, max_len, pad_id, progress, results)


def loglikelihood_cached(model, tokenizer, requests: Sequence[Request], *, batch_size: int = 8,
                         device=None, max_length: Optional[int] = None, progress: bool = False,
                         desc: Optional[str] = None) -> list[Result]:
    """``[(ll, is_greedy)]`` for ``requests``: each context once, its continuations from the KV cache."""
    return loglikelihood(model, tokenizer, requests, batch_size=batch_size, device=device, fast=True,
                         max_length=max_length, progress=progress, desc=desc)


# --------------------------------------------------------------------------------------------
# entry point


def loglikelihood(model, tokenizer, requests: Sequence[Request], *, batch_size: int = 8, device=None,
                  fast: bool = True, max_length: Optional[int] = None, progress: bool = False,
                  desc: Optional[str] = None) -> list[Result]:
    """``[(sum log p(continuation | context), is_greedy)]``, one per ``(context, continuation)`` request,
    in the order given.

    Args:
        model: a Hugging Face causal LM (``model(input_ids=...).logits``), peft-wrapped or not.
        tokenizer: its tokenizer.
        batch_size: sequences per forward (reference path) or contexts per forward (fast path).
        device: where the inputs go; None = the device of the model's first parameter. The model is
            not moved.
        fast: True = the KV-cache path (:func:`loglikelihood_cached`), False = the reference path.
        max_length: the longest model input; None = :func:`model_max_length`.
        progress: a tqdm bar over the requests.
    """
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"loglikelihood: field 'batch_size' must be a positive int, got {batch_size!r}")
    slot: dict[Request, int] = {}  # identical requests are scored once
    where = [slot.setdefault((str(c), str(x)), len(slot)) for c, x in requests]
    requests = list(slot)
    device = _model_device(model) if device is None else torch.device(device)
    max_len = int(max_length) if max_length is not None else model_max_length(model, tokenizer)
    encoded = encode_requests(tokenizer, requests)
    results: list[Any] = [None] * len(requests)
    todo = []
    for i, (_, cont) in enumerate(encoded):
        if cont:
            todo.append(i)
        else:
            results[i] = (0.0, True)  # an empty continuation: log 1
    bar = _Progress(len(requests), progress, desc)
    bar.update(len(requests) - len(todo))
    pad_id = _pad_id(tokenizer)
    try:
        with _EvalMode(model):
            run = _cached if fast else _reference
            run(model, encoded, todo, batch_size, device, max_len, pad_id, bar, results)
    finally:
        bar.close()
    return [results[k] for k in where]
