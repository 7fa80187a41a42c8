"""Merges become plain function calls in the generated forward."""

from __future__ import annotations

import operator

import torch

from layerloom.backend.lowering import Lowering, lowering


def _fold(function):
    def emit(graph, args, target):
        out = args[0]
        for arg in args[1:]:
            out = graph.call_function(function, (out, arg))
        return out

    return emit


@lowering("add")
def _add(p, ins, outs):
    return Lowering(None, _fold(operator.add))


@lowering("multiply")
def _multiply(p, ins, outs):
    return Lowering(None, _fold(operator.mul))


@lowering("concat")
def _concat(p, ins, outs):
    dim = p["dim"]

    def emit(graph, args, target):
        return graph.call_function(torch.cat, (tuple(args),), {"dim": dim})

    return Lowering(None, emit)
