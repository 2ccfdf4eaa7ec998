"""Shared vocabulary of zenopt: errors, configuration, result records and the run directory.

Nothing in here imports another zenopt package, and nothing here imports torch.
"""
