"""Model zoo and loading a user's own ``package.module:factory``.

A model is a factory ``(input_shape, num_outputs, **params) -> nn.Module``.
"""

from zenopt.models.deployable import DeployableModel, ModelSpec, load_deployable, save_deployable
from zenopt.models.registry import build_model, model_names, register_model, resolve_model_name

# Importing the zoo registers the built-in models; onnx_graph and onnx_file, ONNX models.
from zenopt.models import zoo as _zoo  # noqa: F401  # isort: skip
from zenopt.models import onnx_graph as _onnx_graph  # noqa: F401  # isort: skip
from zenopt.models import onnx_file as _onnx_file  # noqa: F401  # isort: skip

__all__ = [
    "DeployableModel",
    "ModelSpec",
    "build_model",
    "load_deployable",
    "model_names",
    "register_model",
    "resolve_model_name",
    "save_deployable",
]
