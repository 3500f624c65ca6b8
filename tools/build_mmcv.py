"""Build an mmcv 2.1.0 wheel from its PyPI sdist with only the compiled ops this toolkit calls.

    python tools/build_mmcv.py mmcv-2.1.0.tar.gz --out WHEEL_DIR            # the toolkit's ops
    python tools/build_mmcv.py mmcv-2.1.0.tar.gz --out WHEEL_DIR --ops all  # all ~110 of them
    python tools/build_mmcv.py --list                                       # the op list

tools/install.sh runs it (after fetching the sdist and setuptools<70/wheel/ninja); it needs only the
standard library and the torch it builds against. It unpacks the sdist and patches only what it must
(each patch below says why); the wheel it writes is installed as it is. CUDA ops are built when
FORCE_CUDA=1 (install.sh sets it when a GPU and nvcc are present) from the same op list.
"""
import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile

# The compiled ops the toolkit calls, found by tracing every `mmcv._ext` function called while each
# det/seg config's model trains a step, tests (soft-NMS / NMS, slide) and runs UperNet's TTA, while
# their data pipelines load a sample, and while FCMAE and the finetune classifier train a step
# (tests/test_mmcv_ops.py re-traces them and fails if one is missing here or one is never called).
# UperNet, FCMAE, the classifier and the data pipelines call none. Key: the op's source stem in
# mmcv/ops/csrc/pytorch/ (its dispatcher `<stem>.cpp`), with its CPU and CUDA kernel sources and
# the `_ext` functions it provides.
OPS = {
    # mmcv.utils.collect_env (the environment mmengine/mmdet log) and tools/install.sh's CUDA check
    'info': dict(cpu=[], cuda=[], functions=['get_compiler_version', 'get_compiling_cuda_version']),
    # nms: mmcv.ops.batched_nms in mmdet's RPNHead (proposals, train and test) and multiclass_nms
    # (the Cascade configs' test); softnms: mmcv.ops.soft_nms, the Mask R-CNN configs' test
    # (test_cfg.rcnn.nms type='soft_nms'; CPU only in mmcv, run on CPU tensors on a GPU too);
    # nms_match comes with the same source, unused
    'nms': dict(cpu=['cpu/nms.cpp'], cuda=['cuda/nms_cuda.cu'],
                functions=['nms', 'softnms', 'nms_match']),
    # mmcv.ops.RoIAlign in mmdet's SingleRoIExtractor (box and mask RoI features, forward and
    # backward) and mmcv.ops.roi_align in BitmapMasks.crop_and_resize (mask targets)
    'roi_align': dict(cpu=['cpu/roi_align.cpp'], cuda=['cuda/roi_align_cuda.cu'],
                      functions=['roi_align_forward', 'roi_align_backward']),
}
FULL_BUILD = 'CNV2_MMCV_OPS=all bash tools/install.sh'
CSRC = os.path.join('mmcv', 'ops', 'csrc', 'pytorch')
# a hung compiler must not eat a CI budget: the full build takes ~15 min on 2 busy cores
BUILD_TIMEOUT = 3600


def unpack(sdist, into):
    with tarfile.open(sdist) as tar:
        safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
        tar.extractall(into, **safe)
    (top,) = [d for d in os.listdir(into) if os.path.isdir(os.path.join(into, d))]
    return os.path.join(into, top)


def replace(path, old, new):
    text = open(path).read()
    if old not in text:
        raise SystemExit(f'error: {path} does not contain {old!r}; this script knows mmcv 2.1.0')
    with open(path, 'w') as f:
        f.write(text.replace(old, new))


def keep_only_chosen_sources(src):
    """Delete the sources of the ops not chosen; setup.py globs whatever is left."""
    keep = {f'{stem}.cpp' for stem in OPS} | {'pybind.cpp'}
    keep |= {path for op in OPS.values() for path in op['cpu'] + op['cuda']}
    keep.add('cuda/cudabind.cpp')
    for sub in ('', 'cpu', 'cuda'):
        folder = os.path.join(src, CSRC, sub)
        for name in os.listdir(folder):
            rel = os.path.join(sub, name) if sub else name
            if name.endswith(('.cpp', '.cu')) and rel not in keep:
                os.remove(os.path.join(folder, name))


def stub_unbuilt_functions(src, op_set):
    """pybind.cpp: every `m.def` of a function whose op was not built registers a stub that raises
    one line instead, so `import mmcv.ops` (which checks every name exists) keeps working; a
    `cnv2_op_set()` function says which op set was built (tools/install.sh reads it)."""
    path = os.path.join(src, CSRC, 'pybind.cpp')
    text = open(path).read()
    head, body = text.split('PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {', 1)
    built = {name for op in OPS.values() for name in op['functions']}
    found = set()

    def stub(match):
        name = match.group(1)
        found.add(name)
        if name in built:
            return match.group(0)
        return f'  m.def("{name}", NotBuilt{{"{name}"}});'

    body = re.sub(r'^  m\.def\("(\w+)",.*?\);$', stub, body, flags=re.S | re.M)
    if not built <= found:
        raise SystemExit(f'error: pybind.cpp defines no {sorted(built - found)}; '
                         'this script knows mmcv 2.1.0')
    # one functor type for every stub: pybind11 instantiates its templates once, not per op
    helper = ('\n// Added by tools/build_mmcv.py: the ops this build left out raise this one line.\n'
              'struct NotBuilt {\n  const char *op;\n'
              '  void operator()(py::args, py::kwargs) const {\n'
              '    throw std::runtime_error(std::string("mmcv op ") + op + " is not built in this '
              f'install (the toolkit builds only the ops its models use); build them all with: '
              f'{FULL_BUILD}");\n  }}\n}};\n\n')
    marker = f'  m.def("cnv2_op_set", [] {{ return std::string("{op_set}"); }});\n'
    with open(path, 'w') as f:
        f.write(head + helper + 'PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {\n' + marker + body)


def keep_chosen_cuda_bindings(src):
    """cuda/cudabind.cpp binds every CUDA kernel in one file: keep only the blocks whose
    REGISTER_DEVICE_IMPL names are dispatched by a kept op (UNTESTED: no GPU here)."""
    path = os.path.join(src, CSRC, 'cuda', 'cudabind.cpp')
    text = open(path).read()
    dispatched = set()
    for stem in OPS:
        dispatched |= set(re.findall(r'DISPATCH_DEVICE_IMPL\(\s*(\w+)',
                                     open(os.path.join(src, CSRC, f'{stem}.cpp')).read()))
    includes, text = text.split('\n\n', 1)
    # a block: one op's declarations and wrappers, then its run of REGISTER_DEVICE_IMPL statements
    blocks = re.split(r'((?:^REGISTER_DEVICE_IMPL\(.*?\);\n)+)', text, flags=re.S | re.M)
    kept = []
    if blocks[-1].strip():
        raise SystemExit('error: cudabind.cpp does not end with REGISTER_DEVICE_IMPL; '
                         'this script knows mmcv 2.1.0')
    for code, registers in zip(blocks[0::2], blocks[1::2]):
        names = set(re.findall(r'REGISTER_DEVICE_IMPL\(\s*(\w+)', registers))
        if names <= dispatched:
            kept.append(code + registers)
    launchers = set(re.findall(r'\b(\w+Launcher)\b', ''.join(kept)))
    kernels = ''.join(open(os.path.join(src, CSRC, p)).read()
                      for op in OPS.values() for p in op['cuda'])
    missing = sorted(n for n in launchers if not re.search(rf'\b{n}\s*\(', kernels))
    if missing:
        raise SystemExit(f'error: cudabind.cpp needs {missing}, not in OPS cuda sources')
    with open(path, 'w') as f:
        f.write(includes + '\n\n' + ''.join(kept))


def patch(src, op_set):
    """The only changes to the sdist; 'all' is mmcv as published, with the first one."""
    # 1. torch >= 2.10 headers need C++20; mmcv's setup.py forces -std=c++17
    replace(os.path.join(src, 'setup.py'), '-std=c++17', '-std=c++20')
    if op_set == 'all':
        return
    # 2. compile only the chosen ops: the others' sources go (setup.py globs what is left)
    keep_only_chosen_sources(src)
    # 3. pybind.cpp binds every op: the left-out ones get a stub that raises one line
    stub_unbuilt_functions(src, op_set)
    # 4. cuda/cudabind.cpp registers every CUDA kernel: only the chosen ops' blocks stay
    keep_chosen_cuda_bindings(src)


def build_wheel(sdist, out, op_set):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='build_mmcv_') as work:
        src = unpack(sdist, work)
        patch(src, op_set)
        env = dict(os.environ, MMCV_WITH_OPS='1')
        env.setdefault('MAX_JOBS', str(os.cpu_count() or 1))
        # no debug info (Python's flags say -g): 40% less compile time, a wheel 8x smaller
        env['CFLAGS'] = (env.get('CFLAGS', '') + ' -g0').strip()
        subprocess.run([sys.executable, '-m', 'pip', '--disable-pip-version-check', 'wheel', '-q',
                        '--no-build-isolation', '--no-deps', '-w', out, '.'],
                       cwd=src, env=env, check=True, timeout=BUILD_TIMEOUT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=__doc__.split(
        '\n\n')[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('sdist', nargs='?', help='mmcv-2.1.0.tar.gz from PyPI')
    parser.add_argument('--out', help='folder the wheel is written to')
    parser.add_argument('--ops', choices=('default', 'all'), default='default',
                        help="'default': the toolkit's ops (the OPS table); 'all': every op")
    parser.add_argument('--list', action='store_true', help="print the default build's ops and "
                        'their `_ext` functions (`op: function ...`), one op a line, and exit')
    args = parser.parse_args(argv)
    if args.list:
        print('\n'.join(f"{op}: {' '.join(spec['functions'])}" for op, spec in OPS.items()))
        return
    if not args.sdist or not args.out:
        parser.error('give the sdist and --out (or --list)')
    build_wheel(args.sdist, args.out, args.ops)


if __name__ == '__main__':
    main()
