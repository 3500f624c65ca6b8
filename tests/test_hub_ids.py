"""Issue 21, hub ids: ``hf-hub:ORG/NAME[@REVISION]`` wherever a checkpoint is taken, fetched with
huggingface_hub from a loopback fake hub (HF_ENDPOINT=http://127.0.0.1:PORT) into a temporary
HF_HOME. The fake hub answers huggingface_hub's own protocol: HEAD/GET
``/ORG/NAME/resolve/REVISION/FILE`` with ``X-Repo-Commit``, ``ETag`` and ``Content-Length``, and
``X-Error-Code`` RepoNotFound / EntryNotFound / RevisionNotFound for what it does not have.
"""
import collections
import hashlib
import importlib
import os
import re
from http.server import BaseHTTPRequestHandler

import pytest
import torch

from backbones import ConvNeXtV2
from backbones.checkpoints.hub import cache_folder, parse_hub_id
from backbones.checkpoints.load import CheckpointError
from tests import peer_checkpoints as peers
from tests.helpers import LoopbackServer

pytest.importorskip('transformers', reason=peers.NO_PEERS)
from tools import export_backbone as export_tool

COMMIT = 'c0ffee' * 6 + 'c0ff'
TIMM_REPO = 'timm/convnextv2_atto.test'


class FakeHub:
    """``repos``: repo id -> {file name: bytes}; ``behaviour``: (repo, file) -> 'html' (a 200
    HTML page instead of the file), 'wrong-size' (HEAD announces another size than GET sends) or
    '404' (a plain 404 without hub headers)."""

    def __init__(self):
        self.repos, self.behaviour, self.requests = {}, {}, collections.Counter()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body):
                hub.requests[self.command, self.path] += 1
                parts = self.path.split('?')[0].strip('/').split('/', 4)
                if len(parts) != 5 or parts[2] != 'resolve':
                    return self._error(404, None)
                repo, revision, name = '/'.join(parts[:2]), parts[3], parts[4]
                if repo not in hub.repos:
                    return self._error(404, 'RepoNotFound')
                if revision not in ('main', COMMIT):
                    return self._error(404, 'RevisionNotFound')
                behaviour = hub.behaviour.get((repo, name), 'ok')
                if behaviour == '404':
                    return self._error(404, None, commit=False)
                if name not in hub.repos[repo]:
                    return self._error(404, 'EntryNotFound')
                data = hub.repos[repo][name]
                size = len(data)
                if behaviour == 'html':
                    data = b'<!DOCTYPE html><html><body>Sign in to continue</body></html>'
                    size = len(data)
                self.send_response(200)
                self.send_header('X-Repo-Commit', COMMIT)
                self.send_header('ETag', '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header('Content-Type', 'text/html' if behaviour == 'html'
                                 else 'application/octet-stream')
                announced = size + 1000 if behaviour == 'wrong-size' and not body else size
                self.send_header('Content-Length', str(announced))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _error(self, code, error_code, commit=True):
                self.send_response(code)
                if error_code:
                    self.send_header('X-Error-Code', error_code)
                if commit and error_code == 'EntryNotFound':
                    self.send_header('X-Repo-Commit', COMMIT)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = LoopbackServer(Handler)
        self.endpoint = self.server.url

    def total(self):
        return sum(self.requests.values())

    def stop(self):
        self.server.stop()


@pytest.fixture(scope='module')
def timm_repo(tmp_path_factory):
    """The files of a timm hub repo (timm's own save_for_hf) and the model's stage outputs."""
    folder = tmp_path_factory.mktemp('timm_repo')
    outputs = peers.timm_folder(folder)
    return {name: (folder / name).read_bytes() for name in ('model.safetensors', 'config.json')}, outputs


@pytest.fixture
def fake_hub(tmp_path, monkeypatch, timm_repo):
    """A running fake hub serving TIMM_REPO, and huggingface_hub pointed at it with an empty
    HF_HOME in tmp_path (its settings are read at import: the module is reloaded)."""
    hub = FakeHub()
    hub.repos[TIMM_REPO] = dict(timm_repo[0])
    set_hub_env(monkeypatch, HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / 'hf'))
    yield hub
    hub.stop()
    monkeypatch.undo()
    reload_hub_settings()


def set_hub_env(monkeypatch, **env):
    for var in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY',
                'HF_HUB_OFFLINE', 'HF_TOKEN', 'HF_HUB_CACHE'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    monkeypatch.setenv('HF_HUB_DISABLE_TELEMETRY', '1')
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    reload_hub_settings()


def reload_hub_settings():
    import huggingface_hub.constants
    importlib.reload(huggingface_hub.constants)


def backbone(checkpoint):
    model = ConvNeXtV2('atto', norm_out=False,
                       init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    model.init_weights()
    return model.double().eval()


def stage_difference(model, expected):
    with torch.no_grad():
        return max((a - b).abs().max().item() for a, b in zip(model(peers.peer_input()), expected))


def cached_files(hub_id):
    folder = cache_folder(parse_hub_id(hub_id))
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


def test_first_build_downloads_the_second_reads_the_cache_offline_too(fake_hub, timm_repo, monkeypatch):
    hub_id = f'hf-hub:{TIMM_REPO}'
    first = backbone(hub_id)
    assert stage_difference(first, timm_repo[1]) < 1e-8
    downloads = {path for (method, path), n in fake_hub.requests.items() if method == 'GET'}
    assert downloads == {f'/{TIMM_REPO}/resolve/main/config.json',
                         f'/{TIMM_REPO}/resolve/{COMMIT}/model.safetensors'}
    snapshot = [f for f in cached_files(hub_id) if f.startswith('snapshots')]
    assert snapshot == [f'snapshots/{COMMIT}/config.json', f'snapshots/{COMMIT}/model.safetensors']

    requests = fake_hub.total()
    second = backbone(hub_id)
    assert fake_hub.total() == requests   # no request at all
    pinned = backbone(f'{hub_id}@{COMMIT}')
    assert fake_hub.total() == requests
    fake_hub.stop()
    set_hub_env(monkeypatch, HF_ENDPOINT=fake_hub.endpoint, HF_HOME=os.environ['HF_HOME'],
                HF_HUB_OFFLINE='1')
    offline = backbone(hub_id)
    for model in (second, pinned, offline):
        assert stage_difference(model, timm_repo[1]) < 1e-8
    with pytest.raises(CheckpointError, match=r'hf-hub:timm/other is not in the Hugging Face cache '
                                              r'.* and HF_HUB_OFFLINE=1 forbids downloading it'):
        backbone('hf-hub:timm/other')


def test_sharded_transformers_repo_and_export_from_a_hub_id(fake_hub, tmp_path):
    folder = tmp_path / 'hf'
    expected = peers.hf_folder(folder, max_shard_size='5MB')
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert 'model.safetensors.index.json' in files
    fake_hub.repos['facebook/convnextv2-atto-test'] = files
    out = tmp_path / 'exported.pth'
    export_tool.main(['hf-hub:facebook/convnextv2-atto-test', '--out', str(out), '--format', 'official'])
    assert stage_difference(backbone(str(out)), expected) < 1e-8


FAILURES = {
    'unknown repo': ('hf-hub:nobody/nothing', None,
                     r'hf-hub:nobody/nothing: no such repo on http://127\.0\.0\.1:\d+'),
    'unknown revision': (f'hf-hub:{TIMM_REPO}@v9', None, r"the repo has no revision 'v9'"),
    'no weights file': (f'hf-hub:{TIMM_REPO}', ('model.safetensors', 'missing'),
                        r'has no weights file \(looked for model.safetensors, '),
    'plain 404': (f'hf-hub:{TIMM_REPO}', ('model.safetensors', '404'), r'has no weights file'),
    'wrong size': (f'hf-hub:{TIMM_REPO}', ('model.safetensors', 'wrong-size'),
                   r'cannot download model.safetensors of hf-hub:timm/convnextv2_atto.test from .*'
                   r'nothing was cached'),
    'HTML page': (f'hf-hub:{TIMM_REPO}', ('model.safetensors', 'html'),
                  r'hf-hub:timm/convnextv2_atto.test gave an HTML page \(\d+ bytes\), not a checkpoint '
                  r'as model.safetensors; nothing was cached'),
    'malformed id': ('hf-hub:convnextv2_atto', None, r"is not a hub id: write hf-hub:ORG/NAME"),
}


@pytest.mark.parametrize('failure', list(FAILURES))
def test_failed_download_is_one_line_and_leaves_nothing_cached(failure, fake_hub, tmp_path, capsys):
    hub_id, change, pattern = FAILURES[failure]
    name, behaviour = change or (None, None)
    if behaviour == 'missing':
        del fake_hub.repos[TIMM_REPO][name]
    elif behaviour:
        fake_hub.behaviour[TIMM_REPO, name] = behaviour
    out = tmp_path / 'out.pth'
    with pytest.raises(SystemExit) as stop:
        export_tool.main([hub_id, '--out', str(out)])
    message = str(stop.value.code)
    assert '\n' not in message and message.startswith('export_backbone: ')
    assert re.search(pattern, message), message
    assert not out.exists()
    if failure != 'malformed id':
        assert not any(f.startswith(('blobs', 'snapshots')) for f in cached_files(hub_id.split('@')[0]))


def test_under_ddp_rank_0_downloads_first_the_others_read_its_cache(fake_hub, timm_repo, monkeypatch):
    """As for URLs (backbones/checkpoints/download.rank_zero_first): rank 0 fetches, a barrier,
    then the other ranks find the cache filled and make no request."""
    from backbones.checkpoints import download
    events = []
    monkeypatch.setattr(download, 'barrier', lambda: events.append('barrier'))
    monkeypatch.setattr(download, 'get_dist_info', lambda: (0, 2))
    backbone(f'hf-hub:{TIMM_REPO}')
    requests = fake_hub.total()
    assert events == ['barrier'] and requests > 0
    monkeypatch.setattr(download, 'get_dist_info', lambda: (1, 2))
    other = backbone(f'hf-hub:{TIMM_REPO}')
    assert events == ['barrier', 'barrier'] and fake_hub.total() == requests
    assert stage_difference(other, timm_repo[1]) < 1e-8
