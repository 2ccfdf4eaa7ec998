"""Inference runtimes behind one Predictor protocol, and export with verification.

Backends are found by name and imported lazily, so listing them costs nothing.
"""

from zenopt.runtime.predictor import BACKENDS, Predictor, backend_names, create_predictor

__all__ = ["BACKENDS", "Predictor", "backend_names", "create_predictor"]
