"""Teachers' bases and their adaptation: the e5 image converted (``e5_image``), Unigram pruning
(``unigram_prune``), the default base of a dataset (``defaults``), a vocabulary transferred to the
task's language (``vocab_transfer``) and masked-LM domain adaptation (``mlm``). Imports nothing
else of ``teachers``."""
