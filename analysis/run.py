"""Run the analyses over one or more checkpoints and write their PNGs and CSVs.

Each checkpoint is checked (readable, a ConvNeXt V2 of some size, every backbone weight present)
before any image is read; then each model in turn runs over the same class-balanced image subset
with hooks that reduce the features to statistics on the fly (nothing per image is kept, so 1,000
ImageNet images on a Huge fit a GPU). ``dtype`` bf16/fp16 runs the model under autocast; the
statistics are computed in float32/float64 from the captured features, and non-finite features
(an fp16 overflow, a corrupt checkpoint) stop the run with one line naming the block.
"""
import csv
import math
import os
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoints import backbone_from_checkpoint
from .cosine_distance import DistanceMeter
from .features import blocks_of, capture, tapped
from .images import LabelledImages, balanced_subset, list_images, to_display
from .plots import plot_activation_maps, plot_cosine_distance, plot_selectivity
from .selectivity import ClassMeanMeter

ANALYSES = ('distance', 'maps', 'selectivity')
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
MAP_CHANNELS = 64


@dataclass
class Options:
    images: str
    out_dir: str = 'feature_analysis'
    analyses: tuple = ANALYSES
    num_images: int = 1000
    size: int = 224
    batch_size: int = 32
    workers: int = 0
    device: str = 'cpu'
    dtype: str = 'fp32'
    map_layer: str = None       # default: the middle block of stage 3 of each model
    map_tap: str = 'gelu'
    map_image: int = 0          # index into the class-balanced subset
    selectivity_tap: str = 'block'
    seed: int = 0
    names: list = field(default_factory=list)


def analyze(checkpoints, options, log=print):
    """Run ``options.analyses`` on every checkpoint; return {'files': [...], 'distance': ...,
    'selectivity': ..., 'maps': ...} (the numbers also written to the CSVs)."""
    unknown = set(options.analyses) - set(ANALYSES)
    if unknown:
        raise ValueError(f'unknown analyses {sorted(unknown)}; choose from {", ".join(ANALYSES)}')
    device, dtype = _device_and_dtype(options.device, options.dtype)
    names = checkpoint_names(checkpoints, options.names)
    classes, samples = list_images(options.images)
    subset = balanced_subset(samples, options.num_images, options.seed)
    for path in checkpoints:   # fail on a bad file before minutes of work on the good ones
        empty, description = backbone_from_checkpoint(path, check_only=True)
        log(f'{path}: {description}')
        blocks = [layer.name for layer, _ in blocks_of(empty)]
        if 'maps' in options.analyses and options.map_layer and options.map_layer not in blocks:
            raise ValueError(f'--map-layer {options.map_layer}: {path} has blocks '
                             f'{blocks[0]} .. {blocks[-1]}')
    analyses = list(options.analyses)
    if 'selectivity' in analyses and len({label for _, label in subset}) < 2:
        log(f'class selectivity skipped: {options.images} has no class folders DIR/<class>/ '
            'with images of at least 2 classes')
        analyses.remove('selectivity')
    log(f'{len(subset)} images of {len(classes) or "no"} classes from {options.images}, '
        f'{options.size}x{options.size}, on {device} in {options.dtype}')

    if 'maps' in analyses and not 0 <= options.map_image < len(subset):
        raise ValueError(f'--map-image {options.map_image} is not one of the {len(subset)} images '
                         'analysed (0-based)')
    dataset = LabelledImages(subset, options.size)
    results = {'distance': {}, 'selectivity': {}, 'maps': {}, 'layers': {}}
    for path, name in zip(checkpoints, names):
        model, _ = backbone_from_checkpoint(path)
        model.to(device)
        results['layers'][name] = [layer for layer, _ in blocks_of(model)]
        if 'distance' in analyses or 'selectivity' in analyses:
            distance, selectivity = _statistics(model, dataset, options, analyses, device, dtype,
                                                len(classes), name)
            if 'distance' in analyses:
                results['distance'][name] = distance
            if selectivity is not None:
                results['selectivity'][name] = selectivity
        if 'maps' in analyses:
            image = dataset[options.map_image][0]
            layer = options.map_layer or default_map_layer(model)
            with _autocast(device, dtype):
                maps = capture(model, image[None].to(device), layer, options.map_tap)
            results['maps'][name] = (layer, maps[0, ..., :MAP_CHANNELS].permute(2, 0, 1).cpu())
        del model
    results['files'] = write_outputs(results, options, dataset)
    return results


def default_map_layer(model):
    """The middle block of stage 3 (the deepest stage with many blocks)."""
    return f'stages.2.{len(model.stages[2]) // 2}'


def checkpoint_names(paths, names=()):
    """Legend names: ``names`` if given, else the file names (with their folder if two clash)."""
    if names:
        if len(names) != len(paths):
            raise ValueError(f'--names gives {len(names)} names for {len(paths)} checkpoints')
        return list(names)
    short = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(set(short)) == len(short):
        return short
    return [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(p))), s)
            for p, s in zip(paths, short)]


@torch.no_grad()
def _statistics(model, dataset, options, analyses, device, dtype, num_classes, name):
    distances = DistanceMeter()
    class_means = ClassMeanMeter(num_classes) if 'selectivity' in analyses else None
    taps = set()
    if 'distance' in analyses:
        taps |= {'gelu', 'grn'}
    if class_means is not None:
        taps.add(options.selectivity_tap)
    batch_labels = {}

    def on_features(layer, tap, features):
        if not torch.isfinite(features).all():
            raise FloatingPointError(
                f'{name}: non-finite features at {layer.name} ({tap}) in {options.dtype}; '
                + ('use --dtype bf16 or fp32' if options.dtype == 'fp16'
                   else 'the checkpoint holds NaN/inf weights or the input is broken'))
        if tap in ('gelu', 'grn') and 'distance' in analyses:
            distances.update(layer.name, tap, features)
        if class_means is not None and tap == options.selectivity_tap:
            class_means.update(layer.name, tap, features, batch_labels['labels'])

    loader = DataLoader(dataset, batch_size=options.batch_size, num_workers=options.workers,
                        pin_memory=device.type == 'cuda')
    with tapped(model, on_features, taps=sorted(taps)), _autocast(device, dtype):
        for images, labels in tqdm(loader, total=len(loader), desc=name, unit='batch', dynamic_ncols=True):
            batch_labels['labels'] = labels
            model(images.to(device, non_blocking=True))
    selectivity = None
    if class_means is not None:
        selectivity = {layer: index for (layer, _), index in class_means.indices().items()}
    return distances.means(), selectivity


def write_outputs(results, options, dataset):
    os.makedirs(options.out_dir, exist_ok=True)
    out = os.path.join
    files = []
    if results['distance']:
        rows, curves = [], {}
        for name, means in results['distance'].items():
            layers = results['layers'][name]
            for layer in layers:
                for tap in ('gelu', 'grn'):
                    value = means[layer.name, tap]
                    rows.append([name, layer.name, layer.stage + 1, layer.index,
                                 f'{layer.normalised(len(layers)):.4f}', tap, f'{value:.6f}'])
                    curves.setdefault(name, {}).setdefault(tap, []).append(
                        (layer.normalised(len(layers)), value))
        files.append(_write_csv(out(options.out_dir, 'cosine_distance.csv'),
                                ['checkpoint', 'layer', 'stage', 'layer_index', 'normalised_index',
                                 'tap', 'distance'], rows))
        files.append(out(options.out_dir, 'cosine_distance.png'))
        plot_cosine_distance(curves, files[-1])
    if results['selectivity']:
        rows = [[name, layer, channel, '' if math.isnan(value) else f'{value:.6f}']
                for name, per_layer in results['selectivity'].items()
                for layer, index in per_layer.items() for channel, value in enumerate(index.tolist())]
        files.append(_write_csv(out(options.out_dir, 'selectivity.csv'),
                                ['checkpoint', 'layer', 'channel', 'selectivity_index'], rows))
        first = next(iter(results['selectivity']))
        files.append(out(options.out_dir, 'selectivity.png'))
        plot_selectivity(results['selectivity'], list(results['selectivity'][first]), files[-1])
    if results['maps']:
        layers = {layer for layer, _ in results['maps'].values()}
        files.append(out(options.out_dir, 'activation_maps.png'))
        panels = [(f'{name}\n{layer}' if len(layers) > 1 else name, maps)
                  for name, (layer, maps) in results['maps'].items()]
        path = dataset.samples[options.map_image][0]
        title = (f'{MAP_CHANNELS} channels of {", ".join(sorted(layers))} ({options.map_tap}), '
                 f'{os.path.basename(path)}')
        plot_activation_maps(panels, files[-1], image=to_display(dataset[options.map_image][0]),
                             title=title)
    return files


def _write_csv(path, header, rows):
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _device_and_dtype(device, dtype):
    if dtype not in DTYPES:
        raise ValueError(f'--dtype {dtype}: choose one of {", ".join(DTYPES)}')
    device = torch.device(device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'--device {device}: no GPU is visible here; use --device cpu')
    if dtype == 'fp16' and device.type != 'cuda':
        raise ValueError('--dtype fp16 needs a GPU (--device cuda); on CPU use bf16 or fp32')
    return device, DTYPES[dtype]


def _autocast(device, dtype):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
