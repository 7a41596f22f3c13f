"""lrkit: install with `pip install -e .` (add `[test]` for the test tools).

The compiled extension in csrc/ (fused Adam-with-schedule, M-opt) is added to `ext_modules` here
by the csrc work; until then lrkit is pure Python.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

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
        "ninja>=1.11",
        "pybind11>=2.12",
        "bitsandbytes>=0.45",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100", "nbclient>=0.10", "ipykernel>=6"],
    },
    entry_points={"console_scripts": ["lrkit=lrkit.cli.main:main"]},
)
