"""The live room: frames from cameras, videos, images and synthetic sources (``capture``),
a trained model on raw frames (``infer``: preprocessing and the predictor the Test tab and
``layerforge infer`` share) and Grad-CAM heat maps (``explain``)."""
