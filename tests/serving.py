"""For the serving tests: a real ``zenopt serve`` process on a free loopback port
(:func:`zenopt.serve.process.served`), and Triton's model-config protobuf."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from zenopt.serve.process import ServerProcess, served

__all__ = ["ServerProcess", "served", "triton_model_config"]


def triton_model_config() -> Any:
    """Triton's ModelConfig message, from the generated module tritonclient ships (loaded by
    path: importing tritonclient.grpc needs grpcio, which only that client uses)."""
    import tritonclient

    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
