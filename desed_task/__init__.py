"""ATST-SED: a frame-level ATST encoder fused with a CRNN for sound event detection on DESED.

Importing the package is cheap: submodules (and their heavy dependencies: Lightning, sed_scores_eval,
psds_eval) are imported only where they are used.
"""

__version__ = "0.1.0"
