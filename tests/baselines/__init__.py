"""Tests of distil_bilstm.baselines."""
