"""One-seed study of weight decay: how well plain (N=1) and LoRITa (N=3) MLPs survive SVD truncation.

Usage: python benchmarks/weight_decay.py [--model mlp] [--weight-decays 5e-4,1e-3,2e-3] [--epochs 20]

For each weight decay it trains the model plainly and with three factors, then truncates it to 25%,
10% and 5% of the dense .pte size under each rank policy, and prints the eager fp32 test accuracy.
No artifact is exported, so this is a quick way to pick the recipe that `edgepipe bench compression`
then measures on .pte files over several seeds.
"""

import argparse
import copy
import logging

import torch

from edgepipe.models import create_model
from edgepipe.pipeline.data import load_dataset
from edgepipe.pipeline.lorita import collapse_, factorize_
from edgepipe.pipeline.quantize import fold_batchnorm_
from edgepipe.pipeline.rank_policy import POLICIES, select_ranks
from edgepipe.pipeline.train import TrainConfig, accuracy, train_
from edgepipe.pipeline.truncate import singular_values, truncate_

# The dense int8 .pte file of `mlp` is about 2.95 MB, and about 5.2 kB of any .pte file do not grow with
# the weights (measured with ExecuTorch 1.5.1 and XNNPACK). Budgets are fractions of the file, as in the benchmark.
DENSE_PTE_BYTES = 2_952_000
FIXED_PTE_BYTES = 5_200
FRACTIONS = (0.25, 0.10, 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--weight-decays", default="5e-4,1e-3,2e-3")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dataset = load_dataset()

    print("weight decay | N | dense | " + " | ".join(f"{fraction:.0%} {policy}" for fraction in FRACTIONS
                                                    for policy in POLICIES))
    for weight_decay in (float(value) for value in arguments.weight_decays.split(",")):
        for factors in (1, 3):
            config = TrainConfig(epochs=arguments.epochs, weight_decay=weight_decay, seed=arguments.seed)
            torch.manual_seed(arguments.seed)
            model = create_model(arguments.model)
            factorize_(model, factors, config.batch_size, dataset.normalize(dataset.train.images[:2]))
            train_(model, dataset, config)
            model = fold_batchnorm_(collapse_(model)).eval()

            spectra = singular_values(model)
            cells = [f"{100 * accuracy(model, dataset, dataset.test):.2f}"]
            for fraction in FRACTIONS:
                for policy in POLICIES:
                    truncated = copy.deepcopy(model)
                    ranks = select_ranks(policy, truncated, int(fraction * DENSE_PTE_BYTES) - FIXED_PTE_BYTES,
                                         spectra, lambda candidate: accuracy(candidate, dataset, dataset.validation))
                    truncate_(truncated, ranks)
                    cells.append(f"{100 * accuracy(truncated, dataset, dataset.test):.2f}")
            print(f"{weight_decay:g} | {factors} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
