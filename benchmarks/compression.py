"""Compare LoRITa with plain training and small dense models at equal int8 budgets.

Usage: python benchmarks/compression.py [options of `edgepipe bench compression --help`]

The same as `edgepipe bench compression`: it writes the raw records to
benchmarks/results/compression.json and prints mean and standard deviation over seeds.
"""

import sys

from edgepipe.cli import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "bench", "compression", *sys.argv[1:]]
    main()
