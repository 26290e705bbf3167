"""Measure the training step time of LoRITa (N factors) against plain training (N=1), in one run.

Usage: python benchmarks/step_time.py [--models mlp cnn] [--factors 3] [--batch-size 256] [--rounds 5]

Rounds alternate between the plain and the factored model so that both see the same machine load,
and each ratio uses the median step times. Next to each measured ratio it prints the ratio of forward
multiply-accumulates of the association chosen for each layer (`lorita.factored_flops_ratio`).
"""

import argparse
import statistics
import time

import torch
from torch import nn

from edgepipe.models import create_model
from edgepipe.pipeline.lorita import factored_flops_ratio, factorize_


def _step_seconds(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_function = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_function(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def measure(name: str, factors: int, batch_size: int, rounds: int, steps: int) -> None:
    torch.manual_seed(0)
    inputs = torch.randn(batch_size, 1, 28, 28)
    labels = torch.randint(0, 10, (batch_size,))
    plain = create_model(name).train()
    factored = create_model(name).train()
    associations = factorize_(factored, factors, batch_size, inputs[:2])
    flops_ratio = factored_flops_ratio(factored, associations, factors, batch_size, inputs[:2])

    times = {"plain": [], "factored": []}
    for model in (plain, factored):  # warm-up: allocator, thread pool, first-call kernel selection
        _step_seconds(model, inputs, labels, 2)
    for _ in range(rounds):
        times["plain"].append(_step_seconds(plain, inputs, labels, steps))
        times["factored"].append(_step_seconds(factored, inputs, labels, steps))

    plain_median, factored_median = statistics.median(times["plain"]), statistics.median(times["factored"])
    measured = factored_median / plain_median
    print(f"{name:<5} N={factors} batch {batch_size}: plain {1000 * plain_median:7.1f} ms/step, "
          f"factored {1000 * factored_median:7.1f} ms/step, measured ratio {measured:.2f}, "
          f"FLOP ratio {flops_ratio:.2f}, measured/FLOP {measured / flops_ratio:.2f}")
    print(f"      associations: {associations}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--factors", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.models:
        measure(name, args.factors, args.batch_size, args.rounds, args.steps)


if __name__ == "__main__":
    main()
