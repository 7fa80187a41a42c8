"""The error of the insight views, without PyTorch: the app imports it when its
tabs are built, before PyTorch is loaded."""


class InsightError(ValueError):
    """A view that does not apply to this model or data; the message says why in one
    line and, where there is one, what to do instead."""
