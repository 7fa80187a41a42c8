"""Lowerings of the built-in layers, registered on import."""

from layerloom.backend.lowering import LOWERINGS
from layerloom.backend.lowerings import (  # noqa: F401
    activations,
    arithmetic,
    attention,
    conv,
    core,
    lookup,
    merge,
    norm_act,
    normalisation,
    pooling,
    recurrent,
    regularisation,
    resampling,
    sampling,
    tensor_ops,
    tensor_shape,
    transformer,
)
from layerloom.graph import REGISTRY


def missing_lowerings() -> list[str]:
    """Registered layer ids that have no lowering (a test keeps this empty)."""
    return [spec.type_id for spec in REGISTRY if spec.type_id not in LOWERINGS and not (spec.is_input or spec.is_output or spec.loss)]
