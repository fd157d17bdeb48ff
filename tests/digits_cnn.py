"""A small convolutional network on scikit-learn's bundled digits (8x8 images, 10 classes),
trained with torch for about a second and exported to ONNX: the image model the tests
import and serve (torch is the ``text`` extra's; the tests that need it skip without it)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Digits", "train_digits"]

EPOCHS = 10  # under a second on one thread; held-out accuracy 0.97


@dataclass(frozen=True)
class Digits:
    onnx: Path  # input "image" FP32 [batch, 1, 8, 8], output "logits" FP32 [batch, 10]
    x_test: np.ndarray  # float32 [n, 1, 8, 8], scaled to 0..1
    y_test: np.ndarray  # int64 [n]


def train_digits(folder: Path) -> Digits:
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine: one thread is as fast for this small net
    try:
        data = load_digits()
        x = (data.images / 16.0).astype(np.float32)[:, None]
        x_train, x_test, y_train, y_test = train_test_split(
            x, data.target, test_size=0.25, random_state=0, stratify=data.target
        )
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(8 * 4 * 4, 10),
        )
        # SGD with momentum by hand: torch.optim's first use imports torch._dynamo, 3.5 s
        # on a loaded machine, where these 10 epochs take 0.6
        params = list(net.parameters())
        velocity = [torch.zeros_like(p) for p in params]
        xt, yt = torch.tensor(x_train), torch.tensor(y_train)
        order = torch.Generator().manual_seed(0)
        for _ in range(EPOCHS):
            perm = torch.randperm(len(xt), generator=order)
            for i in range(0, len(xt), 64):
                idx = perm[i : i + 64]
                net.zero_grad()
                torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                with torch.no_grad():
                    for p, v in zip(params, velocity, strict=True):
                        v.mul_(0.9).add_(p.grad)
                        p.sub_(0.05 * v)
        net.eval()
        path = folder / "digits.onnx"
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                (xt[:1],),
                str(path),
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                dynamo=False,  # the torch.export one needs onnxscript
            )
    finally:
        torch.set_num_threads(threads)
    return Digits(path, x_test, y_test.astype(np.int64))
