"""Plans sharing a prefix share its work: the cached state is the one a fresh run computes
(same weights, same INT8 model), and it is keyed by baseline, seed and every setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.prefix_cache import PrefixCache, model_digest
from zenopt.flow.compress import make_context
from zenopt.testing import TrainedModel


def _weights(state: object) -> dict[str, torch.Tensor]:
    return state.model.state_dict()  # type: ignore[attr-defined, no-any-return]


def test_a_shared_prefix_is_computed_once_and_equals_a_fresh_run(
    trained: TrainedModel, tmp_path: Path
) -> None:
    cache = PrefixCache(tmp_path / "cache", model_digest(trained.model), trained.config.seed)
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path / "ctx")
    first = parse_plan("prune(ratio=0.5, epochs=1) -> quantize(mode=static)")
    second = parse_plan("prune(ratio=0.5, epochs=1) -> runtime(name=torch)")
    a = cache.apply(first, trained.model, trained.spec, ctx)
    again = cache.apply(first, trained.model, trained.spec, ctx)
    b = cache.apply(second, trained.model, trained.spec, ctx)
    assert cache.hits == [0, 2, 1]  # nothing, the whole plan, the pruning prefix
    assert again.onnx == a.onnx and again.notes == a.notes
    fresh = apply_plan(second, trained.model, trained.spec, ctx)
    assert b.runtime == fresh.runtime == "torch"
    assert b.spec.shapes == fresh.spec.shapes
    for name, tensor in _weights(fresh).items():
        assert torch.equal(_weights(b)[name], tensor), name


def test_keys_depend_on_baseline_seed_and_settings(trained: TrainedModel, tmp_path: Path) -> None:
    digest = model_digest(trained.model)
    plan = parse_plan("prune(ratio=0.5)")
    key = PrefixCache(tmp_path, digest, 0).key(plan)
    assert key == PrefixCache(tmp_path, digest, 0).key(parse_plan("prune(ratio=0.5)"))
    assert key != PrefixCache(tmp_path, digest, 1).key(plan)
    assert key != PrefixCache(tmp_path, "another-model", 0).key(plan)
    assert key != PrefixCache(tmp_path, digest, 0).key(parse_plan("prune(ratio=0.5, epochs=2)"))


def test_two_processes_saving_the_same_prefix_do_not_collide(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run and a worker share the cache: while one writes a prefix, the other saves the
    same one and wins the rename. The loser drops its copy; the saved state is whole."""
    import zenopt.compress.prefix_cache as module

    cache = PrefixCache(tmp_path / "cache", model_digest(trained.model), trained.config.seed)
    other = PrefixCache(tmp_path / "cache", model_digest(trained.model), trained.config.seed)
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path / "ctx")
    steps = parse_plan("prune(ratio=0.5, epochs=0, round_to=8)")
    state = apply_plan(steps, trained.model, trained.spec, ctx)
    real_save = module.save_deployable
    raced: list[bool] = []

    def save_while_the_other_wins(*args: object, **kwargs: object) -> object:
        if not raced:
            raced.append(True)
            other._save(steps, state)  # the other process, start to finish, meanwhile
        return real_save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "save_deployable", save_while_the_other_wins)
    cache._save(steps, state)
    assert raced
    folders = [p for p in (tmp_path / "cache").iterdir()]
    assert [p.name for p in folders] == [cache.key(steps)]  # no .tmp left behind
    loaded = PrefixCache(tmp_path / "cache", model_digest(trained.model), 0)._load(steps)
    assert loaded is not None and loaded.spec.shapes == state.spec.shapes
