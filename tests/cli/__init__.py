"""Tests of distil_bilstm.cli."""
