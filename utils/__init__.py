"""Shared helpers of the mnist-sub20k workbook: data, models, training, plots."""
