"""Candidate operations, built once and reused by every space."""

from ._layers import OPS, SepConv, Pool, batch_norm, conv, conv_bn_relu, make_op, projection

__all__ = ["OPS", "SepConv", "Pool", "batch_norm", "conv", "conv_bn_relu", "make_op", "projection"]
