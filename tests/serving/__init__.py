"""Tests of distil_bilstm.serving."""
