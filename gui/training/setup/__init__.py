"""The training dock's set-up panel: the dataset and training settings, the data
file's options, the dataset preview, devices and processes, and the fixes that make
the graph's input and output fit the data."""
