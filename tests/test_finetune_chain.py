"""The whole chain of the embedded default, tiny: toy FCMAE pretrain -> convert -> finetune ->
export -> the det and seg toy configs initialise their backbone from the exported file."""
import os
import textwrap
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from pretrain.synthetic import make_image_folder
from tools import convert_fcmae, export_backbone, finetune, pretrain as pretrain_tool
from tools.make_synthetic_imagenet import make_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FCMAE_TOY = os.path.join(REPO, 'pretrain', 'configs', 'fcmae_convnextv2_atto_toy.py')
FINETUNE_TOY = os.path.join(REPO, 'tools', 'finetune_configs', 'toy',
                            'finetune_convnextv2_atto_toy.py')
DET_TOY = os.path.join(REPO, 'det_configs', 'mask-rcnn_convnextv2-atto_fpn_synthetic-coco.py')
SEG_TOY = os.path.join(REPO, 'seg_configs', 'upernet_convnextv2-atto_toy-synthetic-ade20k.py')


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def init_backbone_from(config, checkpoint, registry_scope):
    """Build the toy config's model with its backbone init_cfg pointed at ``checkpoint``."""
    cfg = Config.fromfile(config)
    init_default_scope(registry_scope)
    from mmengine.registry import MODELS
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.backbone


@pytest.mark.parametrize('downstream', ['det', 'seg'])
def test_fcmae_to_finetune_to_det_seg_init(tmp_path_factory, downstream):
    tmp = tmp_path_factory.getbasetemp() / 'chain'
    exported = tmp / 'convnextv2_atto_1k_224_backbone.pth'
    if not exported.exists():   # run the chain once for both downstream configs
        tmp.mkdir(exist_ok=True)
        run_chain(tmp, exported)
    config, scope = (DET_TOY, 'mmdet') if downstream == 'det' else (SEG_TOY, 'mmseg')
    if not os.path.isfile(config):
        pytest.skip(f'{config} is not there')
    backbone = init_backbone_from(config, str(exported), scope)
    saved = torch.load(str(exported), weights_only=True)['state_dict']
    for key, value in saved.items():
        assert torch.equal(backbone.state_dict()[key], value), key


def run_chain(tmp, exported):
    # 1. toy FCMAE pretraining: 8 images, 2 iterations
    images = make_image_folder(str(tmp / 'fcmae_data'), num_images=8, size=64)
    fcmae_config = write(tmp / 'fcmae.py', f'''
        _base_ = {FCMAE_TOY!r}
        train_dataloader = dict(batch_size=4, num_workers=0,
                                dataset=dict(data_root={images!r}, img_size=64))
        train_cfg = dict(max_epochs=1)
        param_scheduler = []
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
    ''')
    pretrain_tool.main([fcmae_config, '--work-dir', str(tmp / 'fcmae'),
                        '--cfg-options', f'experiment_name=chain_fcmae_{uuid.uuid4().hex[:8]}'])

    # 2. convert the FCMAE checkpoint to backbone weights
    converted = str(tmp / 'convnextv2_atto_fcmae.pth')
    convert_fcmae.convert_file(str(tmp / 'fcmae' / 'epoch_1.pth'), converted)

    # 3. finetune from them: 12 images of 3 classes, 1 epoch, EMA on
    data = str(tmp / 'imagenet')
    make_dataset(data, num_classes=3, train_per_class=4, val_per_class=2, size=32)
    finetune_config = write(tmp / 'finetune.py', f'''
        _base_ = {FINETUNE_TOY!r}
        recipe = dict(num_classes=3, batch_size=4, epochs=1)
        data_root = {data!r}
        train_dataloader = dict(batch_size=4)
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
        experiment_name = 'chain_finetune_{uuid.uuid4().hex[:8]}'
    ''')
    runner = finetune.main([finetune_config, '--work-dir', str(tmp / 'finetune'),
                            '--pretrained', converted])
    with open(os.path.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        assert f'classifier: loaded {converted}' in f.read()

    # 4. export its EMA backbone where the det/seg configs look for it
    report = export_backbone.export(str(tmp / 'finetune' / 'epoch_1.pth'), str(exported))
    assert 'EMA weights' in report[0]
