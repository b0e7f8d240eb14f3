"""Stage 2, teachers: pretrained bases, fine-tuning, and the logits a teacher computes once, in four
rooms whose imports flow one way:

    bases/    the pretrained bases and their adaptation (e5 image, Unigram pruning, vocabulary transfer, masked LM)
    stores/   the logit store and ensembles of stores
    running/  a teacher resolved once, loaded, run (torch, ONNX int8, Ray) and labelling a dataset into a store
    tuning/   fine-tuning and weight averaging (soups)
"""
