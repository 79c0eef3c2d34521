"""The non-deep or reference methods the notebooks compare against: PCA, classical denoisers and
scikit-learn's RBM."""
