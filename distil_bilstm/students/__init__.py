"""Stage 3, students: the small models that learn from the teacher, ``model(input_ids, lengths) -> logits``.

``registry`` (families by name: ``student: bilstm | transformer``) → ``bilstm`` (DistilKoBiLSTM,
Tang et al. 2019) and ``transformer`` (made from the teacher's own layers) → ``embeddings``
(skip-gram vectors for a student vocabulary).
"""
