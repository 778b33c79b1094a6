"""Defaults and ranges are declared once, in the catalog: every constructor reached through it agrees."""

from __future__ import annotations

import inspect
import typing

import pytest

from sslterm import catalog


def constructor(kind: str, name: str) -> type:
    """The class an entry builds: the implementation itself, or what its builder function returns."""
    impl = catalog.implementation(kind, name)
    return impl if inspect.isclass(impl) else typing.get_type_hints(impl)["return"]


@pytest.mark.parametrize(("kind", "name"), [(k, e.name) for k in ("encoder", "objective") for e in catalog.entries(k)])
def test_constructor_defaults_are_the_catalogs(kind: str, name: str) -> None:
    signature = inspect.signature(constructor(kind, name).__init__)
    for p in catalog.get(kind, name).params:
        arg = signature.parameters.get(p.name)
        assert arg is not None, f"{kind} {name}: the constructor takes no {p.name!r}"
        assert arg.default == p.default, f"{kind} {name}.{p.name}: constructor {arg.default!r}, catalog {p.default!r}"


def test_python_api_builds_the_network_sslterm_run_builds() -> None:
    from sslterm.models.cnn import CNNEncoder, build_cnn

    default = CNNEncoder(3)
    built = build_cnn({"channels": 3, "image_size": 32}, catalog.get("encoder", "cnn").defaults())
    assert [tuple(p.shape) for p in default.parameters()] == [tuple(p.shape) for p in built.parameters()]
    assert default.stride == built.stride


def test_infonce_checks_its_temperature_against_the_catalog() -> None:
    from sslterm.models.cnn import CNNEncoder
    from sslterm.objectives.base import Context
    from sslterm.objectives.infonce import InfoNCE

    with pytest.raises(ValueError, match="temperature must be a number with 0 < value ≤ 10"):
        InfoNCE(Context(CNNEncoder(3)), temperature=0.0)
    assert InfoNCE(Context(CNNEncoder(3))).temperature == catalog.get("objective", "infonce").defaults()["temperature"]


def test_objective_context_head_sizes_are_the_model_tables() -> None:
    from sslterm.config import ModelConfig
    from sslterm.models.cnn import CNNEncoder
    from sslterm.objectives.base import Context

    ctx, model = Context(CNNEncoder(3)), ModelConfig()
    assert (ctx.projector_hidden, ctx.projector_dim) == (model.projector_hidden, model.projector_dim)


def _just_outside(p: catalog.Param) -> list[object]:
    out: list[object] = []
    if p.choices is not None:
        return ["no-such-choice"]
    if p.low is not None:
        out.append(p.low if p.low_open else (p.low - 1 if p.type is int else p.low - 1e-6))
    if p.high is not None and p.high < catalog.INT_MAX:
        out.append(p.high + 1 if p.type is int else p.high + 1e-6)
    if p.type is float:
        out.append(float("nan"))
    return out


@pytest.mark.parametrize("name", catalog.names("objective"))
def test_objective_constructors_refuse_what_the_catalog_refuses(name: str) -> None:
    """The Python API checks the ranges the catalog declares (one declaration, no second copy)."""
    from sslterm.models.text import TextTransformer
    from sslterm.objectives.base import Context

    make = constructor("objective", name)
    for p in catalog.get("objective", name).params:
        if p.type is bool:
            continue
        for bad in _just_outside(p):
            with pytest.raises(ValueError, match=p.name):
                make(Context(TextTransformer(258, 16, dim=8, depth=1, heads=2), {"vocab_size": 258}), **{p.name: bad})
