"""The conv encoder computed as matrix products equals torch's own Conv1d layers.

``tradewind.rl.model.conv_embed`` replaces ``encoder(x)`` in the module for speed; the
reference here is the ``nn.Sequential`` of Conv1d/ReLU layers run the ordinary way on the
[B * N, F, W] sequences (torch's convolution, an independent implementation), for the output
and for the gradients of every weight, over window/kernel shapes including the edge cases.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tradewind.rl.model import conv_embed


def reference_encoder(f: int, hidden: int, window: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(f, hidden, kernel),
        nn.ReLU(),
        nn.Conv1d(hidden, hidden, window - kernel + 1),
        nn.ReLU(),
        nn.Flatten(),
    )


@pytest.mark.parametrize(
    ("batch", "window", "features", "assets", "hidden", "kernel"),
    [(6, 32, 5, 30, 16, 3), (3, 8, 5, 4, 4, 3), (2, 5, 2, 3, 3, 1), (2, 6, 3, 2, 5, 6)],
)
def test_conv_embed_equals_the_conv1d_layers(batch, window, features, assets, hidden, kernel):
    torch.manual_seed(0)
    encoder = reference_encoder(features, hidden, window, kernel)
    feats = torch.randn(batch, window, features, assets)
    # The reference: every asset its own (F, W) sequence through torch's Conv1d.
    x = feats.permute(0, 3, 2, 1).reshape(batch * assets, features, window)
    expected = encoder(x)
    expected.square().sum().backward()
    expected_grads = [p.grad.clone() for p in encoder.parameters()]
    encoder.zero_grad()

    got = conv_embed(encoder, feats)
    got.square().sum().backward()
    assert got.shape == (batch * assets, hidden)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for p, g in zip(encoder.parameters(), expected_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-4)
