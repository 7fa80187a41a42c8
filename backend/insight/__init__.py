"""What a trained network looks at and where it sits on its loss surface.

Plain functions over a compiled model and NumPy samples, returning NumPy arrays
(never tensors, never Qt), so the app's panels, ``layerloom plot`` and tests
share them:

- :mod:`~layerloom.backend.insight.saliency`: the gradient of a class score with
  respect to the input (Simonyan et al., 2014).
- :mod:`~layerloom.backend.insight.gradcam`: Grad-CAM (Selvaraju et al., 2017) over a
  convolutional layer's feature maps.
- :mod:`~layerloom.backend.insight.landscape`: the loss along two filter-normalised
  random directions (Li et al., 2018), the exact surface of a one-neuron regression,
  and the training path projected on them (:mod:`~layerloom.backend.training.weight_path`
  records it during training).
- :mod:`~layerloom.backend.insight.embedding`: an Embedding layer's vectors projected
  to 2-D.
- :mod:`~layerloom.backend.insight.render`: each of them as a PNG (``layerloom plot``).
"""

from layerloom.backend.insight.errors import InsightError

__all__ = ["InsightError"]
