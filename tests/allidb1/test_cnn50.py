import pytest
import torch

from leukoflow.nets.cnn50 import CNN50


def expected_parameters(n_classes, maps=30, kernel=5, size=50):
    conv1 = 3 * maps * kernel * kernel + maps
    conv2 = maps * maps * kernel * kernel + maps
    fc = maps * (size // 2) ** 2 * n_classes + n_classes  # 'same' convs keep 50x50; pooling halves
    return conv1 + conv2 + fc


@pytest.mark.parametrize("n_classes", [2, 3])
def test_output_shape_and_parameter_count(n_classes):
    model = CNN50(n_classes)
    out = model(torch.rand(4, 3, 50, 50))
    assert out.shape == (4, n_classes)
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(n_classes)


def test_outputs_are_log_probabilities_and_train_with_nll():
    model = CNN50()
    out = model(torch.rand(3, 3, 50, 50))
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))
    loss = torch.nn.functional.nll_loss(out, torch.tensor([0, 1, 1]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_layers_as_published():
    conv1, relu1, conv2, relu2, pool = CNN50().features
    for conv in (conv1, conv2):
        assert conv.kernel_size == (5, 5) and conv.stride == (1, 1) and conv.padding == (2, 2)
        assert conv.out_channels == 30
    assert isinstance(relu1, torch.nn.ReLU) and isinstance(relu2, torch.nn.ReLU)
    assert pool.kernel_size == 2 and pool.stride == 2


def test_rejects_other_input_sizes():
    with pytest.raises(ValueError, match="50, 50"):
        CNN50()(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError):
        CNN50(n_classes=1)
