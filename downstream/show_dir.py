"""``tools/test.py --show-dir DIR``: draw every test prediction with mmdet's / mmseg's own
visualisation hook (``default_hooks.visualization``), as their test scripts do.

* mmdet: ``DetVisualizationHook(draw=True, test_out_dir=DIR)`` writes ``DIR/<image name>``
  (predictions above the hook's ``score_thr``, ground truth beside them);
* mmseg: ``SegVisualizationHook(draw=True, interval=1)`` hands each image to the runner's
  visualizer, whose save dir is DIR: its ``LocalVisBackend`` writes
  ``DIR/vis_data/vis_image/test_<image name>_<i>.png`` (ground truth | prediction). mmseg's own
  script keeps the hook's interval of 50, i.e. draws every 50th image; here every image is drawn.
"""
import os.path as osp

HOOKS = {'mmdet': 'DetVisualizationHook', 'mmseg': 'SegVisualizationHook'}


def show_predictions(cfg, show_dir):
    """Switch on the config's visualisation hook so that the test run draws into ``show_dir``;
    return where the pictures will be."""
    scope = cfg.get('default_scope', 'mmdet')
    if scope not in HOOKS:
        raise ValueError(f'--show-dir draws mmdet and mmseg predictions; this config\'s '
                         f'default_scope is {scope!r}')
    hooks = cfg.setdefault('default_hooks', {})
    hook = hooks.get('visualization') or dict(type=HOOKS[scope])
    hook['draw'] = True
    show_dir = osp.abspath(show_dir)
    if scope == 'mmdet':
        hook['test_out_dir'] = show_dir   # absolute: the hook does not move it under work_dir
        where = show_dir
    else:
        if not cfg.get('visualizer'):
            cfg.visualizer = dict(type='SegLocalVisualizer',
                                  vis_backends=[dict(type='LocalVisBackend')])
        hook['interval'] = 1
        cfg.visualizer['save_dir'] = show_dir
        # visualizers are process-wide instances by name: a fresh name gets this save dir
        cfg.visualizer['name'] = f'show_dir:{show_dir}'
        where = osp.join(show_dir, 'vis_data', 'vis_image')
    hooks['visualization'] = hook
    return where
