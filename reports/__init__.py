"""The top floor: what reports on the project rather than runs it. The recipe page generator
(``recipes``), the training-speed benchmark and its timm peer backbone, the quickstart and
FCMAE -> finetune -> det/seg chain job runners, and running ``tools/`` commands (``commands``).
May import every package of ours and run the commands in ``tools/``; no package imports it.
"""
