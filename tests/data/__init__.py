"""Tests of distil_bilstm.data."""
