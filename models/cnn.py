"""VGG-style CNN: stacks of 3x3 Conv+BatchNorm+ReLU with max pooling, then a Linear head."""

from torch import nn

from edgepipe.errors import ConfigError


class VGG(nn.Module):
    """A small VGG for 28x28 single-channel images; `stages` lists the channel widths of each pooled stage."""

    def __init__(self, in_channels: int, stages: tuple[tuple[int, ...], ...], hidden: int, num_classes: int,
                 image_size: tuple[int, int] = (28, 28)):
        super().__init__()
        height, width = image_size
        smallest = 2 ** len(stages)
        if height < smallest or width < smallest:
            raise ConfigError(f"the VGG model pools {len(stages)} times, so it needs images of at least "
                              f"{smallest}x{smallest}, got {height}x{width}; pick --model mlp")
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in stages:
            for out_channels in stage:
                # Numeric padding: "same" with an even kernel failed under XNNPACK int8 in some ExecuTorch releases.
                layers += [nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                           nn.ReLU()]
                channels = out_channels
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * height * width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
