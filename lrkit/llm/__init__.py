"""LLM fine-tuning with any LR policy, and the four-task evaluation (LRBench++, 000 Tables V–VI, Fig. 7).

- :mod:`~lrkit.llm.data` — instruction data in Alpaca form (Dolly-15k mapped), loss on the response only.
- :mod:`~lrkit.llm.models` — HF causal LMs (local dir or hub name), LoRA (peft), 4/8-bit (bitsandbytes),
  and :func:`tiny_llama` for tests; :mod:`~lrkit.llm.gguf` — offline models from GGUF packages on PyPI.
- :mod:`~lrkit.llm.finetune` — the plain loop: the policy sets the LR of every optimizer step.
- :mod:`~lrkit.llm.hf` — the same through HF ``Trainer`` (``policy.scheduler(optimizer)`` + a callback).
- :mod:`~lrkit.llm.presets` — Table VI's recipes (Alpaca, Vicuna, WizardLM, GPT4All-J, Dolly) and Table V's.
- :mod:`~lrkit.llm.eval` — ARC 25-shot, HellaSwag 10-shot, MMLU 2-shot, TruthfulQA mc1/mc2 by log-likelihood.
- :mod:`~lrkit.llm.recipe` — the Table V recipe on the shared recipe model (:mod:`lrkit.recipes`);
  :mod:`~lrkit.llm.table5` — the Table V / Fig. 7 reproduction (``lrkit llm table5``), rendered by
  :mod:`~lrkit.llm.table5_report`.

Needs the ``[llm]`` extra (transformers, accelerate, peft, gguf).
"""

from .data import PROMPT_INPUT, PROMPT_NO_INPUT, alpaca_prompt, build_data, load_instructions
from .finetune import OPTIMIZERS, FinetuneConfig, FinetuneResult, finetune
from .models import LoraConfig, load_model, tiny_llama
from .presets import PRESETS, get_preset, resolve_policy
from .report import TABLE5_METRIC, table5_scores

__all__ = ["OPTIMIZERS", "PRESETS", "PROMPT_INPUT", "PROMPT_NO_INPUT", "TABLE5_METRIC", "FinetuneConfig", "FinetuneResult",
           "LoraConfig", "alpaca_prompt", "build_data", "finetune", "get_preset", "load_instructions", "load_model",
           "resolve_policy", "table5_scores", "tiny_llama"]
