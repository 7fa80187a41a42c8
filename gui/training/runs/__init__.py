"""The runs of a session: what each run recorded, the run controls, the Runs and
Try it tabs, and the trained model's files (save, open, export)."""
