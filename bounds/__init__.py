"""bounds: the theory wing of adainf.

Estimates, from arrays of samples, the quantities of the AdaInf generalization bound (Wang et al., ICLR 2024):
augmentation-graph connectivity lambda_{k+1}, labeling error alpha and the real/generated gap. Depends on
numpy/scipy only; never imports torch or adainf.
"""
