"""docs/recipes.md: ``page`` fills its "ours" columns; ``det_seg``, ``finetune`` and ``fcmae``
describe one resolved config of each kind, ``describe`` picks the right one."""
