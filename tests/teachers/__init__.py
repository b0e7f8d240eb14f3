"""Tests of distil_bilstm.teachers."""
