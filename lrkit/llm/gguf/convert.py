"""GGUF → a plain Hugging Face model directory (transformers' GGUF loader), with a one-forward check."""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional, Union

from .catalog import _dtype_name
from .streams import _log, sha256_file

SOURCE_FILE = "lrkit_source.json"
SANITY_PROMPT = "The capital of France is"


def is_complete(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a finished conversion: config, weights, tokenizer and a ``lrkit_source.json``
    marked complete (written last, and only ever seen after the atomic rename)."""
    p = Path(path)
    if not (p / "config.json").is_file():
        return False
    if not ((p / "model.safetensors").is_file() or (p / "model.safetensors.index.json").is_file()):
        return False
    if not any((p / f).is_file() for f in ("tokenizer.json", "tokenizer.model")):
        return False
    try:
        return bool(json.loads((p / SOURCE_FILE).read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def sanity_check(model_dir: Union[str, Path], dtype="float32", prompt: str = SANITY_PROMPT) -> dict:
    """Reload ``model_dir`` and run one forward on ``prompt``: ``{'prompt', 'logits_finite',
    'next_token', 'seconds'}`` (``next_token`` is the greedy continuation's first token)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=getattr(torch, _dtype_name(dtype)))
    model.eval()
    with torch.no_grad():
        ids = tok(prompt, return_tensors="pt")
        logits = model(**ids).logits[0, -1].float()
    finite = bool(torch.isfinite(logits).all())
    return {"prompt": prompt, "logits_finite": finite, "next_token": tok.decode([int(logits.argmax())]),
            "seconds": round(time.time() - t0, 2)}


def convert_gguf(gguf_path: Union[str, Path], out_dir: Union[str, Path], dtype="float32", *,
                 source: Optional[dict] = None, sanity: bool = True, progress: bool = True) -> Path:
    """The pure conversion step: load the GGUF's tokenizer and model with transformers (``gguf_file=``),
    dequantised to ``dtype``; drop the GGUF ``hf_quantizer`` and ``quantization_config`` (which would
    otherwise make ``save_pretrained`` refuse or mark the saved model as quantised);
    ``save_pretrained`` both into ``out_dir``; reload it for one forward (:func:`sanity_check`,
    ``RuntimeError`` if the logits are not finite); and write ``lrkit_source.json`` (``source`` merged
    in, marked complete). Writes ``out_dir`` in place — :func:`ensure_model` adds the caching and
    atomicity. Returns ``out_dir``."""
    import importlib.util

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise ImportError("reading GGUF files needs the `gguf` package: pip install gguf (or pip install -e '.[llm]')")
    dname = _dtype_name(dtype)
    gguf_path = Path(gguf_path).resolve()
    if not gguf_path.is_file():
        raise FileNotFoundError(f"no GGUF file at {gguf_path}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    _log(progress, f"converting {gguf_path.name} ({gguf_path.stat().st_size / 1e6:.1f} MB) to {dname} "
                   f"with transformers {transformers.__version__} ...")
    # transformers reads `gguf_file` inside a folder: give it a clean one (a symlink), so no stray
    # config.json beside the user's file is picked up
    with tempfile.TemporaryDirectory(prefix="lrkit-gguf-src-") as src:
        link = Path(src) / gguf_path.name
        try:
            link.symlink_to(gguf_path)
        except OSError:  # pragma: no cover - filesystems without symlinks
            shutil.copyfile(gguf_path, link)
        bars = transformers.utils.logging.is_progress_bar_enabled()
        if not progress:
            transformers.utils.logging.disable_progress_bar()
        try:
            tok = AutoTokenizer.from_pretrained(src, gguf_file=link.name)
            t_tok = time.time() - t0
            try:
                model = AutoModelForCausalLM.from_pretrained(src, gguf_file=link.name, dtype=getattr(torch, dname))
            except ValueError as e:
                if "not supported" in str(e):
                    raise RuntimeError(f"transformers {transformers.__version__} cannot read this GGUF: {e} "
                                       "(the architecture has no GGUF mapping in transformers.integrations.ggml)") from e
                raise
        finally:
            if bars and not progress:
                transformers.utils.logging.enable_progress_bar()
    t_load = time.time() - t0 - t_tok
    model.hf_quantizer = None
    for cfg in (model.config, getattr(model.config, "text_config", None)):
        if cfg is not None and hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    arch = type(model).__name__
    n_params = sum(p.numel() for p in model.parameters())
    del model
    t_save = time.time() - t0 - t_tok - t_load
    _log(progress, f"{arch} ({n_params / 1e6:.4g}M parameters): tokenizer {t_tok:.1f} s, "
                   f"dequantised load {t_load:.1f} s, save {t_save:.1f} s")
    record = dict(source or {})
    record.update(gguf_file=gguf_path.name, architecture=arch, parameters=n_params, dtype=dname,
                  transformers_version=transformers.__version__, torch_version=torch.__version__,
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    record.setdefault("sha256", sha256_file(gguf_path))
    record.setdefault("gguf_size", gguf_path.stat().st_size)
    try:
        from importlib import metadata
        record["gguf_version"] = metadata.version("gguf")
    except Exception:  # pragma: no cover
        pass
    seconds = {"tokenizer": round(t_tok, 2), "load_dequantise": round(t_load, 2), "save": round(t_save, 2)}
    if sanity:
        check = sanity_check(out_dir, dname)
        seconds["sanity"] = check.pop("seconds")
        record["sanity"] = check
        _log(progress, f"sanity forward on {check['prompt']!r}: logits finite={check['logits_finite']}, "
                       f"next token {check['next_token']!r} ({seconds['sanity']:.1f} s)")
        if not check["logits_finite"]:
            raise RuntimeError(f"the converted {gguf_path.name} gives non-finite logits in {dname}"
                               + ("; try dtype='float32'" if dname != "float32" else ""))
    record["seconds"] = {**record.get("seconds", {}), **seconds}
    record["complete"] = True
    (out_dir / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return out_dir
