"""The U-Net: the published layout, any input size in and the same size out, export round trip."""

import pytest
import torch
from torch import nn

from leukoflow.nets.unet import UNet


@pytest.mark.parametrize("height, width", [(32, 32), (64, 48), (33, 47), (17, 16), (5, 7), (100, 3)])
def test_output_has_the_input_size(height, width):
    torch.manual_seed(0)
    unet = UNet(in_channels=1, out_channels=1, features=(4, 8, 16, 32, 64)).eval()  # four pools: multiple of 16
    with torch.no_grad():
        out = unet(torch.randn(2, 1, height, width))
    assert out.shape == (2, 1, height, width)


def test_padding_is_cropped_back_exactly():
    """A size that needs padding gives, inside the image, what the padded input gives there."""
    torch.manual_seed(0)
    unet = UNet(1, 1, features=(4, 8, 16)).eval()  # multiple of 4
    x = torch.randn(1, 1, 30, 30)
    padded = nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")  # 32x32: no padding inside
    with torch.no_grad():
        assert torch.allclose(unet(x), unet(padded)[..., 1:-1, 1:-1], atol=1e-6)


def test_published_layout():
    unet = UNet(in_channels=3, out_channels=2, features=(64, 128, 256, 512, 1024))
    convs = [m for m in unet.modules() if isinstance(m, nn.Conv2d)]
    ups = [m for m in unet.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert unet.multiple == 16  # four 2x2 max-pools
    assert all(c.kernel_size == (3, 3) for c in convs[:-1]) and convs[-1].kernel_size == (1, 1)
    assert len(convs) == 2 * 9 + 1  # two 3x3 convolutions per level (9 levels down and up), 1x1 head
    assert [(u.in_channels, u.out_channels, u.kernel_size, u.stride) for u in ups] == [
        (1024, 512, (2, 2), (2, 2)),
        (512, 256, (2, 2), (2, 2)),
        (256, 128, (2, 2), (2, 2)),
        (128, 64, (2, 2), (2, 2)),
    ]
    assert unet.up_conv[0][0].in_channels == 1024  # skip (512) concatenated with the up-conv (512)
    assert (convs[0].in_channels, convs[-1].out_channels) == (3, 2)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in unet.modules())
    # Ronneberger et al.'s network has about 31 million parameters.
    assert 31.0e6 < sum(p.numel() for p in unet.parameters()) < 31.1e6


def test_batch_norm_option_and_bad_arguments():
    assert any(isinstance(m, nn.BatchNorm2d) for m in UNet(1, 1, (4, 8), norm="batch").modules())
    with pytest.raises(ValueError, match="norm"):
        UNet(1, 1, (4, 8), norm="group")
    with pytest.raises(ValueError, match="at least two"):
        UNet(1, 1, (4,))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        UNet(1, 1, (4, 8))(torch.zeros(1, 8, 8))


def test_exported_unet_rebuilds(tmp_path):
    from leukoflow.inference import architecture_class

    unet = UNet(1, 1, (4, 8, 16), norm="batch")
    rebuilt = architecture_class(f"{UNet.__module__}:{UNet.__qualname__}", tmp_path)(**unet.arch_kwargs)
    rebuilt.load_state_dict(unet.state_dict())
    x = torch.randn(1, 1, 20, 20)
    assert torch.equal(unet.eval()(x), rebuilt.eval()(x))
