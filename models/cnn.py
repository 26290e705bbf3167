"""VGG-style CNN: stacks of 3x3 Conv+BatchNorm+ReLU with max pooling, then a Linear head."""

from torch import nn


class VGG(nn.Module):
    """A small VGG for 28x28 single-channel images; `stages` lists the channel widths of each pooled stage."""

    def __init__(self, in_channels: int, stages: tuple[tuple[int, ...], ...], hidden: int, num_classes: int,
                 image_size: int = 28):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in stages:
            for width in stage:
                # Numeric padding: "same" with an even kernel failed under XNNPACK int8 in some ExecuTorch releases.
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
            image_size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size * image_size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
