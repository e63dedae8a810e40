from pathlib import Path

import pytest


def test_activation_maps_show_the_stem_and_each_stage_output() -> None:
    keras = pytest.importorskip("keras", reason="the training stack is the 'train' extra")
    from models.training.architectures import all_architectures
    from models.training.plots import last_conv_per_resolution

    def shown(arch: str) -> list[str]:
        model = all_architectures()[arch]()
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        return [layer.name for layer in last_conv_per_resolution(convs)]

    assert shown("vggbn-wide") == ["stem", "s0c1", "s1c1", "s2c1", "s3c1"]
    assert shown("vggbn") == ["s0c1", "s1c1", "s2c1", "s3c1"]
    assert shown("resbn") == ["stem", "s0b1c1", "s1b1c1", "s2b1c1", "s3b1c1"]


def test_reliability_and_threshold_plots_are_written(tmp_path: Path) -> None:
    import numpy as np

    from models.training import plots
    from models.training.metrics import choose_threshold, selective_curve

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7) * 0.3, size=500)
    labels = rng.integers(0, 7, 500)
    plots.reliability(labels, {"network": probs}, {"network": 0.1}, tmp_path / "r.png")
    points = selective_curve(labels, probs)
    plots.selective(points, min(points, key=lambda p: p.threshold), tmp_path / "s.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert choose_threshold(points, target=0.0).threshold == points[0].threshold
