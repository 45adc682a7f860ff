"""Every model's Adam (``samplegen.models.base.adam``): the fast kernel, the same updates."""

import torch

from samplegen.compat import release
from samplegen.models.base import adam


def _trained(make_optimizer, steps: int = 20) -> list[torch.Tensor]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = make_optimizer(net.parameters())
    data = torch.randn(64, 30)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        net(data).pow(2).mean().backward()
        optimizer.step()
    return [p.detach().clone() for p in net.parameters()]


def test_cpu_adam_is_fused_where_torch_can_and_steps_as_torchs_default_adam():
    made = adam([torch.zeros(3, requires_grad=True)], torch.device("cpu"), 1e-3)
    if release(torch.__version__) >= (2, 4):
        assert made.defaults["fused"] is True
    else:
        assert made.defaults["foreach"] is True
    ours = _trained(lambda p: adam(p, torch.device("cpu"), 1e-2, 1e-4, (0.5, 0.9)))
    plain = _trained(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-4))
    for a, b in zip(ours, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
