"""The pictures of the analyses (matplotlib, Agg backend, PNG): Figure 4's distance curves, Figure 3's
activation grid, Figure 7's selectivity densities."""
import math

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .selectivity import density  # noqa: E402

TAP_TITLES = {'gelu': 'MLP expansion after GELU (before GRN)', 'grn': 'MLP expansion after GRN',
              'block': 'residual block output'}


def plot_cosine_distance(curves, out_png, dpi=100):
    """``curves``: {checkpoint: {tap: [(normalised layer index, distance), ...]}}; one panel per
    tap, one curve per checkpoint (Figure 4)."""
    taps = [tap for tap in TAP_TITLES if any(tap in per_tap for per_tap in curves.values())]
    fig, axes = plt.subplots(1, len(taps), figsize=(4.2 * len(taps), 3.4), squeeze=False,
                             sharey=True)
    for ax, tap in zip(axes[0], taps):
        for name, per_tap in curves.items():
            if tap in per_tap:
                x, y = zip(*per_tap[tap])
                ax.plot(x, y, marker='o', markersize=3, label=name)
        ax.set_title(TAP_TITLES[tap], fontsize=9)
        ax.set_xlabel('normalised layer index')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 0.55)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('feature cosine distance')
    axes[0][-1].legend(fontsize=8)
    _save(fig, out_png, dpi)


def channel_grid(maps, columns=8, gap=1):
    """(rows*h + gaps, columns*w + gaps) mosaic of (K, h, w) maps, each scaled to [0, 1] on its
    own (a constant map, dead or saturated, comes out flat); NaN between the squares."""
    maps = np.asarray(maps, dtype=np.float64)
    count, h, w = maps.shape
    rows = math.ceil(count / columns)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    scaled = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0)
    mosaic = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for k in range(count):
        r, c = divmod(k, columns)
        mosaic[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = scaled[k]
    return mosaic


def plot_activation_maps(panels, out_png, image=None, title=None, dpi=100):
    """``panels``: [(checkpoint, (K, h, w) maps)], drawn as grids of small squares side by side
    (Figure 3), after the input ``image`` (H, W, 3 in [0, 1]) if given."""
    count = len(panels) + (image is not None)
    fig, axes = plt.subplots(1, count, figsize=(3.2 * count, 3.5), squeeze=False)
    axes = list(axes[0])
    if image is not None:
        ax = axes.pop(0)
        ax.imshow(np.asarray(image))
        ax.set_title('input', fontsize=9)
    cmap = matplotlib.colormaps['viridis'].with_extremes(bad='white')
    for ax, (name, maps) in zip(axes, panels):
        ax.imshow(channel_grid(maps), cmap=cmap, interpolation='nearest')
        ax.set_title(name, fontsize=9)
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, out_png, dpi)


def plot_selectivity(indices, layers, out_png, columns=6, dpi=100):
    """``indices``: {checkpoint: {layer name: (C,) selectivity indices}}; one panel per layer of
    ``layers`` (names ``stages.s.b``), one density curve per checkpoint (Figure 7)."""
    grid = np.linspace(0, 1, 201)
    columns = min(columns, len(layers))
    rows = math.ceil(len(layers) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 1.9 * rows), squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        for position, (name, per_layer) in enumerate(indices.items()):
            if layer in per_layer:
                ax.plot(grid, density(per_layer[layer], grid).numpy(), color=f'C{position}',
                        label=name)
        stage, block = (int(part) for part in layer.split('.')[1:])
        ax.set_title(f'stage {stage + 1} layer {block + 1}', fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(layers):]:
        ax.axis('off')
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.supxlabel('class selectivity index', fontsize=9)
    fig.supylabel('density', fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.legend(handles, labels, loc='upper center', ncol=max(len(labels), 1), fontsize=8,
               frameon=False)
    _save(fig, out_png, dpi, tight=False)


def _save(fig, out_png, dpi, tight=True):
    if tight:
        fig.tight_layout()
    fig.savefig(out_png, dpi=dpi)
    plt.close(fig)
