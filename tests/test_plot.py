import xml.etree.ElementTree as ElementTree

from edgepipe.pipeline.plot import accuracy_svg, line_label

SVG = "{http://www.w3.org/2000/svg}"


def _row(model, method, factors, policy, fraction, size, accuracy):
    return {"model": model, "method": method, "factors": factors, "rank_policy": policy, "budget_fraction": fraction,
            "seeds": 3, "bytes": size, "accuracy_mean": accuracy, "accuracy_std": 0.01}


def _rows():
    rows = []
    for model, dense_bytes in (("mlp", 2_950_000), ("cnn", 600_000)):
        rows.append(_row(model, "dense", 1, None, 1.0, dense_bytes, 0.9))
        for fraction in (0.25, 0.10, 0.05):
            rows.append(_row(model, "plain", 1, "greedy", fraction, int(fraction * dense_bytes), 0.8))
            rows.append(_row(model, "lorita", 3, "search", fraction, int(fraction * dense_bytes), 0.85))
    return rows


def test_line_label_names_factors_and_policy():
    assert line_label(_row("mlp", "lorita", 3, "search", 0.1, 1, 0.9)) == "lorita N=3 (search)"
    assert line_label(_row("mlp", "plain", 1, "greedy", 0.1, 1, 0.9)) == "plain"
    assert line_label(_row("mlp", "small-dense", 1, None, 0.1, 1, 0.9)) == "small-dense"


def test_accuracy_svg_one_line_per_method_and_model():
    root = ElementTree.fromstring(accuracy_svg(_rows()))
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 4  # two methods in each of two panels
    assert all(len(line.get("points").split()) == 3 for line in lines)
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert {"mlp", "cnn", "plain", "lorita N=3 (search)", "dense"} <= set(texts)


def test_accuracy_svg_points_inside_plot():
    root = ElementTree.fromstring(accuracy_svg(_rows()))
    width, height = float(root.get("width")), float(root.get("height"))
    for circle in root.iter(f"{SVG}circle"):
        assert 0 < float(circle.get("cx")) < width
        assert 0 < float(circle.get("cy")) < height


def test_accuracy_svg_dense_only():
    root = ElementTree.fromstring(accuracy_svg([_row("mlp", "dense", 1, None, 1.0, 2_950_000, 0.9)]))
    assert root.findall(f"{SVG}polyline") == []
