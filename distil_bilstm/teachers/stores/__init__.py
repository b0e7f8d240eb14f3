"""Logit stores: the index-keyed format, its cache key and atomic, resumable build (``store``), and
one store from several (``ensemble``). Imports nothing else of ``teachers``."""
