"""Write the template guide pages: one Markdown page per built-in template that explains the
network to someone new to deep learning, with the layer table computed from the graph itself
(shapes, parameters, MACs: the same analysis the editor shows) and the editor's screenshot.

    .venv/bin/python -m app.docs resources/docs      (make docs; screenshots: make screenshots)

The prose is written here per template; everything with a number in it is generated, so a
changed template cannot leave its page wrong.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from graph.formatting import format_count, format_macs
from graph.templates import TEMPLATES, build_template
from graph.validate import analyze

_FIRST_SENTENCE = re.compile(r"(?<!e\.g)(?<!i\.e)\.\s")  # "e.g. " does not end a sentence

# Why the network looks as it does, for a newcomer. Numbers live in the generated table.
EXPLANATIONS: dict[str, str] = {
    "hello-mlp": """\
The "hello world" of deep learning: recognise a handwritten digit from its pixels.

**The data.** scikit-learn's 1,797 real handwritten digits (8x8 grey images, shipped with the
package, so nothing downloads). LayerForge resizes each to 28x28 and flattens it into one row
of 784 numbers, which is what the Input node of kind *vector* describes.

**The network.** A multi-layer perceptron: every one of the 784 inputs is connected to each of
128 hidden units (`fc1`, a Linear layer: 784 x 128 weights + 128 biases). `relu1` keeps the
positive part of each unit's sum, which lets the network combine pixels in non-linear ways —
without it, two Linear layers would collapse into one. `fc2` maps the 128 features to 10
scores, one per digit; the Output node's cross-entropy loss turns them into probabilities and
compares them with the true digit.

**What to try.** Train it (about 97% test accuracy in seconds), then change `fc1`'s
out_features and watch the parameter count and the accuracy move; compare it with the CNN
template, which reaches ~99-100% with fewer weights because it knows pixels have neighbours.""",
    "digits-cnn": """\
A convolutional network for the same handwritten digits — the standard design for images.

**Why convolutions.** A Conv2d layer slides small 3x3 filters over the image, so the same
few weights detect a stroke wherever it is. `conv1` learns 32 such filters on the one grey
channel; `conv2` and `conv3` combine them into larger patterns. Padding 1 keeps the 16x16 size.

**The other layers.** BatchNorm (`bn1`…) rescales each channel's activations during training,
which makes a higher learning rate safe. ReLU adds the non-linearity. MaxPool halves the width
and height (16 -> 8 -> 4), keeping the strongest response in each 2x2 window, so later layers
see a wider area. `flatten` turns the 64 x 4 x 4 block into 1,024 numbers for the Linear
classifier `fc`; `drop` (Dropout 0.3) switches off random features while training so the
network cannot rely on any single one.

**What to try.** Remove `flatten` and see the shape error LayerForge reports on `fc` (and its
fix). Train with the live view on and watch the per-layer statistics on the canvas. Test it
on the webcam with a digit written on paper (Test tab, invert + threshold).""",
    "lstm-forecast": """\
Forecast a time series: the next weeks of atmospheric CO2 at Mauna Loa from the last year.

**The data.** A weekly CO2 record shipped with LayerForge (`resources/datasets/co2_weekly.csv`).
Each training sample is a window of 52 weeks (Input of kind *sequence*, shape 52 x 1: 52 time
steps, 1 feature) and the target is the value a few weeks ahead. Values are normalised with
the training split's mean and standard deviation, and the model predicts the change relative
to the last value, which is easier to learn than the absolute level.

**The network.** An LSTM reads the window one week at a time and carries a memory (64 numbers)
from step to step; its gates learn what to keep and what to forget — here, the seasonal cycle
and the trend. With output *last*, only the final step's memory goes on to `head`, a Linear
layer that turns it into the forecast. The loss is the mean squared error.

**What to try.** After training, the Evaluation tab plots forecast against actual and compares
with the "tomorrow = today" baseline; swap the LSTM for a GRU or make it bidirectional and
compare the validation error.""",
    "char-gru": """\
Generate text one character at a time, learned from a corpus of Python source that ships with
Python itself (so nothing downloads).

**The data.** Text is cut into windows of 64 characters; each character becomes a number (its
index in a 96-symbol alphabet): the Input of kind *tokens*. The target at every position is
the next character.

**The network.** `embed` (Embedding) gives each of the 96 symbols a learned vector of 32
numbers — similar characters end up with similar vectors. The GRU reads the sequence and keeps
a 128-number state summarising what it has seen; with output *sequence* it emits its state at
every step, and `head` (Linear) turns each state into 96 scores for the next character. Trained
with cross-entropy, it learns spelling, indentation and keywords.

**What to try.** After a few epochs, the Evaluation tab samples text: move the temperature
slider — low values repeat the most likely characters, high values get creative. The validation
loss in bits per character is compared with a model that only knows letter frequencies.""",
    "residual-cnn": """\
A small residual network (the idea behind ResNet) on the handwritten digits.

**Skip connections.** Each block computes two 3x3 convolutions and then *adds its input back*
(`block1_add`, an Add node with two inputs). The block only has to learn a correction to its
input, and gradients flow straight through the addition, which is what lets very deep networks
train. Both inputs of an Add must have the same shape — change one convolution's out_channels
and LayerForge marks the Add in red and says which shapes disagree.

**The rest.** `stem` turns the grey image into 32 channels; `widen` goes to 64 channels before
the second block; `gap` (global average pooling) averages each channel over the whole image, so
the classifier `fc` needs only 64 x 10 weights whatever the image size.

**What to try.** Compare it with the plain CNN in the run history: similar accuracy with fewer
parameters in the classifier. Delete a skip wire and watch the shape and training change.""",
    "transfer": """\
Reuse a network trained on millions of photos (ImageNet) for your own classes — the usual way
to get a good image classifier from a few dozen pictures per class.

**The backbone.** MobileNetV3-small, a compact CNN from torchvision. Its convolution layers
already detect edges, textures and object parts; with *freeze* on, they keep their pretrained
weights and turn each 128x128 RGB image into 576 features. Images are normalised the way
ImageNet training did (`normalize: imagenet` on the dataset).

**The head.** Only `head`, a new Linear layer from the 576 features to your classes, learns.
That is a few thousand weights instead of almost a million, so training is quick and needs
little data. Set its out_features to your number of classes.

**Your data.** An image folder with one subfolder per class — for example one recorded with
the Test tab's "Teach the camera". The pretrained weights download once when online; offline,
point the backbone's weights_file at a local .pth file. Unfreeze the last blocks (unfreeze_last)
to fine-tune once the head has learned.""",
    "mobilenet-digits": """\
A miniature MobileNetV3, the family of networks built to run on phones, on the handwritten
digits — and a tour of LayerForge's blocks.

**Depthwise-separable convolutions.** A DepthwiseConv2d filters each channel on its own (9
weights per channel for a 3x3 window) and a 1x1 Conv2d then mixes the channels. Together they
do the job of a full 3x3 convolution with a fraction of the weights and multiply-adds.

**The MBConv block.** `stage1`, `stage2` and `stage3` are *block instances*: double-click one
to open its inside. Each is an inverted residual: a 1x1 `expand` to more channels, a 3x3
`depthwise` convolution, a squeeze-excitation block `se` (nested inside: it averages each
channel to one number and turns those into a gate between 0 and 1 per channel, so the block
can turn channels up or down), a 1x1 `project` back to the input's channels, and an Add skip
connection. `stage1` is the built-in MBConv (16 channels); `stage2` and `stage3` share the
wider MBConvWide definition (32 channels, 96 inside) but each has its own weights. Hardswish,
x·ReLU6(x + 3)/6, is MobileNetV3's cheap version of Swish.

**Between the blocks.** A skip connection needs the same shape on both sides, so the size
changes happen outside them: `down1_dw` (stride 2) halves the image to 8x8 and `down1_pw`
widens it to 32 channels. At the end `head` widens to 128 channels, `gap` averages over the
image and `fc` classifies.

**What to try.** Compare its parameter count and multiply-adds with `digits-cnn` and
`residual-cnn` (it reaches about 99% with a fraction of their weights). Open MBConvWide and
change its `expand` width: both instances follow.""",
    "vit-digits": """\
A small vision transformer (ViT): the architecture that reads an image like a sentence.

**Patches as tokens.** `patches` is a Conv2d whose 4x4 window moves 4 pixels at a time, so it
cuts the 16x16 image into 16 non-overlapping patches and turns each into a vector of 64
numbers. `tokens` (Flatten from dim 2) and `to_sequence` (Transpose) rearrange that into a
sequence of 16 tokens, (N, 16, 64), the shape a transformer reads.

**Class token and positions.** `cls` puts one extra learned token in front (17 tokens); after
the encoder, that token's vector summarises the whole image. Attention ignores order, so `pos`
adds a learned vector per position, telling the network where each patch came from.

**The encoder.** `encoder1`–`encoder3` are transformer encoder layers: in each, every token
attends to every other (4 heads), then a small feed-forward network (GELU) transforms each
token; LayerNorm comes first in each part (norm_first, as in ViT), with a skip connection
around each. `cls_out` (Slice 0:1 along the tokens) keeps only the class token, `norm` and `fc`
classify it.

**What to try.** Transformers have no built-in idea that neighbouring pixels belong together,
so they need more data or augmentation than a CNN: compare it with `digits-cnn` in the run
history, then turn the shift/rotate augmentation off and watch the gap between training and
validation loss grow. Try patch size 2 (64 tokens) or a fourth encoder layer.""",
    "digits-detector": """An object detector: instead of one answer per image it finds every digit in a photo and draws
a box around each, the way a camera app finds faces.

**The data.** "Find the digits" pastes one to five of scikit-learn's handwritten digits, at
several sizes, onto crops of its two sample photos, and records each digit's box. It is
generated on first use, the same every time, and saved as COCO JSON (the format most labelling
tools write); YOLO and Pascal VOC folders can be imported into it.

**The backbone.** `down1`–`conv3` are convolutions with BatchNorm and ReLU; the three with
stride 2 shrink the 96x96 image 8 times, to a 12x12 grid. Each cell of that grid sees a
patch of the photo around it.

**The CenterNet head.** `head` has three outputs, each wire with its own shape: `heatmap`
says, for every cell and every digit class, how likely a digit's *centre* falls in that cell;
`size` the width and height of its box; `offset` where exactly in the cell the centre lies.
Training draws a small Gaussian bump at every true centre and teaches the heatmap to match it
(a focal loss, which keeps the many empty cells from drowning the few digits).

**The decoder.** `decode` keeps the cells that are higher than their eight neighbours (a 3x3
peak search), takes the 20 strongest, turns each into a box [x1, y1, x2, y2, score, class] in
image pixels; its `nms` setting also drops a box that overlaps a stronger one of its class
(the peak search alone is usually enough here). Its output always has 20 rows (empty ones are
zeros with class -1), so exports to ONNX and TorchScript stay static.

**How it is judged.** mAP@0.5 is the average precision of each class when a box counts as
right if it overlaps the true one by half; mAP@[.5:.95] asks for tighter boxes. The Evaluation
tab lists AP per class and shows the test images with the most mistakes first.

**What to try.** Raise the decoder's threshold and watch precision rise and recall fall;
set the head and decoder to centroids mode (FOMO: centres only, no sizes) and compare the
centroid F1.""",
}


def template_page(key: str, screenshot_dir: str = "../../screenshots") -> str:
    """The Markdown guide page of one template."""
    template = TEMPLATES[key]
    project = build_template(key)
    analysis = analyze(project.graph)
    lines = [f"# {template.title}", "", f"*Template `{key}`* — {project.description}", "",
             EXPLANATIONS[key], "",
             f"![The {key} template in the editor]({screenshot_dir}/editor-{key}.png)", "",
             "## Layer by layer", "",
             "Shapes leave out the batch dimension N (the number of samples trained at once).",
             "", "| node | layer | output shape | parameters | MACs | what it does |",
             "|---|---|---|---:|---:|---|"]
    for node_id in analysis.order:
        node = project.graph.node(node_id)
        info = analysis.info[node_id]
        shape = ", ".join(str(t) for t in info.outputs.values()) or "–"
        what = _FIRST_SENTENCE.split(node.spec.description)[0].rstrip(".")
        lines.append(f"| `{node.name}` | {node.type} | {shape} | {format_count(info.params)} | "
                     f"{format_macs(info.macs)} | {what} |")
    trainable = sum(i.trainable for i in analysis.info.values())
    lines += ["", f"**Total:** {analysis.total_params:,} parameters "
                  f"({trainable:,} trainable), {format_macs(analysis.total_macs)} "
                  f"multiply-accumulates per sample.", "",
              "## Training settings", "",
              f"Dataset `{project.dataset['name']}`; " + ", ".join(
                  f"{k.replace('_', ' ')} {project.training[k]}" for k in
                  ("optimizer", "learning_rate", "batch_size", "epochs", "loss")) + ".", ""]
    return "\n".join(lines)


def write_pages(out_dir: str | Path) -> list[Path]:
    """Write one page per template and an index into ``out_dir``/templates."""
    folder = Path(out_dir) / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    index = ["# Template guides", "",
             "Each built-in example explained for someone new to deep learning.", ""]
    for key, template in TEMPLATES.items():
        path = folder / f"{key}.md"
        path.write_text(template_page(key), encoding="utf-8")
        written.append(path)
        index.append(f"- [{template.title}]({key}.md)")
    (folder / "README.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return written


if __name__ == "__main__":
    for page in write_pages(sys.argv[1] if len(sys.argv) > 1 else "resources/docs"):
        print(page)
