"""Candidate operations, built once and reused by every space.

Two op tables: :data:`OPS` (macro-cnn's conv-BN-ReLU ops) and :data:`CELL_OPS` (the
ReLU-conv-BN cell ops of DARTS, NASNet, AmoebaNet, MobileNet); :func:`make_op` builds an
op of either by name.
"""

from ._cell_ops import (CELL_OPS, Conv7x1x1x7, DilConv, FactorizedReduce, MBConv, ReLUConvBN, SelfAttention,
                        SqueezeExcite, StackedSepConv, Zero, pool, skip)
from ._layers import (OPS, OpFactory, OpTable, Pool, SepConv, batch_norm, conv, conv_bn_relu, make_op, pool_layer,
                      projection)

__all__ = ["CELL_OPS", "OPS", "Conv7x1x1x7", "DilConv", "FactorizedReduce", "MBConv", "OpFactory", "OpTable", "Pool",
           "ReLUConvBN", "SelfAttention", "SepConv", "SqueezeExcite", "StackedSepConv", "Zero", "batch_norm", "conv",
           "conv_bn_relu", "make_op", "pool", "pool_layer", "projection", "skip"]
