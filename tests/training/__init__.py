"""Tests of distil_bilstm.training."""
