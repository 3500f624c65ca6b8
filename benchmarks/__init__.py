"""Benchmarks: timed comparisons with the peers users judge us by (timm, FCMAE's dense path).
The top layer: imports engine, backbones, pretrain, finetune and downstream; nothing imports it.
"""
