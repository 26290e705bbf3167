"""Fully connected classifier: flatten, then Linear+ReLU blocks, then a Linear head."""

from torch import nn


class MLP(nn.Module):
    """An MLP over flattened images, as in the fully connected experiments of LoRITa (arXiv 2405.03089)."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for features in hidden:
            layers += [nn.Linear(width, features), nn.ReLU()]
            width = features
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
