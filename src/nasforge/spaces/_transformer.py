"""``transformer``: a small pre-norm encoder for sequence classification.

Decisions: number of layers, embedding width, attention heads, FFN ratio,
token mixer, dropout and pooling. The token mixer is global: self-attention
(Vaswani et al. 2017), a depthwise 1-D convolution over the tokens (a cheap
local mixer, as in ConvMixer/MetaFormer, Yu et al. 2022), or both summed.
``heads`` is unused by the conv mixer.

Every head count divides every embedding width, so every combination of
choices is a valid network. Inputs ``(C, L)`` are ``L`` tokens of ``C``
features (MNIST-1D: 40 tokens of 1); images ``(C, H, W)`` are ``H`` row
tokens of ``C * W`` features. Tokens get a learned positional embedding;
the head mean-pools the tokens or reads a learned CLS token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core import Decision, DecisionSpace, UserInputError
from ..core.space import Box, Chain
from ._registry import register

LAYERS = (1, 2, 3, 4)
EMBEDS = (16, 32, 48, 64)
HEADS = (1, 2, 4)
FFN_RATIOS = (1, 2, 4)
MIXERS = ("attention", "conv", "both")
DROPOUTS = (0.0, 0.1)
POOLS = ("mean", "cls")
CONV_KERNEL = 5
assert all(e % h == 0 for e in EMBEDS for h in HEADS), "every head count must divide every embedding width"


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention. Our own rather than
    ``nn.MultiheadAttention``, whose module does not pass TorchScript tracing checks."""

    def __init__(self, embed: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(embed, 3 * embed)
        self.out = nn.Linear(embed, embed)

    def forward(self, x):
        n, t, e = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(n, t, e))


class Mixer(nn.Module):
    """Mixes information across tokens: attention, a depthwise conv, or their sum."""

    def __init__(self, kind: str, embed: int, heads: int, dropout: float):
        super().__init__()
        self.attention = SelfAttention(embed, heads, dropout) if kind in ("attention", "both") else None
        self.conv = (nn.Conv1d(embed, embed, CONV_KERNEL, padding=CONV_KERNEL // 2, groups=embed)
                     if kind in ("conv", "both") else None)

    def forward(self, x):
        out = 0
        if self.attention is not None:
            out = self.attention(x)
        if self.conv is not None:
            out = out + self.conv(x.transpose(1, 2)).transpose(1, 2)
        return out


class EncoderLayer(nn.Module):
    def __init__(self, mixer: str, embed: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(embed), nn.LayerNorm(embed)
        self.mixer = Mixer(mixer, embed, heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(embed, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, embed))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.mixer(self.norm1(x)))
        return x + self.drop(self.ffn(self.norm2(x)))


class TransformerNet(nn.Module):
    def __init__(self, tokens: int, features: int, embed: int, layers: list[nn.Module], pool: str, num_classes: int):
        super().__init__()
        self.embed = nn.Linear(features, embed)
        self.cls = nn.Parameter(torch.zeros(1, 1, embed)) if pool == "cls" else None
        self.position = nn.Parameter(0.02 * torch.randn(1, tokens + (pool == "cls"), embed))
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(embed)
        self.classifier = nn.Linear(embed, num_classes)

    def forward(self, x):
        if x.dim() == 3:  # (N, C, L): L tokens of C features
            x = x.transpose(1, 2)
        else:  # (N, C, H, W): H row tokens of C * W features
            x = x.permute(0, 2, 1, 3).flatten(2)
        x = self.embed(x)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.norm(self.layers(x + self.position))
        return self.classifier(x[:, 0] if self.cls is not None else x.mean(dim=1))


@register("transformer")
class TransformerSpace(DecisionSpace):
    """Encoder for sequences and image rows: layers, width, heads, FFN ratio, mixer, dropout, pooling."""

    name = "transformer"

    def __init__(self):
        super().__init__([
            Decision("layers", LAYERS, ordinal=True),
            Decision("embed", EMBEDS, ordinal=True),
            Decision("heads", HEADS, ordinal=True),
            Decision("ffn_ratio", FFN_RATIOS, ordinal=True),
            Decision("mixer", MIXERS),
            Decision("dropout", DROPOUTS, ordinal=True),
            Decision("pool", POOLS),
        ])

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        if len(input_shape) == 2:
            features, tokens = input_shape
        elif len(input_shape) == 3:
            features, tokens = input_shape[0] * input_shape[2], input_shape[1]
        else:
            raise UserInputError(f"space 'transformer' needs inputs shaped (channels, length) or "
                                 f"(channels, height, width); got per-sample shape {tuple(input_shape)}")
        heads = arch["heads"]
        embed = max(heads, round(arch["embed"] * width_multiplier / heads) * heads)  # stays divisible by heads
        layers = [EncoderLayer(arch["mixer"], embed, heads, arch["ffn_ratio"] * embed, arch["dropout"])
                  for _ in range(arch["layers"])]
        return TransformerNet(tokens, features, embed, layers, arch["pool"], num_classes)

    def grow(self, arch):
        """One more encoder layer; None at the most layers."""
        self.validate(arch)
        if arch["layers"] == LAYERS[-1]:
            return None
        return arch.replace(layers=LAYERS[LAYERS.index(arch["layers"]) + 1])

    def describe(self, arch):
        return (f"{arch['layers']}x{arch['mixer']} d{arch['embed']} h{arch['heads']} ffn{arch['ffn_ratio']}x "
                f"drop{arch['dropout']} {arch['pool']}-pool")

    def drawing(self, arch):
        boxes = [Box("input", kind="input"), Box("embed", (f"d={arch['embed']}",))]
        mixer = f"{arch['mixer']}, {arch['heads']} heads" if arch["mixer"] == "attention" else arch["mixer"]
        boxes += [Box(f"layer {i}", (mixer, f"ffn {arch['ffn_ratio']}x d", f"dropout {arch['dropout']}"))
                  for i in range(arch["layers"])]
        return Chain((*boxes, Box("head", (f"{arch['pool']} pool", "linear"), "head")))
