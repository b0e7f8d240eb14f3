"""The model to beat: TF-IDF + logistic regression, trained (``tfidf``) and run in numpy (``ngrams``)."""
