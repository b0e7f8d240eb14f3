"""Tests of distil_bilstm.students."""
