r"""PyTorch reference of ONE's CIFAR ResNet, for throughput comparisons only.

The same network as `one_keras.models.build_one_resnet` (post-activation
ResNet, 1x1 conv + BN shortcuts, stage 3 + classifier per branch, the gate of
the paper) and the same step (ONE loss at T=3, SGD Nesterov momentum 0.9,
coupled weight decay 1e-4), written the way the authors' code is: NCHW,
eager PyTorch. PyTorch is not a dependency of one_keras; this script is run
by `benchmarks/throughput.py` with `--torch_python` when PyTorch is present.

  python benchmarks/pytorch_reference.py --depth 32 --num_branches 3
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


def stage(in_planes, planes, blocks, stride):
    layers = []
    for index in range(blocks):
        layers.append(BasicBlock(in_planes, planes,
                                 stride if index == 0 else 1))
        in_planes = planes
    return nn.Sequential(*layers)


class ONEResNet(nn.Module):
    """Trunk (stem, stages 1-2), `num_branches` x (stage 3 + FC), gate."""

    def __init__(self, depth, num_classes, num_branches):
        super().__init__()
        blocks = (depth - 2) // 6
        self.trunk = nn.Sequential(
            nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
            nn.ReLU(), stage(16, 16, blocks, 1), stage(16, 32, blocks, 2))
        self.branches = nn.ModuleList([
            nn.Sequential(stage(32, 64, blocks, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(64, num_classes))
            for _ in range(num_branches)])
        self.gate = None
        if num_branches > 1:
            self.gate = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Linear(32, num_branches), nn.BatchNorm1d(num_branches),
                nn.ReLU(), nn.Softmax(dim=1))

    def forward(self, x):
        features = self.trunk(x)
        logits = torch.stack([b(features) for b in self.branches], dim=1)
        if self.gate is None:
            return logits, logits[:, 0]
        gate = self.gate(features)
        return logits, torch.einsum("bm,bmc->bc", gate, logits)


def one_loss(labels, branch_logits, teacher_logits, temperature=3.0):
    num_branches = branch_logits.shape[1]
    ce = sum(F.cross_entropy(branch_logits[:, i], labels)
             for i in range(num_branches))
    if num_branches == 1:
        return ce
    ce = ce + F.cross_entropy(teacher_logits, labels)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, 1)
    kl = sum(F.kl_div(F.log_softmax(branch_logits[:, i] / temperature, 1),
                      log_p_teacher, reduction="batchmean", log_target=True)
             for i in range(num_branches))
    return ce + temperature ** 2 * kl


def images_per_second(depth, num_classes, num_branches, batch_size, steps,
                      warmup, rounds):
    """Training images/s, one value a round, on random data."""
    torch.manual_seed(0)
    model = ONEResNet(depth, num_classes, num_branches).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                nesterov=True, weight_decay=1e-4)
    images = torch.randn(batch_size, 3, 32, 32)
    labels = torch.randint(0, num_classes, (batch_size,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        branch_logits, teacher_logits = model(images)
        one_loss(labels, branch_logits, teacher_logits).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch_size * steps / (time.perf_counter() - start))
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--num_classes", type=int, default=100)
    parser.add_argument("--num_branches", type=int, nargs="+",
                        default=[1, 3])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = {
        str(branches): images_per_second(
            args.depth, args.num_classes, branches, args.batch_size,
            args.steps, args.warmup, args.rounds)
        for branches in args.num_branches}
    print(json.dumps({"framework": f"pytorch {torch.__version__}",
                      "threads": torch.get_num_threads(),
                      "images_per_second": results}))


if __name__ == "__main__":
    main()
