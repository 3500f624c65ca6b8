"""The ConvNeXt V2 model sizes of the paper (Appendix A.1), one line of data each."""

ARCHS = {
    'atto': dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320)),
    'femto': dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384)),
    'pico': dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512)),
    'nano': dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640)),
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    'huge': dict(depths=(3, 3, 27, 3), dims=(352, 704, 1408, 2816)),
}

# Table 14 of the paper: (#params in millions, GFLOPs at 224x224) of the classifiers.
PAPER_PARAMS_FLOPS = {
    'atto': (3.7, 0.55), 'femto': (5.2, 0.78), 'pico': (9.1, 1.37), 'nano': (15.6, 2.45),
    'tiny': (28.6, 4.47), 'base': (89, 15.4), 'large': (198, 34.4), 'huge': (660, 115),
}


def resolve_arch(arch):
    """Return (depths, dims) for a size name or a dict(depths=..., dims=...)."""
    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ValueError(f'unknown ConvNeXt V2 size {arch!r}; choose one of {", ".join(ARCHS)} '
                             'or pass dict(depths=..., dims=...)')
        arch = ARCHS[arch]
    try:
        depths, dims = tuple(arch['depths']), tuple(arch['dims'])
    except (KeyError, TypeError):
        raise ValueError(f'arch must be a size name or dict(depths=[...], dims=[...]), got {arch!r}')
    if len(depths) != 4 or len(dims) != 4:
        raise ValueError(f'ConvNeXt V2 has 4 stages: got depths={depths}, dims={dims}')
    return depths, dims


def arch_name(depths, dims):
    """The size name of (depths, dims), or a description when it is a custom one."""
    for name, spec in ARCHS.items():
        if tuple(spec['depths']) == tuple(depths) and tuple(spec['dims']) == tuple(dims):
            return name
    return f'custom(depths={tuple(depths)}, dims={tuple(dims)})'
