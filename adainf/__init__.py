"""adainf: contrastive learning inflated with generated data (AdaInf, Wang et al., ICLR 2024).

The trainer wing: data loading, inflation (real weight N : generated weight 1), batched augmentation on the
training device. The theory wing lives in the sibling package `bounds`.
"""

__version__ = "0.1.0"
