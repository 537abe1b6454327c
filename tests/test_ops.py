"""The operation library: shapes, gradients and parameter counts of every op, and the legacy
``OPS`` used by macro-cnn left as it was."""

import math

import pytest
import torch
from torch import nn

from nasforge import ops
from nasforge.core import UnknownNameError
from nasforge.ops import (
    CELL_OPS,
    FactorizedReduce,
    MBConv,
    SelfAttention,
    SqueezeExcite,
    make_op,
)


def make_cell_op(name, dims, c_in, c_out, stride):
    return make_op(name, dims, c_in, c_out, stride, CELL_OPS)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(CELL_OPS))
@pytest.mark.parametrize("dims", [1, 2])
def test_every_cell_op_keeps_the_shape_contract_and_trains(name, dims):
    torch.manual_seed(0)
    for size in (8, 7):  # odd sizes must give the same ceil(size / 2) as every other op
        for stride in (1, 2):
            for c_in, c_out in ((6, 6), (4, 8)):
                op = make_cell_op(name, dims, c_in, c_out, stride).train()
                x = torch.randn(3, c_in, *([size] * dims), requires_grad=True)
                y = op(x)
                out = math.ceil(size / stride)
                assert y.shape == (3, c_out, *([out] * dims)), (name, dims, size, stride, c_in, c_out)
                y.square().sum().backward()
                assert x.grad is not None
                assert all(p.grad is not None for p in op.parameters())


def test_darts_op_parameter_counts():
    """DARTS's definitions (Liu et al., 2019): a sep_conv is two stacked relu-dw-pw-bn units,
    a dil_conv one unit, conv_7x1_1x7 two full convs and one BN; pools are parameter-free."""
    C = 16
    unit = lambda k: C * k * k + C * C + 2 * C  # depthwise, pointwise, BN affine
    assert n_params(make_cell_op("sep_conv_3x3", 2, C, C, 1)) == 2 * unit(3)
    assert n_params(make_cell_op("sep_conv_5x5", 2, C, C, 2)) == 2 * unit(5)
    assert n_params(make_cell_op("sep_conv_7x7", 2, C, C, 1)) == 2 * unit(7)
    assert n_params(make_cell_op("dil_conv_3x3", 2, C, C, 1)) == unit(3)
    assert n_params(make_cell_op("dil_conv_5x5", 2, C, C, 1)) == unit(5)
    assert n_params(make_cell_op("conv_7x1_1x7", 2, C, C, 2)) == 2 * 7 * C * C + 2 * C
    assert n_params(make_cell_op("conv_1x1", 2, C, C, 1)) == C * C + 2 * C
    assert n_params(make_cell_op("skip_connect", 2, C, C, 2)) == C * C + 2 * C  # factorized reduce
    for name in ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"):
        assert n_params(make_cell_op(name, 2, C, C, 1)) == 0
    assert isinstance(make_cell_op("skip_connect", 2, C, C, 1), nn.Identity)
    dil = next(m for m in make_cell_op("dil_conv_5x5", 2, C, C, 1).modules() if isinstance(m, nn.Conv2d))
    assert dil.dilation == (2, 2) and dil.padding == (4, 4)
    first, second = [m for m in make_cell_op("conv_7x1_1x7", 2, C, C, 2).modules() if isinstance(m, nn.Conv2d)]
    assert first.kernel_size == (1, 7) and second.kernel_size == (7, 1)  # 1x7 first, then 7x1


def test_relu_conv_bn_order():
    for name in ("sep_conv_3x3", "dil_conv_3x3", "conv_7x1_1x7", "conv_3x3"):
        leaves = [m for m in make_cell_op(name, 2, 8, 8, 1).modules() if not list(m.children())]
        assert isinstance(leaves[0], nn.ReLU) and isinstance(leaves[-1], nn.BatchNorm2d), name


def test_zero_op_outputs_zeros_with_stride_and_passes_gradients():
    x = torch.randn(2, 5, 9, 9, requires_grad=True)
    y = make_cell_op("none", 2, 5, 5, 2)(x)
    assert y.shape == (2, 5, 5, 5) and torch.count_nonzero(y) == 0
    y.sum().backward()
    assert x.grad is not None and torch.count_nonzero(x.grad) == 0


def test_factorized_reduce_matches_the_unpadded_darts_form_on_even_sizes():
    torch.manual_seed(0)
    fr = FactorizedReduce(2, 6, 10).eval()
    x = torch.randn(2, 6, 8, 8)
    r = torch.relu(x)
    expected = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], dim=1))
    torch.testing.assert_close(fr(x), expected)
    assert fr.conv_1.out_channels + fr.conv_2.out_channels == 10


def test_squeeze_excite_gates_channels_between_zero_and_one():
    torch.manual_seed(0)
    se = SqueezeExcite(2, 8)
    x = torch.rand(4, 8, 5, 5) + 0.1
    ratio = se(x) / x
    assert ratio.min() >= 0 and ratio.max() <= 1
    per_channel = ratio.flatten(2)  # one gate per (sample, channel)
    torch.testing.assert_close(per_channel.min(-1).values, per_channel.max(-1).values)


def test_mbconv_is_residual_only_when_the_shape_is_kept():
    torch.manual_seed(0)
    block = MBConv(2, 8, 8, kernel=3, stride=1, expand=6, se=True)
    nn.init.zeros_(block.body[-1].weight)  # last BN scale 0: the body outputs its bias, zero
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(block.eval()(x), x)
    assert not MBConv(2, 8, 16).residual and not MBConv(2, 8, 8, stride=2).residual
    expansion = next(m for m in MBConv(2, 8, 8, expand=3).modules() if isinstance(m, nn.Conv2d))
    assert expansion.out_channels == 24


def test_self_attention_sees_every_position():
    torch.manual_seed(0)
    block = SelfAttention(2, 6, 6, heads=4).eval()  # 4 does not divide 6: falls back to 3 heads
    assert block.attention.num_heads == 3
    x = torch.randn(1, 6, 4, 4)
    y = block(x)
    x2 = x.clone()
    x2[:, 0, 3, 3] += 1.0  # change one corner pixel (one channel: LayerNorm ignores uniform shifts)
    changed = (block(x2) - y).abs().flatten(2).amax(1)  # per position
    assert (changed > 0).all()  # every output position attends to it, unlike a 3x3 conv


def test_legacy_ops_unchanged():
    """macro-cnn's op names and modules are as before the cell ops were added."""
    assert list(ops.OPS) == ["conv3x3", "conv5x5", "sep3x3", "sep5x5", "dil3x3", "maxpool3x3", "avgpool3x3",
                             "identity"]
    assert n_params(ops.make_op("conv3x3", 2, 4, 8, 1)) == 4 * 8 * 9 + 2 * 8
    assert n_params(ops.make_op("sep3x3", 2, 8, 16, 1)) == 8 * 9 + 2 * 8 + 8 * 16 + 2 * 16
    assert n_params(ops.make_op("maxpool3x3", 2, 8, 8, 1)) == 0
    assert n_params(ops.make_op("identity", 2, 8, 16, 2)) == 8 * 16 + 2 * 16
    relu_last = [m for m in ops.make_op("sep5x5", 2, 4, 4, 1).modules() if not list(m.children())][-1]
    assert isinstance(relu_last, nn.ReLU)  # conv-BN-ReLU order, unlike the cell ops


def test_unknown_cell_op_suggests_close_names():
    with pytest.raises(UnknownNameError, match="unknown cell op 'sep_conv_9x9'.*Did you mean"):
        make_cell_op("sep_conv_9x9", 2, 4, 4, 1)
    with pytest.raises(UnknownNameError, match="unknown op 'conv7x7'.*Did you mean"):
        ops.make_op("conv7x7", 2, 4, 4, 1)  # the macro ops by default
