"""Candidate operations, built once and reused by every space."""

from ._cell_ops import (CELL_OPS, Conv7x1x1x7, DilConv, FactorizedReduce, MBConv, ReLUConvBN, SelfAttention,
                        SqueezeExcite, StackedSepConv, Zero, make_cell_op, pool, skip)
from ._layers import OPS, SepConv, Pool, batch_norm, conv, conv_bn_relu, make_op, projection

__all__ = ["OPS", "SepConv", "Pool", "batch_norm", "conv", "conv_bn_relu", "make_op", "projection",
           "CELL_OPS", "Conv7x1x1x7", "DilConv", "FactorizedReduce", "MBConv", "ReLUConvBN", "SelfAttention",
           "SqueezeExcite", "StackedSepConv", "Zero", "make_cell_op", "pool", "skip"]
