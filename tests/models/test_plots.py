import pytest


def test_activation_maps_show_the_stem_and_each_stage_output() -> None:
    keras = pytest.importorskip("keras", reason="the training stack is the 'train' extra")
    from models.architectures import ARCHITECTURES
    from models.plots import last_conv_per_resolution

    def shown(arch: str) -> list[str]:
        model = ARCHITECTURES[arch]()
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        return [layer.name for layer in last_conv_per_resolution(convs)]

    assert shown("vggbn-wide") == ["stem", "s0c1", "s1c1", "s2c1", "s3c1"]
    assert shown("vggbn") == ["s0c1", "s1c1", "s2c1", "s3c1"]
    assert shown("resbn") == ["stem", "s0b1c1", "s1b1c1", "s2b1c1", "s3b1c1"]
