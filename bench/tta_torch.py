"""PyTorch peer of examples/fashion_mnist_mlp.msl and examples/lenet.msl for time to
accuracy (bench/run.sh tta): the same model, initialisation (Kaiming-uniform weights but
Xavier-uniform on the last layer, zero biases), Adam with a cosine decay of the learning
rate over the run (stepped every batch), batch size, per-batch normalisation with the
training set's mean and standard deviation, a shuffle per epoch, and a test-set evaluation
after each epoch, counted in the time. One thread. Prints one line per epoch:
    epoch E test_accuracy A seconds S      (S: cumulative, evaluation included)
    python3 bench/tta_torch.py mlp|lenet EPOCHS BATCH LR SEED [DATA_DIR]"""
import gzip
import math
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
model_name, epochs, batch, lr, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
folder = sys.argv[6] if len(sys.argv) > 6 else "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy())


train_x = load_idx(f"{folder}/train-images-idx3-ubyte.gz")
train_y = load_idx(f"{folder}/train-labels-idx1-ubyte.gz").to(torch.int64)
test_x = load_idx(f"{folder}/t10k-images-idx3-ubyte.gz")
test_y = load_idx(f"{folder}/t10k-labels-idx1-ubyte.gz").to(torch.int64)
scaled = train_x.to(torch.float64) / 255.0
mu, sd = float(scaled.mean()), float(scaled.std(unbiased=False))
del scaled
shape = (-1, 784) if model_name == "mlp" else (-1, 1, 28, 28)
g = torch.Generator().manual_seed(seed)


def init(layer, last=False):
    with torch.no_grad():
        fan_in = layer.weight[0].numel()
        fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel() if layer.weight.dim() == 4 else layer.weight.shape[0]
        a = math.sqrt(6.0 / (fan_in + fan_out)) if last else math.sqrt(6.0 / fan_in)
        layer.weight.uniform_(-a, a, generator=g)
        layer.bias.zero_()
    return layer


if model_name == "mlp":
    model = torch.nn.Sequential(init(torch.nn.Linear(784, 256)), torch.nn.ReLU(), init(torch.nn.Linear(256, 128)),
                                torch.nn.ReLU(), init(torch.nn.Linear(128, 10), last=True))
else:
    model = torch.nn.Sequential(init(torch.nn.Conv2d(1, 6, 5, padding=2)), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                init(torch.nn.Conv2d(6, 16, 5)), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), init(torch.nn.Linear(400, 120)), torch.nn.ReLU(),
                                init(torch.nn.Linear(120, 84)), torch.nn.ReLU(), init(torch.nn.Linear(84, 10), last=True))
opt = torch.optim.Adam(model.parameters(), lr=lr)
steps = (train_x.shape[0] + batch - 1) // batch     # the last partial batch kept, as data.loader does
total = epochs * steps
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))


def normalise(x):
    return ((x.to(torch.float32) * (1.0 / 255.0) - mu) / sd).reshape(shape)


seconds = 0.0
for epoch in range(epochs):
    t0 = time.perf_counter()
    order = torch.randperm(train_x.shape[0], generator=g)
    model.train()
    for i in range(steps):
        idx = order[i * batch:(i + 1) * batch]
        loss = torch.nn.functional.cross_entropy(model(normalise(train_x[idx])), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    right = 0
    with torch.no_grad():
        for lo in range(0, test_x.shape[0], 1000):
            right += int((model(normalise(test_x[lo:lo + 1000])).argmax(1) == test_y[lo:lo + 1000]).sum())
    seconds += time.perf_counter() - t0
    print(f"epoch {epoch + 1} test_accuracy {right / test_x.shape[0]:.4f} seconds {seconds:.2f}", flush=True)
