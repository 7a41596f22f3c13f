"""lrkit: install with `pip install -e .` (add `[test]` for the test tools).

The compiled ops in csrc/ (fused Adam-with-schedule, M-opt) are built here as `lrkit._C` when torch
can be imported at build time — `pip install --no-build-isolation -e .` — for the CPU always, and
for CUDA where torch has CUDA and nvcc is found (sm_80 and sm_90 unless TORCH_CUDA_ARCH_LIST says
otherwise). In an isolated build (plain `pip install -e .`) torch is not importable, nothing is
compiled here, and `lrkit.optim` builds the same sources on first use (JIT, ninja).
"""

import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def extensions():
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
    except ImportError:
        return [], {}
    csrc = ROOT / "csrc"
    sources = [str(p.relative_to(ROOT)) for p in [csrc / "module.cpp", csrc / "ops.cpp", *sorted((csrc / "cpu").glob("*.cpp"))]]
    # The flags of lrkit/optim/_ext.py cxx_flags(native=False): portable (no -march=native), OpenMP threads.
    openmp = ["-fopenmp"] if torch.backends.openmp.is_available() and sys.platform.startswith("linux") else []
    flags = {"cxx": ["-O3", "-std=c++20", "-fno-math-errno", "-ffp-contract=off", *openmp]}
    include = [str(csrc / "include")]
    if torch.version.cuda and CUDA_HOME and os.environ.get("LRKIT_NO_CUDA_EXT") != "1":
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        sources += [str(p.relative_to(ROOT)) for p in sorted((csrc / "cuda").glob("*.c*"))]
        flags["nvcc"] = ["-O3", "-std=c++17"]
        ext = CUDAExtension("lrkit._C", sources, include_dirs=include, extra_compile_args=flags, extra_link_args=openmp)
    else:
        ext = CppExtension("lrkit._C", sources, include_dirs=include, extra_compile_args=flags, extra_link_args=openmp)
    return [ext], {"build_ext": BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = extensions()

# LLM fine-tuning and evaluation (lrkit.llm): HF models, Trainer, LoRA, GGUF checkpoints.
LLM = ["transformers>=4.56", "accelerate>=1.0", "peft>=0.15", "gguf>=0.10", "safetensors>=0.4", "sentencepiece>=0.2"]

version = {}
for line in (ROOT / "lrkit" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        exec(line, version)

setup(
    name="lrkit",
    version=version["__version__"],
    description="Jupyter-first kit for benchmarking, selecting, composing and tuning learning-rate policies",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["lrkit", "lrkit.*"]),
    install_requires=[
        "torch>=2.4",
        "numpy>=1.24",
        "pandas>=2.0",
        "matplotlib>=3.7",
        "seaborn>=0.13",
        "tqdm>=4.66",
        "ipywidgets>=8.1",
        "jupyterlab>=4.0",
        "jupytext>=1.19",  # notebooks/*.ipynb are paired with notebooks/*.py: JupyterLab keeps each pair in step
        "ninja>=1.11",
        "pybind11>=2.12",
        "bitsandbytes>=0.45",
        "sqlalchemy>=2.0",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1"],
        "ray": ["ray[tune]>=2.40"],
        "llm": LLM,
        "test": [*LLM, "pytest>=8", "hypothesis>=6.100", "nbclient>=0.10", "ipykernel>=6", "psycopg[binary]>=3.1",
                 "ray[tune]>=2.40", "playwright>=1.40",
                 # the equality tests against lm-evaluation-harness and DeepSpeed's LR schedules (DeepSpeed
                 # installs without building its ops: DS_BUILD_OPS=0 is its default on Linux)
                 "lm_eval==0.4.13", "deepspeed==0.19.8", "lightning>=2.0"],
    },
    entry_points={"console_scripts": ["lrkit=lrkit.cli.main:main"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
