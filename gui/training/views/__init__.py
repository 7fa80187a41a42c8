"""The training dock's live views: loss curves, weights, gradient flow, decision
boundary and confusion matrix, and what they share (plot style, bounded series,
gradient health, the canvas badges, pacing the GUI thread's drawing)."""
