"""Architecture overrides of a physically pruned network, as plain JSON.

A pruned network is the factory's network with some layers narrowed. Rather than pickling the
module, ``model.json`` records, for each layer whose shape differs from what the factory
builds, its new sizes; loading rebuilds the factory network and swaps those layers for narrower
ones of the same kind before the safetensors weights are loaded.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from zenopt.core.errors import ModelError

__all__ = ["apply_shapes", "describe_shapes"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _sizes(module: nn.Module) -> dict[str, int] | None:
    if isinstance(module, _CONV):
        return {"in_channels": module.in_channels, "out_channels": module.out_channels}
    if isinstance(module, nn.Linear):
        return {"in_features": module.in_features, "out_features": module.out_features}
    if isinstance(module, _NORM):
        return {"num_features": module.num_features}
    return None


def describe_shapes(net: nn.Module, reference: nn.Module) -> dict[str, dict[str, Any]]:
    """The layers of ``net`` whose sizes differ from the same layer of ``reference``."""
    ref = dict(reference.named_modules())
    shapes: dict[str, dict[str, Any]] = {}
    for name, module in net.named_modules():
        sizes = _sizes(module)
        if sizes is None or name not in ref:
            continue
        if sizes != _sizes(ref[name]):
            shapes[name] = {"type": type(module).__name__, **sizes}
    return shapes


def _narrowed(module: nn.Module, sizes: dict[str, Any]) -> nn.Module:
    bias = getattr(module, "bias", None) is not None
    if isinstance(module, _CONV):
        return type(module)(
            sizes["in_channels"],
            sizes["out_channels"],
            module.kernel_size,  # type: ignore[arg-type]
            stride=module.stride,  # type: ignore[arg-type]
            padding=module.padding,  # type: ignore[arg-type]
            dilation=module.dilation,  # type: ignore[arg-type]
            groups=module.groups,
            bias=bias,
            padding_mode=module.padding_mode,
        )
    if isinstance(module, nn.Linear):
        return nn.Linear(sizes["in_features"], sizes["out_features"], bias=bias)
    if isinstance(module, _NORM):
        return type(module)(
            sizes["num_features"],
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
        )
    raise ModelError(f"layer type {type(module).__name__} cannot be narrowed")


def apply_shapes(net: nn.Module, shapes: dict[str, dict[str, Any]]) -> nn.Module:
    """Swap the layers named in ``shapes`` for narrower ones (in place; returns ``net``)."""
    modules = dict(net.named_modules())
    for name, sizes in shapes.items():
        module = modules.get(name)
        if module is None or type(module).__name__ != sizes.get("type"):
            raise ModelError(
                f"model.json shapes: layer {name!r} ({sizes.get('type')}) is not in the "
                "architecture the factory builds; the spec and the model code disagree"
            )
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else net
        setattr(parent, child, _narrowed(module, sizes))
    return net
