"""Installs the ``desed_task`` package (ATST-SED: fine-tuned ATST + CRNN for sound event detection).

Install PyTorch first (``make install`` does it without pulling a CUDA build on a CPU machine); the
``torch`` requirement below is then already met and pip downloads nothing more for it.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

INSTALL_REQUIRES = [
    # scaled_dot_product_attention and torch.amp.autocast("cpu", dtype=bfloat16).
    "torch>=2.1",
    # psds_eval 0.5.3 calls int() on 1-element arrays, an error from numpy 2.4 on.
    "numpy<2.4",
    # psds_eval 0.5.3 calls DataFrame.fillna(method=...), removed in pandas 3.
    "pandas<3",
    "scipy",
    "soundfile",
    "soxr",
    "lightning>=2.1",
    "pyyaml",
    "tqdm",
    "matplotlib",
    # 0.0.3 moved create_score_dataframe to sed_scores_eval.base_modules.scores, where we import it.
    "sed_scores_eval>=0.0.3",
    "psds_eval>=0.5.3",
    # event- and segment-based F1 (desed_task.evaluation.f1) as computed by the DCASE tooling.
    "sed_eval",
    # sed_scores_eval imports sed_eval -> dcase_util, which imports pkg_resources (gone in setuptools 81).
    "setuptools<81",
    "tensorboard",
    "codecarbon",
]

# cSEBB post-processing (`python -m desed_task.postprocess tune --method csebb`) runs sebbs, the reference
# implementation by the method's authors. sebbs is AGPL-3.0 and this package MIT, so it is an optional extra, imported
# only when cSEBBs are computed. It builds from source (Cython, needs a C++ compiler). Its own requirement
# sed_scores_eval_np2 is a later snapshot of sed_scores_eval that installs over sed_scores_eval's files; the test
# environment (Makefile) therefore installs sebbs with --no-deps, so the tests score with the sed_scores_eval release
# users get (sebbs works with it). docs/postprocess.md says how to install it either way.
SEBBS = ["sebbs>=1.0.2,<2"]

setup(
    name="desed_task",
    version="0.1.0",
    description="ATST-SED: sound event detection with a fine-tuned frame-level ATST encoder and a CRNN",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["desed_task", "desed_task.*"]),
    install_requires=INSTALL_REQUIRES,
    # ruff pinned: `make lint` checks the tree is formatted, and ruff's formatting changes between releases
    # (.pre-commit-config.yaml uses the same version).
    extras_require={"sebbs": SEBBS, "dev": ["pytest>=7", "pytest-timeout", "ruff==0.17.6"]},
)
