"""URL init_cfg, the official release table, tools/download_weights.py and the released pt_only
FCMAE files. Offline: a loopback HTTP server on 127.0.0.1, TORCH_HOME in tmp_path."""
import collections
import glob
import os
import os.path as osp
import re
import shlex
from http.server import BaseHTTPRequestHandler

import pytest
import timm
import torch
from mmengine.config import Config
from timm.models.convnext import checkpoint_filter_fn

from backbones import ConvNeXtV2
from backbones.checkpoints import released
from backbones.checkpoints.load import CheckpointError
from backbones.checkpoints.released import RELEASES, release_of_url, released_url
from downstream import preflight
from tests.helpers import LoopbackServer, random_backbone
from tests.test_checkpoint_layouts import layouts
from tools import convert_fcmae as convert_tool
from tools import download_weights as download_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Depths / widths of the paper's Appendix A.1, written out so that the fixtures below do not come
# from our own model definitions.
ATTO = ((2, 2, 6, 2), (40, 80, 160, 320))
SIZES = {'atto': ATTO, 'femto': ((2, 2, 6, 2), (48, 96, 192, 384)),
         'tiny': ((3, 3, 9, 3), (96, 192, 384, 768)), 'base': ((3, 3, 27, 3), (128, 256, 512, 1024))}
GRN_SHAPES = {'(C,)': lambda c: (c,), '(1, C)': lambda c: (1, c), '(1, 1, 1, C)': lambda c: (1, 1, 1, c)}


# -- fixtures -------------------------------------------------------------------------------------
def official_encoder(depths, dims, grn_shape=GRN_SHAPES['(1, 1, 1, C)'], seed=0, dtype=torch.float32):
    """Encoder weights with the official names and shapes (facebookresearch/ConvNeXt-V2
    models/convnextv2.py: stem conv 4x4/4 + channels-first LN; downsample LN + conv 2x2/2; block
    dwconv 7x7, LN, pwconv1 Linear C->4C, GRN, pwconv2 Linear 4C->C), written out by hand."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, base=0.0):
        return base + 0.1 * torch.randn(shape, generator=gen, dtype=dtype)

    sd = {'downsample_layers.0.0.weight': rand(dims[0], 3, 4, 4),
          'downsample_layers.0.0.bias': rand(dims[0]),
          'downsample_layers.0.1.weight': rand(dims[0], base=1.0),
          'downsample_layers.0.1.bias': rand(dims[0])}
    for i in range(1, 4):
        sd[f'downsample_layers.{i}.0.weight'] = rand(dims[i - 1], base=1.0)
        sd[f'downsample_layers.{i}.0.bias'] = rand(dims[i - 1])
        sd[f'downsample_layers.{i}.1.weight'] = rand(dims[i], dims[i - 1], 2, 2)
        sd[f'downsample_layers.{i}.1.bias'] = rand(dims[i])
    for i, (depth, dim) in enumerate(zip(depths, dims)):
        for j in range(depth):
            block = f'stages.{i}.{j}.'
            sd[block + 'dwconv.weight'] = rand(dim, 1, 7, 7)
            sd[block + 'dwconv.bias'] = rand(dim)
            sd[block + 'norm.weight'] = rand(dim, base=1.0)
            sd[block + 'norm.bias'] = rand(dim)
            sd[block + 'pwconv1.weight'] = rand(4 * dim, dim)
            sd[block + 'pwconv1.bias'] = rand(4 * dim)
            sd[block + 'grn.gamma'] = rand(*grn_shape(4 * dim))
            sd[block + 'grn.beta'] = rand(*grn_shape(4 * dim))
            sd[block + 'pwconv2.weight'] = rand(dim, 4 * dim)
            sd[block + 'pwconv2.bias'] = rand(dim)
    return sd


def released_fcmae(size='atto', grn='(1, 1, 1, C)', **kwargs):
    """A released pt_only/convnextv2_<size>_1k_224_fcmae.pt: the encoder alone under 'model'."""
    return {'model': official_encoder(*SIZES[size], GRN_SHAPES[grn], **kwargs)}


def released_finetuned(size='atto', classes=1000, seed=0):
    """A released im1k/convnextv2_<size>_1k_224_ema.pt: encoder + final norm + head under 'model'."""
    sd = official_encoder(*SIZES[size], seed=seed)
    dim = SIZES[size][1][3]
    sd.update({'norm.weight': torch.ones(dim), 'norm.bias': torch.zeros(dim),
               'head.weight': 0.01 * torch.randn(classes, dim), 'head.bias': torch.zeros(classes)})
    return {'model': sd}


def checkpoint_bytes(obj, tmp_path, name='x.pth'):
    path = tmp_path / name
    torch.save(obj, path)
    return path.read_bytes()


class Server:
    """http.server on 127.0.0.1 in a thread; ``routes``: path -> (behaviour, bytes)."""

    def __init__(self):
        self.routes, self.requests = {}, collections.Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests[self.path] += 1
                behaviour, body = server.routes.get(self.path, ('404', b''))
                if behaviour == '404':
                    self.send_error(404, 'Not Found')
                    return
                self.send_response(200)
                self.send_header('Content-Type', 'text/html' if behaviour == 'html' else
                                 'application/octet-stream')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if behaviour == 'drop':   # the connection dies half-way through the body
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = LoopbackServer(Handler)
        self.root = self.server.url + '/'

    def serve(self, path, body, behaviour='ok'):
        self.routes['/' + path] = (behaviour, body)
        return self.root + path

    def stop(self):
        self.server.stop()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache in tmp_path; proxies off for the loopback server."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)
    for var in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    return tmp_path / 'torch' / 'hub' / 'checkpoints'


def cache_listing(hub):
    return sorted(os.listdir(hub)) if hub.exists() else []


def backbone(checkpoint, arch='atto'):
    model = ConvNeXtV2(arch, init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    model.init_weights()
    return model


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


RELEASED_LAYOUTS = {'released pt_only FCMAE': released_fcmae,
                    'released IN-1K finetuned EMA': released_finetuned}


# -- URL init_cfg ---------------------------------------------------------------------------------
@pytest.mark.parametrize('layout', list(layouts(ConvNeXtV2('atto'))) + list(RELEASED_LAYOUTS))
def test_url_loads_exactly_like_the_local_file(layout, tmp_path, hub, server):
    if layout in RELEASED_LAYOUTS:
        obj = RELEASED_LAYOUTS[layout]()
    else:
        obj = layouts(random_backbone('atto', seed=1))[layout]
    local = tmp_path / 'local.pth'
    torch.save(obj, local)
    url = server.serve('weights/convnextv2_layout.pth', local.read_bytes())

    from_url, from_file = backbone(url), backbone(local)
    assert same_weights(from_url, from_file), layout
    assert server.requests['/weights/convnextv2_layout.pth'] == 1
    assert cache_listing(hub) == ['convnextv2_layout.pth']   # the URL's file name, nothing else
    assert (hub / 'convnextv2_layout.pth').read_bytes() == local.read_bytes()


def test_second_build_is_a_cache_hit_and_the_cache_outlives_the_server(tmp_path, hub, server):
    data = checkpoint_bytes(released_finetuned(), tmp_path)
    url = server.serve('im1k/convnextv2_atto_1k_224_ema.pt', data)
    first = backbone(url)
    second = backbone(url)
    assert server.requests['/im1k/convnextv2_atto_1k_224_ema.pt'] == 1   # no request for the second
    server.stop()
    third = backbone(url)
    assert same_weights(first, second) and same_weights(first, third)


def failing_url(behaviour, server, tmp_path):
    if behaviour == 'connection refused':
        server.stop()
        return server.root + 'convnextv2_atto_1k_224_ema.pt'
    body = {'HTTP 404': b'',
            'dropped half-way': checkpoint_bytes(released_finetuned(), tmp_path),
            'HTML page': b'<!DOCTYPE html><html><body>Please sign in</body></html>' * 50,
            'another size': checkpoint_bytes(released_finetuned('femto'), tmp_path)}[behaviour]
    kind = {'HTTP 404': '404', 'dropped half-way': 'drop', 'HTML page': 'html'}.get(behaviour, 'ok')
    return server.serve('convnextv2_atto_1k_224_ema.pt', body, kind)


@pytest.mark.parametrize('behaviour, says', [
    ('HTTP 404', 'HTTP 404 Not Found; nothing was cached - check the URL'),
    ('dropped half-way', 'bytes: the download was cut short); nothing was cached - check the URL'),
    ('HTML page', 'gave an HTML page (2750 bytes), not a checkpoint; nothing was cached - check the URL'),
    ('another size', 'is ConvNeXt V2-femto but the model is ConvNeXt V2-atto; use the config of '
                     'that size'),
    ('connection refused', 'nothing was cached - check the network connection and retry'),
])
def test_failed_download_is_one_line_and_leaves_the_cache_empty(behaviour, says, tmp_path, hub,
                                                                  server):
    url = failing_url(behaviour, server, tmp_path)
    model = ConvNeXtV2('atto', init_cfg=dict(type='Pretrained', checkpoint=url))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        model.init_weights()
    message = str(err.value)
    assert '\n' not in message and url in message and says in message, message
    assert 'nothing was cached' in message
    assert cache_listing(hub) == []                       # no file, no temporary left over
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # nothing loaded


def test_corrupt_cached_file_says_which_file_to_delete(tmp_path, hub, server):
    url = server.serve('convnextv2_atto_1k_224_ema.pt', checkpoint_bytes(released_finetuned(), tmp_path))
    backbone(url)
    cached = hub / 'convnextv2_atto_1k_224_ema.pt'
    cached.write_bytes(cached.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f'delete {re.escape(str(cached))} to download it again'):
        backbone(url)


def test_preflight_checks_a_cached_url_and_only_announces_an_uncached_one(tmp_path, hub, server,
                                                                         monkeypatch):
    logged = []
    monkeypatch.setattr(preflight, 'print_log', lambda message, **kwargs: logged.append(message))
    url = server.serve('convnextv2_femto_1k_224_ema.pt',
                       checkpoint_bytes(released_finetuned('femto'), tmp_path))
    model_cfg = dict(type='Whatever', backbone=dict(
        type='ConvNeXtV2', arch='atto', init_cfg=dict(type='Pretrained', checkpoint=url)))
    preflight.check_init_checkpoints(model_cfg)   # not cached: nothing read, nothing fetched
    assert server.requests == {} and cache_listing(hub) == []
    assert len(logged) == 1 and url in logged[0] and 'will be downloaded' in logged[0]

    backbone(url, arch='femto')                   # now it is cached, and of the wrong size
    with pytest.raises(preflight.PreflightError, match='ConvNeXt V2-femto but the model is '
                                                       'ConvNeXt V2-atto'):
        preflight.check_init_checkpoints(model_cfg)
    model_cfg['backbone']['arch'] = 'femto'
    preflight.check_init_checkpoints(model_cfg)


# -- the configs ----------------------------------------------------------------------------------
REAL_CONFIGS = sorted(glob.glob(osp.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-*_fpn_lsj-3x_coco.py'))
                      + glob.glob(osp.join(REPO, 'seg_configs', 'upernet_convnextv2-*_8xb2-amp-160k_ade20k-*.py')))


def test_there_are_real_configs_for_every_size():
    sizes = {re.search(r'convnextv2-(\w+?)_', osp.basename(p)).group(1) for p in REAL_CONFIGS}
    assert len(REAL_CONFIGS) == 17 and sizes == {r.size for r in RELEASES}


@pytest.mark.parametrize('path', REAL_CONFIGS, ids=osp.basename)
def test_real_config_starts_from_the_release_of_its_own_size(path):
    backbone_cfg = Config.fromfile(path).model.backbone
    init = backbone_cfg.init_cfg
    found = release_of_url(init.checkpoint)
    assert init.type == 'Pretrained' and found is not None, init
    assert found.size == backbone_cfg.arch
    # A.3 / A.4: the final IN-1K model; Table 7's 640 row: IN-22K finetuned, released at 512
    assert found.kind == ('in22k_512' if path.endswith('640x640.py') else 'in1k')


def test_toy_configs_stay_offline():
    for path in (osp.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py'),
                 osp.join(REPO, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')):
        assert Config.fromfile(path).model.backbone.init_cfg.type == 'TruncNormal'


def test_release_table_has_every_released_file_once():
    assert len(RELEASES) == 26 and len({r.url for r in RELEASES}) == 26
    counts = collections.Counter(r.kind for r in RELEASES)
    assert counts == {'fcmae': 8, 'in1k': 8, 'in22k_224': 4, 'in22k_384': 5, 'in22k_512': 1}
    assert released_url('tiny', 'in1k') == ('https://dl.fbaipublicfiles.com/convnext/convnextv2/'
                                            'im1k/convnextv2_tiny_1k_224_ema.pt')
    with pytest.raises(ValueError, match="no released 'in22k_224' weights; released for huge: "
                                         'fcmae, in1k, in22k_384, in22k_512'):
        released_url('huge', 'in22k_224')


# -- the released pt_only file through the converter -------------------------------------------------
def timm_reference_features(official, images):
    """timm's ConvNeXt V2 with the official weights put in by timm's own converter."""
    model = timm.create_model('convnextv2_atto', num_classes=0).double().eval()
    missing, unexpected = model.load_state_dict(checkpoint_filter_fn(official, model), strict=False)
    assert not unexpected and all(k.startswith('head.') for k in missing), (missing, unexpected)
    outs, x = [], model.stem(images)
    with torch.no_grad():
        for stage in model.stages:
            x = stage(x)
            outs.append(x)
    return outs


@pytest.mark.parametrize('fmt, grn', [('backbone', '(C,)'), ('mmdet', '(1, C)'),
                                      ('backbone', '(1, 1, 1, C)')])   # both formats, every GRN shape
def test_converter_reads_the_released_pt_only_file(fmt, grn, tmp_path, capsys):
    src, dst = tmp_path / 'convnextv2_atto_1k_224_fcmae.pt', tmp_path / 'out.pth'
    official = released_fcmae('atto', grn, dtype=torch.float64)
    torch.save(official, src)
    convert_tool.main([str(src), str(dst), '--format', fmt])
    out = capsys.readouterr().out
    assert 'released FCMAE encoder (pt_only' in out and 'ConvNeXt V2-atto encoder' in out
    assert 'dropped (not backbone; tensors): nothing' in out

    written = torch.load(dst, weights_only=True)
    keys = written['state_dict'] if fmt == 'mmdet' else written
    assert all(k.startswith('backbone.') == (fmt == 'mmdet') for k in keys)
    own_shapes = {k: v.shape for k, v in ConvNeXtV2('atto', norm_out=False).state_dict().items()}
    assert {k.removeprefix('backbone.'): v.shape for k, v in keys.items()} == own_shapes
    model = ConvNeXtV2('atto', out_indices=(0, 1, 2, 3), norm_out=False,
                       init_cfg=dict(type='Pretrained', checkpoint=str(dst))).double().eval()
    model.init_weights()   # strict: raises on any missing / unexpected / misshaped key
    images = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        got = model(images)
    reference = timm_reference_features(official, images)   # timm reads every GRN shape itself
    for stage, (a, b) in enumerate(zip(got, reference)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=f'stage {stage}, GRN {grn}')


def test_a_finetuned_official_checkpoint_is_not_taken_for_fcmae(tmp_path):
    src = tmp_path / 'convnextv2_atto_1k_224_ema.pt'
    torch.save(released_finetuned(), src)
    with pytest.raises(SystemExit, match='is not an FCMAE checkpoint .*official / ConvNeXt V2 toolkit'):
        convert_tool.main([str(src), str(tmp_path / 'out.pth')])


# -- the README's and docs/ pages' commands, as written -----------------------------------------
def readme_commands(tool):
    lines = []
    for page in ['README.md'] + sorted(glob.glob('docs/*.md', root_dir=REPO)):
        with open(osp.join(REPO, page)) as f:
            lines += [line.strip() for line in f]
    return [shlex.split(line, comments=True)[2:] for line in lines
            if line.startswith(f'python tools/{tool}.py ')]


def make_input(name):
    """The file a README command reads: a released pt_only file where it names one, else an FCMAE
    checkpoint of this project (mmengine ``state_dict`` with ``encoder.`` names and the decoder)."""
    match = re.fullmatch(r'convnextv2_(\w+)_1k_224_fcmae\.pt', name)
    if match:
        obj = released_fcmae(match.group(1))
    else:
        from pretrain.fcmae import FCMAE
        obj = {'meta': {'epoch': 800}, 'state_dict': FCMAE(arch='atto', decoder_dim=64).state_dict()}
    os.makedirs(osp.dirname(osp.abspath(name)), exist_ok=True)
    torch.save(obj, name)


@pytest.mark.slow   # ~30 s: the README converts a ConvNeXt V2-base file (89M parameters)
def test_readme_converter_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = readme_commands('convert_fcmae')
    assert ['convnextv2_base_1k_224_fcmae.pt', '--out', 'out.pth', '--format', 'mmdet'] in commands
    for args in commands:
        make_input(args[0])
        convert_tool.main(args)
        size = re.search(r'ConvNeXt V2-(\w+) encoder', capsys.readouterr().out).group(1)
        out = args[args.index('--out') + 1]
        backbone(out, arch=size)   # strict load of what was written
        os.remove(out)


@pytest.mark.slow   # ~15 s: ConvNeXt V2-tiny files, each verified
def test_readme_download_commands_run_as_written(tmp_path, hub, server, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(released, 'ROOT', server.root)
    commands = readme_commands('download_weights')
    assert ['--list'] in commands and len(commands) >= 4
    for args in commands:
        for item in RELEASES:   # serve every file a command asks for, generated in its layout
            if args[:2] == [item.size, item.kind]:
                obj = released_fcmae(item.size) if item.kind == 'fcmae' else released_finetuned(item.size)
                server.serve(item.path, checkpoint_bytes(obj, tmp_path, 'served.pth'))
        download_tool.main(args)
        out = capsys.readouterr().out
        if args == ['--list']:
            assert sum(item.url in out for item in RELEASES) == 26
            continue
        init_line = out.strip().splitlines()[-1]
        checkpoint = re.search(r"checkpoint='([^']+)'", init_line).group(1)
        assert f"init_cfg=dict(type='Pretrained', checkpoint='{checkpoint}')" in init_line
        assert 'finite features' in out
        backbone(checkpoint, arch=args[0])   # what it prints loads


def test_old_convert_option_still_works_with_a_warning(tmp_path, hub, server, monkeypatch):
    monkeypatch.setattr(released, 'ROOT', server.root)
    item = next(r for r in RELEASES if (r.size, r.kind) == ('atto', 'fcmae'))
    server.serve(item.path, checkpoint_bytes(released_fcmae('atto'), tmp_path, 'served.pth'))
    out = tmp_path / 'atto.pth'
    with pytest.warns(FutureWarning, match='--convert is renamed --format'):
        download_tool.main(['atto', 'fcmae', '--convert', 'mmdet', '--out', str(out)])
    backbone(str(out), arch='atto')


def test_download_tool_refuses_in_one_line(tmp_path, hub, server, monkeypatch):
    monkeypatch.setattr(released, 'ROOT', server.root)
    with pytest.raises(SystemExit, match="download_weights: ConvNeXt V2-huge has no released "
                                         "'in22k_224' weights"):
        download_tool.main(['huge', 'in22k_224'])
    with pytest.raises(SystemExit, match='download_weights: cannot download .*HTTP 404'):
        download_tool.main(['atto', 'in1k'])
    assert cache_listing(hub) == []
