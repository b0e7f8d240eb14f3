"""Tests of distil_bilstm.runs."""
