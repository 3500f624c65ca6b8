"""Small shared test utilities (no data files: everything is built in memory or tmp_path)."""
import threading
from http.server import ThreadingHTTPServer

import torch

from backbones import ConvNeXtV2


def randomize_norms_and_grn(module, seed=0):
    """Give GRN gamma/beta and norm affine params non-trivial values (GRN starts as identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if 'grn' in name or 'norm' in name:
                noise = torch.randn(param.shape, generator=gen) * 0.2
                base = 1.0 if name.endswith('weight') and 'grn' not in name else 0.0
                param.copy_(base + noise)
    return module


def random_backbone(arch='atto', seed=0, **kwargs):
    torch.manual_seed(seed)
    model = ConvNeXtV2(arch, **kwargs)
    model.init_weights()
    return randomize_norms_and_grn(model, seed).eval()


class LoopbackServer:
    """``handler`` (a BaseHTTPRequestHandler class) served on 127.0.0.1 in a daemon thread; ``url``
    is its root without the trailing slash."""

    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
