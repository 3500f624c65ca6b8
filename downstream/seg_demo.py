"""One image's semantic segmentation as a picture: the image, the prediction blended over it in
the dataset's palette, and a legend naming the classes present in the prediction (only those).

``predict`` runs mmseg's own inference API (``mmseg.apis.init_model`` / ``inference_model``) on
the config's test pipeline without its label steps (a demo image has no label map).
"""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

LABEL_STEPS = ('LoadAnnotations', 'CheckSegMap')


def inference_pipeline(cfg):
    """The config's test pipeline without the transforms that read or check a label map."""
    pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    return [step for step in pipeline if str(step.get('type', '')).split('.')[-1] not in LABEL_STEPS]


def predict(image_path, cfg, checkpoint, device='cpu'):
    """(class index map (H, W) at the image's size, model) with the model's ``dataset_meta``."""
    from mmseg.apis import inference_model, init_model
    cfg = cfg.copy()
    cfg.test_pipeline = inference_pipeline(cfg)
    model = init_model(cfg, checkpoint, device=device)
    result = inference_model(model, image_path)
    return result.pred_sem_seg.data[0].cpu().numpy(), model


def present_classes(prediction, classes, ignore_index=255):
    """[(class index, name)] of the classes in the prediction, most pixels first."""
    values, counts = np.unique(prediction[prediction != ignore_index], return_counts=True)
    order = np.argsort(-counts, kind='stable')
    return [(int(values[i]), classes[int(values[i])].strip()) for i in order]


def overlay(image, prediction, palette, alpha=0.5, ignore_index=255):
    """The RGB uint8 image with the prediction's palette colours blended in."""
    colours = np.zeros((256, 3), np.float32)
    colours[:len(palette)] = np.asarray(palette, np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + colours[prediction] * alpha
    keep = prediction == ignore_index
    blended[keep] = image[keep]
    return np.clip(blended, 0, 255).round().astype(np.uint8)


def draw(image, prediction, classes, palette, out_file, min_height=256, alpha=0.5):
    """Write image | overlay | legend to ``out_file``; return the legend's class names."""
    entries = present_classes(prediction, classes)
    scale = max(1, -(-min_height // image.shape[0]))   # small images: enlarge, pixels stay sharp
    left = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                         Image.NEAREST)
    right = Image.fromarray(overlay(image, prediction, palette, alpha)).resize(left.size,
                                                                              Image.NEAREST)
    font = _font(14)
    row = 20
    legend_width = 24 + max([int(font.getlength(name)) for _, name in entries] + [60]) + 8
    height = max(left.height, row * len(entries) + 8)
    canvas = Image.new('RGB', (2 * left.width + legend_width, height), 'white')
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    pen = ImageDraw.Draw(canvas)
    x = 2 * left.width + 6
    for i, (index, name) in enumerate(entries):
        y = 4 + i * row
        pen.rectangle([x, y + 2, x + 14, y + 16], fill=tuple(int(c) for c in palette[index]),
                      outline='black')
        pen.text((x + 20, y + 1), name, fill='black', font=font)
    canvas.save(out_file)
    return [name for _, name in entries]


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:   # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()
