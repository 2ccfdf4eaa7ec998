"""Explanations of a trained model: what it looks at, and where it errs."""

from zenopt.explain.confusions import confusions
from zenopt.explain.importance import permutation_importances
from zenopt.explain.saliency import saliency_maps

__all__ = ["confusions", "permutation_importances", "saliency_maps"]
