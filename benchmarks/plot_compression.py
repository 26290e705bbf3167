"""Redraw the chart and reprint the Markdown table of a finished compression comparison.

Usage: python benchmarks/plot_compression.py benchmarks/results/compression-mlp.json

It reads the raw records that `edgepipe bench compression` wrote, writes the SVG chart beside them
(same name, .svg) and prints the summary table, so the chart can change without training again.
"""

import json
import sys
from pathlib import Path

from edgepipe.pipeline.compare import markdown_table, summarize
from edgepipe.pipeline.plot import accuracy_svg


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/plot_compression.py RECORDS.json")
    records_path = Path(sys.argv[1])
    rows = summarize(json.loads(records_path.read_text(encoding="utf-8")))
    records_path.with_suffix(".svg").write_text(accuracy_svg(rows), encoding="utf-8")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
