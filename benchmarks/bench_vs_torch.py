"""halcon_dl's training steps against the same networks in PyTorch CPU, interleaved in one process.

    python benchmarks/bench_vs_torch.py [--type cls|seg|det|all] [--steps 20] [--threads 2]
                                        [--profile] [--no-peak] [--ab CHANGE|all]

Workloads (ARCHITECTURE.md; ``bench_train_step.py`` builds the same models):

* **CLS** 'compact' classifier, batch 32 x 3 x 64 x 64, 10 classes, cross-entropy, SGD μ = 0.9.
* **SEG** 'compact' segmentation network (decoder 128->64->32->16 with nearest x2 upsampling and
  additive skips, 1x1 head to 5 classes), batch 8 x 3 x 128 x 128, per-pixel cross-entropy.
* **DET** 'compact' detector (``bench_train_step.detection_benchmark``'s: levels 2-4, 9 anchors
  per cell, 6 classes, capacity 'medium'), batch 8 x 3 x 256 x 256, focal + Huber losses.

PyTorch (installed for the benchmark only, never a dependency) gets the same network with the
same weights and BatchNorm state, in NCHW and in channels_last, and SGD with the same learning
rate and momentum (for a constant rate PyTorch's v = μv + g, w -= λv is HALCON's v = μv - λg,
w += v).  First both sides train three steps on the same batches from the same weights and their
losses are printed: they agree to float32 rounding (relative differences ~1e-6, growing a little
with each step as the weights drift apart by rounding).  For CLS and SEG each side builds its
input arrays from the samples in every step (collate); for DET the PyTorch step takes the
library's dense anchor targets (and image batch) as precomputed inputs, so only the network, the
losses and the update are compared: halcon_dl is then timed with its collate cached too
('halcon_dl'), and once more as the full ``train_dl_model_batch`` ('halcon_dl full step').

Timing: rounds of [halcon_dl, PyTorch NCHW, halcon_dl (A/A), PyTorch channels_last] after one
warm-up round; every halcon_dl run follows a PyTorch run, so both see the same neighbours.  The
A/A pair (the same model, same batches) shows the timing noise: its median ratio should be
within a few per cent of 1.  Medians and ratios are of the same run.  No numpy matmul runs
between the timed steps (an OpenBLAS matmul on two threads leaves its workers spinning and slows
whatever follows); halcon_dl's step keeps the BLAS at one thread.

Peak memory (unless ``--no-peak``): each side runs two steps in a fresh child process, and the
peak resident set (VmHWM) minus the resident set before the first step is reported, so both
frameworks are measured the same way; halcon_dl's peak of traced NumPy memory is given too.

``--ab CHANGE``: an A/B measurement of one change of halcon_dl (``VARIANTS``: A without it, B
with it; ``all``: every one of them, A with all of them undone), rounds of [A, B, A (A/A), B (B/B)]
on the same model and batches, medians and B/A.

``--profile``: where halcon_dl's step spends its time: every op's forward and backward (by op
and shape), the thread-pool sections (calls per step and their total time), and the rest of the
step (collate, engine, losses' checks, optimiser); PyTorch's own profile of the same step is
printed alongside.
"""
from __future__ import annotations

import argparse
import collections
import copy
import os
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import peak_memory  # noqa: E402

import halcon_dl as hdl  # noqa: E402
from halcon_dl.kernels.parallel import set_num_threads  # noqa: E402

CLS_SIZE, CLS_CLASSES, CLS_BATCH = 64, 10, 32
SEG_SIZE, SEG_CLASSES, SEG_BATCH = 128, 5, 8
DET_SIZE, DET_CLASSES, DET_BATCH = 256, 6, 8
LEARNING_RATE, MOMENTUM = 0.01, 0.9


# -- the workloads: our model, its batches, the PyTorch twin -----------------------------------
def workload(kind):
    """(model, batches) of the workload ``kind`` ('cls', 'seg', 'det'), three batches."""
    rng = np.random.default_rng(0)
    common = dict(backbone='compact', image_num_channels=3, learning_rate=LEARNING_RATE,
                  momentum=MOMENTUM)
    if kind == 'cls':
        model = hdl.create_dl_model('classification', class_ids=list(range(CLS_CLASSES)),
                                    image_width=CLS_SIZE, image_height=CLS_SIZE,
                                    batch_size=CLS_BATCH, **common)
        batches = [[{'image': rng.uniform(-127, 128, (CLS_SIZE, CLS_SIZE, 3)).astype(np.float32),
                     'image_label_id': int(rng.integers(CLS_CLASSES))} for _ in range(CLS_BATCH)]
                   for _ in range(3)]
    elif kind == 'seg':
        model = hdl.create_dl_model('segmentation', class_ids=list(range(SEG_CLASSES)),
                                    image_width=SEG_SIZE, image_height=SEG_SIZE,
                                    batch_size=SEG_BATCH, **common)
        batches = [[{'image': rng.uniform(-127, 128, (SEG_SIZE, SEG_SIZE, 3)).astype(np.float32),
                     'segmentation_image': rng.integers(0, SEG_CLASSES, (SEG_SIZE, SEG_SIZE))}
                    for _ in range(SEG_BATCH)] for _ in range(3)]
    else:
        from bench_train_step import detection_samples
        model = hdl.create_dl_model(
            'detection', class_ids=list(range(DET_CLASSES)), image_width=DET_SIZE,
            image_height=DET_SIZE, instance_type='rectangle1', min_level=2, max_level=4,
            anchor_num_subscales=3, anchor_aspect_ratios=[1.0, 2.0, 0.5], batch_size=DET_BATCH,
            **common)
        batches = [detection_samples(DET_BATCH, seed, 'rectangle1') for seed in range(3)]
    return model, batches


def torch_twins(kind, model, torch):
    """The network of ``model`` in PyTorch, with its weights and BatchNorm state, in NCHW and
    channels_last: {layout: step(inputs) -> loss}, each with its own SGD.  ``inputs`` are the
    samples (CLS, SEG) or the library's collated batch (DET)."""
    nn, functional = torch.nn, torch.nn.functional

    def conv_bn(ci, co, stride):
        return nn.Sequential(nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co))

    class Compact(nn.Module):                     # levels 0..3: 16, 32, 64, 128 channels
        def __init__(self):
            super().__init__()
            widths = (3, 16, 32, 64, 128)
            self.stages = nn.ModuleList(conv_bn(ci, co, 1 if i == 0 else 2)
                                        for i, (ci, co) in enumerate(zip(widths, widths[1:])))

        def forward(self, x):
            levels = []
            for stage in self.stages:
                x = torch.relu(stage(x))
                levels.append(x)
            return levels

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.fc = Compact(), nn.Linear(128, CLS_CLASSES)

        def forward(self, x):
            return self.fc(self.backbone(x)[-1].mean((2, 3)))

    class Segmenter(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Compact()
            self.decoder = nn.ModuleList(conv_bn(ci, co, 1) for ci, co in
                                         ((128, 64), (64, 32), (32, 16)))
            self.head = nn.Conv2d(16, SEG_CLASSES, 1)

        def forward(self, x):
            levels = self.backbone(x)
            d = levels[-1]
            for stage, skip in zip(self.decoder, levels[-2::-1]):
                up = functional.interpolate(d, scale_factor=2, mode='nearest')
                d = torch.relu(stage(up)) + skip
            return self.head(d)

    class Head(nn.Module):
        def __init__(self, width, depth, outputs):
            super().__init__()
            self.hidden = nn.ModuleList(nn.Conv2d(width, width, 3, 1, 1) for _ in range(depth))
            self.out = nn.Conv2d(width, outputs, 3, 1, 1)

        def forward(self, x, values):
            for conv in self.hidden:
                x = torch.relu(conv(x))
            y = self.out(x)
            return y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, values)

    class Pyramid(nn.Module):                    # levels 2..4 on the compact backbone
        def __init__(self, width):
            super().__init__()
            self.lateral = nn.ModuleList(nn.Conv2d(ci, width, 1) for ci in (64, 128))
            self.smooth = nn.ModuleList(nn.Conv2d(width, width, 3, 1, 1) for _ in range(2))
            self.extra = nn.ModuleList([nn.Conv2d(128, width, 3, 2, 1)])

        def forward(self, levels):
            m3 = self.lateral[1](levels[3])
            m2 = self.lateral[0](levels[2]) + functional.interpolate(m3, scale_factor=2,
                                                                     mode='nearest')
            return [self.smooth[0](m2), self.smooth[1](m3), self.extra[0](levels[3])]

    class Detector(nn.Module):
        def __init__(self, anchors, box_values):
            super().__init__()
            depth, width = 2, 64                  # capacity 'medium'
            self.backbone, self.fpn = Compact(), Pyramid(width)
            self.class_head = Head(width, depth, anchors * DET_CLASSES)
            self.box_head = Head(width, depth, anchors * box_values)
            self.box_values = box_values

        def forward(self, x):
            pyramid = self.fpn(self.backbone(x))
            return (torch.cat([self.class_head(p, DET_CLASSES) for p in pyramid], 1),
                    torch.cat([self.box_head(p, self.box_values) for p in pyramid], 1))

    if kind == 'cls':
        net = Classifier()
    elif kind == 'seg':
        net = Segmenter()
    else:
        net = Detector(model.task.num_anchors(model), 4)
    ours = [*model.parameters().values(), *model.buffers().values()]
    theirs = [*net.parameters(), *(b for n, b in net.named_buffers() if 'running' in n)]
    assert [tuple(a.shape) for a in ours] == [tuple(b.shape) for b in theirs], 'twin differs'
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.copy_(torch.from_numpy(np.array(a)))
    alpha = torch.tensor(model.get_param('class_weights'), dtype=torch.float32)

    def loss_of(out, inputs):
        if kind == 'cls':
            t = torch.tensor([s['image_label_id'] for s in inputs])
            return functional.cross_entropy(out, t)
        if kind == 'seg':
            t = torch.from_numpy(np.stack([s['segmentation_image'] for s in inputs]))
            return functional.cross_entropy(out, t)
        logits, deltas = out                       # RetinaNet's losses on the library's targets
        index = torch.from_numpy(inputs['class_index'])
        y = (index[..., None] == torch.arange(DET_CLASSES)).to(logits.dtype)
        p = torch.sigmoid(logits)
        p_t = p * y + (1 - p) * (1 - y)
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        bce = functional.binary_cross_entropy_with_logits(logits, y, reduction='none')
        positives = max(1, int((index >= 0).sum()))
        focal = (alpha_t * (1 - p_t) ** 2 * bce).sum(-1)
        focal = (focal * torch.from_numpy(inputs['anchor_weight'])).sum() / positives
        huber = functional.smooth_l1_loss(deltas, torch.from_numpy(inputs['box_target']),
                                          beta=0.11, reduction='none')
        huber = (huber * torch.from_numpy(inputs['box_weight'])).sum() / positives
        return focal * model.get_param('class_heads_weight') + \
            huber * model.get_param('bbox_heads_weight')

    def images_of(inputs):
        if kind == 'det':
            return torch.from_numpy(np.asarray(inputs['images']))
        return torch.from_numpy(np.stack([s['image'] for s in inputs]).transpose(0, 3, 1, 2))

    steps = {}
    for layout, fmt in (('NCHW', torch.contiguous_format), ('channels_last', torch.channels_last)):
        twin = copy.deepcopy(net).to(memory_format=fmt)
        optimizer = torch.optim.SGD(twin.parameters(), lr=model.get_param('learning_rate'),
                                    momentum=model.get_param('momentum'))

        def step(inputs, twin=twin, optimizer=optimizer, fmt=fmt):
            x = images_of(inputs).contiguous(memory_format=fmt)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(twin(x), inputs)
            loss.backward()
            optimizer.step()
            return loss.item()
        steps[layout] = step
    return steps


def machine_load():
    """(CPU seconds used by the whole machine, by this process, stolen by the hypervisor) so
    far: their differences over a timing loop show what else ran meanwhile."""
    with open('/proc/stat') as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf('SC_CLK_TCK')
    busy = sum(fields[:3]) + sum(fields[5:7])                 # user nice system irq softirq
    mine = os.times()
    return busy / tick, mine.user + mine.system, fields[7] / tick


def load_note(before, seconds):
    """'other processes: x % of a core, steal: y %' over ``seconds`` since ``before``."""
    after = machine_load()
    others = (after[0] - before[0]) - (after[1] - before[1])
    return (f'other processes used {max(0.0, others) / seconds:.0%} of a core, hypervisor '
            f'steal {(after[2] - before[2]) / seconds:.0%}')


def cached_collate(model, batches):
    """Make ``model`` collate each of ``batches`` once and reuse the arrays (the DET comparison:
    targets precomputed on both sides).  Returns the collated batches."""
    task = model.task
    collated = {id(b[0]): type(task).collate(task, model, b) for b in batches}
    task.collate = lambda m, samples, labels=True: collated[id(samples[0])]
    return [collated[id(b[0])] for b in batches]


# -- timing ------------------------------------------------------------------------------------
def compare(kind, args, torch):
    model, batches = workload(kind)
    runs, inputs = {}, batches
    if kind == 'det':
        full = copy.deepcopy(model)
        runs['halcon_dl full step'] = lambda i: hdl.train_dl_model_batch(full, batches[i % 3])
        inputs = cached_collate(model, batches)
    twins = torch_twins(kind, model, torch)
    check = copy.deepcopy(model)
    if kind == 'det':
        cached_collate(check, batches)
    ours_losses = [hdl.train_dl_model_batch(check, b)['total_loss'] for b in batches]
    theirs = torch_twins(kind, model, torch)['NCHW']
    torch_losses = [theirs(b) for b in inputs]
    worst = max(abs(a - b) / abs(b) for a, b in zip(ours_losses, torch_losses))
    print(f'\n{kind.upper()}: losses of 3 steps from the same weights: halcon_dl '
          f'{", ".join(f"{v:.6f}" for v in ours_losses)}; PyTorch '
          f'{", ".join(f"{v:.6f}" for v in torch_losses)}; largest relative difference {worst:.1e}')
    runs = {'halcon_dl': lambda i: hdl.train_dl_model_batch(model, batches[i % 3]),
            'PyTorch NCHW': lambda i: twins['NCHW'](inputs[i % 3]),
            'halcon_dl (A/A)': lambda i: hdl.train_dl_model_batch(model, batches[i % 3]),
            'PyTorch channels_last': lambda i: twins['channels_last'](inputs[i % 3]),
            **runs}
    for run in runs.values():                                   # warm-up round
        run(0)
    times = {k: [] for k in runs}
    load, start = machine_load(), time.perf_counter()
    for i in range(args.steps):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run(i)
            times[name].append(time.perf_counter() - t0)
    median = {k: float(np.median(t)) for k, t in times.items()}
    print(f'{kind.upper()} train step, {args.steps} interleaved rounds, threads: halcon_dl '
          f'{args.threads}, PyTorch {torch.get_num_threads()}; meanwhile '
          f'{load_note(load, time.perf_counter() - start)}')
    for name, t in times.items():
        q1, q3 = np.percentile(t, [25, 75])
        print(f'  {name:24s} median {median[name] * 1e3:7.1f} ms  (best {min(t) * 1e3:7.1f}, '
              f'quartiles {q1 * 1e3:.1f}-{q3 * 1e3:.1f})')
    aa = [a / b for a, b in zip(times['halcon_dl'], times['halcon_dl (A/A)'])]
    print(f'  A/A: median ratio {median["halcon_dl"] / median["halcon_dl (A/A)"]:.3f}, '
          f'per-round ratios {np.percentile(aa, 10):.2f}-{np.percentile(aa, 90):.2f} (10-90 %)')
    ours = float(np.median(times['halcon_dl'] + times['halcon_dl (A/A)']))
    low, high = sorted((median['halcon_dl'], median['halcon_dl (A/A)']))
    print(f'  ratio halcon_dl / PyTorch NCHW {ours / median["PyTorch NCHW"]:.2f}x '
          f'({low / median["PyTorch NCHW"]:.2f}-{high / median["PyTorch NCHW"]:.2f} over the A/A '
          f'pair), / channels_last {ours / median["PyTorch channels_last"]:.2f}x   (halcon_dl: '
          f'the median of both its runs)')
    if not args.no_peak:
        peaks = {who: child_peak(kind, who, args.threads)
                 for who in ('halcon_dl', 'NCHW', 'channels_last')}
        print('  peak memory of a step (VmHWM - RSS before, child process): '
              + ', '.join(f'{k} {v}' for k, v in peaks.items()))
    if args.profile:
        profile(model, batches, args.steps)
        torch_profile(twins['NCHW'], inputs, torch)


# -- A/B of one change -------------------------------------------------------------------------
def _patch(targets, enabled):
    """Point each ``(module, name)`` at its original (enabled) or at what its factory in
    ``targets`` makes (disabled; made once)."""
    import importlib
    for (module, name), factory in targets.items():
        m = importlib.import_module(module)
        original = _ORIGINAL.setdefault((module, name), getattr(m, name))
        if not enabled and (module, name, 'A') not in _ORIGINAL:
            _ORIGINAL[(module, name, 'A')] = factory()
        setattr(m, name, original if enabled else _ORIGINAL[(module, name, 'A')])


def _old_module(module, rev='main', with_modules=()):
    """``module`` as its file is at git revision ``rev``, loaded under another name; its
    relative imports resolve to the current code except for ``with_modules``, taken from
    ``rev`` too."""
    import importlib.util
    key = (module, rev)
    if key in _ORIGINAL:
        return _ORIGINAL[key]
    path = module.replace('.', '/') + '.py'
    source = subprocess.run(['git', 'show', f'{rev}:{path}'], capture_output=True, text=True,
                            check=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout
    package, _, leaf = module.rpartition('.')
    for dep in with_modules:                      # e.g. 'halcon_dl.kernels.conv' from ops/
        old = _old_module(dep, rev)
        sys.modules[old.__name__] = old
        source = source.replace(f'from ..{dep.split(".", 1)[1]} import',
                                f'from {old.__name__} import')
    tag = ''.join(ch if ch.isalnum() else '_' for ch in rev)     # '006c7cf~1' -> '006c7cf_1'
    spec = importlib.util.spec_from_loader(f'{package}._{tag}_{leaf}', loader=None)
    old = _ORIGINAL[key] = importlib.util.module_from_spec(spec)
    old.__package__ = package
    exec(compile(source, f'{rev}:{path}', 'exec'), old.__dict__)
    return old


def _conv2d_before_grid():
    """Conv2d and its im2col/col2im as they were before col2im moved onto the phase grid
    (006c7cf), with today's chunks and keep budget (so that only col2im differs)."""
    from halcon_dl.kernels.conv import batch_chunks, keep_columns_budget
    old = _old_module('halcon_dl.ops.conv', '006c7cf~1', ['halcon_dl.kernels.conv'])
    old.im2col_budget, old.batch_chunks = keep_columns_budget, batch_chunks
    return old.Conv2d


def _parallel_for_before_inline():
    """parallel_for as it was before the caller ran the first range itself (63b824f)."""
    return _old_module('halcon_dl.kernels.parallel', '63b824f~1').parallel_for


_ORIGINAL = {}
VARIANTS = {     # change -> (what B has that A has not, {(module, name): factory of A's version})
    'fuse-upsample': ('the fused nearest upsampling + convolution of the SEG decoder',
                      {('halcon_dl.ops.upsample_conv', 'fusable'): lambda: lambda *args: False}),
    'keep-columns': ('columns kept for backward only up to the keep-columns budget (A: up to '
                     'the im2col budget)',
                     {('halcon_dl.ops.conv', 'keep_columns_budget'): lambda: lambda: 128 << 20}),
    'col2im-grid': ('col2im as shifted additions of long rows (flat shifts or the phase grid) '
                    '(A: per-row additions, as before 006c7cf)',
                    {('halcon_dl.ops.conv', 'Conv2d'): _conv2d_before_grid}),
    'shifted-conv': ('stride-1 convolutions by shifted-window products (A: im2col + GEMM)',
                     {('halcon_dl.ops.conv_shifted', 'applies'): lambda: lambda *args: False}),
    'im2col-16M': ('an im2col budget of 16 MiB: chunks of <= 8 MiB of columns per thread (A: '
                   '128 MiB)',
                   {('halcon_dl.kernels.conv', '_im2col_budget_bytes'): lambda: 128 << 20}),
    'shifted-large': ('shifted-window convolutions only from 4 MiB of im2col columns (A: any '
                      'size)',
                      {('halcon_dl.ops.conv_shifted', 'MIN_COLUMN_BYTES'): lambda: 0}),
    'same-shift': ('im2col/col2im of same-padded windows as flat shifts of the unpadded phases '
                   '(A: copies from the zero-padded phases, col2im on the phase grid)',
                   {('halcon_dl.kernels.conv', 'is_same_padded'): lambda: lambda *args: False}),
    'pad-rows': ('27 im2col rows (RGB 3x3) padded to 32 with zeros (A: 27 rows)',
                 {('halcon_dl.ops.conv', 'PADDED_ROWS'): lambda: {}}),
    'bn-keeps-input': ('BatchNorm keeps its input and the mean for backward (A: keeps x - mean, '
                       'as at 9fe0fd9)',
                       {('halcon_dl.ops.normalization', 'BatchNorm2d'): lambda: _old_module(
                           'halcon_dl.ops.normalization', '9fe0fd9').BatchNorm2d}),
    'pool-inline': ('the caller runs the first range of a parallel section itself (A: all '
                    'ranges on the pool)',
                    {(m, 'parallel_for'): _parallel_for_before_inline
                     for m in ('halcon_dl.kernels.conv', 'halcon_dl.ops.conv',
                               'halcon_dl.ops.conv_shifted', 'halcon_dl.ops.normalization',
                               'halcon_dl.ops.upsample_conv')}),
}


def ab(kind, change, steps):
    model, batches = workload(kind)
    if change == 'all':
        what, targets = 'every change above (A: all undone)', {}
        for _, variant in VARIANTS.values():
            targets.update(variant)
    else:
        what, targets = VARIANTS[change]

    def switch(enabled):
        _patch(targets, enabled)

    def run(enabled):
        def step(i):
            switch(enabled)
            try:
                t0 = time.perf_counter()
                hdl.train_dl_model_batch(model, batches[i % 3])
                return time.perf_counter() - t0
            finally:
                switch(True)
        return step
    runs = {'A': run(False), 'B': run(True), 'A (A/A)': run(False), 'B (B/B)': run(True)}
    for r in runs.values():
        r(0)
    times = {k: [] for k in runs}
    load, start = machine_load(), time.perf_counter()
    for i in range(steps):
        for k, r in runs.items():
            times[k].append(r(i))
    med = {k: float(np.median(t)) * 1e3 for k, t in times.items()}
    print(f'{kind.upper()} A/B of {change!r} (B: {what}), {steps} rounds; meanwhile '
          f'{load_note(load, time.perf_counter() - start)}:')
    for k, t in times.items():
        print(f'  {k:8s} median {med[k]:7.1f} ms (best {min(t) * 1e3:.1f})')
    print(f'  A/A {med["A"] / med["A (A/A)"]:.3f}, B/B {med["B"] / med["B (B/B)"]:.3f}; '
          f'B/A {(med["B"] + med["B (B/B)"]) / (med["A"] + med["A (A/A)"]):.3f}')
    for enabled, label in ((False, 'A'), (True, 'B')):
        switch(enabled)
        peak = peak_memory(lambda: hdl.train_dl_model_batch(model, batches[0]))
        print(f'  {label}: peak traced memory {peak / 2 ** 20:.0f} MiB')
    switch(True)


def child_peak(kind, who, threads):
    """Peak memory of two steps of ``who`` in a fresh process (see the module docstring)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), '--peak-child', kind, who,
                          '--threads', str(threads)], capture_output=True, text=True)
    return out.stdout.strip() or f'failed: {out.stderr.strip()[-200:]}'


def _resident(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def peak_child(kind, who, torch):
    model, batches = workload(kind)
    inputs = batches
    if kind == 'det':
        inputs = cached_collate(model, batches)
    if who == 'halcon_dl':
        before = _resident('VmRSS')
        for b in batches[:2]:
            hdl.train_dl_model_batch(model, b)
        traced = peak_memory(lambda: hdl.train_dl_model_batch(model, batches[2]))
        extra = f' (traced NumPy peak {traced / 2 ** 20:.0f} MiB)'
    else:
        step = torch_twins(kind, model, torch)[who]
        before = _resident('VmRSS')
        for b in inputs[:2]:
            step(b)
        extra = ''
    print(f'{(_resident("VmHWM") - before) / 2 ** 20:.0f} MiB{extra}')


# -- profiles ----------------------------------------------------------------------------------
def profile(model, batches, steps):
    """Per-op times of halcon_dl's step (forward and backward of every Function, by op and
    input shape), thread-pool sections, and the rest; medians over ``steps`` steps, in ms."""
    import halcon_dl.kernels.parallel as parallel
    from halcon_dl.autograd import Function

    ops = collections.defaultdict(float)
    sections = {'calls': 0, 'seconds': 0.0}

    def all_subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from all_subclasses(sub)
    originals = []
    for cls in set(all_subclasses(Function)):
        for method in ('forward', 'backward'):
            if method not in vars(cls):
                continue
            fn = vars(cls)[method]

            def timed(self, *a, fn=fn, name=f'{cls.__name__}.{method}', **kw):
                t0 = time.perf_counter()
                out = fn(self, *a, **kw)
                shape = getattr(self, 'x_shape', None) or getattr(self, 'shape', None) or ''
                ops[f'{name} {tuple(shape) if shape else ""}'] += time.perf_counter() - t0
                return out
            originals.append((cls, method, fn))
            setattr(cls, method, timed)
    original_for = parallel.parallel_for

    def counted_for(fn, n, xp, work=0, *a, **kw):
        nested = getattr(parallel._local, 'inside', False)
        t0 = time.perf_counter()
        original_for(fn, n, xp, work, *a, **kw)
        if not nested and min(n, parallel.num_threads()) > 1 and \
                work >= parallel.MIN_ELEMENTS_PER_THREAD * parallel.num_threads():
            sections['calls'] += 1                     # ran on the pool
            sections['seconds'] += time.perf_counter() - t0
    patched = [m for m in list(sys.modules.values())
               if getattr(m, 'parallel_for', None) is original_for]
    for m in patched:
        m.parallel_for = counted_for
    # when each range of a section starts and ends, by thread: how late the pool's threads
    # start after the caller, and how long the caller then waits for them
    ranges = collections.defaultdict(list)
    original_run = parallel._Section.run

    def timed_run(section, fn, lo, hi):
        t0 = time.perf_counter()
        try:
            original_run(section, fn, lo, hi)
        finally:
            ranges[section].append((threading.current_thread() is threading.main_thread(),
                                    t0, time.perf_counter()))
    parallel._Section.run = timed_run
    total = 0.0
    try:
        for i in range(steps):
            t0 = time.perf_counter()
            hdl.train_dl_model_batch(model, batches[i % 3])
            total += time.perf_counter() - t0
    finally:
        for cls, method, fn in originals:
            setattr(cls, method, fn)
        for m in patched:
            m.parallel_for = original_for
        parallel._Section.run = original_run
    lag = wait = 0.0
    for parts in ranges.values():
        mine = [(t0, t1) for main, t0, t1 in parts if main]
        pool = [(t0, t1) for main, t0, t1 in parts if not main]
        if mine and pool:
            lag += max(t0 for t0, _ in pool) - mine[0][0]
            wait += max(0.0, max(t1 for _, t1 in pool) - mine[0][1])
    print(f'  halcon_dl profile (mean per step over {steps} steps; op times include their '
          f'thread-pool sections): step {total / steps * 1e3:.1f} ms')
    in_ops = sum(ops.values())
    for name, seconds in sorted(ops.items(), key=lambda kv: -kv[1]):
        if seconds / steps >= 2e-4:
            print(f'    {seconds / steps * 1e3:7.2f} ms  {name}')
    print(f'    {(total - in_ops) / steps * 1e3:7.2f} ms  outside ops (collate, engine, loss '
          f'checks, optimiser, Python)')
    print(f'    thread-pool sections: {sections["calls"] / steps:.0f} per step, '
          f'{sections["seconds"] / steps * 1e3:.1f} ms per step spent in them; the pool threads '
          f'start {lag / steps * 1e3:.1f} ms per step after the caller, which then waits '
          f'{wait / steps * 1e3:.1f} ms per step for them (both summed over the sections)')


def torch_profile(step, inputs, torch):
    from torch.profiler import ProfilerActivity, profile as torch_prof
    step(inputs[0])
    with torch_prof(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(5):
            step(inputs[i % 3])
    print('  PyTorch NCHW profile (5 steps, self CPU time):')
    print('\n'.join('    ' + line for line in prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=15).splitlines()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--type', choices=['cls', 'seg', 'det', 'all'], default='all')
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--no-peak', action='store_true')
    parser.add_argument('--ab', choices=sorted(VARIANTS) + ['all'])
    parser.add_argument('--peak-child', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch
    set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    if args.peak_child:
        return peak_child(*args.peak_child, torch)
    for kind in (['cls', 'seg', 'det'] if args.type == 'all' else [args.type]):
        if args.ab:
            ab(kind, args.ab, args.steps)
        else:
            compare(kind, args, torch)


if __name__ == '__main__':
    main()
